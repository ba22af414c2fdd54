// RouteStore: the route tables in a DC's ZooKeeper, /kess/routes/<service>,
// each a RouteRecord whose StoredValue is the table as JSON
// (model/route_table.h, docs/route-table.md). Written by the main DC's
// leader through the same commit path as configs (../record_commit.h): one
// multi per change with the record, the revision compare-and-set and the
// change record (ROUTE_PUT / ROUTE_DELETE), fenced by the election node.
// The JSON carries the commit's own revision, so it is built per attempt.
// Tables above zk::kInlineValueLimit are chunked (chunked_value.h). A put
// that replaces a table the leader knows also writes the route delta from
// it into the change record (docs/route-table.md, "Deltas").
//
// Thread-safe (ZkApi's contract); meant for one writer thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include "model/route_table.h"
#include "common/status.h"
#include "mandator/routes/merger.h"
#include "zk_schema/chunked_value.h"
#include "zk_schema/layout.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace mandator {
namespace routes {

// The largest route delta a change record carries (a change record is one
// znode; it stays far below the chunk size so that it crosses a slow WAN
// link quickly). A larger change is carried by the full table alone.
inline constexpr size_t kMaxStoredRouteDeltaBytes = 64 * 1024;

class RouteStore {
 public:
  struct Options {
    zk::Layout layout;
    zk::AclList acl;        // of created nodes; empty = the client's default
    std::string writer_id;  // Meta.writer (mandator id)
    int changelog_trim_batch = 1000;
  };

  // `zk` must outlive the store.
  RouteStore(zk::ZkApi* zk, Options options);

  // Commits `table` (its revision field is replaced by the commit's) and
  // returns the revision. `fence`: see record_commit.h. `previous`, when
  // given, is the table the leader believes is published (with its
  // revision): if the record still holds that revision, the change record
  // carries the route delta from it (ChangeRecord.route_delta), unless the
  // delta is above kMaxStoredRouteDeltaBytes or not smaller than half the
  // table.
  absl::StatusOr<int64_t> Put(const RouteTable& table,
                              const std::string& fence,
                              const RouteTable* previous = nullptr);

  // Route deltas that went into change records / that were left out
  // (too large, or no matching previous table).
  int64_t deltas_written() const { return deltas_written_; }
  int64_t deltas_skipped() const { return deltas_skipped_; }
  // NotFound (nothing committed) if the service has no table.
  absl::StatusOr<int64_t> Delete(const std::string& service,
                                 const std::string& fence);

  // Every later Put/Delete commits at `revision` or above (a revision
  // jump; partition mode's heal, README.md). Only ever raised.
  void RaiseMinRevision(int64_t revision);
  int64_t min_revision() const { return min_revision_; }

  // One table (revision = the record's); nullopt if absent.
  absl::StatusOr<std::optional<RouteTable>> Get(const std::string& service);
  // Every table. A record that does not decode is skipped with a warning
  // (it is never rewritten from nothing: the merger keeps what it cannot
  // read out of its baseline, so the next change of that service replaces
  // it). The records are read in one pipelined batch (one round trip for
  // thousands of services); chunked ones are then loaded one by one.
  absl::StatusOr<RouteTables> LoadAll();

 private:
  // The table of an inline record's data; Unimplemented for a chunked one
  // (read it with Get()), DataLoss if it does not decode or verify.
  absl::StatusOr<std::optional<RouteTable>> FromInlineRecord(
      const std::string& data, const std::string& service);

  zk::ZkApi* const zk_;
  const Options options_;
  zk::ChunkedValueStore chunks_;
  std::atomic<int64_t> min_revision_{0};
  std::atomic<int64_t> deltas_written_{0};
  std::atomic<int64_t> deltas_skipped_{0};
};

}  // namespace routes
}  // namespace mandator
}  // namespace kess
