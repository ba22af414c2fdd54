// RoutesRole: what the main DC's leader does for discovery — every cycle
// (default 1 s):
//   1. lists the mandators of every DC (its own DC from its own ZooKeeper,
//      other DCs from theirs: Options::other_datacenters, read as "reader");
//   2. collects their partial tables (Collector);
//   3. merges them with the published tables as baseline (Merge): safe
//      removal, warm-up, protection threshold;
//   4. submits the changed services to the RouteWriter and flushes what is
//      due (coalescing window), fenced by the election node.
// Start() on election: the published tables are loaded from ZooKeeper
// first, so a new leader starts from what the old one wrote, and its own
// collection uptime starts at zero (warm-up). Stop() on demotion.
//
// A DC is "settled" when its mandator list was read and has not changed
// (same mandators, all answering) for `merge.warmup`; only then may its
// instances be degraded (see merger.h). A DC whose ZooKeeper cannot be read
// keeps its last known mandator list and is not settled.
//
// Thread-safety: Start/Stop from one thread (the election callbacks);
// view() from any thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "mandator/routes/collector.h"
#include "mandator/routes/merger.h"
#include "mandator/routes/route_store.h"
#include "mandator/routes/route_writer.h"
#include "zk_schema/layout.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace mandator {
namespace routes {

// What the HTTP API shows: the leader's current tables and the heartbeat
// ages of the last cycle.
struct RoutesView {
  absl::Time at;
  RouteTables tables;  // desired (published or about to be)
  std::map<std::string, std::map<std::string, int64_t>> heartbeat_age_ms;
  MergeStats stats;
  std::vector<Peer> peers;
  std::vector<std::string> answered;  // Peer::Key() of those that answered
  int64_t pending_writes = 0;
};

// What the partition-mode hooks see every cycle (README.md, "Partition
// mode"), after the merge and before the writes.
struct CycleContext {
  // Connected reader clients of the other DCs' ZooKeeper ensembles.
  std::map<std::string, zk::ZkApi*> other_dcs;
  // DCs with at least one listed mandator, every one of which answered
  // this cycle (so the merge saw all their heartbeats).
  std::set<std::string> complete_dcs;
  RouteWriter* writer = nullptr;
  RouteStore* store = nullptr;
};

class RoutesRole {
 public:
  // Opens a reader client to another DC's ensemble.
  using Connect = std::function<absl::StatusOr<std::unique_ptr<zk::ZkApi>>(
      const std::string& connect_string)>;

  struct Options {
    std::string self_id;
    std::string datacenter;  // this DC
    zk::Layout layout;
    // Other DCs whose mandators to collect: DC name -> ZooKeeper ensemble.
    std::map<std::string, std::string> other_datacenters;
    Connect connect;  // required when other_datacenters is not empty
    std::function<std::string()> fence;  // the election node; "" = none
    // Operators' overrides (override_store.h), asked every cycle; empty =
    // none. An error skips the cycle: tables are never built without them.
    std::function<absl::StatusOr<Overrides>()> overrides;
    // Partition mode (README.md): `before_write` may ask for rewrites and
    // revision jumps, or return false to write nothing this cycle;
    // `after_write` sees what was written. Both optional.
    std::function<bool(const CycleContext&)> before_write;
    std::function<void(const RouteWriter::FlushResult&)> after_write;
    absl::Duration cycle = absl::Seconds(1);
    MergeOptions merge;
    Collector::Options collector;
    RouteWriter::Options writer;
    RouteStore::Options store;
    metrics::Registry* registry = &metrics::Registry::Default();
  };

  // `local` (this DC's ZooKeeper) must outlive the role.
  RoutesRole(zk::ZkApi* local, Options options);
  ~RoutesRole();  // Stop()

  void Start();
  void Stop();  // idempotent; no write is issued after it returns

  // The last cycle's view; null before the first cycle of a leadership.
  std::shared_ptr<const RoutesView> view() const;

 private:
  struct DcState;
  void Run();
  bool Stopping(absl::Duration wait);
  std::vector<Peer> ListPeers(absl::Time now);
  absl::StatusOr<std::vector<Peer>> ListDc(zk::ZkApi& zk,
                                           const std::string& dc);
  std::set<std::string> Settled(const std::vector<PeerReport>& reports,
                                absl::Time now);

  zk::ZkApi* const local_;
  const Options options_;
  std::map<std::string, std::unique_ptr<DcState>> dcs_;  // Run() only

  mutable absl::Mutex mu_;
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<const RoutesView> view_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;

  metrics::Histogram* merge_seconds_;
  metrics::Gauge* instances_gauge_;
  metrics::Counter* removed_;
  metrics::Counter* held_back_;
  metrics::Counter* foreign_reports_;
};

}  // namespace routes
}  // namespace mandator
}  // namespace kess
