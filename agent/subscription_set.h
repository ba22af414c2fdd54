// The host's subscription set: every config, route table and whole config
// namespace some local application asked for through the subscription
// API, with the applications ("owners") that asked. A key or namespace
// stays subscribed while at least one owner holds it. Persisted atomically
// in <cache_dir>/subscriptions.json (WriteFileAtomically) before the agent
// subscribes or unsubscribes, so subscriptions survive agent restarts.
//
// The POST/DELETE /v1/subscriptions body (one owner's request):
//   {"configs":[{"namespace":"shop","key":"db.timeout"}],
//    "routes":["payments"], "namespaces":["shop"], "app":"checkout"}
//
// The file: the union of every owner's subscriptions in that shape (what
// agents without owners read), plus "owners" with each owner's own:
//   {"configs":[...],"routes":[...],"namespaces":[...],
//    "owners":{"checkout":{"configs":[...],"routes":[...],
//                          "namespaces":[...]}, ...}}
// A file without "owners" (written before owners existed) loads as owner
// "default" holding everything in it.
//
// Grace period (Load's `grace`, the agent's --unsubscribe_grace_ms): what
// the last owner drops is not released at once but "lingers" until
// now + grace: it stays in Keys()/Namespaces()/Contains() (still subscribed
// at the distributor, its files still updated), and an owner that takes it
// again within the grace period reuses it (Add does not return it: nothing
// to subscribe upstream). Expire() releases what is due. Lingering entries
// are persisted with their deadline (Unix ms, the Env's clock) so that a
// restarted agent keeps subscribing them until then, and drops them at
// Load once it has passed:
//   "lingering":{"1700000060000":{"configs":[...],"routes":[...],
//                                 "namespaces":[...]}, ...}
// At most kMaxLingering entries linger; beyond it the ones due first are
// released at the next Expire().
//
// Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/status.h"
#include "model/file_cache/env.h"
#include "model/file_cache/format.h"

namespace kess {
namespace agent {

using file_cache::CacheKey;

// The owner of subscriptions that name none.
inline constexpr char kDefaultOwner[] = "default";

// What one owner subscribes (or one request names).
struct Subscription {
  std::set<CacheKey> keys;
  std::set<std::string> namespaces;  // whole config namespaces

  bool empty() const { return keys.empty() && namespaces.empty(); }
  size_t size() const { return keys.size() + namespaces.size(); }
  bool operator==(const Subscription& o) const {
    return keys == o.keys && namespaces == o.namespaces;
  }
};

// Parses the body shape above ("app" is not read here). InvalidArgument
// with the name validator's message for the first invalid name (nothing is
// accepted then), or for malformed JSON / wrong types.
absl::StatusOr<Subscription> ParseSubscription(const std::string& json);
// The keys only, in the body's order (configs, then routes).
absl::StatusOr<std::vector<CacheKey>> ParseKeyList(const std::string& json);
// {"configs":[..],"routes":[..],"namespaces":[..]} (no newline).
std::string SubscriptionToJson(const Subscription& subscription);
// OK if `owner` is a valid owner name (the rules of model/names.h: A-Z
// a-z 0-9 . _ -, 1..128 bytes); else InvalidArgument.
absl::Status ValidateOwner(const std::string& owner);

// Bounds of the persisted set (Add). Owners that went away without their
// DELETE count until something removes them.
inline constexpr size_t kMaxOwners = 10000;
inline constexpr size_t kMaxPerOwner = 100000;
inline constexpr size_t kMaxLingering = 100000;

class SubscriptionSet {
 public:
  // Loads <cache_dir>/subscriptions.json if it exists (an unreadable file
  // is an error: refusing to start beats silently forgetting
  // subscriptions).
  // `grace`: how long what the last owner dropped stays subscribed (zero:
  // released at once, Remove's result is unsubscribed upstream at once).
  static absl::StatusOr<std::unique_ptr<SubscriptionSet>> Load(
      file_cache::Env* env, const std::string& cache_dir,
      absl::Duration grace = absl::ZeroDuration());

  // True if Load found a subscriptions.json.
  bool loaded_from_file() const { return loaded_from_file_; }

  // Adds `what` for `owner` and persists the set; returns what no owner
  // held before (what the agent must subscribe upstream). On a write
  // error nothing changes and the error is returned. ResourceExhausted (and
  // nothing changes) for a new owner beyond kMaxOwners, or an owner that
  // would hold more than kMaxPerOwner keys and namespaces: every owner's
  // change rewrites and syncs the whole file.
  absl::StatusOr<Subscription> Add(const std::string& owner,
                                   const Subscription& what);
  // Removes `what` from `owner` (what it does not hold is ignored) and
  // persists the set; returns what no owner holds any more. Without a grace
  // period that is released at once (the agent unsubscribes it upstream);
  // with one it lingers until now + grace (see above). On a write error
  // nothing changes.
  absl::StatusOr<Subscription> Remove(const std::string& owner,
                                      const Subscription& what);
  // Releases the lingering entries that are due (and those beyond
  // kMaxLingering), persists the set and returns them: what the agent
  // unsubscribes upstream now. On a write error nothing changes.
  absl::StatusOr<Subscription> Expire();
  // When the next lingering entry is due (Unix ms, the Env's clock); 0 if
  // none lingers.
  int64_t NextExpiryMs() const;
  // Lingering entries (what no owner holds but is still subscribed).
  Subscription Lingering() const;
  absl::Duration grace() const { return grace_; }
  // Adds for kDefaultOwner without persisting (keys backed by cache files
  // when subscriptions.json was lost).
  void AddLoaded(const CacheKey& key);

  // The union over owners.
  std::set<CacheKey> Keys() const;
  std::set<std::string> Namespaces() const;
  // Each owner's subscriptions.
  std::map<std::string, Subscription> Owners() const;
  // The owners holding `key` itself / namespace `ns`.
  std::vector<std::string> OwnersOf(const CacheKey& key) const;
  std::vector<std::string> OwnersOfNamespace(const std::string& ns) const;
  // True if `key` is subscribed itself or through its namespace.
  bool Contains(const CacheKey& key) const;
  bool ContainsNamespace(const std::string& ns) const;
  // Keys plus namespaces of the union.
  size_t size() const;

 private:
  // Lingering entries and their deadlines (Unix ms).
  struct LingerSet {
    std::map<CacheKey, int64_t> keys;
    std::map<std::string, int64_t> namespaces;
    size_t size() const { return keys.size() + namespaces.size(); }
  };

  SubscriptionSet(file_cache::Env* env, std::string path, absl::Duration grace)
      : env_(env), path_(std::move(path)), grace_(grace) {}
  static Subscription Union(const std::map<std::string, Subscription>& owners,
                            const LingerSet& lingering);
  std::string ToFileJson(const std::map<std::string, Subscription>& owners,
                         const LingerSet& lingering) const;
  // Replaces owners_ and lingering_ by `next` / `lingering` after persisting
  // them.
  absl::Status Commit(std::map<std::string, Subscription> next,
                      LingerSet lingering) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  file_cache::Env* const env_;
  const std::string path_;
  const absl::Duration grace_;
  bool loaded_from_file_ = false;
  mutable absl::Mutex mu_;
  std::map<std::string, Subscription> owners_ ABSL_GUARDED_BY(mu_);
  LingerSet lingering_ ABSL_GUARDED_BY(mu_);
  Subscription all_ ABSL_GUARDED_BY(mu_);  // Union(owners_, lingering_)
};

}  // namespace agent
}  // namespace kess
