// Invariants over every DC's ZooKeeper, for the scenarios whose DCs are not
// all covered by agents (tests/cluster/multi_dc_cluster.h: a slave DC of
// mandators only) and for the slave DCs' trees themselves. They come on
// top of invariant_checker.h's, which look at the agents' caches. Numbers
// are those of the one list in docs/design.md (section 5, "Invariants"):
//
//  invariant 4, no revision backwards in any DC: a DcRevisionMonitor
//     samples, on one thread per DC, the DC's /kess/revision and the
//     ConfigRecord of every watched key (one pipelined read each time);
//     neither ever goes below a revision seen before in that DC, and a
//     record once seen never vanishes (the scenarios delete nothing);
//  invariant 5, every DC converged to the main DC exactly
//     (CheckEveryDcConverged): once nothing writes any more, every slave
//     DC is at main's revision and holds main's configs — records, and
//     values byte for byte — and, for every change record both hold, the
//     same bytes, without a gap (tests/cluster/dc_snapshot.h SameData).
//
//   DcRevisionMonitor monitor(&cluster->dcs(), keys);   // samples from now
//   ... scenario; faults lifted, writes stopped ...
//   InvariantResult r = checker.Check(keys, reader, timeout);  // 6, 7, 2
//   CheckEveryDcConverged(cluster->dcs(), absl::Seconds(120), &r);
//   monitor.Stop();
//   monitor.AddTo(&r);
//
// The readers connect to each DC's own ZooKeeper directly, never through
// a WAN link or proxy of the cluster, so a link fault does not blind them.
//
// Thread-safety: DcRevisionMonitor's methods are thread-safe;
// CheckEveryDcConverged is a plain function.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tests/cluster/multi_dc_cluster.h"
#include "tests/faults/invariant_checker.h"

namespace kess {
namespace testing {

class DcRevisionMonitor {
 public:
  // Connects a reader to every DC of `dcs` (dc1, dc2, ...) and samples each
  // every `period` until Stop() (and at most kMaxSamples times or
  // kMaxDuration, so a forgotten monitor ends). `keys`: the configs whose
  // records are watched; they need not exist yet. A DC it cannot connect
  // to is a violation.
  DcRevisionMonitor(MultiDcCluster* dcs, ConfigKeys keys,
                    absl::Duration period = absl::Milliseconds(50));
  ~DcRevisionMonitor();
  DcRevisionMonitor(const DcRevisionMonitor&) = delete;
  DcRevisionMonitor& operator=(const DcRevisionMonitor&) = delete;

  static constexpr int64_t kMaxSamples = 100000;  // per DC
  static constexpr absl::Duration kMaxDuration = absl::Minutes(30);

  void Stop();

  // Samples every read answered, over every DC.
  int64_t samples() const { return samples_; }
  // Samples its ZooKeeper did not answer (not judged).
  int64_t unreadable() const { return unreadable_; }
  int64_t violation_count() const { return violation_count_; }
  // The first 20.
  std::vector<std::string> violations() const;
  // The highest /kess/revision seen in DC `name` ("dc1", ...); -1 if none.
  int64_t HighestRevision(const std::string& name) const;

  // Adds samples() to result->dc_samples_checked and every violation.
  void AddTo(InvariantResult* result) const;

 private:
  struct Dc;
  void Run(Dc* dc);
  void Violation(std::string what);

  const ConfigKeys keys_;
  const absl::Duration period_;
  std::vector<std::unique_ptr<Dc>> dcs_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> samples_{0}, unreadable_{0}, violation_count_{0};
  mutable absl::Mutex mu_;
  std::vector<std::string> violations_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
};

// Invariant 5 (docs/design.md): waits (polling the revisions, bounded by
// `patience`: "did not hang") until every slave DC of `dcs` is at the main
// DC's revision, then compares each with main (SameData), retrying while
// main moves or they differ; adds one violation per DC still different at
// the deadline, and counts the configs compared. Call it once nothing
// writes to main.
void CheckEveryDcConverged(MultiDcCluster& dcs, absl::Duration patience,
                           InvariantResult* result);

}  // namespace testing
}  // namespace kess
