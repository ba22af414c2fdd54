// CommitRecord: the one way the main DC's leader commits a change to a
// record (a config or a route table) with the next global revision.
//
// Each attempt is ONE zoo_multi (zk_schema/revision_log.h):
//   [check the fence node]   the leader's election node still exists;
//   <the record's ops>       built by the caller for this attempt's revision;
//   set /kess/revision       compare-and-set on the version read;
//   create /kess/changelog/<rev19>.
// A version check or create that raced with another writer is retried
// (re-read, re-built) up to `attempts` times, then Aborted. A connection
// loss is resolved by reading the change record back: equal bytes mean the
// commit applied. After a commit, change records that fell out of the
// retention window are trimmed (best effort).
//
// Errors: what the builder returns (not retried); Unavailable when the fence
// is gone ("no longer the leader") or the connection was lost ("outcome
// unknown" sets *outcome = kUnknown); Aborted after too many races.
//
// Thread-safe: the commits of one process are serialized (the leader's
// config and route writers would otherwise race each other for
// /kess/revision and spend their attempts); `build` runs under that lock
// and must not commit itself.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/status.h"
#include "zk_schema/layout.h"
#include "zk_schema/schema.pb.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace mandator {
namespace core {

// What a failed commit left behind.
enum class CommitOutcome { kNotApplied, kUnknown };

// One attempt as the builder sees it.
struct CommitAttempt {
  int number = 0;               // 0, 1, ...
  zk::RevisionSummary summary;  // as read for this attempt
  int64_t revision = 0;         // summary.revision() + 1, what it commits
};

// Appends the record's ops to `ops` and fills `change` (kind, path, names,
// value size and CRC, meta); its revision is set by CommitRecord. A non-OK
// status ends the commit with that status.
using CommitBuilder = std::function<absl::Status(
    const CommitAttempt& attempt, zk::MultiOps* ops, zk::ChangeRecord* change)>;

struct CommitOptions {
  std::string fence;  // node that must exist; empty = no fence
  int attempts = 3;
  int changelog_trim_batch = 1000;  // change records deleted per commit, max
  std::string what;                 // names the change in errors
  // Commit at least at this revision: a jump above the current one
  // (AddCommitOps allows it; oldest_retained moves up, followers resync).
  // Partition mode's heal uses it (routes/README.md); 0 = the next one.
  int64_t min_revision = 0;
};

struct Committed {
  int64_t revision = 0;
  zk::RevisionSummary before;  // the summary the commit replaced
  zk::RevisionSummary after;
};

absl::StatusOr<Committed> CommitRecord(zk::ZkApi& zk, const zk::Layout& layout,
                                       const CommitOptions& options,
                                       const CommitBuilder& build,
                                       CommitOutcome* outcome);

}  // namespace core
}  // namespace mandator
}  // namespace kess
