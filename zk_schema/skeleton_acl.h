// Checking (and, for mandators, repairing) the ACLs of the skeleton nodes
// (Layout::SkeletonPaths() from the root down).
//
// EnsureSkeleton leaves a node that already exists as it is. Whoever
// created a skeleton node first therefore chose its ACL: a node created
// before the mandators with world permissions (e.g. election/mandators)
// would let anyone who reaches ZooKeeper run the election, receive what
// followers forward to the leader, or rewrite the revision. So every
// daemon checks the ACL of every skeleton node at start:
//
//   foreign     an entry grants more than READ to an identity that is not
//               a kess user (world:anyone, an ip, another digest user, the
//               user "mandator" with another password), or the mandators'
//               user has no ADMIN permission on the node: the node was not
//               created by kess's mandators. Refused; never repaired
//               automatically (docs/operations.md, "ZooKeeper ACLs of the
//               tree").
//   repairable  only kess users and read-only entries, but not exactly the
//               expected ACL (e.g. the reader's create+delete on
//               members/distributors that releases before this one set,
//               or an extra world-read entry). A mandator sets the
//               expected ACL (it holds ADMIN); a distributor logs it.
//
// ZooKeeper answers getACL to a caller without ADMIN on the node with every
// digest id masked ("mandator:x"), so a distributor (which holds only the
// reader password) judges digest entries by their user name; mandators see
// and compare the full ids.
//
// Thread-safe (ZkApi's contract); holds no state.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/metrics.h"
#include "common/status.h"
#include "zk_schema/kess_auth.h"
#include "zk_schema/layout.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace zk {

// What the skeleton's ACLs must be.
struct SkeletonAclPolicy {
  // The digest ids (DigestId) of the users "mandator" and "reader". Empty
  // for a caller that does not hold the mandator password (a distributor):
  // digest entries are then matched by user name alone, and no exact
  // expected ACL is known (nothing is repairable, only foreign entries
  // count).
  std::string mandator_id;
  std::string reader_id;
  // The reader's permissions on every skeleton node, except the nodes
  // named in `reader_perms_by_path`.
  int32_t reader_perms = kPermRead;
  std::map<std::string, int32_t> reader_perms_by_path;

  // The reader's permissions on `path`.
  int32_t ReaderPermsOn(const std::string& path) const;
  // The exact ACL `path` must have: mandator all, reader ReaderPermsOn().
  // Empty when mandator_id is empty.
  AclList ExpectedAcl(const std::string& path) const;
};

// The mandators' policy: full ids from `auth`; reader READ everywhere, and
// READ|CREATE on members/distributors (DistributorMembersAcl).
absl::StatusOr<SkeletonAclPolicy> MandatorSkeletonAclPolicy(
    const KessAuth& auth, const Layout& layout);
// A reader's policy (distributors): user names only, reader permissions as
// above.
SkeletonAclPolicy ReaderSkeletonAclPolicy(const Layout& layout);

enum class AclFinding { kExpected, kRepairable, kForeign };

struct NodeAclAudit {
  std::string path;
  AclList found;
  AclFinding finding = AclFinding::kExpected;
  std::string why;  // what is wrong, for logs; empty when kExpected
};

// Judges one node's ACL (`found`, as getACL answered) under `policy`.
NodeAclAudit JudgeNodeAcl(const std::string& path, const AclList& found,
                          const SkeletonAclPolicy& policy);

// Reads the ACL of every skeleton node from the root down (nodes that do
// not exist are skipped) and returns those that are not kExpected.
absl::StatusOr<std::vector<NodeAclAudit>> AuditSkeletonAcls(
    ZkApi& zk, const Layout& layout, const SkeletonAclPolicy& policy);

// "[world:anyone:cdrwa, digest:mandator:x:cdrwa]".
std::string AclListToString(const AclList& acl);

// What EnforceSkeletonAcls does with a foreign node: refuse (always, but
// for a mandator under --insecure_dev_mode), or count and log it as an
// ERROR and go on.
enum class OnForeignAcl { kRefuse, kWarn };

// The start-up check. Audits the skeleton; with any foreign node:
// FAILED_PRECONDITION naming every such node, its ACL and why, and how to
// repair (docs/operations.md), and counts
// kess_zk_skeleton_acl_refused_total{role} (kWarn: counted and logged the
// same, OK returned, nothing repaired). Repairable nodes: with
// `repair` (mandators), sets each one's expected ACL, logs a WARNING with
// the ACL before and after, counts kess_zk_skeleton_acl_repaired_total
// {role} per node, and audits again (any node still not as expected is
// then refused); without `repair` they are logged and accepted.
// `registry` nullptr: the default registry.
absl::Status EnforceSkeletonAcls(
    ZkApi& zk, const Layout& layout, const SkeletonAclPolicy& policy,
    absl::string_view role, bool repair, metrics::Registry* registry = nullptr,
    OnForeignAcl on_foreign = OnForeignAcl::kRefuse);

}  // namespace zk
}  // namespace kess
