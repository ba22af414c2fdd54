// The overlay state of a slave DC in its own ZooKeeper, /kess/overlay
// (zk_schema OverlayState; ../routes/README.md, "Partition mode").
//
// Written only by the slave DC's leader, each write fenced by its election
// node (one multi: check the fence, create/set/delete the node), so a
// deposed leader cannot change it. Read by a new slave leader (to resume
// partition mode or the heal) and by the main DC's leader (to heal).
//
// Thread-safe (ZkApi's contract); holds no state.
#pragma once

#include <optional>
#include <string>

#include "common/status.h"
#include "zk_schema/layout.h"
#include "zk_schema/schema.pb.h"
#include "zk_schema/zk_acl.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace mandator {
namespace partition {

// nullopt when there is no overlay node (normal replication).
absl::StatusOr<std::optional<zk::OverlayState>> ReadOverlay(
    zk::ZkApi& zk, const zk::Layout& layout);

// Creates or replaces the node. `fence`: the election node ("" = none).
absl::Status WriteOverlay(zk::ZkApi& zk, const zk::Layout& layout,
                          const zk::OverlayState& state,
                          const std::string& fence, const zk::AclList& acl);

// Deletes the node (OK if absent).
absl::Status ClearOverlay(zk::ZkApi& zk, const zk::Layout& layout,
                          const std::string& fence);

}  // namespace partition
}  // namespace mandator
}  // namespace kess
