#include "zk_schema/skeleton.h"

#include "absl/strings/str_cat.h"
#include "zk_schema/codec.h"
#include "zk_schema/revision_log.h"

namespace kess {
namespace zk {
namespace {

void CountRefusal(metrics::Registry* registry, absl::string_view role) {
  metrics::Registry& r =
      registry != nullptr ? *registry : metrics::Registry::Default();
  r.GetCounter("kess_zk_layout_refused_total",
               "Start-ups that refused the ZooKeeper tree for its layout "
               "version (zk_schema/layout.h kSchemaVersion).",
               {{"role", std::string(role)}})
      ->Increment();
}

}  // namespace

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
  absl::Status version = CheckSchemaVersion(stored, layout.root());
  if (!version.ok()) CountRefusal(nullptr, "mandator");
  return version;
}

absl::Status CheckSchemaVersion(const SchemaInfo& stored,
                                absl::string_view root) {
  const int found = stored.schema_version();
  if (found >= kMinSchemaVersion && found <= kSchemaVersion) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      root, " holds ZooKeeper layout version ", found,
      "; this binary understands versions ", kMinSchemaVersion, " to ",
      kSchemaVersion, ": ",
      found > kSchemaVersion
          ? "upgrade this binary (newer mandators wrote the tree)"
          : "the tree is older than this binary supports; upgrade through "
            "the releases in between (docs/operations.md, Upgrades and "
            "compatibility)"));
}

absl::Status CheckStoredSchema(ZkApi& zk, const Layout& layout,
                               absl::string_view role,
                               metrics::Registry* registry) {
  KESS_ASSIGN_OR_RETURN(GetResult root, zk.Get(layout.root()));
  KESS_ASSIGN_OR_RETURN(SchemaInfo stored,
                        DecodeAs<SchemaInfo>(root.data, layout.root()));
  absl::Status version = CheckSchemaVersion(stored, layout.root());
  if (!version.ok()) CountRefusal(registry, role);
  return version;
}

}  // namespace zk
}  // namespace kess
