// PartialTable: what one mandator has heard — the provider instances that
// register and heartbeat with it, and the hosts whose agents heartbeat it —
// with the time of each on a monotonic clock. The main-DC leader reads it
// (kess.GetPartialTable) from every mandator and decides the route tables;
// this table decides nothing.
//
// Memory is bounded: an instance or host not heard from for
// `expire_after` (about 10 heartbeat intervals) is forgotten by Expire(),
// a deregistered instance is kept as a tombstone for `tombstone_ttl` (so the
// leader learns of it even if it misses a cycle) and then forgotten, and at
// most `max_instances` / `max_hosts` are held. Forgetting is not removal
// from a route table: the leader decides that.
//
// Callers validate input first (model/instance_info.h); the table trusts
// it.
//
// Thread-safety: every method is thread-safe. Instances live in kShards
// shards, each behind its own short lock, so concurrent heartbeats from
// different connections rarely wait for each other; hosts share one lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_set.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/status.h"
#include "model/protocol/discovery.pb.h"

namespace kess {
namespace mandator {
namespace scheduler {

struct PartialTableOptions {
  // 10 x the default heartbeat interval.
  absl::Duration expire_after = absl::Seconds(50);
  absl::Duration tombstone_ttl = absl::Seconds(50);
  size_t max_instances = 1000000;  // tombstones included
  size_t max_hosts = 1000000;
};

using InstanceRefs = google::protobuf::RepeatedPtrField<protocol::InstanceRef>;

class PartialTable {
 public:
  // `clock` must outlive the table. Uptime counts from construction.
  PartialTable(const Clock* clock, PartialTableOptions options);

  PartialTable(const PartialTable&) = delete;
  PartialTable& operator=(const PartialTable&) = delete;

  // Adds or replaces each instance and marks it heard now; a tombstoned
  // one comes back to life as new. Instances already held are always
  // updated; new ones only while the table holds fewer than max_instances
  // entries — ResourceExhausted says how many were refused (the others
  // were applied).
  //
  // `owner` (a principal URI, common/identity) binds each instance to the
  // principal that registered it; "" binds to nobody. An instance held
  // (live or tombstone) with another owner is skipped; callers check
  // CheckOwner first so that a refused request changes nothing.
  absl::Status Register(
      const google::protobuf::RepeatedPtrField<protocol::InstanceInfo>& infos,
      absl::string_view owner = "");

  // PermissionDenied (naming the owner) if service/id is held, live or as
  // a tombstone, bound to an owner other than `owner`; OK if it is not
  // held or is bound to `owner`.
  absl::Status CheckOwner(absl::string_view service, absl::string_view id,
                          absl::string_view owner) const;

  // Marks each known, live instance heard now (and sets its health when
  // `health` is not empty). The others — never registered here, forgotten,
  // or deregistered — are appended to *unknown. Returns how many were
  // refreshed.
  // With `owner` set, instances bound to another owner are neither
  // refreshed nor reported unknown, and are counted in *foreign. Owners are
  // interned: one lookup per call, a pointer comparison per ref.
  size_t Heartbeat(const InstanceRefs& refs, absl::string_view health,
                   InstanceRefs* unknown,
                   std::optional<absl::string_view> owner = std::nullopt,
                   size_t* foreign = nullptr);

  // Turns each known instance into a tombstone (unknown ones are ignored).
  // Returns how many were live.
  size_t Deregister(const InstanceRefs& refs);

  // The host's agent is alive. False (nothing changed) if the table is at
  // max_hosts and does not know this host. `distributor`, `revision`,
  // `synced_revision` and `agent_version` (what the agent reported, for
  // status pages) are kept as given; the time `synced_revision` last
  // changed is remembered.
  bool HostHeartbeat(const std::string& host_id,
                     const std::string& distributor = "", int64_t revision = 0,
                     int64_t synced_revision = 0,
                     const std::string& agent_version = "");

  // One host as last heard (for the admin UI's hosts page).
  struct HostView {
    std::string host_id;
    std::string distributor;  // as the agent reported it; may be ""
    int64_t revision = 0;     // newest revision the agent held
    int64_t last_heartbeat_age_ms = 0;
    // The distributor's revision the agent is synced to (HostHeartbeat's
    // synced_revision), and how long ago it last changed on this mandator
    // (since the host was first heard if it never changed).
    int64_t synced_revision = 0;
    int64_t synced_age_ms = 0;
    // The agent's release as it reported it; "" for an agent older than
    // that field (kess 0.9.0).
    std::string agent_version;
  };
  // Every host held, sorted by id.
  std::vector<HostView> Hosts() const;

  // Instances sorted by (service, id) after `after` (nullptr: from the
  // start), at most `max_instances` (0: all), with ages; hosts on the
  // first page only; next_after set when more instances follow. The caller
  // fills mandator_id and datacenter.
  protocol::PartialTable Snapshot(size_t max_instances,
                                  const protocol::InstanceRef* after) const;

  struct Expired {
    size_t instances = 0;
    size_t tombstones = 0;
    size_t hosts = 0;
  };
  // Forgets what is older than the options allow.
  Expired Expire();

  size_t instance_count() const { return live_.load(); }  // tombstones not
  size_t tombstone_count() const { return tombstones_.load(); }
  size_t host_count() const;
  int64_t uptime_ms() const { return clock_->NowMs() - start_ms_; }

  static constexpr int kShards = 16;

 private:
  struct Entry {
    protocol::InstanceInfo info;
    int64_t first_seen_ms = 0;
    int64_t last_heartbeat_ms = 0;
    int64_t deregistered_ms = -1;  // >= 0: a tombstone
    // The registering principal's URI (interned, see owners_); nullptr =
    // nobody.
    const std::string* owner = nullptr;
  };
  struct Shard {
    mutable absl::Mutex mu;
    // Key: service + '\0' + id ('\0' sorts first, so key order is
    // (service, id) order).
    absl::flat_hash_map<std::string, Entry> entries ABSL_GUARDED_BY(mu);
  };

  static void AppendKey(absl::string_view service, absl::string_view id,
                        std::string* key);
  // The interned copy of `owner` (nullptr for ""), added if new / only if
  // present (else kNoOwner, which no entry carries).
  const std::string* InternOwner(absl::string_view owner);
  const std::string* FindOwner(absl::string_view owner) const;
  Shard& ShardFor(absl::string_view key);
  const Shard& ShardFor(absl::string_view key) const;

  const Clock* const clock_;
  const PartialTableOptions options_;
  const int64_t start_ms_;
  Shard shards_[kShards];
  std::atomic<size_t> live_{0};
  std::atomic<size_t> tombstones_{0};

  struct HostEntry {
    int64_t last_heartbeat_ms = 0;
    std::string distributor;
    int64_t revision = 0;
    int64_t synced_revision = 0;
    int64_t synced_since_ms = 0;
    std::string agent_version;
  };
  // Every owner ever bound, so that entries hold a pointer and heartbeats
  // compare pointers (an owner string on the heap would cost a cache miss
  // per ref). Bounded by the principals that registered (each proven by a
  // certificate or credential).
  mutable absl::Mutex owners_mu_;
  absl::node_hash_set<std::string> owners_ ABSL_GUARDED_BY(owners_mu_);

  mutable absl::Mutex hosts_mu_;
  absl::flat_hash_map<std::string, HostEntry> hosts_
      ABSL_GUARDED_BY(hosts_mu_);  // host id -> last heartbeat
};

}  // namespace scheduler
}  // namespace mandator
}  // namespace kess
