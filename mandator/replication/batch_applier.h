// Applying a run of the main DC's change records to the local ZK as few
// multis, with as few round trips to the main DC as the records allow.
//
// Across a WAN every read of the main DC costs a round trip, so the applier
// never reads main per change:
//  - a put whose change record carries the record (ChangeRecord.record,
//    zk::EmbedRecord: small records with inline values) needs no read of
//    main at all;
//  - the other puts' records are read from main in ONE pipelined batch
//    (ZkApi::GetMany), as main holds them when read;
//  - records with chunked values go through RecordSync, one at a time (they
//    are large and rare; their chunks are re-homed into the local ZK),
//    except route tables whose changes carry route deltas from the local
//    table: those are built locally (route_delta_sync.h), nothing of the
//    table crosses the WAN.
// Reads of the local ZK are pipelined too.
//
// What is written. Each path the run touches is written at most once, with
// its newest state known: the record embedded in the LAST change of the run
// that touches it (the exact state main had at that revision), or main's
// node as read now (a state main had at that revision or later), or absent
// after a delete. The write goes into the multi of the FIRST change of the
// run that touches the path, so local revisions never show a record older
// than main showed at the same revision (the semantics of record_sync.h:
// a record may show a newer state early, never an older one). A record is
// never moved backwards: if the local node already holds a newer record
// (its own `revision` field is higher, e.g. read from main "now" in an
// earlier run), it is left alone.
//
// Commits. Consecutive revisions are packed into one multi as long as it
// stays under ZooKeeper's request size: their record writes, main's change
// records byte for byte (so the local change log is main's), and ONE set of
// the local /kess/revision, compare-and-set on the version in LocalHead (a
// second replicator loses whole multis, never half of one; see
// record_sync.h). Multis are committed in revision order; a failed one
// ends the run, with `head` at the last committed revision.
//
// Thread-compatible: one BatchApplier per replicator thread.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "common/status.h"
#include "mandator/replication/record_sync.h"
#include "zk_schema/layout.h"
#include "zk_schema/schema.pb.h"
#include "zk_schema/zk_acl.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace mandator {
namespace replication {

class BatchApplier {
 public:
  struct Stats {
    int64_t applied = 0;          // revisions committed
    int64_t multis = 0;           // local multis committed
    int64_t records_written = 0;  // record nodes created, set or deleted
    int64_t main_reads = 0;       // record nodes read from main
    // Chunked route tables built from the change records' deltas and the
    // local table instead of copied from main (route_delta_sync.h).
    int64_t route_deltas = 0;
  };

  // `main`, `local` and `sync` must outlive this.
  BatchApplier(zk::ZkApi* main, zk::ZkApi* local, RecordSync* sync,
               zk::Layout layout, zk::AclList acl);

  // Applies `changes`, main's change records of the consecutive revisions
  // head->summary.revision() + 1, + 2, ..., each already checked with
  // CheckChange. On success `head` is at changes.back().revision(). On
  // failure a prefix may have been committed (`head` says up to where);
  // errors as RecordSync::Commit (Aborted or AlreadyExists: another writer
  // moved the local revision, or `head` is stale and the run's first change
  // record exists already; Unavailable after a connection loss: outcome
  // unknown, re-read the head) or marked main-side (main_side.h) when main
  // could not be read.
  // `stats` (optional) is added to. `cancelled` (optional) is asked
  // between multis: once it answers true, Apply returns Cancelled after the
  // multi in flight.
  absl::Status Apply(const std::vector<zk::ChangeRecord>& changes,
                     LocalHead* head, Stats* stats = nullptr,
                     const std::function<bool()>& cancelled = nullptr);

 private:
  zk::ZkApi* const main_;
  zk::ZkApi* const local_;
  RecordSync* const sync_;
  const zk::Layout layout_;
  const zk::AclList acl_;
};

}  // namespace replication
}  // namespace mandator
}  // namespace kess
