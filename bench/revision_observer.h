// RevisionObserver: when did a DC's ZooKeeper commit each revision? A data
// watch on /kess/revision (re-armed after every fire by reading the node)
// records, per revision, the CLOCK_MONOTONIC time (bench NowNs) at which
// the watch that revealed it fired. Used by the propagation benchmark to
// split write -> file latency into its hops (main commit, replication to
// the slave DC's commit, the distributors' fan-out to files).
//
// It costs one read per revision per observed ZooKeeper (counted in that
// server's packets). With one change at a time, the revision read after a
// fire is the one that caused it; under a stream of changes a fire is
// attributed to the newest revision read after it (earlier ones are not
// recorded).
//
// Thread-safety: SeenNs from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "zk_schema/layout.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace bench {

class RevisionObserver {
 public:
  // Starts watching through `zk` (which it keeps) at once.
  RevisionObserver(std::unique_ptr<zk::ZkApi> zk, zk::Layout layout);
  ~RevisionObserver();

  // When the watch revealing `revision` fired; 0 if it was not seen.
  int64_t SeenNs(int64_t revision) const;

 private:
  void Run();

  std::unique_ptr<zk::ZkApi> zk_;
  const zk::Layout layout_;
  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  int64_t fired_ns_ ABSL_GUARDED_BY(mu_) = 0;  // unconsumed fire, 0 = none
  std::map<int64_t, int64_t> seen_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace bench
}  // namespace kess
