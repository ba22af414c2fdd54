// ReadGuard: read rights in front of the SubscriptionHub (docs/security.md,
// "Read rights"). Every kess.Subscribe / kess.Pull / kess.Unsubscribe of an
// agent passes through it, and every applied batch of changes reaches the
// hub through it (it is the follower's ChangeListener).
//
// Per requested key it asks ReadAccess (read_access.h) with the
// connection's authenticated principal:
//  - refused: the key is NOT subscribed at the hub (so no later change of
//    it is ever pushed to this connection), and it is answered per key as
//    denied: a Resource with `denied` and `absent` set and no value, at
//    revision 0 when the agent holds nothing of it, else at the ACL's
//    revision, so that the agent drops its copy (a tombstone in its file
//    cache). A refused NAMESPACE subscription is listed in the response's
//    `rejected` ("read denied"), with a denied Resource for each key the
//    agent says it holds. Counted in
//    kess_distributor_read_denied_total{kind="config"|"route"|"namespace"}.
//  - allowed: passed to the hub unchanged, except a version the ACL made
//    visible after the agent's copy (see ReadAccess::Stamp), which is
//    answered here at the ACL's revision.
// The gray release a host gets is chosen by its principal's host id, never
// by the host_id it claims (a host principal's name replaces it).
//
// ACL changes (items "a/n/<ns>", "a/s/<service>" in a batch) are applied to
// every connection that asked for a key under them before the batch's
// other changes are fanned out: a connection that lost the right is
// unsubscribed at the hub and sent denied Resources for what it may hold;
// one that gained it is subscribed and sent the current versions (at the
// ACL's revision when that is newer). So revocation takes effect within
// the normal propagation time, and is never undone by a later push.
//
// Not enforcing (ReadAccessOptions.enforce false: only with
// --insecure_dev_mode on a transport without principals): every call goes
// straight to the hub, at no cost, and ACLs are ignored. Without principals
// and without that flag the distributor enforces with every connection
// anonymous (ReadGuardOptions.claimed_host): ACL'd keys are denied.
//
// Thread-safety: thread-safe. Subscribe/Pull/Unsubscribe and the ACL part of
// OnChanges are serialized by one lock (the hub's answer included), so a
// decision and the hub's subscription set never disagree.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics.h"
#include "distributor/data_set.h"
#include "distributor/read_access.h"
#include "distributor/subscription_hub.h"
#include "distributor/zk_follower.h"

namespace kess {
namespace distributor {

struct ReadGuardOptions {
  ReadAccessOptions access;
  // No principals on the transport (a distributor without
  // --tls_client_auth) yet enforcing: every connection is anonymous, so a
  // key whose namespace or service has an ACL is denied to all (fail
  // closed) and keys without one are served as before. The gray version
  // then goes by the host_id the agent claims (nothing better is known).
  bool claimed_host = false;
  size_t max_payload_bytes = 16 * 1024 * 1024;
  size_t budget_bytes = 16 * 1024 * 1024;
  metrics::Registry* registry = nullptr;  // nullptr: the default registry
};

class ReadGuard : public ChangeListener {
 public:
  // Sends one kess.Update payload to one connection.
  using PushFn = std::function<void(uint64_t connection,
                                    const std::string& payload)>;

  // `data` and `hub` must outlive the guard; `stale` as the hub's.
  ReadGuard(const DataSet* data, SubscriptionHub* hub,
            std::function<bool()> stale, PushFn push, ReadGuardOptions options);

  // `reader`: the connection's authenticated principal (nullopt:
  // anonymous). The same connection always passes the same one.
  Answer Subscribe(uint64_t connection, const std::string& payload,
                   const std::optional<zk::Reader>& reader);
  Answer Pull(uint64_t connection, const std::string& payload,
              const std::optional<zk::Reader>& reader);
  absl::StatusOr<std::string> Unsubscribe(uint64_t connection,
                                          const std::string& payload);
  void Disconnected(uint64_t connection);

  // ACL changes first (see the header), then the hub's fan-out.
  void OnChanges(const std::vector<ItemPtr>& changes,
                 int64_t revision) override;

  const ReadAccess& access() const { return access_; }

 private:
  // The keys (canonical: "c/..", "r/..", "n/..") one connection asked for
  // under one ACL key, and whether it may read them now.
  struct Group {
    bool allowed = true;
    absl::flat_hash_set<std::string> keys;
  };
  struct Conn {
    std::optional<zk::Reader> reader;
    std::string host;  // chooses gray versions: the principal's host id
    absl::flat_hash_map<std::string, Group> groups;  // by ACL key
    // The last pull passed to the hub unchanged, at acl_generation_: the
    // same bytes again (an up-to-date agent's periodic pull) need no
    // decision (a data change cannot make one differ; an ACL change bumps
    // the generation).
    std::string last_pull;
    uint64_t generation = 0;
  };

  Answer Filter(uint64_t connection, const std::string& payload,
                const std::optional<zk::Reader>& reader, bool subscribe)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // What `host` gets for config or route key `key` now (the gray version if
  // one selects it), or nullptr.
  ItemPtr Current(const std::string& key, const std::string& host) const;
  void ApplyAclChange(const ItemPtr& acl_item)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Registers `keys` of `connection` at the hub without an answer.
  void SubscribeAtHub(uint64_t connection,
                      const absl::flat_hash_set<std::string>& keys);
  void UnsubscribeAtHub(uint64_t connection,
                        const absl::flat_hash_set<std::string>& keys);
  // kess.Update payloads of `items` (empty: none).
  std::vector<std::string> Pack(const std::vector<ItemPtr>& items) const;
  void CountDenied(const std::string& key);

  const DataSet* const data_;
  SubscriptionHub* const hub_;
  const std::function<bool()> stale_;
  const PushFn push_;
  const ReadGuardOptions options_;
  const ReadAccess access_;
  metrics::Registry* const registry_;

  absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, Conn> conns_ ABSL_GUARDED_BY(mu_);
  // ACL key -> connections with a Group under it.
  absl::flat_hash_map<std::string, absl::flat_hash_set<uint64_t>> by_acl_
      ABSL_GUARDED_BY(mu_);
  uint64_t acl_generation_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace distributor
}  // namespace kess
