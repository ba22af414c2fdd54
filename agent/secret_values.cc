#include "agent/secret_values.h"

#include <dirent.h>
#include <sys/stat.h>

#include <utility>

#include "glog/logging.h"
#include "model/secrets/envelope.h"

namespace kess {
namespace agent {

using file_cache::CacheEntry;
using file_cache::CacheKey;

namespace {
constexpr size_t kMaxLoggedPairs = 1024;
// Bounds of the start-up scan (a cache bigger than this is not expected).
constexpr size_t kMaxScannedEntries = 10'000'000;

std::vector<std::string> Children(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    out.push_back(name);
    if (out.size() >= kMaxScannedEntries) break;
  }
  ::closedir(d);
  return out;
}


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
  Mark(ns);  // before the value goes anywhere
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

void SecretValues::Mark(const std::string& ns) {
  absl::MutexLock lock(&mu_);
  secret_namespaces_.insert(ns);
}

bool SecretValues::IsSecretNamespace(const std::string& ns) const {
  absl::MutexLock lock(&mu_);
  return secret_namespaces_.count(ns) > 0;
}

size_t SecretValues::MarkFromCache(const std::string& cache_dir) {
  const std::string configs = cache_dir + "/configs";
  size_t marked = 0;
  size_t scanned = 0;
  for (const std::string& ns : Children(configs)) {
    const std::string dir = configs + "/" + ns;
    for (const std::string& file : Children(dir)) {
      if (++scanned > kMaxScannedEntries) break;
      struct stat st;
      if (::lstat((dir + "/" + file).c_str(), &st) != 0 ||
          !S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
        continue;
      }
      Mark(ns);
      ++marked;
      break;
    }
  }
  if (marked > 0) {
    LOG(INFO) << marked << " namespaces of the file cache hold secret values "
              << "(0600 files): their values are served to root and the "
              << "agent's user only, unless --api_acl_file lists others";
  }
  return marked;
}

}  // namespace agent
}  // namespace kess
