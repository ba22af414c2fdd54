#include "agent/secret_values.h"

#include <utility>

#include "glog/logging.h"
#include "model/secrets/envelope.h"

namespace kess {
namespace agent {

using file_cache::CacheEntry;
using file_cache::CacheKey;

namespace {
constexpr size_t kMaxLoggedPairs = 1024;


metrics::Counter* Counter(metrics::Registry* registry, const char* result) {
  return registry->GetCounter(
      "kess_agent_secret_values_total",
      "Encrypted config values received, by outcome: decrypted into the file "
      "cache, or kept encrypted (no_key, failed).",
      {{"result", result}});
}

}  // namespace

SecretValues::SecretValues(Options options)
    : keys_(std::move(options.keys_dir)), registry_(options.registry) {
  // Every series from the start at 0, so that a first failure is an
  // increase (the KessAgentSecretsUndecryptable alert).
  for (const char* result : {"decrypted", "no_key", "failed"}) {
    Counter(registry_, result);
  }
}

void SecretValues::Count(const char* result, const std::string& ns,
                         const absl::Status& why) {
  Counter(registry_, result)->Increment();
  if (why.ok()) return;
  absl::MutexLock lock(&mu_);
  if (logged_.size() >= kMaxLoggedPairs) return;
  if (!logged_.emplace(ns, result).second) return;
  LOG(WARNING) << "encrypted values of namespace " << ns
               << " are kept encrypted in the file cache (" << result
               << "): " << why.message() << " (logged once)";
}

SecretValues::Result SecretValues::Open(CacheEntry* entry) {
  if (entry->key.type != CacheKey::Type::kConfig || entry->absent ||
      !secrets::LooksLikeEnvelope(entry->value)) {
    return Result::kNotSecret;
  }
  entry->file_mode = 0600;
  const std::string& ns = entry->key.namespace_name;
  absl::StatusOr<std::shared_ptr<const secrets::KeyRing>> ring =
      keys_.Get(ns);
  if (!ring.ok()) {
    Count("no_key", ns, ring.status());
    return Result::kNoKey;
  }
  absl::StatusOr<std::string> plain =
      secrets::Open(**ring, ns, entry->key.key, entry->value);
  if (absl::IsNotFound(plain.status())) {
    Count("no_key", ns, plain.status());
    return Result::kNoKey;
  }
  if (!plain.ok()) {
    Count("failed", ns, plain.status());
    return Result::kFailed;
  }
  entry->value = *std::move(plain);
  Count("decrypted", ns, absl::OkStatus());
  return Result::kDecrypted;
}

}  // namespace agent
}  // namespace kess
