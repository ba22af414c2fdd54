// Full resync: the fallback when the local DC is too far behind for main's
// retained change log (zk::PlanCatchUp() == kFullResync). Compares every
// namespace, config and route of both DCs and writes only what differs
// (record_sync.h: equal = same record after blanking the chunk manifest,
// i.e. same revision, version, meta, value size and CRC-32), deletes what
// main no longer has, then moves the local revision to main's revision as
// read BEFORE the walk, with main's change record of that revision.
//
// Why that is correct while main keeps changing: every record copied is a
// state main had at that revision or later, and every change after it is
// replayed incrementally afterwards (copies are idempotent).
//
// Safety: refuses (FailedPrecondition, marked main-side, nothing written)
// when main's configs or routes directory is missing — a broken or
// unbootstrapped main never empties the local DC. (The replicator refuses
// earlier still when main's revision is 0 or below the local one.) Every
// write carries the local revision compare-and-set, so a second replicator
// writing at the same time makes this one stop with Aborted.
//
// Config history (/configs_history) is not replicated: slaves serve current
// values; history and rollback are main-DC operations.
//
// Thread-compatible.
#pragma once

#include <cstdint>
#include <functional>

#include "common/status.h"
#include "mandator/replication/change_applier.h"
#include "mandator/replication/record_sync.h"
#include "zk_schema/layout.h"
#include "zk_schema/schema.pb.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace mandator {
namespace replication {

class FullResync {
 public:
  struct Stats {
    int64_t compared = 0;  // nodes looked at (namespaces, configs, routes)
    int64_t written = 0;   // created or changed locally
    int64_t deleted = 0;   // deleted locally (main has them no more)
    int64_t skipped = 0;   // local nodes with invalid names, left alone
  };

  // Everything must outlive this.
  FullResync(zk::ZkApi* main, zk::ZkApi* local, RecordSync* sync,
             ChangeApplier* applier, zk::Layout layout);

  // REQUIRES: `main_summary` was read from main before this call and
  // main_summary.revision() > head->summary.revision(). Stops early with
  // Cancelled when `cancelled()` turns true (what was written stays; the
  // local revision does not move). `stats` is filled as far as it got.
  absl::Status Run(const zk::RevisionSummary& main_summary, LocalHead* head,
                   const std::function<bool()>& cancelled, Stats* stats);

 private:
  // Makes `path` equal in both DCs; counts into `stats`.
  absl::Status SyncOne(RecordKind kind, const std::string& path,
                       LocalHead* head, Stats* stats);
  absl::Status SyncNamespace(const std::string& ns, bool in_main,
                             LocalHead* head,
                             const std::function<bool()>& cancelled,
                             Stats* stats);
  // main's change record for `summary.revision()`, or one made from the
  // summary if main trimmed it meanwhile.
  absl::StatusOr<zk::ChangeRecord> FinalChange(
      const zk::RevisionSummary& summary);

  zk::ZkApi* const main_;
  zk::ZkApi* const local_;
  RecordSync* const sync_;
  ChangeApplier* const applier_;
  const zk::Layout layout_;
};

}  // namespace replication
}  // namespace mandator
}  // namespace kess
