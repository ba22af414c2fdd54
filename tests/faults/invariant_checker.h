// The fault suite's invariants, checked after a fault scenario once its faults
// are lifted. Numbers are those of the one list in docs/design.md
// (section 5, "Invariants"):
//
//  invariant 6, no lost change: every agent of every DC caches, for every
//     config it subscribed to, the main DC's current revision and value
//     (CRC-32 of the bytes), within a bounded time;
//  invariant 7, whole versions only, never older: what readers saw of each
//     cache file while the scenario ran (a CacheReaderLoop) never went down
//     in revision, and no read was torn (parse or CRC failure);
//  invariant 2, no acknowledged write lost: for every key, the main DC
//     holds a revision at least as new as the newest acknowledged write of
//     that key, and when that write is still the newest, exactly its value.
//
//  invariant 9, nothing removed because kess is sick (when the scenario
//     ran a route sampler, AddRouteSamples): no instance that was alive on
//     a live host was ever missing from any agent's route file or either
//     DC's route record — hence no service ever became empty because of a
//     kess fault.
//
//  invariants 4 and 5 over every DC's ZooKeeper (when the scenario ran a
//     DcRevisionMonitor, dc_invariants.h): no revision went backwards in
//     any DC, and every slave DC converged to the main DC exactly — for
//     DCs without agents of their own too.
//
//   InvariantChecker checker(cluster);
//   checker.NoteAck("ns", "k", rev, value);   // from the write stream
//   ... scenario, faults lifted ...
//   InvariantResult r = checker.Check(keys, reader, absl::Seconds(60));
//   EXPECT_TRUE(r.ok()) << r.Describe();
//
// Thread-safety: NoteAck may be called from any thread; Check from one.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tests/cluster/cache_reader_loop.h"
#include "tests/cluster/cache_tier_cluster.h"

namespace kess {
namespace testing {

struct InvariantResult {
  int64_t writes_checked = 0;  // acknowledged writes compared with main
  int64_t files_checked = 0;   // agent x subscribed key at the end
  int64_t reads_checked = 0;   // reads by the reader loop
  int64_t route_samples_checked = 0;     // route sampler rounds judged
  int64_t route_samples_unreadable = 0;  // ZooKeeper answered an error
  int64_t dc_samples_checked = 0;        // DcRevisionMonitor samples judged
  int64_t dc_configs_compared = 0;       // slave DC x config, at the end
  absl::Duration converged_after = absl::ZeroDuration();
  std::vector<std::string> violations;  // one line each, first 20 kept
  int64_t violation_count = 0;

  bool ok() const { return violation_count == 0; }
  // Counts one violation; keeps its line among the first 20.
  void AddViolation(std::string what);
  // "writes=… files=… reads=… routes=… dcs=… violations=…" and the
  // violations.
  std::string Describe() const;
};

// "ns/key" pairs, as subscribed by the agents.
using ConfigKeys = std::vector<std::pair<std::string, std::string>>;

class InvariantChecker {
 public:
  explicit InvariantChecker(CacheTierCluster* cluster) : cluster_(cluster) {}

  // An acknowledged PUT of ns/key at `revision` with `value`.
  void NoteAck(const std::string& ns, const std::string& key, int64_t revision,
               const std::string& value);
  int64_t acks() const;

  // Checks invariants 6, 7 and 2 (docs/design.md). `keys` are the configs
  // every agent of both DCs subscribed to; `reader` ran over their cache
  // dirs during the scenario (may be null: invariant 7 is then not
  // checked). Waits up to `converge_timeout` for invariant 6.
  InvariantResult Check(const ConfigKeys& keys, const CacheReaderLoop* reader,
                        absl::Duration converge_timeout);

  // Invariant 9 (docs/design.md), from a route sampler that ran during the
  // scenario (e.g. tests/discovery/discovery_cluster.h's RouteSampler: its
  // samples(), unreadable(), violation_count() and violations()). Adds to
  // `result`.
  static void AddRouteSamples(InvariantResult* result, int64_t samples,
                              int64_t unreadable, int64_t violation_count,
                              const std::vector<std::string>& violations);

 private:
  struct Ack {
    int64_t revision = 0;
    std::string value;
  };

  CacheTierCluster* cluster_;
  mutable absl::Mutex mu_;
  std::map<std::string, Ack> newest_ ABSL_GUARDED_BY(mu_);  // "ns/key"
  int64_t acks_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace testing
}  // namespace kess
