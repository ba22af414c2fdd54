// The Replicator's loop: rounds of "read main's summary, plan, catch up",
// woken by a watch on main's /kess/revision, by a poll, or after a
// jittered backoff when a round failed. See replicator.h and README.md.
#include "mandator/replication/replicator.h"

#include <algorithm>
#include <optional>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "model/names.h"
#include "common/clock.h"
#include "common/steady_await.h"
#include "glog/logging.h"
#include "mandator/replication/batch_applier.h"
#include "mandator/replication/change_applier.h"
#include "mandator/replication/full_resync.h"
#include "mandator/replication/main_side.h"
#include "mandator/replication/record_sync.h"
#include "mandator/replication/replication_metrics.h"
#include "zk_schema/codec.h"
#include "zk_schema/revision_log.h"
#include "zk_schema/skeleton.h"
#include "zk_schema/zk_errors.h"

namespace kess {
namespace mandator {
namespace replication {
namespace {

// Local change records are trimmed in batches of at least this many.
constexpr int64_t kTrimBatch = 64;
constexpr int kMaxTrimPerRound = 1000;
// Change records read with main's summary before knowing whether they exist
// (one round trip for a single change): at most this many.
constexpr int64_t kMaxSpeculativeReads = 64;
// Change records read from main in one pipelined batch.
constexpr int64_t kFetchWindow = 1000;

absl::StatusOr<zk::RevisionSummary> DecodeSummary(
    absl::StatusOr<zk::GetResult> node) {
  if (!node.ok()) return node.status();
  return zk::DecodeAs<zk::RevisionSummary>(node->data, "main /kess/revision");
}

// State shared with watch callbacks, which may outlive the Replicator.
struct Wake {
  absl::Mutex mu;
  bool signaled ABSL_GUARDED_BY(mu) = false;
  bool stopping ABSL_GUARDED_BY(mu) = false;
  bool watch_armed ABSL_GUARDED_BY(mu) = false;
  int64_t watch_generation ABSL_GUARDED_BY(mu) = 0;
  // Completed exchanges with main's ZooKeeper (Progress::main_contacts).
  int64_t contacts ABSL_GUARDED_BY(mu) = 0;
  // Main's client holds a live connection (Progress::main_connected).
  bool connected ABSL_GUARDED_BY(mu) = false;

  void SetConnected(bool now) {
    absl::MutexLock lock(&mu);
    connected = now;
  }
  void Contact() {
    absl::MutexLock lock(&mu);
    ++contacts;
  }
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
        batch_(main, local, &sync_, options_.layout, options_.acl),
        resync_(main, local, &sync_, &applier_, options_.layout),
        rng_(std::random_device{}()) {}
  ~ReplicatorImpl() override { Stop(); }

  void Start() override {
    CHECK(!thread_.joinable()) << "Replicator::Start called twice";
    std::shared_ptr<Wake> wake = wake_;
    wake->SetConnected(main_->session_id() != 0);
    listener_id_ = main_->AddSessionListener([wake](const zk::SessionEvent& e) {
      switch (e.type) {
        case zk::SessionEvent::kNewSession:
          wake->SetConnected(true);
          wake->Signal(/*disarm=*/true);  // its watch is gone: re-arm now
          break;
        case zk::SessionEvent::kExpired:
        case zk::SessionEvent::kConnectionLost:
        case zk::SessionEvent::kAuthFailed:
          wake->SetConnected(false);
          if (e.type == zk::SessionEvent::kExpired) wake->Signal(true);
          break;
        case zk::SessionEvent::kReconnected:
          wake->SetConnected(true);
          // Main is back (the watch survived): do not sit out the rest of
          // a backoff that grew while it was away. The round that follows
          // at once is what counts as contact (an answered read; a
          // handshake alone can pass where larger answers stall).
          wake->Signal(/*disarm=*/false);
          break;
        default:
          break;
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
    Progress progress;
    {
      absl::MutexLock lock(&progress_mu_);
      progress = progress_;
    }
    absl::MutexLock lock(&wake_->mu);
    progress.main_contacts = wake_->contacts;
    progress.main_connected = wake_->connected;
    return progress;
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
    // The local head, kept from the last round unless something (a lost
    // compare-and-set, an error) may have moved it behind our back.
    if (!head_.has_value()) {
      absl::StatusOr<LocalHead> read = ReadLocalHead(*local_, options_.layout);
      if (read.ok()) {
        head_ = *std::move(read);
      } else if (!absl::IsNotFound(read.status())) {
        return Fail(read.status());
      }
    }
    const bool local_missing = !head_.has_value();
    const int64_t have = local_missing ? 0 : head_->summary.revision();

    // Main: its summary, with a data watch if none is pending (marked armed
    // before the read: it may fire, and disarm, before the read returns),
    // and speculatively the next change records, in ONE round trip.
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
    std::vector<zk::GetRequest> requests;
    requests.push_back({options_.layout.RevisionPath(), nullptr});
    if (arm) {
      std::shared_ptr<Wake> wake = wake_;
      requests[0].watch = [wake](const zk::WatchEvent&) { wake->Signal(true); };
    }
    const int speculative = local_missing ? 0 : speculative_;
    for (int i = 1; i <= speculative; ++i) {
      requests.push_back({options_.layout.ChangelogPath(have + i), nullptr});
    }
    std::vector<absl::StatusOr<zk::GetResult>> got =
        main_->GetMany(std::move(requests));
    const bool summary_answered = got[0].ok();
    absl::StatusOr<zk::RevisionSummary> main_read =
        FromMain(DecodeSummary(std::move(got[0])));
    if (arm && !summary_answered) {
      // No watch was set (no node, or no answer); at worst one is pending
      // twice, which costs a spare round.
      absl::MutexLock lock(&wake_->mu);
      wake_->watch_armed = false;
    }
    const bool main_missing = absl::IsNotFound(main_read.status());
    if (!main_read.ok() && !main_missing) return Fail(main_read.status());
    zk::RevisionSummary main_summary;
    if (main_read.ok()) main_summary = *main_read;
    MainAnswered();
    {
      absl::MutexLock lock(&progress_mu_);
      progress_.main_revision = main_summary.revision();
    }

    if (local_missing) {
      if (main_missing) return round;
      round.status = BootstrapLocal(main_summary);
      if (!round.status.ok()) return round;
      absl::StatusOr<LocalHead> read = ReadLocalHead(*local_, options_.layout);
      if (!read.ok()) return Fail(read.status());
      head_ = *std::move(read);
    }
    SetLocalRevision(head_->summary.revision(), main_summary.revision());

    const int64_t local = head_->summary.revision();
    if ((main_missing || main_summary.revision() == 0) && local > 0) {
      return Fail(FromMain(absl::FailedPreconditionError(
          absl::StrCat("the main DC looks empty (",
                       main_missing ? "no revision node" : "revision 0",
                       ") while this DC holds revision ", local,
                       ": keeping the local data, not replicating"))));
    }
    if (main_missing) return round;
    if (local > main_summary.revision()) {
      return Fail(FromMain(absl::FailedPreconditionError(absl::StrCat(
          "the main DC is at revision ", main_summary.revision(),
          ", behind this DC's ", local,
          " (restored or reset?): keeping the local data until an operator "
          "decides"))));
    }
    // What the next round reads speculatively: as far as main was ahead now
    // (a burst goes on), at least the one change a watch announces.
    speculative_ = static_cast<int>(std::clamp<int64_t>(
        main_summary.revision() - local, 1, kMaxSpeculativeReads));
    switch (zk::PlanCatchUp(local, main_summary)) {
      case zk::CatchUp::kUpToDate:
        break;
      case zk::CatchUp::kIncremental:
        got.erase(got.begin());  // the speculative change records are next
        round.status = CatchUp(main_summary, std::move(got), &round.more);
        break;
      case zk::CatchUp::kFullResync:
        round.status = Resync(main_summary, &*head_);
        round.more = round.status.ok();  // main moved on meanwhile, maybe
        break;
    }
    if (!round.status.ok()) {
      head_.reset();  // re-read: a failed write may have happened anyway
      return round;
    }
    if (!head_.has_value()) return round;  // lost a race: re-read next round
    SetLocalRevision(head_->summary.revision(), main_summary.revision());
    TrimLocal(head_->summary);
    // Caught up: the next round re-reads the local head, so that a local
    // tree restored or reset meanwhile is noticed even while main is idle.
    if (!round.more) head_.reset();
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

  // Applies main's change records head+1 .. min(main, head +
  // max_changes_per_round). `prefetched` holds the answers for the first of
  // them (read with the summary); the rest are read in pipelined batches.
  absl::Status CatchUp(const zk::RevisionSummary& main_summary,
                       std::vector<absl::StatusOr<zk::GetResult>> prefetched,
                       bool* more) {
    const int64_t from = head_->summary.revision() + 1;
    const int64_t target =
        std::min(main_summary.revision(),
                 head_->summary.revision() + options_.max_changes_per_round);
    std::vector<zk::ChangeRecord> changes;
    absl::Status bad;      // a corrupt change record: applied up to it
    bool missing = false;  // trimmed since the summary was read
    auto take = [&](int64_t revision, absl::StatusOr<zk::GetResult> node) {
      if (missing || !bad.ok()) return;
      if (absl::IsNotFound(node.status())) {
        missing = true;
        return;
      }
      if (!node.ok()) {
        bad = FromMain(node.status());
        return;
      }
      absl::StatusOr<zk::ChangeRecord> change =
          ParseChange(options_.layout, revision, node->data);
      if (!change.ok()) {
        bad = change.status();
        return;
      }
      changes.push_back(*std::move(change));
    };
    int64_t revision = from;
    for (size_t i = 0; i < prefetched.size() && revision <= target; ++i) {
      take(revision++, std::move(prefetched[i]));
    }
    while (revision <= target && !missing && bad.ok() && !wake_->Stopping()) {
      const int64_t last = std::min(target, revision + kFetchWindow - 1);
      std::vector<zk::GetRequest> requests;
      for (int64_t r = revision; r <= last; ++r) {
        requests.push_back({options_.layout.ChangelogPath(r), nullptr});
      }
      std::vector<absl::StatusOr<zk::GetResult>> got =
          main_->GetMany(std::move(requests));
      if (!got.empty() &&
          (got.back().ok() || absl::IsNotFound(got.back().status()))) {
        MainAnswered();  // a long catch-up is not an unreachable main
      }
      for (auto& node : got) take(revision++, std::move(node));
    }
    // A main that cannot be read: nothing to apply from this round.
    if (!bad.ok() && changes.empty()) return bad;

    if (wake_->Stopping()) return absl::OkStatus();
    BatchApplier::Stats stats;
    std::shared_ptr<Wake> wake = wake_;
    absl::Status applied = batch_.Apply(changes, &*head_, &stats,
                                        [wake] { return wake->Stopping(); });
    metrics_.applied->Increment(static_cast<double>(stats.applied));
    metrics_.route_deltas->Increment(static_cast<double>(stats.route_deltas));
    SetLocalRevision(head_->summary.revision(), main_summary.revision());
    if (absl::IsCancelled(applied)) return absl::OkStatus();  // Stop()
    if (!applied.ok()) {
      const bool local_race =
          IsLocalConflict(applied) ||
          (zk::IsConnectionLoss(applied) && !IsMainSide(applied));
      if (local_race && stats.applied > 0) {
        // Another writer (an overlapping replicator) moved the local
        // revision first, or the outcome is unknown, after progress: re-read
        // the head and go on at once. (Without progress the round fails
        // and Finish() counts it.)
        metrics_.Errors("conflict")->Increment();
        head_.reset();
        *more = true;
        return absl::OkStatus();
      }
      return applied;
    }
    if (!bad.ok()) return bad;
    // A trimmed change record makes the next round plan a full resync.
    *more = missing || head_->summary.revision() < main_summary.revision();
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
    // Asked between nodes, each read from main: a resync that takes
    // minutes across a WAN keeps main "reachable".
    absl::Status status = resync_.Run(
        main_summary, head,
        [this, wake] {
          MainAnswered();
          return wake->Stopping();
        },
        &stats);
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

  // Main answered a read: it is reachable now.
  void MainAnswered() {
    wake_->Contact();
    absl::MutexLock lock(&progress_mu_);
    progress_.main_reachable = true;
    progress_.last_main_read = MonotonicNow();
  }

  Round Fail(absl::Status status) {
    head_.reset();  // e.g. an operator resets the local tree after a refusal
    Round round;
    round.status = std::move(status);
    return round;
  }

  void SetLocalRevision(int64_t local, int64_t main) {
    const absl::Time now = MonotonicNow();
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
            : absl::ToDoubleSeconds(MonotonicNow() - behind_since_));
  }

  zk::ZkApi* const main_;
  zk::ZkApi* const local_;
  const Options options_;
  ReplicationMetrics metrics_;
  RecordSync sync_;
  ChangeApplier applier_;
  BatchApplier batch_;
  FullResync resync_;
  std::mt19937_64 rng_;
  int64_t trimmed_below_ = 0;
  // The local head between rounds (nullopt: read it first).
  std::optional<LocalHead> head_;
  // Change records read with the summary, speculatively.
  int speculative_ = 1;

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

}  // namespace replication
}  // namespace mandator
}  // namespace kess
