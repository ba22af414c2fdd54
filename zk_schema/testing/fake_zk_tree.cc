#include "zk_schema/testing/fake_zk_tree.h"

#include <zookeeper/zookeeper.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace kess {
namespace zk {
namespace testing {
namespace {

std::string ParentOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string NameOf(const std::string& path) {
  return path.substr(path.rfind('/') + 1);
}

// ZooKeeper refuses to delete these (ZooKeeperServer's special paths).
bool IsSpecialPath(const std::string& path) {
  return path == "/" || path == "/zookeeper" || path == "/zookeeper/quota" ||
         path == "/zookeeper/config";
}

bool HasPermission(const AclList& acl, int32_t perm, const Caller& caller) {
  if (acl.empty()) return true;
  for (const Acl& a : acl) {
    if ((a.perms & perm) == 0) continue;
    if (a.scheme == "world" && a.id == "anyone") return true;
    if (a.scheme == "digest" &&
        std::find(caller.digest_ids.begin(), caller.digest_ids.end(), a.id) !=
            caller.digest_ids.end()) {
      return true;
    }
  }
  return false;
}

// ZooKeeper's fixupACL: the ACL a create stores, or ZINVALIDACL.
int FixupAcl(const AclList& requested, const Caller& caller, AclList* out) {
  AclList unique;
  for (const Acl& a : requested) {
    if (std::find(unique.begin(), unique.end(), a) == unique.end()) {
      unique.push_back(a);
    }
  }
  if (unique.empty()) return ZINVALIDACL;
  for (const Acl& a : unique) {
    if (a.scheme == "world" && a.id == "anyone") {
      out->push_back(a);
    } else if (a.scheme == "auth") {
      // The caller's authenticated ids, with these permissions.
      if (caller.digest_ids.empty()) return ZINVALIDACL;
      for (const std::string& id : caller.digest_ids) {
        out->push_back(Acl{a.perms, "digest", id});
      }
    } else if (a.scheme == "digest") {
      // DigestAuthenticationProvider.isValid: "user:digest".
      const size_t colon = a.id.find(':');
      if (colon == std::string::npos || colon + 1 == a.id.size() ||
          a.id.find(':', colon + 1) != std::string::npos) {
        return ZINVALIDACL;
      }
      out->push_back(a);
    } else if (a.scheme == "ip") {
      out->push_back(a);
    } else {
      return ZINVALIDACL;
    }
  }
  return ZOK;
}

}  // namespace

FakeZkTree::FakeZkTree() {
  nodes_["/"].acl = OpenAcl();
  nodes_["/"].children = {"zookeeper"};
  nodes_["/zookeeper"].acl = OpenAcl();
  nodes_["/zookeeper"].children = {"config", "quota"};
  nodes_["/zookeeper/config"].acl = {WorldReadAcl()};
  nodes_["/zookeeper/quota"].acl = OpenAcl();
}

const FakeZkTree::Node* FakeZkTree::Find(const std::string& path) const {
  auto it = nodes_.find(path);
  return it == nodes_.end() ? nullptr : &it->second;
}

FakeZkTree::Node* FakeZkTree::Find(const std::string& path) {
  auto it = nodes_.find(path);
  return it == nodes_.end() ? nullptr : &it->second;
}

Stat FakeZkTree::StatOf(const Node& node) const {
  Stat stat = node.stat;
  stat.data_length = static_cast<int32_t>(node.data.size());
  stat.num_children = static_cast<int32_t>(node.children.size());
  // DataNode.copyStat: ZooKeeper stores creates and reports changes.
  stat.cversion = node.creates * 2 - stat.num_children;
  return stat;
}

int FakeZkTree::Get(const std::string& path, const Caller& caller,
                    GetResult* out) const {
  const Node* node = Find(path);
  if (node == nullptr) return ZNONODE;
  if (!HasPermission(node->acl, kPermRead, caller)) return ZNOAUTH;
  out->data = node->data;
  out->stat = StatOf(*node);
  return ZOK;
}

int FakeZkTree::Exists(const std::string& path, Stat* out) const {
  const Node* node = Find(path);
  if (node == nullptr) return ZNONODE;
  *out = StatOf(*node);
  return ZOK;
}

int FakeZkTree::GetChildren(const std::string& path, const Caller& caller,
                            ChildrenResult* out) const {
  const Node* node = Find(path);
  if (node == nullptr) return ZNONODE;
  if (!HasPermission(node->acl, kPermRead, caller)) return ZNOAUTH;
  out->children.assign(node->children.begin(), node->children.end());
  out->stat = StatOf(*node);
  return ZOK;
}

int FakeZkTree::GetAclOf(const std::string& path, const Caller& caller,
                         AclList* out) const {
  const Node* node = Find(path);
  if (node == nullptr) return ZNONODE;
  if (!HasPermission(node->acl, kPermRead | kPermAdmin, caller)) {
    return ZNOAUTH;
  }
  const bool admin = HasPermission(node->acl, kPermAdmin, caller);
  for (Acl a : node->acl) {
    if (!admin && a.scheme == "digest") {
      a.id = a.id.substr(0, a.id.find(':')) + ":x";
    }
    out->push_back(std::move(a));
  }
  return ZOK;
}

int FakeZkTree::SetAcl(const std::string& path, const AclList& acl,
                       const Caller& caller) {
  Node* node = Find(path);
  if (node == nullptr) return ZNONODE;
  if (!HasPermission(node->acl, kPermAdmin, caller)) return ZNOAUTH;
  AclList fixed;
  const int rc = FixupAcl(acl, caller, &fixed);
  if (rc != ZOK) return rc;
  ++zxid_;
  node->acl = std::move(fixed);
  return ZOK;
}

int FakeZkTree::Apply(const MultiOps& ops, const AclList& default_acl,
                      const Caller& caller, std::vector<OpResult>* results,
                      std::vector<int>* op_rcs,
                      std::vector<TreeEvent>* events) {
  ++zxid_;
  const int64_t now_ms = absl::ToUnixMillis(absl::Now());
  results->assign(ops.size(), OpResult());
  op_rcs->assign(ops.size(), ZOK);
  std::vector<Undo> undo;
  std::vector<TreeEvent> applied;
  for (size_t i = 0; i < ops.size(); ++i) {
    const int rc = ApplyOp(ops.ops()[i], default_acl, caller, now_ms,
                           &(*results)[i], &undo, &applied);
    if (rc != ZOK) {
      Rollback(&undo);
      (*op_rcs)[i] = rc;
      for (size_t j = i + 1; j < ops.size(); ++j) {
        (*op_rcs)[j] = ZRUNTIMEINCONSISTENCY;
      }
      results->clear();
      return rc;
    }
  }
  for (TreeEvent& e : applied) events->push_back(std::move(e));
  return ZOK;
}

int FakeZkTree::ApplyOp(const MultiOps::Op& op, const AclList& default_acl,
                        const Caller& caller, int64_t now_ms,
                        OpResult* result, std::vector<Undo>* undo,
                        std::vector<TreeEvent>* events) {
  switch (op.type) {
    case MultiOps::Type::kCreate:
      return Create(op, default_acl, caller, now_ms, result, undo, events);
    case MultiOps::Type::kDelete:
      return Delete(op.path, op.version, caller, undo, events);
    case MultiOps::Type::kSet:
    case MultiOps::Type::kCheck: {
      Node* node = Find(op.path);
      if (node == nullptr) return ZNONODE;
      const bool set = op.type == MultiOps::Type::kSet;
      if (!HasPermission(node->acl, set ? kPermWrite : kPermRead, caller)) {
        return ZNOAUTH;
      }
      if (op.version != kAnyVersion && op.version != node->stat.version) {
        return ZBADVERSION;
      }
      if (!set) return ZOK;
      SaveUndo(op.path, undo);
      node->data = op.data;
      node->stat.version += 1;
      node->stat.mzxid = zxid_;
      node->stat.mtime_ms = now_ms;
      result->stat = StatOf(*node);
      events->push_back({WatchEventType::kChanged, op.path});
      return ZOK;
    }
  }
  return ZBADARGUMENTS;
}

int FakeZkTree::Create(const MultiOps::Op& op, const AclList& default_acl,
                       const Caller& caller, int64_t now_ms, OpResult* result,
                       std::vector<Undo>* undo,
                       std::vector<TreeEvent>* events) {
  if (op.path == "/") return ZNODEEXISTS;
  AclList acl;
  const int acl_rc =
      FixupAcl(op.acl.empty() ? default_acl : op.acl, caller, &acl);
  if (acl_rc != ZOK) return acl_rc;
  const std::string parent_path = ParentOf(op.path);
  Node* parent = Find(parent_path);
  if (parent == nullptr) return ZNONODE;
  if (!HasPermission(parent->acl, kPermCreate, caller)) return ZNOAUTH;
  const bool sequential = op.mode == CreateMode::kPersistentSequential ||
                          op.mode == CreateMode::kEphemeralSequential;
  const bool ephemeral = op.mode == CreateMode::kEphemeral ||
                         op.mode == CreateMode::kEphemeralSequential;
  const std::string path =
      sequential ? absl::StrCat(op.path, absl::StrFormat("%010d",
                                                         parent->creates))
                 : op.path;
  if (Find(path) != nullptr) return ZNODEEXISTS;
  if (parent->stat.ephemeral_owner != 0) return ZNOCHILDRENFOREPHEMERALS;
  SaveUndo(path, undo);
  Node node;
  node.data = op.data;
  node.acl = std::move(acl);
  node.stat.czxid = node.stat.mzxid = node.stat.pzxid = zxid_;
  node.stat.ctime_ms = node.stat.mtime_ms = now_ms;
  node.stat.ephemeral_owner = ephemeral ? caller.session_id : 0;
  nodes_.emplace(path, std::move(node));
  parent->creates += 1;
  parent->stat.pzxid = zxid_;
  parent->children.insert(NameOf(path));
  result->created_path = path;
  events->push_back({WatchEventType::kCreated, path});
  events->push_back({WatchEventType::kChildren, parent_path});
  return ZOK;
}

int FakeZkTree::Delete(const std::string& path, int version,
                       const Caller& caller, std::vector<Undo>* undo,
                       std::vector<TreeEvent>* events) {
  if (IsSpecialPath(path)) return ZBADARGUMENTS;
  const std::string parent_path = ParentOf(path);
  Node* parent = Find(parent_path);
  Node* node = Find(path);
  if (parent == nullptr || node == nullptr) return ZNONODE;
  if (!HasPermission(parent->acl, kPermDelete, caller)) return ZNOAUTH;
  if (version != kAnyVersion && version != node->stat.version) {
    return ZBADVERSION;
  }
  if (!node->children.empty()) return ZNOTEMPTY;
  SaveUndo(path, undo);
  nodes_.erase(path);
  parent->children.erase(NameOf(path));
  parent->stat.pzxid = std::max(parent->stat.pzxid, zxid_);
  events->push_back({WatchEventType::kDeleted, path});
  events->push_back({WatchEventType::kChildren, parent_path});
  return ZOK;
}

void FakeZkTree::OpenSession() { ++zxid_; }

void FakeZkTree::CloseSession(int64_t session_id,
                              std::vector<TreeEvent>* events) {
  ++zxid_;
  std::vector<std::string> owned;
  for (const auto& [path, node] : nodes_) {
    if (node.stat.ephemeral_owner == session_id) owned.push_back(path);
  }
  // Ephemerals have no children, and the server ignores ACLs here.
  for (const std::string& path : owned) {
    Node* parent = Find(ParentOf(path));
    nodes_.erase(path);
    parent->children.erase(NameOf(path));
    parent->stat.pzxid = std::max(parent->stat.pzxid, zxid_);
    events->push_back({WatchEventType::kDeleted, path});
    events->push_back({WatchEventType::kChildren, ParentOf(path)});
  }
}

void FakeZkTree::SaveUndo(const std::string& path,
                          std::vector<Undo>* undo) const {
  auto header = [](const Node& n) {
    Node copy;
    copy.data = n.data;
    copy.stat = n.stat;
    copy.creates = n.creates;
    copy.acl = n.acl;
    return copy;
  };
  Undo u;
  u.path = path;
  if (const Node* node = Find(path)) u.before = header(*node);
  if (path != "/") u.parent_before = header(*Find(ParentOf(path)));
  undo->push_back(std::move(u));
}

void FakeZkTree::Rollback(std::vector<Undo>* undo) {
  for (auto it = undo->rbegin(); it != undo->rend(); ++it) {
    if (it->before) {
      Node& node = nodes_[it->path];  // keeps the children of a set node
      node.data = std::move(it->before->data);
      node.stat = it->before->stat;
      node.creates = it->before->creates;
      node.acl = std::move(it->before->acl);
    } else {
      nodes_.erase(it->path);
    }
    if (it->parent_before) {
      Node& parent = nodes_.at(ParentOf(it->path));
      parent.stat = it->parent_before->stat;
      parent.creates = it->parent_before->creates;
      if (it->before) {
        parent.children.insert(NameOf(it->path));
      } else {
        parent.children.erase(NameOf(it->path));
      }
    }
  }
  undo->clear();
}

std::optional<AclList> FakeZkTree::GetAcl(const std::string& path) const {
  const Node* node = Find(path);
  if (node == nullptr) return std::nullopt;
  return node->acl;
}

std::string FakeZkTree::Dump() const {
  std::string out;
  for (const auto& [path, node] : nodes_) {
    const Stat stat = StatOf(node);
    absl::StrAppend(&out, path, " bytes=", stat.data_length,
                    " version=", stat.version, " cversion=", stat.cversion);
    if (stat.ephemeral_owner != 0) {
      absl::StrAppend(&out, " ephemeral_owner=0x",
                      absl::Hex(stat.ephemeral_owner));
    }
    out += "\n";
  }
  return out;
}

}  // namespace testing
}  // namespace zk
}  // namespace kess
