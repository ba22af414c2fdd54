// Applying one revision of the main DC's change log to the local ZK.
//
// A change record names a record node; the node is copied as main holds it
// now (record_sync.h: maybe already a newer revision of it, or gone) and
// the local change record is main's, byte for byte in content, committed
// with the main DC's revision number in the same multi, compare-and-set on
// the local /kess/revision. So local revision r exists at most once, its
// change record equals main's, and every record is a state main had at r or
// later; the later revisions re-copy it (a no-op if it is already equal).
//
// Thread-compatible.
#pragma once

#include <cstdint>

#include "common/status.h"
#include "mandator/replication/record_sync.h"
#include "zk_schema/layout.h"
#include "zk_schema/schema.pb.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace mandator {
namespace replication {

class ChangeApplier {
 public:
  // `main` and `sync` must outlive this.
  ChangeApplier(zk::ZkApi* main, RecordSync* sync, zk::Layout layout);

  // Reads main's change record `revision`, checks it, copies the record it
  // names and commits both locally as revision `revision`. On success
  // `head` is the new local head; `wrote_record` (optional) says whether
  // the record node was written (false: it was already equal).
  // REQUIRES: revision > head->summary.revision().
  // Errors: NotFound marked main-side (main_side.h) when main no longer has
  // that change record (trimmed: re-read main's summary and re-plan);
  // Aborted when another writer moved the local revision first (re-read
  // the head; nothing was applied); DataLoss marked main-side when the
  // change record is corrupt or names a path outside its kind's subtree.
  absl::Status Apply(int64_t revision, LocalHead* head,
                     bool* wrote_record = nullptr);

  // The change record, checked (as Apply does).
  absl::StatusOr<zk::ChangeRecord> ReadChange(int64_t revision);

 private:
  zk::ZkApi* const main_;
  RecordSync* const sync_;
  const zk::Layout layout_;
};

// Decodes main's change record `revision` (the data of its node) and checks
// it (as Apply does). DataLoss marked main-side when it is corrupt.
absl::StatusOr<zk::ChangeRecord> ParseChange(const zk::Layout& layout,
                                             int64_t revision,
                                             absl::string_view data);

// The kind of node `change` writes, after checking that change.path() is
// the path its fields name. DataLoss otherwise.
absl::StatusOr<RecordKind> CheckChange(const zk::Layout& layout,
                                       const zk::ChangeRecord& change,
                                       int64_t revision);

}  // namespace replication
}  // namespace mandator
}  // namespace kess
