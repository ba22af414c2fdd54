#include "zk_schema/skeleton_acl.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"

namespace kess {
namespace zk {
namespace {

constexpr absl::string_view kRepairHint =
    "repair the node's ACL or remove the tree and let the mandators create "
    "it (docs/operations.md, \"ZooKeeper ACLs of the tree\")";

std::string UserOf(const Acl& a) { return a.id.substr(0, a.id.find(':')); }

bool Masked(const Acl& a) { return absl::EndsWith(a.id, ":x"); }

bool SameAcl(AclList a, AclList b) {
  auto order = [](const Acl& x, const Acl& y) {
    return std::tie(x.scheme, x.id, x.perms) <
           std::tie(y.scheme, y.id, y.perms);
  };
  std::sort(a.begin(), a.end(), order);
  std::sort(b.begin(), b.end(), order);
  return a == b;
}

// The skeleton from the root down (the parents of a non-default root are
// not kess's: their ACL protects nothing below the root).
std::vector<std::string> AuditedPaths(const Layout& layout) {
  std::vector<std::string> out;
  for (const std::string& path : layout.SkeletonPaths()) {
    if (path == layout.root() ||
        absl::StartsWith(path, absl::StrCat(layout.root(), "/"))) {
      out.push_back(path);
    }
  }
  return out;
}

metrics::Counter* Count(metrics::Registry* registry, absl::string_view name,
                        absl::string_view help, absl::string_view role) {
  metrics::Registry& r =
      registry != nullptr ? *registry : metrics::Registry::Default();
  return r.GetCounter(std::string(name), std::string(help),
                      {{"role", std::string(role)}});
}

}  // namespace

int32_t SkeletonAclPolicy::ReaderPermsOn(const std::string& path) const {
  auto it = reader_perms_by_path.find(path);
  return it == reader_perms_by_path.end() ? reader_perms : it->second;
}

AclList SkeletonAclPolicy::ExpectedAcl(const std::string& path) const {
  if (mandator_id.empty()) return {};
  return {Acl{kPermAll, "digest", mandator_id},
          Acl{ReaderPermsOn(path), "digest", reader_id}};
}

absl::StatusOr<SkeletonAclPolicy> MandatorSkeletonAclPolicy(
    const KessAuth& auth, const Layout& layout) {
  SkeletonAclPolicy policy = ReaderSkeletonAclPolicy(layout);
  KESS_ASSIGN_OR_RETURN(policy.mandator_id,
                        DigestId(auth.mandator.user, auth.mandator.password));
  KESS_ASSIGN_OR_RETURN(policy.reader_id,
                        DigestId(auth.reader.user, auth.reader.password));
  return policy;
}

SkeletonAclPolicy ReaderSkeletonAclPolicy(const Layout& layout) {
  SkeletonAclPolicy policy;
  policy.reader_perms = kPermRead;
  absl::StatusOr<std::string> members = layout.MembersDir(DISTRIBUTOR);
  if (members.ok()) {
    policy.reader_perms_by_path[*members] = kDistributorMembersReaderPerms;
  }
  return policy;
}

NodeAclAudit JudgeNodeAcl(const std::string& path, const AclList& found,
                          const SkeletonAclPolicy& policy) {
  NodeAclAudit audit;
  audit.path = path;
  audit.found = found;
  const bool full = !policy.mandator_id.empty();
  const int32_t reader_perms = policy.ReaderPermsOn(path);
  std::vector<std::string> foreign;
  std::vector<std::string> repairable;
  bool mandator_admin = false;
  for (const Acl& a : found) {
    const bool writes = (a.perms & ~kPermRead) != 0;
    if (a.scheme == "digest") {
      const std::string user = UserOf(a);
      const bool by_name = !full || Masked(a);
      const bool is_mandator =
          by_name ? user == kMandatorUser : a.id == policy.mandator_id;
      const bool is_reader =
          by_name ? user == kReaderUser : a.id == policy.reader_id;
      if (is_mandator) {
        if ((a.perms & kPermAdmin) != 0 && !Masked(a)) mandator_admin = true;
        continue;
      }
      if (is_reader) {
        if ((a.perms & ~reader_perms) != 0) {
          repairable.push_back(absl::StrCat(
              AclToString(a), " grants the reader more than expected"));
        }
        continue;
      }
    }
    if (writes) {
      foreign.push_back(absl::StrCat(AclToString(a),
                                     " lets an identity that is not a kess "
                                     "user write"));
    } else {
      repairable.push_back(
          absl::StrCat(AclToString(a), " is not a kess user's entry"));
    }
  }
  if (full && !mandator_admin) {
    foreign.push_back(
        "the mandators' user has no ADMIN permission on it (the node was not "
        "created by kess's mandators)");
  }
  if (full && foreign.empty() && repairable.empty() &&
      !SameAcl(found, policy.ExpectedAcl(path))) {
    repairable.push_back(absl::StrCat(
        "expected ", AclListToString(policy.ExpectedAcl(path))));
  }
  if (!foreign.empty()) {
    audit.finding = AclFinding::kForeign;
    audit.why = absl::StrJoin(foreign, "; ");
  } else if (!repairable.empty()) {
    audit.finding = AclFinding::kRepairable;
    audit.why = absl::StrJoin(repairable, "; ");
  }
  return audit;
}

absl::StatusOr<std::vector<NodeAclAudit>> AuditSkeletonAcls(
    ZkApi& zk, const Layout& layout, const SkeletonAclPolicy& policy) {
  std::vector<NodeAclAudit> out;
  for (const std::string& path : AuditedPaths(layout)) {
    absl::StatusOr<AclList> acl = zk.GetAcl(path);
    if (absl::IsNotFound(acl.status())) continue;
    if (!acl.ok()) return acl.status();
    NodeAclAudit audit = JudgeNodeAcl(path, *acl, policy);
    if (audit.finding != AclFinding::kExpected) out.push_back(std::move(audit));
  }
  return out;
}

std::string AclListToString(const AclList& acl) {
  return absl::StrCat(
      "[",
      absl::StrJoin(acl, ", ",
                    [](std::string* out, const Acl& a) {
                      absl::StrAppend(out, AclToString(a));
                    }),
      "]");
}

absl::Status EnforceSkeletonAcls(ZkApi& zk, const Layout& layout,
                                 const SkeletonAclPolicy& policy,
                                 absl::string_view role, bool repair,
                                 metrics::Registry* registry,
                                 OnForeignAcl on_foreign) {
  KESS_ASSIGN_OR_RETURN(std::vector<NodeAclAudit> audits,
                        AuditSkeletonAcls(zk, layout, policy));
  std::vector<std::string> refused;
  for (const NodeAclAudit& audit : audits) {
    if (audit.finding == AclFinding::kForeign) {
      refused.push_back(absl::StrCat(audit.path, " has ACL ",
                                     AclListToString(audit.found), ": ",
                                     audit.why));
    }
  }
  if (refused.empty() && repair) {
    for (const NodeAclAudit& audit : audits) {
      const AclList expected = policy.ExpectedAcl(audit.path);
      if (expected.empty()) continue;
      KESS_RETURN_IF_ERROR(zk.SetAcl(audit.path, expected));
      LOG(WARNING) << role << ": repaired the ACL of ZooKeeper node "
                   << audit.path << ": was " << AclListToString(audit.found)
                   << " (" << audit.why << "), now "
                   << AclListToString(expected);
      Count(registry, "kess_zk_skeleton_acl_repaired_total",
            "Skeleton nodes whose ACL a mandator set to the expected one at "
            "start (zk_schema/skeleton_acl.h).",
            role)
          ->Increment();
    }
    if (!audits.empty()) {
      KESS_ASSIGN_OR_RETURN(audits, AuditSkeletonAcls(zk, layout, policy));
      for (const NodeAclAudit& audit : audits) {
        refused.push_back(absl::StrCat(
            audit.path, " still has ACL ", AclListToString(audit.found),
            " after the repair: ", audit.why));
      }
    }
  } else if (refused.empty()) {
    for (const NodeAclAudit& audit : audits) {
      LOG(WARNING) << role << ": ZooKeeper node " << audit.path
                   << " has ACL " << AclListToString(audit.found) << " ("
                   << audit.why << "); a mandator repairs it at its start";
    }
  }
  if (refused.empty()) return absl::OkStatus();
  Count(registry, "kess_zk_skeleton_acl_refused_total",
        "Start-ups that found a skeleton node whose ACL lets a non-kess "
        "identity write it (zk_schema/skeleton_acl.h); refused but under "
        "--insecure_dev_mode.",
        role)
      ->Increment();
  if (on_foreign == OnForeignAcl::kWarn) {
    LOG(ERROR) << role << ": --insecure_dev_mode: following the ZooKeeper "
               << "tree " << layout.root() << " although "
               << absl::StrJoin(refused, "; ") << "; " << kRepairHint;
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "refusing the ZooKeeper tree ", layout.root(), ": ",
      absl::StrJoin(refused, "; "), "; ", kRepairHint));
}

}  // namespace zk
}  // namespace kess
