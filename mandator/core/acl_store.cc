#include "mandator/core/acl_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "mandator/core/record_commit.h"
#include "model/names.h"
#include "zk_schema/codec.h"
#include "zk_schema/read_acl.h"

namespace kess {
namespace mandator {
namespace core {
namespace {

constexpr int kCommitAttempts = 5;
constexpr size_t kMaxAuthorBytes = 256;
constexpr size_t kMaxCommentBytes = 4096;

void SortUnique(std::vector<std::string>* v) {
  std::sort(v->begin(), v->end());
  v->erase(std::unique(v->begin(), v->end()), v->end());
}

// The node's record and version; nullopt if absent.
absl::StatusOr<std::optional<std::pair<zk::ReadAclRecord, int>>> ReadNode(
    zk::ZkApi& zk, const std::string& path) {
  absl::StatusOr<zk::GetResult> node = zk.Get(path);
  if (absl::IsNotFound(node.status())) return std::nullopt;
  KESS_RETURN_IF_ERROR(node.status());
  KESS_ASSIGN_OR_RETURN(zk::ReadAclRecord record,
                        zk::DecodeAs<zk::ReadAclRecord>(node->data, path));
  return std::make_optional(std::make_pair(record, node->stat.version));
}

}  // namespace

const char* AclKindName(AclKind kind) {
  return kind == AclKind::kNamespace ? "namespace" : "service";
}

AclStore::AclStore(zk::ZkApi* zk, Options options)
    : zk_(zk), options_(std::move(options)) {}

absl::StatusOr<std::string> AclStore::PathOf(AclKind kind,
                                             const std::string& name) const {
  return kind == AclKind::kNamespace ? options_.layout.NamespaceAclPath(name)
                                     : options_.layout.ServiceAclPath(name);
}

absl::StatusOr<int64_t> AclStore::Put(const AclWrite& write,
                                      const std::string& fence) {
  KESS_ASSIGN_OR_RETURN(std::string path, PathOf(write.kind, write.name));
  if (write.author.size() > kMaxAuthorBytes ||
      write.comment.size() > kMaxCommentBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("author is at most ", kMaxAuthorBytes,
                     " bytes and comment at most ", kMaxCommentBytes));
  }
  zk::ReadAclRecord record;
  if (write.kind == AclKind::kNamespace) {
    record.set_namespace_name(write.name);
  } else {
    record.set_service(write.name);
  }
  std::vector<std::string> hosts = write.hosts;
  std::vector<std::string> identities = write.identities;
  SortUnique(&hosts);
  SortUnique(&identities);
  for (std::string& h : hosts) record.add_hosts(std::move(h));
  for (std::string& i : identities) record.add_identities(std::move(i));
  KESS_RETURN_IF_ERROR(zk::ValidateReadAcl(record));
  *record.mutable_meta() = zk::MakeMeta(write.author, options_.writer_id,
                                        absl::Now(), write.comment);
  CommitBuilder build = [&](const CommitAttempt& attempt, zk::MultiOps* ops,
                            zk::ChangeRecord* change) -> absl::Status {
    KESS_ASSIGN_OR_RETURN(auto old, ReadNode(*zk_, path));
    record.set_revision(attempt.revision);
    const std::string data = zk::Encode(record);
    if (old.has_value()) {
      ops->Set(path, data, old->second);
    } else {
      ops->Create(path, data, zk::CreateMode::kPersistent, options_.acl);
    }
    change->set_kind(zk::ACL_PUT);
    change->set_namespace_name(record.namespace_name());
    change->set_service(record.service());
    change->set_path(path);
    *change->mutable_meta() = record.meta();
    return absl::OkStatus();
  };
  CommitOptions commit;
  commit.fence = fence;
  commit.attempts = kCommitAttempts;
  commit.what = absl::StrCat("read ACL of ", AclKindName(write.kind), " ",
                             write.name);
  if (options_.min_revision) commit.min_revision = options_.min_revision();
  CommitOutcome outcome;
  KESS_ASSIGN_OR_RETURN(
      Committed committed,
      CommitRecord(*zk_, options_.layout, commit, build, &outcome));
  return committed.revision;
}

absl::StatusOr<int64_t> AclStore::Delete(AclKind kind, const std::string& name,
                                         const std::string& author,
                                         const std::string& fence) {
  KESS_ASSIGN_OR_RETURN(std::string path, PathOf(kind, name));
  if (author.size() > kMaxAuthorBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("author is at most ", kMaxAuthorBytes, " bytes"));
  }
  const zk::Meta meta = zk::MakeMeta(author, options_.writer_id);
  CommitBuilder build = [&](const CommitAttempt&, zk::MultiOps* ops,
                            zk::ChangeRecord* change) -> absl::Status {
    KESS_ASSIGN_OR_RETURN(auto old, ReadNode(*zk_, path));
    if (!old.has_value()) {
      return absl::NotFoundError(
          absl::StrCat(AclKindName(kind), " ", name, " has no read ACL"));
    }
    ops->Delete(path, old->second);
    change->set_kind(zk::ACL_DELETE);
    if (kind == AclKind::kNamespace) {
      change->set_namespace_name(name);
    } else {
      change->set_service(name);
    }
    change->set_path(path);
    *change->mutable_meta() = meta;
    return absl::OkStatus();
  };
  CommitOptions commit;
  commit.fence = fence;
  commit.attempts = kCommitAttempts;
  commit.what = absl::StrCat("deletion of the read ACL of ", AclKindName(kind),
                             " ", name);
  if (options_.min_revision) commit.min_revision = options_.min_revision();
  CommitOutcome outcome;
  KESS_ASSIGN_OR_RETURN(
      Committed committed,
      CommitRecord(*zk_, options_.layout, commit, build, &outcome));
  return committed.revision;
}

absl::StatusOr<std::optional<zk::ReadAclRecord>> AclStore::Get(
    AclKind kind, const std::string& name) {
  KESS_ASSIGN_OR_RETURN(std::string path, PathOf(kind, name));
  KESS_ASSIGN_OR_RETURN(auto node, ReadNode(*zk_, path));
  if (!node.has_value()) return std::nullopt;
  return std::make_optional(std::move(node->first));
}

absl::StatusOr<std::vector<zk::ReadAclRecord>> AclStore::List(AclKind kind) {
  const std::string dir = kind == AclKind::kNamespace
                              ? options_.layout.NamespaceAclsDir()
                              : options_.layout.ServiceAclsDir();
  absl::StatusOr<zk::ChildrenResult> children = zk_->GetChildren(dir);
  if (absl::IsNotFound(children.status())) {
    return std::vector<zk::ReadAclRecord>();
  }
  KESS_RETURN_IF_ERROR(children.status());
  std::vector<std::string> names = children->children;
  std::sort(names.begin(), names.end());
  std::vector<zk::ReadAclRecord> out;
  for (const std::string& name : names) {
    absl::StatusOr<std::optional<zk::ReadAclRecord>> acl = Get(kind, name);
    if (!acl.ok() && absl::IsInvalidArgument(acl.status())) continue;
    KESS_RETURN_IF_ERROR(acl.status());
    if (acl->has_value()) out.push_back(**std::move(acl));
  }
  return out;
}

}  // namespace core
}  // namespace mandator
}  // namespace kess
