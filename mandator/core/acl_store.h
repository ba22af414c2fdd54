// AclStore: the read ACLs of namespaces and services
// (/kess/acls/namespaces/<ns>, /kess/acls/services/<service>, ReadAclRecord;
// zk_schema/read_acl.h), written by the main DC's leader with one ACL_PUT or
// ACL_DELETE commit each (record_commit.h), so that they are replicated to
// the slave DCs and followed by the distributors like every other record.
//
//  - Put: validates the entries (zk_schema ValidateReadAcl: InvalidArgument),
//    sorts and deduplicates them, and creates or replaces the node.
//  - Delete: NotFound when the namespace or service has no ACL.
//  - Get: nullopt when it has none. List: every ACL of one kind.
// An ACL may name a namespace or service that does not exist (yet): it
// applies once it does.
//
// Thread-safety: thread-safe (commits are serialized by CommitRecord).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "zk_schema/layout.h"
#include "zk_schema/schema.pb.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace mandator {
namespace core {

enum class AclKind { kNamespace, kService };

struct AclWrite {
  AclKind kind = AclKind::kNamespace;
  std::string name;  // the namespace or service
  std::vector<std::string> hosts;
  std::vector<std::string> identities;
  std::string author;
  std::string comment;
};

class AclStore {
 public:
  struct Options {
    zk::Layout layout;
    zk::AclList acl;         // ZooKeeper ACL of the nodes it creates
    std::string writer_id;   // Meta.writer (mandator id)
    // The lowest revision a commit may take (ConfigStore::min_revision of
    // the same ZooKeeper); nullptr = none.
    std::function<int64_t()> min_revision;
  };
  // `zk` must outlive the store.
  AclStore(zk::ZkApi* zk, Options options);

  // Returns the ACL_PUT's revision. `fence`: the leader's election node.
  absl::StatusOr<int64_t> Put(const AclWrite& write, const std::string& fence);
  absl::StatusOr<int64_t> Delete(AclKind kind, const std::string& name,
                                 const std::string& author,
                                 const std::string& fence);
  absl::StatusOr<std::optional<zk::ReadAclRecord>> Get(AclKind kind,
                                                       const std::string& name);
  absl::StatusOr<std::vector<zk::ReadAclRecord>> List(AclKind kind);

 private:
  absl::StatusOr<std::string> PathOf(AclKind kind,
                                     const std::string& name) const;

  zk::ZkApi* const zk_;
  const Options options_;
};

// "namespace" / "service".
const char* AclKindName(AclKind kind);

}  // namespace core
}  // namespace mandator
}  // namespace kess
