// The Replicator's loop: rounds of "read main's summary, plan, catch up",
// woken by a watch on main's /kess/revision, by a poll, or after a
// jittered backoff when a round failed. See replicator.h and README.md.
#include "mandator/replication/replicator.h"

#include <algorithm>
#include <random>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/names.h"
#include "common/steady_await.h"
#include "glog/logging.h"
#include "mandator/replication/change_applier.h"
#include "mandator/replication/full_resync.h"
#include "mandator/replication/main_side.h"
#include "mandator/replication/record_sync.h"
#include "mandator/replication/replication_metrics.h"
#include "zk_schema/revision_log.h"
#include "zk_schema/skeleton.h"
#include "zk_schema/zk_errors.h"

namespace kess {
namespace mandator {
namespace {

// Lost compare-and-sets tolerated in one round before it counts as failed.
constexpr int kMaxConflictsPerRound = 100;
// Local change records are trimmed in batches of at least this many.
constexpr int64_t kTrimBatch = 64;
constexpr int kMaxTrimPerRound = 1000;

// State shared with watch callbacks, which may outlive the Replicator.
struct Wake {
  absl::Mutex mu;
  bool signaled ABSL_GUARDED_BY(mu) = false;
  bool stopping ABSL_GUARDED_BY(mu) = false;
  bool watch_armed ABSL_GUARDED_BY(mu) = false;
  int64_t watch_generation ABSL_GUARDED_BY(mu) = 0;

  void Signal(bool disarm) {
    absl::MutexLock lock(&mu);
    signaled = true;
    if (disarm) watch_armed = false;
  }
  bool Stopping() {
    absl::MutexLock lock(&mu);
    return stopping;
  }
  // Waits until signaled, stopping, or `timeout`; consumes the signal.
  void Wait(absl::Duration timeout) {
    absl::MutexLock lock(&mu);
    auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return signaled || stopping;
    };
    AwaitWithSteadyTimeout(&mu, absl::Condition(&woken), timeout);
    signaled = false;
  }
};

bool IsLocalConflict(const absl::Status& s) {
  return !IsMainSide(s) && (absl::IsAborted(s) || absl::IsAlreadyExists(s) ||
                            absl::IsNotFound(s));
}

class ReplicatorImpl final : public Replicator {
 public:
  ReplicatorImpl(zk::ZkApi* main, zk::ZkApi* local, Options options)
      : main_(main),
        local_(local),
        options_(std::move(options)),
        metrics_(options_.registry, options_.datacenter),
        sync_(main, local, options_.layout, options_.acl),
        applier_(main, &sync_, options_.layout),
        resync_(main, local, &sync_, &applier_, options_.layout),
        rng_(std::random_device{}()) {}
  ~ReplicatorImpl() override { Stop(); }

  void Start() override {
    CHECK(!thread_.joinable()) << "Replicator::Start called twice";
    std::shared_ptr<Wake> wake = wake_;
    listener_id_ = main_->AddSessionListener([wake](const zk::SessionEvent& e) {
      if (e.type == zk::SessionEvent::kNewSession ||
          e.type == zk::SessionEvent::kExpired) {
        wake->Signal(/*disarm=*/true);  // its watch is gone: re-arm now
      }
    });
    thread_ = std::thread([this] { Run(); });
  }

  void Stop() override {
    {
      absl::MutexLock lock(&wake_->mu);
      wake_->stopping = true;
    }
    if (thread_.joinable()) thread_.join();
    if (listener_id_ != 0) {
      main_->RemoveSessionListener(listener_id_);
      listener_id_ = 0;
    }
  }

  Progress progress() const override {
    absl::MutexLock lock(&progress_mu_);
    return progress_;
  }

 private:
  struct Round {
    absl::Status status;
    bool more = false;  // not caught up yet: run the next round at once
  };

  void Run() {
    int failures = 0;
    while (!wake_->Stopping()) {
      Round round = RunRound();
      if (wake_->Stopping()) break;
      Finish(round.status);
      if (round.status.ok()) {
        failures = 0;
        if (round.more) continue;
        wake_->Wait(options_.poll_interval);
      } else {
        wake_->Wait(Backoff(++failures));
      }
    }
  }

  // min_backoff * 2^(failures-1), capped at max_backoff, times a random
  // factor in [0.5, 1] so that replicators do not retry in lockstep.
  absl::Duration Backoff(int failures) {
    absl::Duration base = options_.min_backoff;
    for (int i = 1; i < failures && base < options_.max_backoff; ++i) {
      base *= 2;
    }
    base = std::min(base, options_.max_backoff);
    std::uniform_real_distribution<double> jitter(0.5, 1.0);
    return base * jitter(rng_);
  }

  Round RunRound() {
    Round round;
    // Main first; a data watch on its summary if none is pending. It is
    // marked armed before the read: the watch may fire (and disarm) before
    // the read returns.
    bool arm = false;
    const int64_t generation = main_->generation();
    {
      absl::MutexLock lock(&wake_->mu);
      arm = !wake_->watch_armed || wake_->watch_generation != generation;
      if (arm) {
        wake_->watch_armed = true;
        wake_->watch_generation = generation;
      }
    }
    std::shared_ptr<Wake> wake = wake_;
    zk::WatchCallback watch = nullptr;
    if (arm) watch = [wake](const zk::WatchEvent&) { wake->Signal(true); };
    auto main_read =
        FromMain(zk::ReadRevision(*main_, options_.layout, std::move(watch)));
    if (arm && !main_read.ok()) {
      // No watch was set (no node, or no answer); at worst one is pending
      // twice, which costs a spare round.
      absl::MutexLock lock(&wake_->mu);
      wake_->watch_armed = false;
    }
    const bool main_missing = absl::IsNotFound(main_read.status());
    if (!main_read.ok() && !main_missing) return Fail(main_read.status());
    zk::RevisionSummary main_summary;
    if (main_read.ok()) main_summary = main_read->first;
    {
      absl::MutexLock lock(&progress_mu_);
      progress_.main_reachable = true;
      progress_.main_revision = main_summary.revision();
      progress_.last_main_read = absl::Now();
    }

    absl::StatusOr<LocalHead> head = ReadLocalHead(*local_, options_.layout);
    if (absl::IsNotFound(head.status()) && !main_missing) {
      round.status = BootstrapLocal(main_summary);
      if (!round.status.ok()) return round;
      head = ReadLocalHead(*local_, options_.layout);
    }
    if (absl::IsNotFound(head.status()) && main_missing) return round;
    if (!head.ok()) return Fail(head.status());
    SetLocalRevision(head->summary.revision(), main_summary.revision());

    const int64_t have = head->summary.revision();
    if ((main_missing || main_summary.revision() == 0) && have > 0) {
      return Fail(FromMain(absl::FailedPreconditionError(
          absl::StrCat("the main DC looks empty (",
                       main_missing ? "no revision node" : "revision 0",
                       ") while this DC holds revision ", have,
                       ": keeping the local data, not replicating"))));
    }
    if (main_missing) return round;
    if (have > main_summary.revision()) {
      return Fail(FromMain(absl::FailedPreconditionError(absl::StrCat(
          "the main DC is at revision ", main_summary.revision(),
          ", behind this DC's ", have,
          " (restored or reset?): keeping the local data until an operator "
          "decides"))));
    }
    switch (zk::PlanCatchUp(have, main_summary)) {
      case zk::CatchUp::kUpToDate:
        break;
      case zk::CatchUp::kIncremental:
        round.status = CatchUp(main_summary, &*head, &round.more);
        break;
      case zk::CatchUp::kFullResync:
        round.status = Resync(main_summary, &*head);
        round.more = round.status.ok();  // main moved on meanwhile, maybe
        break;
    }
    SetLocalRevision(head->summary.revision(), main_summary.revision());
    if (round.status.ok()) TrimLocal(head->summary);
    return round;
  }

  absl::Status BootstrapLocal(const zk::RevisionSummary& main_summary) {
    zk::SchemaInfo info;
    info.set_datacenter(options_.datacenter);
    info.set_is_main(false);
    const int retention =
        std::clamp(main_summary.retention(), 1, zk::kMaxChangelogRetention);
    return zk::EnsureSkeleton(*local_, options_.layout, info, retention,
                              options_.acl);
  }

  absl::Status CatchUp(const zk::RevisionSummary& main_summary, LocalHead* head,
                       bool* more) {
    const int64_t target =
        std::min(main_summary.revision(),
                 head->summary.revision() + options_.max_changes_per_round);
    int conflicts = 0;
    while (head->summary.revision() < target && !wake_->Stopping()) {
      const int64_t revision = head->summary.revision() + 1;
      absl::Status applied = applier_.Apply(revision, head);
      if (applied.ok()) {
        metrics_.applied->Increment();
        SetLocalRevision(revision, main_summary.revision());
        continue;
      }
      if (IsMainSide(applied) && absl::IsNotFound(applied)) {
        // Trimmed since we read the summary: re-plan (full resync) now.
        *more = true;
        return absl::OkStatus();
      }
      if (!IsLocalConflict(applied) && !zk::IsConnectionLoss(applied)) {
        return applied;
      }
      // Another writer (an overlapping replicator) moved the local revision
      // first, or the outcome is unknown: re-read and go on from there.
      metrics_.Errors("conflict")->Increment();
      if (++conflicts > kMaxConflictsPerRound) return applied;
      KESS_ASSIGN_OR_RETURN(*head, ReadLocalHead(*local_, options_.layout));
      if (head->summary.revision() > main_summary.revision()) break;
    }
    *more = head->summary.revision() < main_summary.revision();
    return absl::OkStatus();
  }

  absl::Status Resync(const zk::RevisionSummary& main_summary,
                      LocalHead* head) {
    LOG(INFO) << "replication (" << options_.datacenter
              << "): full resync from local revision "
              << head->summary.revision() << " to main revision "
              << main_summary.revision() << " (main retains from "
              << main_summary.oldest_retained() << ")";
    FullResync::Stats stats;
    std::shared_ptr<Wake> wake = wake_;
    absl::Status status = resync_.Run(
        main_summary, head, [wake] { return wake->Stopping(); }, &stats);
    metrics_.resync_written->Increment(stats.written);
    metrics_.resync_deleted->Increment(stats.deleted);
    LOG(INFO) << "replication (" << options_.datacenter << "): full resync "
              << (status.ok() ? "done" : "stopped") << ": " << stats.compared
              << " compared, " << stats.written << " written, " << stats.deleted
              << " deleted, " << stats.skipped << " skipped; " << status;
    if (status.ok()) {
      metrics_.full_resyncs->Increment();
      absl::MutexLock lock(&progress_mu_);
      ++progress_.full_resyncs;
    }
    return status;
  }

  void TrimLocal(const zk::RevisionSummary& summary) {
    if (summary.oldest_retained() - trimmed_below_ < kTrimBatch) return;
    absl::StatusOr<int> trimmed =
        zk::TrimChangelog(*local_, options_.layout, summary, kMaxTrimPerRound);
    if (!trimmed.ok()) {
      LOG(WARNING) << "trimming the local change log: " << trimmed.status();
      return;
    }
    if (*trimmed < kMaxTrimPerRound) trimmed_below_ = summary.oldest_retained();
  }

  Round Fail(absl::Status status) {
    Round round;
    round.status = std::move(status);
    return round;
  }

  void SetLocalRevision(int64_t local, int64_t main) {
    const absl::Time now = absl::Now();
    absl::MutexLock lock(&progress_mu_);
    if (local != progress_.local_revision) progress_.last_applied = now;
    progress_.local_revision = local;
    if (local >= main) {
      behind_since_ = absl::InfiniteFuture();
    } else if (behind_since_ == absl::InfiniteFuture()) {
      behind_since_ = now;
    }
    metrics_.local_revision->Set(static_cast<double>(local));
    metrics_.main_revision->Set(static_cast<double>(main));
    metrics_.lag_revisions->Set(
        static_cast<double>(std::max<int64_t>(0, main - local)));
  }

  // Bookkeeping after a round: last_error, reachability, error metrics, the
  // lag in seconds (which keeps growing while main cannot be read).
  void Finish(const absl::Status& status) {
    std::string error;
    const char* kind = nullptr;
    if (!status.ok()) {
      error = status.ToString();
      if (!IsMainSide(status)) {
        kind = IsLocalConflict(status) ? "conflict" : "local";
      } else if (absl::IsUnavailable(status) ||
                 absl::IsDeadlineExceeded(status)) {
        kind = "main_unavailable";
      } else if (absl::IsFailedPrecondition(status)) {
        kind = "main_refused";
      } else {
        kind = "main_data";
      }
      metrics_.Errors(kind)->Increment();
    }
    absl::MutexLock lock(&progress_mu_);
    if (kind != nullptr && std::string(kind) == "main_unavailable") {
      progress_.main_reachable = false;
    }
    if (error != progress_.last_error && !error.empty()) {
      LOG(WARNING) << "replication (" << options_.datacenter
                   << ") round failed [" << kind << "]: " << error;
    } else if (error.empty() && !progress_.last_error.empty()) {
      LOG(INFO) << "replication (" << options_.datacenter
                << ") recovered at local revision " << progress_.local_revision;
    }
    progress_.last_error = std::move(error);
    metrics_.lag_seconds->Set(
        behind_since_ == absl::InfiniteFuture()
            ? 0
            : absl::ToDoubleSeconds(absl::Now() - behind_since_));
  }

  zk::ZkApi* const main_;
  zk::ZkApi* const local_;
  const Options options_;
  ReplicationMetrics metrics_;
  RecordSync sync_;
  ChangeApplier applier_;
  FullResync resync_;
  std::mt19937_64 rng_;
  int64_t trimmed_below_ = 0;

  const std::shared_ptr<Wake> wake_ = std::make_shared<Wake>();
  int64_t listener_id_ = 0;
  std::thread thread_;

  mutable absl::Mutex progress_mu_;
  Progress progress_ ABSL_GUARDED_BY(progress_mu_);
  absl::Time behind_since_ ABSL_GUARDED_BY(progress_mu_) =
      absl::InfiniteFuture();
};

}  // namespace

absl::StatusOr<std::unique_ptr<Replicator>> Replicator::Create(
    zk::ZkApi* main, zk::ZkApi* local, Options options) {
  if (main == nullptr || local == nullptr || main == local) {
    return absl::InvalidArgumentError(
        "replication needs two distinct ZooKeeper clients (main and local)");
  }
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kDatacenter, options.datacenter));
  if (options.poll_interval <= absl::ZeroDuration() ||
      options.min_backoff <= absl::ZeroDuration() ||
      options.max_backoff < options.min_backoff ||
      options.max_changes_per_round < 1 || options.registry == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad replication options: poll_interval ",
        absl::FormatDuration(options.poll_interval), ", backoff ",
        absl::FormatDuration(options.min_backoff), "..",
        absl::FormatDuration(options.max_backoff), ", max_changes_per_round ",
        options.max_changes_per_round,
        options.registry == nullptr ? ", no metrics registry" : ""));
  }
  return std::unique_ptr<Replicator>(
      new ReplicatorImpl(main, local, std::move(options)));
}

}  // namespace mandator
}  // namespace kess
