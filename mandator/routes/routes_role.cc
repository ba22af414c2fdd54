#include "mandator/routes/routes_role.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "common/steady_await.h"
#include "glog/logging.h"
#include "zk_schema/codec.h"
#include "zk_schema/members.h"

namespace kess {
namespace mandator {
namespace routes {

struct RoutesRole::DcState {
  std::unique_ptr<zk::ZkApi> client;  // other DCs only
  bool listed = false;                // the list below was read once
  std::vector<Peer> peers;            // last known
  // Last change of the list, failed read or silence (MonotonicNow()).
  absl::Time disturbed;
};

RoutesRole::RoutesRole(zk::ZkApi* local, Options options)
    : local_(local), options_(std::move(options)) {
  metrics::Registry* r = options_.registry;
  merge_seconds_ = r->GetHistogram(
      "kess_routes_merge_seconds",
      "Time to merge the partial tables into the route tables (one cycle).",
      metrics::LatencyBuckets());
  instances_gauge_ = r->GetGauge("kess_routes_instances",
                                 "Instances in the leader's route tables.");
  removed_ = r->GetCounter("kess_routes_removed_total",
                           "Instances removed because their heartbeats and "
                           "their host's both stopped.");
  held_back_ = r->GetCounter(
      "kess_routes_held_back_total",
      "Removals held back by the protection threshold (per cycle).");
  foreign_reports_ = r->GetCounter(
      "kess_routes_foreign_reports_ignored_total",
      "Partial-table reports and tombstones of published instances ignored "
      "by the merge (per cycle): bound to a principal that is neither the "
      "published host's nor the service's.");
}

RoutesRole::~RoutesRole() { Stop(); }

void RoutesRole::Start() {
  absl::MutexLock lock(&mu_);
  if (running_) return;
  running_ = true;
  stop_ = false;
  view_.reset();
  thread_ = std::thread([this] { Run(); });
}

void RoutesRole::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (!running_) return;
    stop_ = true;
  }
  thread_.join();
  absl::MutexLock lock(&mu_);
  running_ = false;
  view_.reset();
}

std::shared_ptr<const RoutesView> RoutesRole::view() const {
  absl::MutexLock lock(&mu_);
  return view_;
}

bool RoutesRole::Stopping(absl::Duration wait) {
  absl::MutexLock lock(&mu_);
  return AwaitWithSteadyTimeout(&mu_, absl::Condition(&stop_),
                                std::max(wait, absl::ZeroDuration()));
}

absl::StatusOr<std::vector<Peer>> RoutesRole::ListDc(zk::ZkApi& zk,
                                                     const std::string& dc) {
  KESS_ASSIGN_OR_RETURN(std::vector<zk::MemberInfo> members,
                        zk::ListMembers(zk, options_.layout, zk::MANDATOR));
  std::vector<Peer> peers;
  for (const zk::MemberInfo& member : members) {
    if (member.address().empty()) {
      LOG_EVERY_N(WARNING, 60) << "mandator " << member.id() << " of " << dc
                               << " publishes no transport address";
      continue;
    }
    peers.push_back(Peer{member.id(), dc, member.address()});
  }
  std::sort(peers.begin(), peers.end(),
            [](const Peer& a, const Peer& b) { return a.id < b.id; });
  return peers;
}

std::vector<Peer> RoutesRole::ListPeers(absl::Time now) {
  std::vector<Peer> all;
  auto list = [&](const std::string& dc, zk::ZkApi* zk) {
    std::unique_ptr<DcState>& state = dcs_[dc];
    if (state == nullptr) {
      state = std::make_unique<DcState>();
      state->disturbed = now;
    }
    if (zk == nullptr && dc != options_.datacenter) {
      if (state->client == nullptr) {
        absl::StatusOr<std::unique_ptr<zk::ZkApi>> client =
            options_.connect(options_.other_datacenters.at(dc));
        if (client.ok()) {
          state->client = *std::move(client);
        } else {
          LOG_EVERY_N(WARNING, 30) << "cannot reach the ZooKeeper of " << dc
                                   << ": " << client.status();
        }
      }
      zk = state->client.get();
    }
    absl::StatusOr<std::vector<Peer>> peers =
        zk == nullptr ? absl::UnavailableError("not connected")
                      : ListDc(*zk, dc);
    if (!peers.ok()) {
      LOG_EVERY_N(WARNING, 30)
          << "mandators of " << dc << " not listed (keeping the last known "
          << state->peers.size() << "): " << peers.status();
      state->disturbed = now;
    } else {
      if (!state->listed || *peers != state->peers) state->disturbed = now;
      state->listed = true;
      state->peers = *std::move(peers);
    }
    all.insert(all.end(), state->peers.begin(), state->peers.end());
  };
  list(options_.datacenter, local_);
  for (const auto& [dc, ensemble] : options_.other_datacenters) {
    list(dc, nullptr);
  }
  return all;
}

std::set<std::string> RoutesRole::Settled(
    const std::vector<PeerReport>& reports, absl::Time now) {
  for (const PeerReport& report : reports) {
    if (!report.answered) dcs_[report.datacenter]->disturbed = now;
  }
  std::set<std::string> settled;
  for (const auto& [dc, state] : dcs_) {
    if (state->listed && now - state->disturbed >= options_.merge.warmup) {
      settled.insert(dc);
    }
  }
  return settled;
}

void RoutesRole::Run() {
  // Ages and pacing run on the monotonic clock: a wall-clock step (NTP, an
  // operator's date -s) must neither stall the cycle for the size of the
  // step nor make a DC look settled or unsettled for hours. Wall time is
  // only what leaves the process (now_ms, the records' meta).
  const absl::Time started = MonotonicNow();
  dcs_.clear();
  RouteStore store(local_, options_.store);
  RouteWriter writer(&store, options_.writer);
  absl::StatusOr<std::unique_ptr<Collector>> collector =
      Collector::Create(options_.collector);
  if (!collector.ok()) {
    LOG(ERROR) << "route tables are not built: " << collector.status();
    return;
  }
  LOG(INFO) << "building the global route table every " << options_.cycle;
  for (;;) {
    const absl::Time cycle_start = MonotonicNow();
    if (!writer.loaded()) {
      absl::Status loaded = writer.Load();
      if (!loaded.ok()) {
        LOG(WARNING) << "published route tables not read (retrying): "
                     << loaded;
        if (Stopping(options_.cycle)) return;
        continue;
      }
      LOG(INFO) << "baseline: " << writer.published().size()
                << " published route tables";
    }
    Overrides overrides;
    if (options_.overrides) {
      absl::StatusOr<Overrides> current = options_.overrides();
      if (!current.ok()) {
        LOG_EVERY_N(WARNING, 30)
            << "operator overrides not read, cycle skipped: "
            << current.status();
        if (Stopping(options_.cycle)) return;
        continue;
      }
      overrides = *std::move(current);
    }
    std::vector<Peer> peers = ListPeers(cycle_start);
    std::vector<PeerReport> reports = (*collector)->Collect(peers);
    const absl::Time now = MonotonicNow();
    MergeInput input;
    input.settled_datacenters = Settled(reports, now);
    input.collector_uptime = now - started;
    input.now_ms = absl::ToUnixMillis(absl::Now());
    auto view = std::make_shared<RoutesView>();
    view->peers = peers;
    for (size_t i = 0; i < reports.size(); ++i) {
      if (reports[i].answered) view->answered.push_back(peers[i].Key());
    }
    std::set<std::string> complete_dcs;
    for (const auto& [dc, state] : dcs_) {
      if (state->listed && !state->peers.empty()) complete_dcs.insert(dc);
    }
    for (const PeerReport& report : reports) {
      if (!report.answered) complete_dcs.erase(report.datacenter);
    }
    input.peers = std::move(reports);
    MergeResult result =
        Merge(input, writer.desired(), overrides, options_.merge);
    merge_seconds_->Observe(absl::ToDoubleSeconds(MonotonicNow() - now));
    removed_->Increment(static_cast<double>(result.stats.removed));
    held_back_->Increment(static_cast<double>(result.stats.held_back));
    foreign_reports_->Increment(
        static_cast<double>(result.stats.foreign_reports));
    instances_gauge_->Set(static_cast<double>(result.stats.instances));
    if (result.stats.removed > 0 || result.stats.held_back > 0) {
      LOG(INFO) << "cycle: " << result.stats.removed << " removed, "
                << result.stats.held_back << " held back, "
                << result.stats.deregistered << " deregistered";
    }
    writer.Submit(std::move(result.changes));
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return;  // demoted meanwhile: write nothing more
    }
    bool write = true;
    if (options_.before_write) {
      CycleContext context;
      for (const auto& [dc, state] : dcs_) {
        if (state->client != nullptr) {
          context.other_dcs[dc] = state->client.get();
        }
      }
      context.complete_dcs = std::move(complete_dcs);
      context.writer = &writer;
      context.store = &store;
      write = options_.before_write(context);
    }
    if (write) {
      RouteWriter::FlushResult flushed =
          writer.Flush(MonotonicNow(), options_.fence ? options_.fence() : "");
      if (options_.after_write) options_.after_write(flushed);
    }
    view->at = absl::Now();
    view->tables = writer.desired();
    view->heartbeat_age_ms = std::move(result.heartbeat_age_ms);
    view->stats = result.stats;
    view->pending_writes = static_cast<int64_t>(writer.pending());
    {
      absl::MutexLock lock(&mu_);
      view_ = std::move(view);
    }
    if (Stopping(cycle_start + options_.cycle - MonotonicNow())) return;
  }
}

}  // namespace routes
}  // namespace mandator
}  // namespace kess
