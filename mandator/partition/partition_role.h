// PartitionRole: what a slave DC's leader does while it leads — replicate
// the main DC (ReplicationRole) and, when the main DC cannot be reached,
// keep its own DC's discovery working in partition mode: invariant 10 of
// docs/design.md (../routes/README.md, "Partition mode", has the design
// and guarantees):
//
//  kReplicating --main unreachable for partition_after--> kOverlay
//     the replicator is stopped; a RoutesRole over this DC's mandators only,
//     with the replicated tables as baseline, commits changed services into
//     the local ZooKeeper with local revisions base+1, base+2, ...;
//     /kess/overlay records {active, base, newest, services touched} (the
//     touched services are recorded BEFORE they are written).
//  kOverlay --main reachable for heal_after--> kHealing
//     overlay writes stop; newest = the local revision (final);
//     /kess/overlay.healing = true. The main DC's leader (OverlayHeal) then
//     commits at newest+2 or above and rewrites every touched service.
//  kHealing --main above newest+1, every touched record above newest-->
//     a full resync from main (the local revision jumps to main's), the
//     overlay node is deleted, incremental replication resumes:
//     kReplicating. (kHealing --main unreachable for partition_after-->
//     kOverlay again.)
//
// A new leader resumes from /kess/overlay: active -> kOverlay, healing ->
// kHealing (if its local revision is already above newest, the previous
// leader's full resync completed and only the node is left to delete).
// Every overlay write and every change of /kess/overlay is fenced by the
// election node.
//
// With partition_after = 0 partition mode is off: Start/Stop just start and
// stop the replication.
//
// Metrics: kess_partition_mode (0/1), kess_partition_overlay_writes_total,
// kess_partition_heals_total.
//
// Thread-safety: Start/Stop from one thread (the election's callbacks);
// the accessors from any thread.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "mandator/partition/partition_detector.h"
#include "mandator/replication/replication_role.h"
#include "mandator/routes/routes_role.h"
#include "zk_schema/layout.h"
#include "zk_schema/schema.pb.h"
#include "zk_schema/zk_acl.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace mandator {
namespace partition {

class PartitionRole {
 public:
  enum class Mode { kReplicating, kOverlay, kHealing };

  // A reader client of the main DC's ensemble (probing and the heal).
  using ConnectMain =
      std::function<absl::StatusOr<std::unique_ptr<zk::ZkApi>>()>;

  struct Options {
    std::string self_id;
    std::string datacenter;
    zk::Layout layout;
    zk::AclList acl;
    std::function<std::string()> fence;  // the election node
    ConnectMain connect_main;
    absl::Duration partition_after = absl::ZeroDuration();  // 0 = off
    absl::Duration heal_after = absl::Seconds(60);
    absl::Duration check_interval = absl::Seconds(1);
    // While replicating, main counts as unreachable when the replicator
    // has not read it for this long (or says it cannot).
    absl::Duration stale_after = absl::Seconds(5);
    // How long ago the main DC's leader last collected this mandator's
    // partial table (nullopt: not since this mandator started). Once it has,
    // a main DC that stops collecting for `collect_stale_after` counts as
    // unreachable too, even if its ZooKeeper answers: an asymmetric cut
    // (this DC reaches the main DC, the main DC does not reach this one)
    // would otherwise leave this DC's new instances in nobody's tables.
    std::function<std::optional<absl::Duration>()> since_main_collected;
    absl::Duration collect_stale_after = absl::Seconds(15);
    // The overlay's route loop; other_datacenters, fence and the hooks are
    // set by this role.
    routes::RoutesRole::Options overlay;
    metrics::Registry* registry = &metrics::Registry::Default();
  };

  // `local` and `replication` must outlive the role.
  PartitionRole(zk::ZkApi* local, replication::ReplicationRole* replication,
                Options options);
  ~PartitionRole();  // Stop()

  void Start();
  void Stop();  // idempotent; no overlay or heal write after it returns

  Mode mode() const;
  // The overlay state as this leader last wrote or read it.
  std::optional<zk::OverlayState> overlay() const;
  // The overlay's route view (kOverlay only), for the HTTP API.
  std::shared_ptr<const routes::RoutesView> view() const;

  static const char* ModeName(Mode mode);

 private:
  void Run();
  bool Stopping(absl::Duration wait);
  void SetMode(Mode mode);
  bool MainReachable(absl::Time now);
  bool ProbeMain();
  // Transitions; each returns false (nothing changed) when ZooKeeper
  // refused, to be retried at the next check.
  bool EnterOverlay();
  bool BeginHeal();
  bool ResumeOverlay();
  bool TryFinishHeal();
  void StartOverlayRoutes();
  void StopOverlayRoutes();
  bool BeforeOverlayWrite(const routes::CycleContext& context);
  void AfterOverlayWrite(const routes::RouteWriter::FlushResult& flushed);
  bool SaveOverlay(const zk::OverlayState& state);
  std::string Fence() const;

  zk::ZkApi* const local_;
  replication::ReplicationRole* const replication_;
  const Options options_;

  std::unique_ptr<zk::ZkApi> main_;  // Run() only
  std::unique_ptr<routes::RoutesRole> overlay_routes_;
  std::optional<PartitionDetector> detector_;  // Run() only
  int64_t last_main_contacts_ = 0;             // Run() only

  mutable absl::Mutex mu_;
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  Mode mode_ ABSL_GUARDED_BY(mu_) = Mode::kReplicating;
  std::optional<zk::OverlayState> overlay_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;

  metrics::Counter* overlay_writes_;
  metrics::Counter* heals_;
};

}  // namespace partition
}  // namespace mandator
}  // namespace kess
