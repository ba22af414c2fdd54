// ZkFollower: keeps a DataSet current from ZooKeeper with a few reads, never
// one watch per key. Invariants of docs/design.md: 4 (only newer), 6 (push
// and pull), 8 (one watch, whatever the fleet) and 11 (never shrink
// because ZooKeeper is sick).
//
//  - One data watch on /kess/revision, re-armed after every fire and after
//    every new session, plus a poll every `poll_interval` (a watch can be
//    lost between fire and re-arm, and never fires in an expired session).
//  - On a new revision, zk::PlanCatchUp decides: kIncremental reads
//    /kess/changelog/<have+1 ..> (at most max_changes_per_step per step),
//    re-reads each named record once and applies what is newer;
//    kFullResync reads every record, diffs against memory and applies only
//    the differences.
//  - Every applied batch goes to the ChangeListener (in revision order),
//    after the DataSet holds it.
//
// Never shrink because ZooKeeper is sick. Any failed read keeps the data as
// it is and marks the follower stale until a later step succeeds; a missing
// root, directory or summary is an error, never "no data". A full reload
// that would remove all live keys, or more than max_shrink_fraction of
// them, is refused (counted, logged, stale): legitimate deletes arrive
// through the change log (CONFIG_DELETE / ROUTE_DELETE) and are applied
// incrementally; only a follower too far behind to read them needs a full
// reload, and it then keeps its data until an operator restarts it.
//
// Thread-safety: Start/Stop from one owner thread; the accessors and
// Trigger() from any thread. The follower runs on a thread of its own; the
// listener is called on it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "distributor/data_set.h"
#include "distributor/distributor_metrics.h"
#include "distributor/zk_source.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace distributor {

class ChangeListener {
 public:
  virtual ~ChangeListener() = default;
  // `changes` were just applied to the DataSet, which now reflects
  // `revision`. Called on the follower's thread; may take a while (it is
  // the fan-out), but delays the next sync step.
  virtual void OnChanges(const std::vector<ItemPtr>& changes,
                         int64_t revision) = 0;
};

struct ZkFollowerOptions {
  absl::Duration poll_interval = absl::Seconds(5);
  // After a failed step, retry this soon (not a whole poll interval).
  absl::Duration retry_interval = absl::Milliseconds(500);
  double max_shrink_fraction = 0.25;
  int load_threads = 8;
  int64_t max_changes_per_step = 5000;
  // Build route tables from the deltas in the change records when they
  // apply to the version held (route_deltas.h); false: read every changed
  // table whole.
  bool route_deltas = true;
};

class ZkFollower {
 public:
  // Everything must outlive the follower. `listener` may be null.
  ZkFollower(zk::ZkApi* zk, zk::Layout layout, DataSet* data,
             ChangeListener* listener, DistributorMetrics* metrics,
             ZkFollowerOptions options);
  ~ZkFollower();  // Stop()

  // Starts the thread; the first step is a full load.
  void Start();
  // Joins the thread. Idempotent.
  void Stop();
  // Runs a step soon (as a watch fire does).
  void Trigger();

  // ZooKeeper is unreachable or unhealthy: the data may be old.
  bool stale() const { return stale_.load(); }
  // Why, while stale; "" otherwise.
  std::string stale_reason() const;
  // The newest revision read from /kess/revision.
  int64_t zk_revision() const { return zk_revision_.load(); }
  // Successful steps so far (tests wait on it).
  int64_t steps() const { return steps_.load(); }

 private:
  void Run();
  // One sync step; OK when the data is as new as the summary read.
  absl::Status Step();
  absl::Status CatchUpIncremental(const zk::RevisionSummary& summary);
  absl::Status FullReload(const zk::RevisionSummary& summary);
  void Publish(const std::vector<ItemPtr>& changes, int64_t revision);
  void SetStale(const std::string& reason);
  void ClearStale();
  void UpdateGauges();
  void OnSessionEvent(const zk::SessionEvent& event);

  zk::ZkApi* const zk_;
  ZkSource source_;
  DataSet* const data_;
  ChangeListener* const listener_;
  DistributorMetrics* const metrics_;
  const ZkFollowerOptions options_;

  std::atomic<bool> stale_{true};
  std::atomic<int64_t> zk_revision_{0};
  std::atomic<int64_t> steps_{0};
  // Cleared when the watch fires or the session is replaced.
  std::atomic<bool> watch_armed_{false};
  // A newer summary exists than the one the last step caught up to.
  std::atomic<bool> more_{false};
  int64_t listener_id_ = 0;
  // Lets a watch callback that fires after Stop() find no follower.
  struct WatchLink {
    absl::Mutex mu;
    ZkFollower* follower ABSL_GUARDED_BY(mu) = nullptr;
  };
  std::shared_ptr<WatchLink> watch_link_;

  mutable absl::Mutex mu_;
  bool triggered_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::string stale_reason_ ABSL_GUARDED_BY(mu_) = "not loaded yet";
  std::thread thread_;
};

}  // namespace distributor
}  // namespace kess
