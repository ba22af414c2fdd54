// Creating the fixed part of the znode tree (Layout::SkeletonPaths()).
//
// Thread-compatible: call from one place at start-up (every mandator may
// call it; it is idempotent and safe to race with another caller).
#pragma once

#include <map>
#include <string>

#include "absl/strings/string_view.h"
#include "common/metrics.h"
#include "common/status.h"
#include "zk_schema/layout.h"
#include "zk_schema/schema.pb.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace zk {

// OK when `stored` (the root's SchemaInfo) has a layout version this binary
// works with, [kMinSchemaVersion, kSchemaVersion]; else FAILED_PRECONDITION
// naming the version found, the versions understood and what to upgrade.
absl::Status CheckSchemaVersion(const SchemaInfo& stored,
                                absl::string_view root);

// Reads the root node and checks its layout version (CheckSchemaVersion).
// NOT_FOUND when the root does not exist yet (no mandator created the tree);
// a refusal also counts kess_zk_layout_refused_total{role} in `registry`
// (nullptr: the default registry). For readers of the tree (distributors)
// before they follow it.
absl::Status CheckStoredSchema(ZkApi& zk, const Layout& layout,
                               absl::string_view role,
                               metrics::Registry* registry = nullptr);

// Creates every skeleton node that is missing: the root with `info`
// (schema_version forced to kSchemaVersion), the revision node with an
// empty RevisionSummary (revision 0, oldest_retained 1, retention
// `changelog_retention`), and the empty directories. Existing nodes are
// left as they are. FailedPrecondition if the root was written by a newer,
// incompatible layout version, or by one older than kMinSchemaVersion
// (CheckSchemaVersion); that refusal counts
// kess_zk_layout_refused_total{role="mandator"}. Nodes are created with `acl`, except the
// paths in `overrides` (e.g. the distributors' members directory, see
// kess_auth.h DistributorMembersAcl).
using AclOverrides = std::map<std::string, AclList>;
absl::Status EnsureSkeleton(ZkApi& zk, const Layout& layout, SchemaInfo info,
                            int changelog_retention, const AclList& acl = {},
                            const AclOverrides& overrides = {});

}  // namespace zk
}  // namespace kess
