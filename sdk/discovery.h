// Discovery: the consumer side of service discovery. Reads a service's
// route table from the agent's file cache (subscribing the service through
// the agent), and picks instances for calls with a load balancer
// (load_balancer.h), failing over away from instances the caller reports
// as failing.
//
//   Discovery::Options options;
//   options.cache_dir = "/var/cache/kess";
//   options.local_datacenter = "dc1";
//   options.balancer = "local_first";        // default for Select()
//   KESS_ASSIGN_OR_RETURN(auto discovery, Discovery::Create(options));
//   KESS_ASSIGN_OR_RETURN(auto instance, discovery->Select("payments"));
//   if (!Call(instance->address).ok()) {
//     discovery->ReportFailure("payments", instance->id);
//   }
//
// The first use of a service (Select, Watch, GetTable) starts tracking it:
// it is subscribed through the agent (retried in the background while the
// agent is down; see cache_watcher.h) and its cache file is read at once
// and then polled. A new table version becomes an immutable RouteSnapshot
// that is swapped in whole (snapshot_cell.h), so Select() never waits for
// a writer. A file that is missing, garbled or holds an invalid table
// changes nothing: the last good table stays (and is counted in
// kess_sdk_route_read_errors_total). Without an agent the cached tables
// are served. A service deleted upstream (a tombstone) has no instances.
//
// Failover: ReportFailure ejects the instance with exponential backoff and
// brings it back at a lowered weight; ReportSuccess forgets failures (see
// failure_tracker.h for the exact rules). Ejected instances are picked only
// when nothing else is left.
//
// Thread-safety: all methods are thread-safe. Select is wait-free apart
// from the first call for a service (which reads its file). Watch
// callbacks run on the poll thread, one at a time, and must not destroy
// the Discovery.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics.h"
#include "model/route_table.h"
#include "common/status.h"
#include "sdk/cache_watcher.h"
#include "sdk/clock.h"
#include "sdk/failure_tracker.h"
#include "sdk/load_balancer.h"
#include "sdk/route_snapshot.h"
#include "sdk/snapshot_cell.h"

namespace kess {
namespace sdk {

class Discovery {
 public:
  // The cache and agent settings are CacheWatcher's (cache_dir,
  // agent_http_address, poll_interval, ...).
  struct Options : CacheWatcher::Options {
    // The default balancer of Select(service, key): a registered name.
    std::string balancer = "weighted_random";
    // For local_first (see policy/local_first.h).
    std::string local_datacenter;
    int min_local_healthy = 1;
    std::string local_first_inner = "weighted_random";
    FailureTracker::Options failover;
    const Clock* clock = Clock::Steady();  // must outlive
  };

  using WatchHandle = CacheWatcher::WatchHandle;
  // Every new good table version (also the one cached when Watch starts).
  using Callback = std::function<void(std::shared_ptr<const RouteTable>)>;

  // InvalidArgument for bad options (an unknown balancer, local_first
  // without a local_datacenter, ...).
  static absl::StatusOr<std::unique_ptr<Discovery>> Create(Options options);
  // REQUIRES: every WatchHandle is gone.
  ~Discovery();

  // One instance of `service` for a call, by the default balancer (`key`
  // is the request key for key-affine balancers). The returned pointer
  // keeps its table version alive. NotFound when the cache has no table for
  // the service yet or it has no healthy or suspect instance,
  // InvalidArgument for an invalid name.
  absl::StatusOr<std::shared_ptr<const RouteInstance>> Select(
      absl::string_view service, absl::string_view key = "");
  // The same with another balancer (from Balancer(), or any LoadBalancer
  // that outlives the call).
  absl::StatusOr<std::shared_ptr<const RouteInstance>> Select(
      absl::string_view service, absl::string_view key,
      const LoadBalancer& balancer);

  // A balancer of a registered strategy configured with this Discovery's
  // options; created once per name, owned by the Discovery.
  absl::StatusOr<const LoadBalancer*> Balancer(absl::string_view name);

  // Caller-side failover for one instance (by id). Ids not in the table
  // are kept on record (they may appear in the next version); invalid
  // service names are ignored.
  void ReportFailure(absl::string_view service, absl::string_view instance_id);
  void ReportSuccess(absl::string_view service, absl::string_view instance_id);

  // Calls `callback` with the current table (if any) and then with newer
  // good versions as the poll thread reads them, in revision order, each
  // once; a version replaced before the poll read it is skipped (the
  // newest one is what counts). InvalidArgument for an invalid name.
  absl::StatusOr<std::unique_ptr<WatchHandle>> Watch(absl::string_view service,
                                                     Callback callback);

  // The last good table. NotFound if there is none yet.
  absl::StatusOr<std::shared_ptr<const RouteTable>> GetTable(
      absl::string_view service);

  // One poll of every tracked service on the calling thread.
  void PollNow() { watcher_->PollNow(); }

 private:
  // What Select reads: swapped as a whole.
  // One reference holder of a snapshot per shard of threads: the
  // shared_ptr that Select returns counts on its thread's holder, so
  // threads picking at once do not all bounce one reference count.
  struct alignas(64) SnapshotOwner {
    std::shared_ptr<const RouteSnapshot> snapshot;
  };
  static constexpr int kOwnerShards = 16;
  static int OwnerShard();  // the calling thread's
  // What Select reads: swapped as a whole.
  struct View {
    std::shared_ptr<const RouteSnapshot> snapshot;     // null: no table yet
    std::shared_ptr<const Availability> availability;  // null: none ejected
    std::vector<std::shared_ptr<const SnapshotOwner>> owners;  // kOwnerShards
  };
  struct Service {
    Service(std::string name, const FailureTracker::Options& failover)
        : name(std::move(name)), tracker(failover) {}
    const std::string name;
    absl::Mutex mu;  // writers: new tables and failure reports
    std::shared_ptr<const RouteSnapshot> snapshot ABSL_GUARDED_BY(mu);
    int64_t revision ABSL_GUARDED_BY(mu) = 0;  // of the last entry applied
    FailureTracker tracker ABSL_GUARDED_BY(mu);
    int64_t last_error_log_ms ABSL_GUARDED_BY(mu) = 0;
    SnapshotCell<View> view{std::make_shared<const View>()};
    // Keeps `view` fresh while nobody Watch()es the service.
    std::unique_ptr<CacheWatcher::WatchHandle> watch;
  };
  using ServiceMap = absl::flat_hash_map<std::string, std::shared_ptr<Service>>;

  Discovery(Options options, std::unique_ptr<CacheWatcher> watcher);
  // The tracked service, starting to track it on first use.
  absl::StatusOr<Service*> Track(absl::string_view name);
  Service* Find(absl::string_view name) const;
  // Applies a cache entry (if newer and valid); returns the current table
  // (null if none) and whether it is the entry's version.
  std::pair<std::shared_ptr<const RouteTable>, bool> Apply(
      Service* service, const file_cache::CacheEntry& entry);
  void Publish(Service* service) ABSL_EXCLUSIVE_LOCKS_REQUIRED(service->mu);
  void Report(absl::string_view service, absl::string_view instance_id,
              bool failure);

  const Options options_;
  const std::unique_ptr<CacheWatcher> watcher_;
  metrics::Counter* read_errors_;
  const LoadBalancer* default_balancer_ = nullptr;

  absl::Mutex mu_;  // adding services and balancers
  absl::flat_hash_map<std::string, std::unique_ptr<LoadBalancer>> balancers_
      ABSL_GUARDED_BY(mu_);
  SnapshotCell<ServiceMap> services_;  // copied on write, under mu_
};

}  // namespace sdk
}  // namespace kess
