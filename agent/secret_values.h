// SecretValues: the agent's side of encrypted config values (docs/security.md,
// "Encrypted values"). A config value of a secret namespace arrives from the
// distributor as an envelope (model/secrets/envelope.h); before it is
// written to the file cache, Open decrypts it with the namespace's key ring
// (<keys_dir>/<namespace>.key, mode 0600, distributed out of band):
//
//   ring opens it    the file holds the plaintext, mode 0600 (the file
//                    format is unchanged: docs/file-cache.md);
//   no ring, or no   the file holds the envelope as it came (ciphertext,
//   key with its id  marked by its "kess:enc:" prefix), mode 0600: a host
//                    without the key never holds the plaintext;
//   does not open    the same (a tampered or foreign envelope).
//
// Each outcome is counted in kess_agent_secret_values_total{result}
// ("decrypted", "no_key", "failed") and logged once per namespace and
// outcome. Rings are read again when their file changes (KeyRingDir): a
// key added by rotation applies to the next version that arrives.
//
// The namespaces for which an envelope arrived, or whose cache directory
// holds a 0600 file when the agent starts (MarkFromCache), are *secret*:
// the agent's API serves their values only to root, the agent's user and
// the users its --api_acl_file rule lists (api_acl.h). A mark is never
// removed while the agent runs.
//
// Thread-safety: thread-safe.
#pragma once

#include <set>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics.h"
#include "model/file_cache/format.h"
#include "model/secrets/key_dir.h"

namespace kess {
namespace agent {

class SecretValues {
 public:
  struct Options {
    std::string keys_dir;  // "" = no rings: envelopes are kept as they are
    metrics::Registry* registry = &metrics::Registry::Default();
  };

  enum class Result { kNotSecret, kDecrypted, kNoKey, kFailed };

  explicit SecretValues(Options options);

  // For a config entry whose value is an envelope: replaces the value with
  // its plaintext when the ring opens it, and makes the file 0600 either
  // way. Other entries (routes, tombstones, plain values) are untouched.
  Result Open(file_cache::CacheEntry* entry);

  // Marks every namespace with a file of mode 0600 (no group or other
  // bits) under <cache_dir>/configs/<ns>/ (what an earlier run decrypted
  // or kept encrypted). Returns how many were marked.
  size_t MarkFromCache(const std::string& cache_dir);

  bool IsSecretNamespace(const std::string& ns) const;

 private:
  void Count(const char* result, const std::string& ns,
             const absl::Status& why);

  secrets::KeyRingDir keys_;
  metrics::Registry* const registry_;
  void Mark(const std::string& ns);

  mutable absl::Mutex mu_;
  std::set<std::pair<std::string, std::string>> logged_ ABSL_GUARDED_BY(mu_);
  std::set<std::string, std::less<>> secret_namespaces_ ABSL_GUARDED_BY(mu_);
};

}  // namespace agent
}  // namespace kess
