// The global revision and the change log: invariants 1 (one global
// revision, committed without gaps) and 3 (the compare-and-set half of
// fencing) of docs/design.md, and the catch-up plan behind invariants 4
// and 6.
//
// Every change (config or route put/delete) is committed by the main DC's
// leader as ONE multi:
//   1. write the record node (e.g. set /kess/configs/ns/key),
//   2. set /kess/revision to the bumped RevisionSummary with the version it
//      read (compare-and-set: a concurrent or stale leader loses; nothing of
//      the multi is applied),
//   3. create /kess/changelog/<new revision> (a ChangeRecord).
// AddCommitOps() builds 2 and 3; the caller adds 1 and runs ZkApi::Multi.
// The summary's oldest_retained is raised in the same multi when records
// fall out of the retention window; TrimChangelog() deletes them afterwards
// (best effort: a record below oldest_retained is garbage nobody reads).
//
// Followers (slave-DC leaders, distributors) watch /kess/revision and poll
// it; holding revision `have`, PlanCatchUp() says whether reading
// /kess/changelog/<have+1 .. revision> is enough or a full resync is due. A
// follower that finds a record missing re-reads the summary: it was trimmed
// meanwhile, and PlanCatchUp() now says kFullResync.
//
// A slave-DC leader replays the main DC's changes with the main DC's
// revision numbers (ChangeRecord.revision set): in order that is simply the
// next revision; after a full resync it jumps, and the records before the
// jump do not exist, so oldest_retained moves up to the new revision.
//
// Thread-safe: pure functions, except ReadRevision (ZkApi's contract).
#pragma once

#include <cstdint>
#include <utility>

#include "common/status.h"
#include "zk_schema/layout.h"
#include "zk_schema/schema.pb.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace zk {

inline constexpr int kDefaultChangelogRetention = 10000;
// /kess/changelog's children list must stay below ZooKeeper's 1 MB packet
// limit: 30,000 names of 19 bytes (+4 bytes framing each) are ~690 KB.
inline constexpr int kMaxChangelogRetention = 30000;
// The largest record EmbedRecord copies into its change record. The change
// log keeps `retention` records (10,000 by default, at most 30,000), in the
// main DC and, byte for byte, in every slave DC, so this bounds what
// embedding adds to each ZooKeeper's memory: 80 MiB at the default
// retention, 240 MiB at the largest, in practice far less (most configs and
// route tables are a few hundred bytes).
inline constexpr size_t kMaxEmbeddedRecordBytes = 8 * 1024;

// For a put: copies into change->record the data that `ops` writes to
// change->path() (its create or set), if that is at most
// kMaxEmbeddedRecordBytes and the record's value is stored inline. Does
// nothing otherwise (deletes, chunked values, larger records, no such op).
// Call it after adding the record's op and before AddCommitOps.
void EmbedRecord(const MultiOps& ops, ChangeRecord* change);

// Appends ops 2 and 3 above to `ops` for committing `change`, where
// `current` was read from /kess/revision at data version `current_version`.
// The new revision is change.revision() if set (replay; must be above
// current.revision()), else current.revision() + 1. Returns the new summary
// (its revision is the committed one). InvalidArgument for a change without
// kind or path, or a revision that does not move forward.
absl::StatusOr<RevisionSummary> AddCommitOps(const Layout& layout,
                                             const RevisionSummary& current,
                                             int current_version,
                                             ChangeRecord change,
                                             MultiOps* ops);

// Deletes up to `max_deletes` change records below summary.oldest_retained
// (oldest first). Returns how many it deleted.
absl::StatusOr<int> TrimChangelog(ZkApi& zk, const Layout& layout,
                                  const RevisionSummary& summary,
                                  int max_deletes);

// The summary and its data version (for AddCommitOps). With `watch`, a data
// watch on /kess/revision.
absl::StatusOr<std::pair<RevisionSummary, int>> ReadRevision(
    ZkApi& zk, const Layout& layout, WatchCallback watch = nullptr);

enum class CatchUp {
  kUpToDate,     // have == summary.revision
  kIncremental,  // read change records have+1 .. summary.revision
  kFullResync,   // too far behind (records trimmed), or ahead of the source
                 // (it was reset/restored): re-read everything
};
CatchUp PlanCatchUp(int64_t have, const RevisionSummary& summary);

}  // namespace zk
}  // namespace kess
