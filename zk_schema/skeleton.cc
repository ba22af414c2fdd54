#include "zk_schema/skeleton.h"

#include "absl/strings/str_cat.h"
#include "zk_schema/codec.h"
#include "zk_schema/revision_log.h"

namespace kess {
namespace zk {

absl::Status EnsureSkeleton(ZkApi& zk, const Layout& layout, SchemaInfo info,
                            int changelog_retention, const AclList& acl,
                            const AclOverrides& overrides) {
  if (changelog_retention < 1 || changelog_retention > kMaxChangelogRetention) {
    return absl::InvalidArgumentError(
        absl::StrCat("changelog retention ", changelog_retention,
                     " is outside [1, ", kMaxChangelogRetention, "]"));
  }
  info.set_schema_version(kSchemaVersion);
  RevisionSummary summary;
  summary.set_revision(0);
  summary.set_oldest_retained(1);
  summary.set_retention(changelog_retention);
  *summary.mutable_meta() = info.meta();
  for (const std::string& path : layout.SkeletonPaths()) {
    std::string data;
    if (path == layout.root()) data = Encode(info);
    if (path == layout.RevisionPath()) data = Encode(summary);
    auto override_acl = overrides.find(path);
    const AclList& node_acl =
        override_acl == overrides.end() ? acl : override_acl->second;
    absl::Status created =
        zk.Create(path, data, CreateMode::kPersistent, node_acl).status();
    if (!created.ok() && !absl::IsAlreadyExists(created)) return created;
  }
  KESS_ASSIGN_OR_RETURN(GetResult root, zk.Get(layout.root()));
  KESS_ASSIGN_OR_RETURN(SchemaInfo stored,
                        DecodeAs<SchemaInfo>(root.data, layout.root()));
  if (stored.schema_version() > kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        layout.root(), " holds schema version ", stored.schema_version(),
        "; this binary understands up to ", kSchemaVersion));
  }
  return absl::OkStatus();
}

}  // namespace zk
}  // namespace kess
