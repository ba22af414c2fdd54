// Making one node of the local ZK equal to the main DC's, and the one way
// every replication write reaches the local ZK.
//
// Copy semantics. A record is copied as it is in main WHEN READ — which may
// be newer than the change that named it — with its own `revision` field
// untouched. Inline values are copied byte for byte. A chunked value is
// loaded from main's chunks (verified) and written with the local ZK's own
// ChunkedValueStore: as a fresh local chunk set (local chunk-set names
// differ from main's) or inline when it fits (a value main stored with an
// older, larger limit; replication does not copy history). So the local record
// equals main's except for the value's body. "Equal" therefore means: equal
// after blanking the body (the value's size and CRC-32 stay in the comparison,
// as do the record's revision, version and meta). A copy of a record that is
// already equal writes nothing, so replays are idempotent. Each local chunk set
// belongs to exactly one local record.
//
// Overlap safety. Every local write is ONE multi that also sets the local
// /kess/revision compare-and-set on the data version in LocalHead: with a
// change record (AddCommitOps, the revision moves to the main DC's number)
// or, for full-resync writes, the unchanged summary (its data version still
// moves). Two replicators (an old and a new slave leader) are thereby
// serialized: whichever commits first makes every multi the other built on
// the old version fail with Aborted, and nothing of that multi is applied.
// Record writes are version-checked too (Set/Delete on the version read,
// Create fails if the node exists).
//
// Chunk sets. The chunks of a copy are written before the multi (Prepare);
// after a successful multi the replaced local value's chunk set is deleted,
// after a failed one the prepared chunk set is. When the outcome is unknown
// (connection loss) the record is re-read to decide; if that fails too the
// chunk set is left for the orphan sweeper (ChunkSetInfo.owner_path).
//
// Thread-compatible: one RecordSync per replicator thread.
#pragma once

#include <string>

#include "common/status.h"
#include "zk_schema/chunked_value.h"
#include "zk_schema/layout.h"
#include "zk_schema/schema.pb.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace mandator {
namespace replication {

// What a replicated node holds.
enum class RecordKind {
  kNamespace,  // NamespaceInfo, /configs/<ns>
  kConfig,     // ConfigRecord, /configs/<ns>/<key>
  kRoute,      // RouteRecord, /routes/<service>
  kGray,       // GrayRecord, /gray/<ns>/<key> (parent created empty)
  kAcl,        // ReadAclRecord, /acls/{namespaces,services}/<name> (no value)
};

// The local /kess/revision as last read or written by this replicator.
struct LocalHead {
  zk::RevisionSummary summary;
  int version = 0;  // data version of the node: the CAS of the next write
};
absl::StatusOr<LocalHead> ReadLocalHead(zk::ZkApi& local,
                                        const zk::Layout& layout);

// The value a record of `kind` stores (empty and inline for namespaces);
// DataLoss if `record` does not decode.
absl::StatusOr<zk::StoredValue> RecordValue(RecordKind kind,
                                            absl::string_view record,
                                            absl::string_view where);

// The record's own `revision` field (the main DC revision that wrote it); 0
// for namespaces. DataLoss if `record` does not decode.
absl::StatusOr<int64_t> RecordRevision(RecordKind kind,
                                       absl::string_view record,
                                       absl::string_view where);

// The record bytes with the value's body (inline bytes or chunk manifest)
// blanked, size and CRC-32 kept: equal for a main record and its local copy.
// DataLoss if `record` does not decode.
absl::StatusOr<std::string> NormalizedRecord(RecordKind kind,
                                             absl::string_view record,
                                             absl::string_view where);

class RecordSync {
 public:
  // What it takes to make one local node equal to main's.
  struct Plan {
    RecordKind kind = RecordKind::kConfig;
    std::string path;
    bool changed = false;      // false: already equal, nothing to write
    zk::MultiOps ops;          // create/set/delete (and a namespace create)
    zk::StoredValue prepared;  // local chunks written for the copy
    zk::StoredValue replaced;  // the local value the copy replaces
  };

  // `main` and `local` must outlive this. `acl` for every local create.
  RecordSync(zk::ZkApi* main, zk::ZkApi* local, zk::Layout layout,
             zk::AclList acl);

  // Reads `path` in both DCs and plans the write that makes local equal to
  // main (a delete if main has no such node). For a config whose local
  // namespace node is missing, the plan also creates it (copied from main).
  // May write a local chunk set (Plan::prepared). Errors from main are
  // marked (main_side.h); DataLoss if main's record is corrupt.
  absl::StatusOr<Plan> PlanCopy(RecordKind kind, const std::string& path);

  // Runs plan.ops plus the head compare-and-set as one multi: with
  // `change` (non-null) AddCommitOps moves the local revision to
  // change->revision(); without, the summary is rewritten as it is. On
  // success `head` is the new local head. Aborted when another writer moved
  // the local revision first (re-read the head and go on); on any failure
  // nothing of the multi was applied, except possibly after a connection
  // loss (Unavailable), after which the head must be re-read.
  absl::Status Commit(Plan plan, const zk::ChangeRecord* change,
                      LocalHead* head);

  // Throws away a plan that will not be committed (its prepared chunks).
  void Abandon(const Plan& plan);

  // Deletes the local chunk set of `value` (nothing for an inline value):
  // after a commit replaced the record that referenced it.
  absl::Status DiscardLocal(const zk::StoredValue& value);

  // After a multi whose outcome is unknown (connection loss) that wrote
  // `path`: re-reads it and deletes whichever of the two chunk sets
  // (`prepared` for the new value, `replaced` for the old) it does not
  // reference. If it cannot be read, both are left to the sweeper.
  void SettleUnknownOutcome(RecordKind kind, const std::string& path,
                            const zk::StoredValue& prepared,
                            const zk::StoredValue& replaced);

 private:
  // Adds the create of the local namespace node `ns_path`, copied from
  // main, if it is missing locally.
  absl::Status AddNamespaceCreate(const std::string& ns_path,
                                  zk::MultiOps* ops);

  zk::ZkApi* const main_;
  zk::ZkApi* const local_;
  const zk::Layout layout_;
  const zk::AclList acl_;
  zk::ChunkedValueStore main_store_;
  zk::ChunkedValueStore local_store_;
};

}  // namespace replication
}  // namespace mandator
}  // namespace kess
