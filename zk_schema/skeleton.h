// Creating the fixed part of the znode tree (Layout::SkeletonPaths()).
//
// Thread-compatible: call from one place at start-up (every mandator may
// call it; it is idempotent and safe to race with another caller).
#pragma once

#include <map>
#include <string>

#include "common/status.h"
#include "zk_schema/layout.h"
#include "zk_schema/schema.pb.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace zk {

// Creates every skeleton node that is missing: the root with `info`
// (schema_version forced to kSchemaVersion), the revision node with an
// empty RevisionSummary (revision 0, oldest_retained 1, retention
// `changelog_retention`), and the empty directories. Existing nodes are
// left as they are. FailedPrecondition if the root was written by a newer,
// incompatible schema version. Nodes are created with `acl`, except the
// paths in `overrides` (e.g. the distributors' members directory, see
// kess_auth.h DistributorMembersAcl).
using AclOverrides = std::map<std::string, AclList>;
absl::Status EnsureSkeleton(ZkApi& zk, const Layout& layout, SchemaInfo info,
                            int changelog_retention, const AclList& acl = {},
                            const AclOverrides& overrides = {});

}  // namespace zk
}  // namespace kess
