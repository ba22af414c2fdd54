#include "mandator/partition/partition_role.h"

#include <algorithm>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "common/steady_await.h"
#include "glog/logging.h"
#include "mandator/partition/overlay_store.h"
#include "mandator/replication/change_applier.h"
#include "mandator/replication/full_resync.h"
#include "mandator/replication/record_sync.h"
#include "zk_schema/codec.h"
#include "zk_schema/revision_log.h"

namespace kess {
namespace mandator {
namespace partition {

using Detector = PartitionDetector;

const char* PartitionRole::ModeName(Mode mode) {
  switch (mode) {
    case Mode::kReplicating:
      return "replicating";
    case Mode::kOverlay:
      return "overlay";
    case Mode::kHealing:
      return "healing";
  }
  return "?";
}

PartitionRole::PartitionRole(zk::ZkApi* local,
                             replication::ReplicationRole* replication,
                             Options options)
    : local_(local), replication_(replication), options_(std::move(options)) {
  metrics::Registry* r = options_.registry;
  overlay_writes_ = r->GetCounter(
      "kess_partition_overlay_writes_total",
      "Route tables this slave DC's leader wrote in partition mode.");
  heals_ = r->GetCounter("kess_partition_heals_total",
                         "Partitions healed: the DC converged back to the "
                         "main DC's tables.");
  r->SetCallbackGauge(
      "kess_partition_mode",
      "1 while this slave DC's leader is in partition mode (overlay or "
      "healing).",
      {}, [this] { return mode() == Mode::kReplicating ? 0 : 1; });
  if (options_.partition_after > absl::ZeroDuration()) {
    routes::RoutesRole::Options routes = options_.overlay;
    routes.other_datacenters.clear();  // this DC's mandators only
    routes.fence = options_.fence;
    routes.before_write = [this](const routes::CycleContext& context) {
      return BeforeOverlayWrite(context);
    };
    routes.after_write = [this](const routes::RouteWriter::FlushResult& f) {
      AfterOverlayWrite(f);
    };
    overlay_routes_ = std::make_unique<routes::RoutesRole>(local_, routes);
  }
}

PartitionRole::~PartitionRole() {
  Stop();
  options_.registry->RemoveCallbackGauge("kess_partition_mode", {});
}

void PartitionRole::Start() {
  if (overlay_routes_ == nullptr) {
    replication_->Start();
    return;
  }
  absl::MutexLock lock(&mu_);
  if (running_) return;
  running_ = true;
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void PartitionRole::Stop() {
  if (overlay_routes_ == nullptr) {
    replication_->Stop();
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    if (!running_) return;
    stop_ = true;
  }
  thread_.join();
  StopOverlayRoutes();
  replication_->Stop();
  main_.reset();
  absl::MutexLock lock(&mu_);
  running_ = false;
  mode_ = Mode::kReplicating;
  overlay_.reset();
}

PartitionRole::Mode PartitionRole::mode() const {
  absl::MutexLock lock(&mu_);
  return mode_;
}

std::optional<zk::OverlayState> PartitionRole::overlay() const {
  absl::MutexLock lock(&mu_);
  return overlay_;
}

std::shared_ptr<const routes::RoutesView> PartitionRole::view() const {
  return overlay_routes_ != nullptr ? overlay_routes_->view() : nullptr;
}

bool PartitionRole::Stopping(absl::Duration wait) {
  absl::MutexLock lock(&mu_);
  return AwaitWithSteadyTimeout(&mu_, absl::Condition(&stop_),
                                std::max(wait, absl::ZeroDuration()));
}

void PartitionRole::SetMode(Mode mode) {
  absl::MutexLock lock(&mu_);
  if (mode_ != mode) {
    LOG(INFO) << "partition mode (" << options_.datacenter
              << "): " << ModeName(mode_) << " -> " << ModeName(mode);
  }
  mode_ = mode;
}

std::string PartitionRole::Fence() const {
  return options_.fence ? options_.fence() : "";
}

bool PartitionRole::SaveOverlay(const zk::OverlayState& state) {
  absl::Status written =
      WriteOverlay(*local_, options_.layout, state, Fence(), options_.acl);
  if (!written.ok()) {
    LOG(WARNING) << "overlay state not written: " << written;
    return false;
  }
  absl::MutexLock lock(&mu_);
  overlay_ = state;
  return true;
}

void PartitionRole::StartOverlayRoutes() { overlay_routes_->Start(); }
void PartitionRole::StopOverlayRoutes() { overlay_routes_->Stop(); }

bool PartitionRole::ProbeMain() {
  if (main_ == nullptr) {
    absl::StatusOr<std::unique_ptr<zk::ZkApi>> main = options_.connect_main();
    if (!main.ok()) return false;
    main_ = *std::move(main);
  }
  return zk::ReadRevision(*main_, options_.layout).ok();
}

bool PartitionRole::MainReachable(absl::Time now) {
  if (options_.since_main_collected) {
    const std::optional<absl::Duration> since = options_.since_main_collected();
    if (since.has_value() && *since > options_.collect_stale_after) {
      return false;  // the main DC no longer reaches this one
    }
  }
  if (mode() != Mode::kReplicating) return ProbeMain();
  std::optional<replication::Replicator::Progress> progress =
      replication_->progress();
  if (!progress.has_value()) return false;
  // Any exchange with main since the last check counts, however brief: a
  // link that flaps faster than the replicator's backoff still reaches
  // main in each of its up windows (the client reconnects by itself).
  const bool contacted = progress->main_contacts > last_main_contacts_;
  last_main_contacts_ = progress->main_contacts;
  return contacted || progress->main_connected ||
         (progress->main_reachable &&
          now - progress->last_main_read <= options_.stale_after);
}

void PartitionRole::Run() {
  // Resume what a previous leader left in /kess/overlay.
  std::optional<zk::OverlayState> found;
  for (;;) {
    absl::StatusOr<std::optional<zk::OverlayState>> read =
        ReadOverlay(*local_, options_.layout);
    if (read.ok()) {
      found = *std::move(read);
      break;
    }
    LOG(WARNING) << "overlay state not read (retrying): " << read.status();
    if (Stopping(options_.check_interval)) return;
  }
  Detector::Options detect{options_.partition_after, options_.heal_after};
  if (found.has_value() && found->active()) {
    {
      absl::MutexLock lock(&mu_);
      overlay_ = found;
    }
    if (found->healing()) {
      detector_.emplace(detect, Detector::Mode::kConnected);
      SetMode(Mode::kHealing);
    } else {
      detector_.emplace(detect, Detector::Mode::kPartitioned);
      SetMode(Mode::kOverlay);
      StartOverlayRoutes();
    }
    LOG(INFO) << "resuming partition mode from "
              << options_.layout.OverlayPath() << ": base " << found->base()
              << ", newest " << found->newest() << ", "
              << found->services_size() << " services touched";
  } else {
    detector_.emplace(detect, Detector::Mode::kConnected);
    SetMode(Mode::kReplicating);
    replication_->Start();
  }
  while (!Stopping(options_.check_interval)) {
    // Monotonic: the detector's hysteresis and the staleness of the last
    // read from main are intervals, which a wall-clock step must not
    // shorten (a false partition) or stretch (a missed one).
    const absl::Time now = MonotonicNow();
    const bool reachable = MainReachable(now);
    const Detector::Mode detected = detector_->Observe(now, reachable);
    switch (mode()) {
      case Mode::kReplicating:
        if (detected == Detector::Mode::kPartitioned && !EnterOverlay()) {
          detector_->Reset(Detector::Mode::kConnected);
        }
        break;
      case Mode::kOverlay:
        if (detected == Detector::Mode::kConnected && !BeginHeal()) {
          detector_->Reset(Detector::Mode::kPartitioned);
        }
        break;
      case Mode::kHealing:
        if (detected == Detector::Mode::kPartitioned) {
          if (!ResumeOverlay()) detector_->Reset(Detector::Mode::kConnected);
        } else if (reachable) {
          TryFinishHeal();
        }
        break;
    }
  }
}

bool PartitionRole::EnterOverlay() {
  replication_->Stop();  // no replication write after this
  absl::StatusOr<replication::LocalHead> head =
      replication::ReadLocalHead(*local_, options_.layout);
  if (head.ok() && head->summary.revision() > 0) {
    zk::OverlayState state;
    state.set_active(true);
    state.set_base(head->summary.revision());
    state.set_newest(head->summary.revision());
    state.set_leader(options_.self_id);
    state.set_since_ms(absl::ToUnixMillis(absl::Now()));
    if (SaveOverlay(state)) {
      LOG(WARNING) << "partition mode (" << options_.datacenter
                   << "): the main DC has been unreachable for "
                   << options_.partition_after
                   << "; building this DC's overlay on revision "
                   << state.base();
      SetMode(Mode::kOverlay);
      StartOverlayRoutes();
      return true;
    }
  } else {
    LOG(WARNING) << "partition mode not entered: no local revision ("
                 << (head.ok() ? absl::OkStatus() : head.status()) << ")";
  }
  replication_->Start();
  return false;
}

bool PartitionRole::BeginHeal() {
  StopOverlayRoutes();  // no overlay write after this
  std::optional<zk::OverlayState> state = overlay();
  absl::StatusOr<replication::LocalHead> head =
      replication::ReadLocalHead(*local_, options_.layout);
  if (state.has_value() && head.ok()) {
    state->set_healing(true);
    state->set_newest(std::max(state->newest(), head->summary.revision()));
    state->set_leader(options_.self_id);
    if (SaveOverlay(*state)) {
      LOG(INFO) << "partition mode (" << options_.datacenter
                << "): the main DC is reachable again; healing (overlay "
                << "revisions " << state->base() + 1 << ".." << state->newest()
                << ", " << state->services_size() << " services touched)";
      SetMode(Mode::kHealing);
      return true;
    }
  }
  StartOverlayRoutes();
  return false;
}

bool PartitionRole::ResumeOverlay() {
  std::optional<zk::OverlayState> state = overlay();
  if (!state.has_value()) return false;
  state->set_healing(false);
  state->set_leader(options_.self_id);
  if (!SaveOverlay(*state)) return false;
  LOG(WARNING) << "partition mode (" << options_.datacenter
               << "): the main DC was lost again while healing";
  SetMode(Mode::kOverlay);
  StartOverlayRoutes();
  return true;
}

bool PartitionRole::TryFinishHeal() {
  std::optional<zk::OverlayState> state = overlay();
  if (!state.has_value() || main_ == nullptr) return false;
  const int64_t newest = state->newest();
  absl::StatusOr<replication::LocalHead> head =
      replication::ReadLocalHead(*local_, options_.layout);
  if (!head.ok()) return false;
  // The overlay wrote nothing: the local revision is still a main one, so
  // incremental replication is exact.
  bool resync = newest > state->base() && head->summary.revision() <= newest;
  if (resync) {
    absl::StatusOr<std::pair<zk::RevisionSummary, int>> main =
        zk::ReadRevision(*main_, options_.layout);
    if (!main.ok()) return false;
    // newest+2 at least: after the resync the local change log starts at
    // main's revision; at newest+1 a distributor holding newest would
    // replay only that record and miss what the resync wrote.
    if (main->first.revision() < newest + 2) {
      LOG_EVERY_N(INFO, 10)
          << "healing: waiting for the main DC to commit "
             "above revision "
          << newest + 1 << " (it is at " << main->first.revision() << ")";
      return false;
    }
    for (const std::string& service : state->services()) {
      absl::StatusOr<std::string> path = options_.layout.RoutePath(service);
      if (!path.ok()) continue;
      absl::StatusOr<zk::GetResult> theirs = main_->Get(*path);
      bool ready = false;
      if (theirs.ok()) {
        absl::StatusOr<zk::RouteRecord> record =
            zk::DecodeAs<zk::RouteRecord>(theirs->data, *path);
        ready = record.ok() && record->revision() > newest;
      } else if (absl::IsNotFound(theirs.status())) {
        // Main has none: ready only if this DC has none either (an
        // overlay table main does not have yet would be deleted).
        absl::StatusOr<std::optional<zk::Stat>> ours = local_->Exists(*path);
        ready = ours.ok() && !ours->has_value();
      }
      if (!ready) {
        LOG_EVERY_N(INFO, 10) << "healing: waiting for the main DC to rewrite "
                              << service << " above revision " << newest;
        return false;
      }
    }
    replication::RecordSync sync(main_.get(), local_, options_.layout,
                                 options_.acl);
    replication::ChangeApplier applier(main_.get(), &sync, options_.layout);
    replication::FullResync full(main_.get(), local_, &sync, &applier,
                                 options_.layout);
    replication::FullResync::Stats stats;
    absl::Status synced = full.Run(
        main->first, &*head,
        [this] {
          absl::MutexLock lock(&mu_);
          return stop_;
        },
        &stats);
    LOG(INFO) << "healing: full resync to main revision "
              << main->first.revision() << ": " << stats.compared
              << " compared, " << stats.written << " written, " << stats.deleted
              << " deleted; " << synced;
    if (!synced.ok()) return false;
  }
  // The overlay's change records (below oldest_retained now) collide with
  // main's numbers: drop them, so the local change log is main's again.
  absl::StatusOr<replication::LocalHead> now =
      replication::ReadLocalHead(*local_, options_.layout);
  for (int round = 0; now.ok() && round < 100; ++round) {
    absl::StatusOr<int> trimmed =
        zk::TrimChangelog(*local_, options_.layout, now->summary, 1000);
    if (!trimmed.ok() || *trimmed < 1000) break;
  }
  absl::Status cleared = ClearOverlay(*local_, options_.layout, Fence());
  if (!cleared.ok()) {
    LOG(WARNING) << "healing: overlay state not cleared: " << cleared;
    return false;
  }
  {
    absl::MutexLock lock(&mu_);
    overlay_.reset();
  }
  heals_->Increment();
  LOG(INFO) << "partition healed (" << options_.datacenter
            << "): replicating the main DC again";
  SetMode(Mode::kReplicating);
  detector_->Reset(Detector::Mode::kConnected);
  replication_->Start();
  return true;
}

bool PartitionRole::BeforeOverlayWrite(const routes::CycleContext& context) {
  std::optional<zk::OverlayState> state = overlay();
  if (!state.has_value()) return false;
  std::set<std::string> touched(state->services().begin(),
                                state->services().end());
  bool added = false;
  for (const std::string& service : context.writer->PendingServices()) {
    added |= touched.insert(service).second;
  }
  if (!added) return true;
  // Write-ahead: a service is recorded as touched before its first overlay
  // write, so the heal always covers it (a failed write only over-claims).
  state->clear_services();
  for (const std::string& service : touched) state->add_services(service);
  return SaveOverlay(*state);
}

void PartitionRole::AfterOverlayWrite(
    const routes::RouteWriter::FlushResult& flushed) {
  if (flushed.written == 0) return;
  overlay_writes_->Increment(flushed.written);
  std::optional<zk::OverlayState> state = overlay();
  absl::StatusOr<replication::LocalHead> head =
      replication::ReadLocalHead(*local_, options_.layout);
  if (!state.has_value() || !head.ok()) return;
  state->set_newest(std::max(state->newest(), head->summary.revision()));
  SaveOverlay(*state);  // informational until the heal fixes it
}

}  // namespace partition
}  // namespace mandator
}  // namespace kess
