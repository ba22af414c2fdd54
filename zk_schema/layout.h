// The znode layout of kess: every path kess reads or writes in ZooKeeper is
// computed here, and nowhere else. zk_schema/README.md draws the tree.
//
//   /kess                          SchemaInfo
//   /kess/revision                 RevisionSummary (global revision)
//   /kess/changelog/<rev19>        ChangeRecord, last `retention` revisions
//   /kess/configs/<ns>             NamespaceInfo
//   /kess/configs/<ns>/<key>       ConfigRecord
//   /kess/configs_history/<ns>/<key>/<rev19>   ConfigRecord (last N)
//   /kess/routes/<service>         RouteRecord
//   /kess/members/mandators/<id>   MemberInfo (ephemeral)
//   /kess/members/distributors/<id> MemberInfo (ephemeral)
//   /kess/election/mandators/n_<seq10>  MemberInfo (ephemeral sequential)
//   /kess/chunks/cs-<seq10>        ChunkSetInfo
//   /kess/chunks/cs-<seq10>/<idx5> Chunk
//   /kess/gray/<ns>                (empty) namespaces with gray releases
//   /kess/gray/<ns>/<key>          GrayRecord, while a gray release exists
//   /kess/acls/namespaces/<ns>     ReadAclRecord: who may read a namespace
//   /kess/acls/services/<service>  ReadAclRecord: who may read a route table
//
// <rev19> is the revision as 19 zero-padded decimal digits, so that the
// lexicographic order of children equals the numeric order.
//
// Every name that comes from outside (namespace, key, service, member id) is
// checked with model/names.h before it becomes part of a path, so no path
// can leave its subtree.
//
// Thread-safe: immutable after construction; pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/status.h"
#include "zk_schema/schema.pb.h"

namespace kess {
namespace zk {

// The layout version: SchemaInfo.schema_version of the root node. Bumped
// only when the meaning of stored data changes incompatibly (added fields
// and added nodes do not bump it). A binary works on a tree whose version
// is in [kMinSchemaVersion, kSchemaVersion] (skeleton.h CheckSchemaVersion)
// and refuses any other with a clear error. Version 1 is every tree written
// by kess up to now.
inline constexpr int kSchemaVersion = 1;
inline constexpr int kMinSchemaVersion = 1;
inline constexpr absl::string_view kDefaultRoot = "/kess";
// Digits of a revision in a node name (int64 max has 19 digits).
inline constexpr int kRevisionDigits = 19;
inline constexpr absl::string_view kElectionNodePrefix = "n_";
inline constexpr absl::string_view kChunkSetPrefix = "cs-";

class Layout {
 public:
  // The production layout under /kess.
  Layout();
  // A layout under another root (tests isolate themselves with their own).
  // `root` is an absolute path of one or more segments, each a valid
  // namespace name, e.g. "/kess" or "/test/kess".
  static absl::StatusOr<Layout> Create(absl::string_view root);

  const std::string& root() const { return root_; }

  // The global revision node.
  std::string RevisionPath() const;

  std::string ChangelogDir() const;
  // Slave DCs: partition mode's state (OverlayState), absent when unused.
  std::string OverlayPath() const;
  // REQUIRES: revision >= 0.
  std::string ChangelogPath(int64_t revision) const;

  std::string ConfigsDir() const;
  absl::StatusOr<std::string> NamespacePath(absl::string_view ns) const;
  absl::StatusOr<std::string> ConfigPath(absl::string_view ns,
                                         absl::string_view key) const;

  std::string HistoryDir() const;
  absl::StatusOr<std::string> HistoryNamespaceDir(absl::string_view ns) const;
  absl::StatusOr<std::string> HistoryKeyDir(absl::string_view ns,
                                            absl::string_view key) const;
  // REQUIRES: revision >= 0.
  absl::StatusOr<std::string> HistoryPath(absl::string_view ns,
                                          absl::string_view key,
                                          int64_t revision) const;

  std::string RoutesDir() const;
  absl::StatusOr<std::string> RoutePath(absl::string_view service) const;

  // role must be MANDATOR or DISTRIBUTOR.
  absl::StatusOr<std::string> MembersDir(MemberRole role) const;
  absl::StatusOr<std::string> MemberPath(MemberRole role,
                                         absl::string_view id) const;

  // Leader election of the DC's mandators: create an ephemeral sequential
  // node at ElectionNodePrefix(); the lowest sequence number leads; each
  // candidate watches only its predecessor.
  std::string ElectionDir() const;
  std::string ElectionNodePrefix() const;  // ElectionDir() + "/n_"

  std::string ChunksDir() const;
  // Create a persistent sequential node here to get a fresh chunk set.
  std::string ChunkSetPrefix() const;  // ChunksDir() + "/cs-"
  // `chunk_set` is a child name of ChunksDir() ("cs-0000000007").
  absl::StatusOr<std::string> ChunkSetPath(absl::string_view chunk_set) const;
  absl::StatusOr<std::string> ChunkPath(absl::string_view chunk_set,
                                        uint32_t index) const;

  std::string GrayDir() const;
  absl::StatusOr<std::string> GrayNamespaceDir(absl::string_view ns) const;
  absl::StatusOr<std::string> GrayPath(absl::string_view ns,
                                       absl::string_view key) const;

  // Read ACLs (read_acl.h): one node per namespace or service that has one.
  std::string AclsDir() const;
  std::string NamespaceAclsDir() const;
  std::string ServiceAclsDir() const;
  absl::StatusOr<std::string> NamespaceAclPath(absl::string_view ns) const;
  absl::StatusOr<std::string> ServiceAclPath(absl::string_view service) const;

  // The persistent nodes that must exist before anything else is written,
  // parents first (root, revision, changelog, configs, ...).
  std::vector<std::string> SkeletonPaths() const;

 private:
  explicit Layout(std::string root) : root_(std::move(root)) {}
  std::string root_;
};

// "0000000000000000042" for 42. REQUIRES: revision >= 0.
std::string FormatRevision(int64_t revision);
// Inverse of FormatRevision; InvalidArgument unless exactly 19 digits.
absl::StatusOr<int64_t> ParseRevision(absl::string_view name);

// The sequence number of an election child ("n_0000000012" -> 12).
absl::StatusOr<int64_t> ParseElectionSequence(absl::string_view child);

// OK iff `chunk_set` looks like "cs-" + 10 digits.
absl::Status ValidateChunkSetName(absl::string_view chunk_set);

// "mandators" / "distributors"; InvalidArgument for other roles.
absl::StatusOr<std::string> MemberRoleDirName(MemberRole role);

}  // namespace zk
}  // namespace kess
