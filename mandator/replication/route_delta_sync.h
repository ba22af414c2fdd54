// Route tables from route deltas in a slave DC: a route put whose change
// record carries the delta from the table the local record holds
// (ChangeRecord.route_delta, docs/route-table.md "Deltas") is applied to
// that local table instead of copying the whole table from the main DC
// across the WAN. The result is checked against the CRC-32 main wrote for
// the table (ChangeRecord.value_crc32) and stored as main stores it (the
// same RouteRecord fields, the value inline or in a fresh local chunk set).
//
// Thread-compatible: a function of its arguments; one call per replicator
// thread at a time.
#pragma once

#include <string>
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

// The write that moves the local route record at `path` through `changes`
// (main's ROUTE_PUT change records of that path, in revision order): reads
// the local record, applies the deltas of the changes newer than it (the
// first must start at its revision), checks the last CRC-32, prepares the
// local value and a version-checked Set. `changed` is false when the local
// record is already at the last change or newer. FailedPrecondition when
// the deltas do not fit the local record (none, a gap, no local record, a
// change without a delta); DataLoss when the result's CRC-32 differs. The
// caller then copies the record from main.
absl::StatusOr<RecordSync::Plan> PlanRouteFromDeltas(
    zk::ZkApi* local, const zk::Layout& layout, const zk::AclList& acl,
    const std::string& path,
    const std::vector<const zk::ChangeRecord*>& changes);

}  // namespace replication
}  // namespace mandator
}  // namespace kess
