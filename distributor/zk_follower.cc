#include "distributor/zk_follower.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/steady_await.h"
#include "distributor/route_deltas.h"
#include "glog/logging.h"
#include "zk_schema/revision_log.h"
#include "zk_schema/zk_errors.h"

namespace kess {
namespace distributor {

ZkFollower::ZkFollower(zk::ZkApi* zk, zk::Layout layout, DataSet* data,
                       ChangeListener* listener, DistributorMetrics* metrics,
                       ZkFollowerOptions options)
    : zk_(zk),
      source_(zk, std::move(layout)),
      data_(data),
      listener_(listener),
      metrics_(metrics),
      options_(options),
      watch_link_(std::make_shared<WatchLink>()) {
  metrics_->stale->Set(1);
}

ZkFollower::~ZkFollower() { Stop(); }

void ZkFollower::Start() {
  {
    absl::MutexLock lock(&watch_link_->mu);
    watch_link_->follower = this;
  }
  listener_id_ = zk_->AddSessionListener(
      [this](const zk::SessionEvent& event) { OnSessionEvent(event); });
  thread_ = std::thread([this] { Run(); });
}

void ZkFollower::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  {
    absl::MutexLock lock(&watch_link_->mu);
    watch_link_->follower = nullptr;
  }
  if (listener_id_ != 0) {
    zk_->RemoveSessionListener(listener_id_);
    listener_id_ = 0;
  }
  if (thread_.joinable()) thread_.join();
}

void ZkFollower::Trigger() {
  absl::MutexLock lock(&mu_);
  triggered_ = true;
}

std::string ZkFollower::stale_reason() const {
  absl::MutexLock lock(&mu_);
  return stale_ ? stale_reason_ : "";
}

void ZkFollower::OnSessionEvent(const zk::SessionEvent& event) {
  switch (event.type) {
    case zk::SessionEvent::kConnectionLost:
      SetStale("ZooKeeper connection lost");
      break;
    case zk::SessionEvent::kExpired:
      watch_armed_ = false;
      SetStale("ZooKeeper session expired");
      break;
    case zk::SessionEvent::kNewSession:
      // Watches of the old session never fire: re-arm, and re-read.
      watch_armed_ = false;
      Trigger();
      break;
    case zk::SessionEvent::kReconnected:
      Trigger();
      break;
    case zk::SessionEvent::kAuthFailed:
      SetStale("ZooKeeper authentication failed");
      break;
  }
}

void ZkFollower::Run() {
  absl::Duration wait = absl::ZeroDuration();
  int failures = 0;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return triggered_ || stopping_;
      };
      AwaitWithSteadyTimeout(&mu_, absl::Condition(&ready), wait);
      if (stopping_) return;
      triggered_ = false;
    }
    absl::Status status = Step();
    if (status.ok()) {
      steps_.fetch_add(1);
      failures = 0;
      ClearStale();
      wait = more_.load() ? absl::ZeroDuration() : options_.poll_interval;
    } else {
      metrics_->zk_errors->Increment();
      SetStale(std::string(status.message()));
      LOG_EVERY_N(WARNING, 20)
          << "distributor: sync with ZooKeeper failed (serving the data of "
             "revision "
          << data_->revision() << "): " << status;
      // Back off (doubling up to the poll interval): a sick ZooKeeper gets
      // no storm of reads, least of all full reloads.
      wait = std::min(options_.poll_interval,
                      options_.retry_interval * (1 << std::min(failures, 10)));
      ++failures;
    }
    UpdateGauges();
  }
}

absl::Status ZkFollower::Step() {
  more_ = false;
  zk::WatchCallback watch;
  const bool arm = !watch_armed_.load();
  if (arm) {
    std::shared_ptr<WatchLink> link = watch_link_;
    watch = [link](const zk::WatchEvent&) {
      absl::MutexLock lock(&link->mu);
      if (link->follower == nullptr) return;
      link->follower->watch_armed_ = false;
      link->follower->Trigger();
    };
  }
  // Marked armed before the read: a watch that fires before the read
  // returns clears the mark again, and is then re-armed next step.
  if (arm) watch_armed_ = true;
  absl::StatusOr<zk::RevisionSummary> read =
      source_.ReadSummary(std::move(watch));
  if (!read.ok()) {
    if (arm) watch_armed_ = false;  // not set (or not known to be)
    return read.status();
  }
  const zk::RevisionSummary summary = *std::move(read);
  zk_revision_ = summary.revision();
  if (!data_->loaded()) return FullReload(summary);
  switch (zk::PlanCatchUp(data_->revision(), summary)) {
    case zk::CatchUp::kUpToDate:
      return absl::OkStatus();
    case zk::CatchUp::kIncremental:
      return CatchUpIncremental(summary);
    case zk::CatchUp::kFullResync:
      if (summary.revision() < data_->revision()) {
        LOG(WARNING) << "distributor: ZooKeeper's revision "
                     << summary.revision() << " is below ours ("
                     << data_->revision()
                     << "): the tree was reset or restored; full reload";
      }
      return FullReload(summary);
  }
  return absl::InternalError("unreachable");
}

absl::Status ZkFollower::CatchUpIncremental(
    const zk::RevisionSummary& summary) {
  const int64_t have = data_->revision();
  const int64_t last =
      std::min(summary.revision(), have + options_.max_changes_per_step);
  // The newest change revision per key; each record is read once, unless
  // the key is a route table whose changes all carry deltas from the table
  // held here (route_deltas.h): then nothing is read.
  absl::flat_hash_map<std::string, int64_t> touched;
  absl::flat_hash_map<std::string, std::vector<zk::ChangeRecord>> routes;
  for (int64_t r = have + 1; r <= last; ++r) {
    absl::StatusOr<zk::ChangeRecord> change = source_.ReadChange(r);
    if (absl::IsNotFound(change.status())) {
      // Trimmed meanwhile: the summary now says how to catch up.
      KESS_ASSIGN_OR_RETURN(zk::RevisionSummary fresh, source_.ReadSummary());
      zk_revision_ = fresh.revision();
      if (zk::PlanCatchUp(have, fresh) == zk::CatchUp::kFullResync) {
        return FullReload(fresh);
      }
      return absl::DataLossError(
          absl::StrCat("change record ", r, " is missing although the summary ",
                       "retains revisions from ", fresh.oldest_retained()));
    }
    KESS_RETURN_IF_ERROR(change.status());
    absl::StatusOr<std::string> key = ZkSource::KeyOfChange(*change);
    if (!key.ok()) {
      LOG(WARNING) << "distributor: skipping change record " << r << ": "
                   << key.status();
      continue;
    }
    int64_t& newest = touched[*key];
    newest = std::max(newest, r);
    if (change->kind() == zk::ROUTE_PUT || change->kind() == zk::ROUTE_DELETE) {
      routes[*key].push_back(*std::move(change));
    }
  }
  std::vector<ItemPtr> items;
  items.reserve(touched.size());
  for (const auto& [key, revision] : touched) {
    auto route = routes.find(key);
    if (route != routes.end() && options_.route_deltas) {
      absl::StatusOr<ItemPtr> built =
          ApplyRouteChanges(data_->Find(key), route->second);
      if (built.ok()) {
        metrics_->route_deltas_applied->Increment();
        items.push_back(*std::move(built));
        continue;
      }
      if (!absl::IsFailedPrecondition(built.status())) {
        // A delta that does not give the table the leader wrote: read it.
        metrics_->route_delta_failures->Increment();
        LOG_EVERY_N(WARNING, 20) << "distributor: route delta of " << key
                                 << " not applied (reading the table): "
                                 << built.status();
      }
    }
    KESS_ASSIGN_OR_RETURN(ItemPtr item, source_.ReadItem(key));
    items.push_back(item != nullptr ? item : MakeAbsent(key, revision));
  }
  std::vector<ItemPtr> applied = data_->ApplyNewer(std::move(items), last);
  Publish(applied, last);
  if (last < summary.revision()) more_ = true;
  return absl::OkStatus();
}

absl::Status ZkFollower::FullReload(const zk::RevisionSummary& summary) {
  KESS_ASSIGN_OR_RETURN(std::vector<ItemPtr> live,
                        source_.LoadAll(options_.load_threads));
  DataSet::Diff diff = data_->DiffFullLoad(live, summary.revision());
  if (data_->loaded() && diff.removed > 0) {
    const bool all = diff.removed >= diff.held_live;
    const bool too_many =
        diff.removed > options_.max_shrink_fraction * diff.held_live;
    if (all || too_many) {
      metrics_->refused_shrink->Increment();
      const std::string reason = absl::StrCat(
          "refused a full reload at revision ", summary.revision(),
          " that would remove ", diff.removed, " of ", diff.held_live,
          " keys (limit ", options_.max_shrink_fraction * 100,
          "%); keeping the data of revision ", data_->revision(),
          "; restart the distributor if these deletes are real");
      LOG_EVERY_N(ERROR, 10) << "distributor: " << reason;
      return absl::FailedPreconditionError(reason);
    }
  }
  const bool first = !data_->loaded();
  data_->ApplyFullLoad(diff, summary.revision());
  metrics_->full_reloads->Increment();
  LOG(INFO) << "distributor: " << (first ? "loaded" : "reloaded") << " "
            << live.size() << " records at revision " << summary.revision()
            << " (" << diff.changes.size() << " changed, " << diff.removed
            << " removed)";
  Publish(diff.changes, summary.revision());
  return absl::OkStatus();
}

void ZkFollower::Publish(const std::vector<ItemPtr>& changes,
                         int64_t revision) {
  UpdateGauges();
  if (listener_ != nullptr && !changes.empty()) {
    listener_->OnChanges(changes, revision);
  }
}

void ZkFollower::SetStale(const std::string& reason) {
  {
    absl::MutexLock lock(&mu_);
    stale_reason_ = reason;
  }
  stale_ = true;
  metrics_->stale->Set(1);
}

void ZkFollower::ClearStale() {
  stale_ = false;
  metrics_->stale->Set(0);
}

void ZkFollower::UpdateGauges() {
  const int64_t revision = data_->revision();
  metrics_->revision->Set(revision);
  metrics_->zk_revision->Set(zk_revision_.load());
  metrics_->lag_revisions->Set(
      std::max<int64_t>(0, zk_revision_.load() - revision));
  metrics_->keys->Set(data_->live_keys());
}

}  // namespace distributor
}  // namespace kess
