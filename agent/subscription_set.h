// The host's subscription set: every config and route table some local
// process asked for through the subscription API. Persisted atomically in
// <cache_dir>/subscriptions.json (WriteFileAtomically) before the agent
// subscribes, so subscriptions survive agent restarts.
//
// The file and the POST /v1/subscriptions body share one JSON shape:
//   {"configs":[{"namespace":"shop","key":"db.timeout"}],
//    "routes":["payments"]}
//
// Thread-safe.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "model/file_cache/env.h"
#include "model/file_cache/format.h"
#include "common/status.h"

namespace kess {
namespace agent {

using file_cache::CacheKey;

// Parses the JSON shape above. InvalidArgument with the name validator's
// message for the first invalid name (nothing is accepted then), or for
// malformed JSON / wrong types.
absl::StatusOr<std::vector<CacheKey>> ParseKeyList(const std::string& json);
// The JSON shape above for `keys`.
std::string KeyListToJson(const std::set<CacheKey>& keys);

class SubscriptionSet {
 public:
  // Loads <cache_dir>/subscriptions.json if it exists (an unreadable file
  // is an error: refusing to start beats silently forgetting
  // subscriptions).
  static absl::StatusOr<std::unique_ptr<SubscriptionSet>> Load(
      file_cache::Env* env, const std::string& cache_dir);

  // Adds `keys` and persists the set; returns the keys that were new. On a
  // write error nothing is added and the error is returned.
  absl::StatusOr<std::vector<CacheKey>> Add(const std::vector<CacheKey>& keys);
  // Adds without persisting (keys already backed by cache files).
  void AddLoaded(const CacheKey& key);

  std::set<CacheKey> Keys() const;
  bool Contains(const CacheKey& key) const;
  size_t size() const;

 private:
  SubscriptionSet(file_cache::Env* env, std::string path)
      : env_(env), path_(std::move(path)) {}

  file_cache::Env* const env_;
  const std::string path_;
  mutable absl::Mutex mu_;
  std::set<CacheKey> keys_ ABSL_GUARDED_BY(mu_);
};

}  // namespace agent
}  // namespace kess
