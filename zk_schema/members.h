// Reading the member lists of a DC (/kess/members/{mandators,distributors}):
// who is up and where it listens. Used by the main leader (other DCs'
// mandators, every route cycle) and the admin UI (every DC), so often across
// a WAN: the member nodes are read in one pipelined batch, not one round
// trip each.
//
// Thread-safe (ZkApi's contract); holds no state.
#pragma once

#include <vector>

#include "common/status.h"
#include "zk_schema/layout.h"
#include "zk_schema/schema.pb.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace zk {

// The members of `role` (MANDATOR or DISTRIBUTOR), in the order of their
// node names. A directory that does not exist is an empty list; a member
// that left between the listing and the read, or whose node does not
// decode, is left out.
absl::StatusOr<std::vector<MemberInfo>> ListMembers(ZkApi& zk,
                                                    const Layout& layout,
                                                    MemberRole role);

}  // namespace zk
}  // namespace kess
