#include "mandator/core/record_commit.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "glog/logging.h"
#include "zk_schema/codec.h"
#include "zk_schema/revision_log.h"
#include "zk_schema/zk_errors.h"

namespace kess {
namespace mandator {
namespace core {
namespace {

// Serializes the commits of this process. The main leader's config writer
// and its route writer both compare-and-set /kess/revision: without it they
// race each other (a route-table write per service per second during a
// registration storm made config PUTs fail after their attempts). Other
// processes (a deposed leader) are still fenced by the compare-and-set.
absl::Mutex& CommitMutex() {
  static absl::Mutex* mu = new absl::Mutex();
  return *mu;
}

// Runs one attempt's multi. Sets `*retry` when a concurrent change made a
// version check or create fail.
absl::Status Run(zk::ZkApi& zk, const zk::Layout& layout,
                 const zk::MultiOps& ops, int fence_index,
                 const zk::ChangeRecord& change, bool* retry,
                 CommitOutcome* outcome) {
  *retry = false;
  *outcome = CommitOutcome::kNotApplied;
  absl::StatusOr<std::vector<zk::OpResult>> result = zk.Multi(ops);
  if (result.ok()) return absl::OkStatus();
  const absl::Status& status = result.status();
  if (zk::IsConnectionLoss(status)) {
    // The multi may have been applied: its change record says so.
    absl::StatusOr<zk::GetResult> record =
        zk.Get(layout.ChangelogPath(change.revision()));
    if (record.ok() && record->data == zk::Encode(change)) {
      LOG(INFO) << "commit of revision " << change.revision()
                << " was applied despite " << status;
      return absl::OkStatus();
    }
    if (record.ok() || absl::IsNotFound(record.status())) {
      return absl::UnavailableError(absl::StrCat(
          "ZooKeeper connection lost during the commit; it was not applied "
          "(",
          status.message(), ")"));
    }
    *outcome = CommitOutcome::kUnknown;
    return absl::UnavailableError(absl::StrCat(
        "ZooKeeper connection lost during the commit; outcome unknown, "
        "re-read the key before retrying (",
        status.message(), ")"));
  }
  std::optional<int> failed = zk::MultiFailedOp(status);
  if (failed.has_value() && *failed == fence_index) {
    return absl::UnavailableError(
        "this mandator is no longer the leader (its election node is gone); "
        "nothing was written, retry against the new leader");
  }
  if (absl::IsAborted(status) || absl::IsAlreadyExists(status) ||
      absl::IsNotFound(status)) {
    *retry = true;
  }
  return status;
}

}  // namespace

absl::StatusOr<Committed> CommitRecord(zk::ZkApi& zk, const zk::Layout& layout,
                                       const CommitOptions& options,
                                       const CommitBuilder& build,
                                       CommitOutcome* outcome) {
  *outcome = CommitOutcome::kNotApplied;
  absl::MutexLock serialized(&CommitMutex());
  absl::Status last;
  for (int attempt = 0; attempt < std::max(1, options.attempts); ++attempt) {
    KESS_ASSIGN_OR_RETURN(auto summary, zk::ReadRevision(zk, layout));
    CommitAttempt current{
        attempt, summary.first,
        std::max(summary.first.revision() + 1, options.min_revision)};
    zk::MultiOps ops;
    int fence_index = -1;
    if (!options.fence.empty()) {
      ops.Check(options.fence, zk::kAnyVersion);
      fence_index = 0;
    }
    zk::ChangeRecord change;
    KESS_RETURN_IF_ERROR(build(current, &ops, &change));
    change.set_revision(current.revision);
    zk::EmbedRecord(ops, &change);
    KESS_ASSIGN_OR_RETURN(
        zk::RevisionSummary after,
        zk::AddCommitOps(layout, summary.first, summary.second, change, &ops));
    bool retry = false;
    last = Run(zk, layout, ops, fence_index, change, &retry, outcome);
    if (last.ok()) {
      if (after.oldest_retained() > summary.first.oldest_retained()) {
        absl::StatusOr<int> trimmed = zk::TrimChangelog(
            zk, layout, after, std::max(1, options.changelog_trim_batch));
        LOG_IF(WARNING, !trimmed.ok())
            << "change log not trimmed: " << trimmed.status();
      }
      return Committed{current.revision, summary.first, after};
    }
    if (!retry) return last;
  }
  return absl::AbortedError(absl::StrCat(
      options.what, " kept racing with other writers: ", last.message()));
}

}  // namespace core
}  // namespace mandator
}  // namespace kess
