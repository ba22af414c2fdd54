// TestLeader (testonly): commits ROUTE changes to a ZooKeeper exactly as the
// main DC's leader will (zk_schema/README.md, "Revision and change-log
// protocol"), so that followers — slave-DC replication, distributors — can
// be tested and benchmarked without the mandator. PutConfig/DeleteConfig
// commit configs the same way, without the history copy that only the admin
// API reads (the real writer is mandator/core/config_store.h).
//   1. the value goes through ChunkedValueStore::Prepare (chunked above
//      kInlineValueLimit),
//   2. ONE multi: record write (version-checked) + AddCommitOps (revision
//      compare-and-set + change record),
//   3. the replaced value's chunk set is discarded after the flip.
// A lost compare-and-set is retried (bounded).
//
// Thread-compatible: one TestLeader per writer thread; several TestLeaders
// on one tree race like real leaders (the CAS decides).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/strings/string_view.h"
#include "common/status.h"
#include "model/route_table.h"
#include "zk_schema/chunked_value.h"
#include "zk_schema/layout.h"
#include "zk_schema/schema.pb.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace zk {
namespace testing {

class TestLeader {
 public:
  // `zk` must outlive the TestLeader. The skeleton must exist.
  TestLeader(ZkApi* zk, Layout layout, AclList acl = {},
             std::string writer = "test-leader");

  // Each returns the revision it committed. PutRoute stores `table` as
  // route-table JSON (model/route_table.h) with its revision field set to
  // the next revision as read before committing (informational; the
  // record's revision is authoritative).
  absl::StatusOr<int64_t> PutRoute(kess::RouteTable table);
  // NotFound if there is no such route record (nothing committed).
  absl::StatusOr<int64_t> DeleteRoute(absl::string_view service);

  // A config record (revision = the commit's, version = previous + 1) with
  // `value`; creates the namespace node if it is missing.
  absl::StatusOr<int64_t> PutConfig(
      absl::string_view ns, absl::string_view key, absl::string_view value,
      absl::string_view content_type = "text/plain");
  // NotFound if there is no such config (nothing committed).
  absl::StatusOr<int64_t> DeleteConfig(absl::string_view ns,
                                       absl::string_view key);

  // Deletes every change record below the summary's oldest_retained.
  absl::StatusOr<int> Trim();

  static constexpr int kCommitAttempts = 5;

 private:
  // Commits `change` for the record at change.path(). `value` is null for
  // deletes; `make_record` builds the record bytes from the new revision,
  // the old record (empty if none) and the prepared value; `value_of`
  // reads the StoredValue of a record of that kind (to collect the
  // replaced value's chunks).
  using RecordMaker = std::function<absl::StatusOr<std::string>(
      int64_t revision, absl::string_view old_record,
      const StoredValue& value)>;
  using ValueOf = std::function<absl::StatusOr<StoredValue>(
      absl::string_view record, absl::string_view where)>;
  absl::StatusOr<int64_t> Commit(ChangeRecord change,
                                 const absl::string_view* value,
                                 const RecordMaker& make_record,
                                 const ValueOf& value_of);

  ZkApi* const zk_;
  const Layout layout_;
  const AclList acl_;
  const std::string writer_;
  ChunkedValueStore store_;
};

}  // namespace testing
}  // namespace zk
}  // namespace kess
