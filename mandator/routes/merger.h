// Merge: from the partial tables of every mandator to the route table of
// every service, deciding each instance's state. Pure and fast (100,000
// instances well under a second); the leader calls it once per cycle. The
// rules below keep invariant 9 of docs/design.md (nothing is removed
// because kess is sick).
//
// The previous published tables are the baseline: the result is the
// baseline changed only where the evidence says so.
//
// Alive: an instance is healthy if ANY mandator that answered saw a
// heartbeat within instance_timeout; a host is alive if ANY saw its agent
// within host_timeout. The freshest report gives the instance's fields.
//
// Degrading (healthy -> suspect -> removed) needs COMPLETE evidence for the
// instance's DC: the leader has collected for at least `warmup`, the DC is
// in `settled_datacenters` (its mandator list is known and has not changed
// for `warmup`: the caller keeps that history), it has at least one
// mandator, and every mandator of that DC answered this cycle with an
// uptime of at least `warmup`. A mandator that just started
// (all of them, after a DC restart) has not heard from everyone yet, and one
// that did not answer may be the one holding the heartbeats: their silence
// is not evidence, so without complete evidence the baseline entry is kept
// unchanged. Upgrades (new instances, suspect -> healthy) need no warm-up.
//
// With complete evidence, an instance whose heartbeats are stale:
//  - host alive -> suspect (kept; kess may be the sick one);
//  - host stale too -> removed, limited by the protection threshold: per
//    service and cycle at most max(1, floor(max_removal_share x baseline
//    size)) such removals (the longest silent first); the others stay,
//    as suspect. A removal that would leave the service empty is held back
//    entirely (all stay, as suspect).
// A deregistration removes at once, needs no evidence and is not limited;
// a service emptied only by deregistrations is deleted.
//
// Health checks: an instance whose heartbeats arrive but whose host agent
// reports its checks critical (InstanceInfo.check_status) is made suspect,
// under the same protection threshold: per service, the instances suspect
// for their checks, those suspect for their heartbeats and those removed
// in the cycle are together at most max(1, floor(max_removal_share x
// size)) (removals and heartbeat suspects count first, so they may leave
// no room for check suspects), and never the last healthy one, so checks failing en
// masse (a shared dependency down, a broken check) never leave a service
// without a healthy instance. Those already suspect for their checks in
// the baseline keep their place first (no flapping), then by id; the
// others stay healthy, their check_status "critical" visible in the
// table. A report is positive evidence, so no warm-up is needed.
//
// Owners: a mandator reports the principal each instance is bound to
// (InstanceSeen.owner). A report or tombstone of an instance published in
// the baseline on host H counts only if its owner is H's host principal or
// the service's own principal (or empty: rights off, or an older
// mandator); any other is ignored (MergeStats::foreign_reports), so a host
// that registered another host's instance id on a mandator that did not
// hold it (it binds the first principal that asks) can neither replace the
// published address nor remove the instance. An instance that really
// moves to another host is deregistered by its owner first, or registered
// by its service's principal, or removed as usual once its heartbeats and
// its host are gone; then the new host's reports count.
//
// Operator overrides (weight, disabled) are applied last, so they survive
// heartbeats.
//
// Thread-safe: pure functions over value types.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "model/protocol/discovery.pb.h"
#include "model/route_table.h"

namespace kess {
namespace mandator {
namespace routes {

// One mandator as collected this cycle.
struct PeerReport {
  std::string id;
  std::string datacenter;
  bool answered = false;
  protocol::PartialTable table;  // meaningful when answered
};

// An operator's override of one instance.
struct InstanceOverride {
  std::optional<int32_t> weight;
  bool disabled = false;
};
// service -> instance id -> override.
using Overrides =
    std::map<std::string, std::map<std::string, InstanceOverride>>;

// service -> its route table.
using RouteTables = std::map<std::string, RouteTable>;

struct MergeOptions {
  absl::Duration instance_timeout = absl::Seconds(15);
  absl::Duration host_timeout = absl::Seconds(15);
  absl::Duration warmup = absl::Seconds(15);
  double max_removal_share = 1.0 / 3;
};

struct MergeInput {
  std::vector<PeerReport> peers;
  // DCs whose mandator list is known and unchanged for at least `warmup`
  // (same mandators, all answering); instances of other DCs are never
  // degraded.
  std::set<std::string> settled_datacenters;
  // How long this leader has been collecting.
  absl::Duration collector_uptime;
  int64_t now_ms = 0;  // wall clock: registered_ms of new instances
};

struct MergeStats {
  int64_t instances = 0;  // in the resulting tables
  int64_t healthy = 0;
  int64_t suspect = 0;
  int64_t disabled = 0;
  int64_t removed = 0;        // heartbeat and host stale
  int64_t deregistered = 0;   // removed by their own deregistration
  int64_t held_back = 0;      // removals held back by the protection
  int64_t kept_unproven = 0;  // stale, but the evidence was incomplete
  int64_t critical = 0;            // suspect because their checks fail
  int64_t critical_held_back = 0;  // critical, kept healthy by the threshold
  // Reports and tombstones ignored: bound to a principal that is neither
  // the published host's nor the service's.
  int64_t foreign_reports = 0;
  int64_t services_changed = 0;
};

// The newest state of one service; nullopt table = delete it.
struct ServiceChange {
  std::string service;
  std::optional<RouteTable> table;
};

struct MergeResult {
  std::vector<ServiceChange> changes;  // services that differ from baseline
  MergeStats stats;
  // service -> instance id -> youngest heartbeat age seen (ms); instances
  // nobody reported are absent.
  std::map<std::string, std::map<std::string, int64_t>> heartbeat_age_ms;
};

MergeResult Merge(const MergeInput& input, const RouteTables& baseline,
                  const Overrides& overrides, const MergeOptions& options);

// Equal ignoring the revision.
bool SameInstances(const RouteTable& a, const RouteTable& b);

}  // namespace routes
}  // namespace mandator
}  // namespace kess
