// Route deltas in the distributor: building a route table's next version
// from the deltas in the change records (no read of the whole table from
// ZooKeeper), and choosing what a connection that takes deltas is sent.
//
// A route Item (resource.h) carries, besides the whole table (`wire`),
// the same version as deltas against the versions before it
// (Item::deltas, newest base first, at most kMaxDeltaBases and together at
// most half the table's size): an agent that holds one of those bases gets
// the delta, any other gets the table (docs/route-table.md, "Deltas").
//
// Thread-safety: pure functions on immutable Items.
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "distributor/resource.h"
#include "zk_schema/schema.pb.h"

namespace kess {
namespace distributor {

// Delta versions an Item keeps (bases it can serve a delta from).
inline constexpr size_t kMaxDeltaBases = 8;

// The version of route table `held` after `changes`: the ROUTE_PUT change
// records of its key newer than held, in revision order, each with a route
// delta (ChangeRecord.route_delta) whose base is the revision before it.
// Applies them to held's value and checks the CRC-32 the last change names.
// The result's `deltas` hold the composed delta from held and from each of
// held's own bases (bounded as above). Returns held itself when no change
// is newer. FailedPrecondition when held is absent, a change is a delete or
// has no delta, or the chain does not start at held's revision (the caller
// then reads the record); DataLoss when the CRC-32 does not match;
// InvalidArgument for a malformed delta.
absl::StatusOr<ItemPtr> ApplyRouteChanges(
    const ItemPtr& held, const std::vector<zk::ChangeRecord>& changes);

// What a connection that takes deltas is sent for `item` when it holds
// revision `have`: the delta version whose base is `have`, else `item`.
ItemPtr DeltaOrWhole(const ItemPtr& item, int64_t have);

// The delta from the version before (what a subscriber that got every
// push holds), or nullptr.
ItemPtr NewestDelta(const Item& item);

}  // namespace distributor
}  // namespace kess
