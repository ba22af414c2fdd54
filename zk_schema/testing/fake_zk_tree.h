// FakeZkTree: the znode tree of the in-memory ZooKeeper (fake_zk.h).
//
// Nodes with data, Stat and ACL under one zxid counter, and the writes of
// ZooKeeper 3.x with its checks made in its order (PrepRequestProcessor):
//   create: parent exists, CREATE permission on the parent, the name (with
//           the sequence suffix) is free, the parent is not ephemeral;
//   delete: node exists, DELETE permission on the parent, version, no
//           children;
//   set:    node exists, WRITE permission, version;
//   check:  node exists, READ permission, version.
// No sessions, watches, faults or threads: FakeZkServer adds those.
//
// Stat as ZooKeeper reports it: czxid/mzxid/pzxid from the one zxid counter
// (a transaction takes one zxid, a failed one too; all ops of a multi share
// it), ctime/mtime in wall-clock ms, `version` counts sets. ZooKeeper stores
// the number of children ever created, which is also the next sequence
// suffix, and reports cversion = 2 * creates - num_children (so a delete
// counts as a change too). The root starts with ZooKeeper's own
// /zookeeper, /zookeeper/config and /zookeeper/quota.
//
// ACLs are stored per node and checked against the caller's digest ids
// (schemes "world" and "digest"; "auth" on a create expands to the caller's
// digest ids; "ip" is stored but matches no one).
//
// Every call returns a ZooKeeper return code (ZOK, ZNONODE, ...) for
// ZkStatus(). Paths must already be valid (IsValidZkPath, zk_api.h).
//
// Thread-compatible: FakeZkServer serializes every call.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "zk_schema/zk_api.h"

namespace kess {
namespace zk {
namespace testing {

// One change of a transaction, in order: the watches it fires. kCreated,
// kDeleted and kChanged name the node; kChildren names the parent.
struct TreeEvent {
  WatchEventType type;
  std::string path;
};

// Who asks: the session (owner of ephemerals) and its authenticated digest
// ids ("user:base64(sha1(user:password))").
struct Caller {
  int64_t session_id = 0;
  std::vector<std::string> digest_ids;
};

class FakeZkTree {
 public:
  FakeZkTree();

  FakeZkTree(const FakeZkTree&) = delete;
  FakeZkTree& operator=(const FakeZkTree&) = delete;

  // Reads. Get and GetChildren need READ permission; Exists none.
  int Get(const std::string& path, const Caller& caller,
          GetResult* out) const;
  int Exists(const std::string& path, Stat* out) const;
  int GetChildren(const std::string& path, const Caller& caller,
                  ChildrenResult* out) const;
  // As ZooKeeper's getACL: READ or ADMIN permission needed; a caller
  // without ADMIN gets every digest id masked as "user:x".
  int GetAclOf(const std::string& path, const Caller& caller,
               AclList* out) const;
  // As ZooKeeper's setACL (any version): ADMIN permission needed; the ACL
  // is fixed up as on a create.
  int SetAcl(const std::string& path, const AclList& acl,
             const Caller& caller);

  // Applies `ops` as one transaction: every op, in order (a later op sees
  // the earlier ones), or none. A create without an ACL gets `default_acl`.
  // Returns ZOK and fills `results` (one per op) and `events`; or the
  // failed op's code, leaving the tree as it was and `op_rcs` as ZooKeeper
  // reports them (ZOK before the failed op, ZRUNTIMEINCONSISTENCY after).
  int Apply(const MultiOps& ops, const AclList& default_acl,
            const Caller& caller, std::vector<OpResult>* results,
            std::vector<int>* op_rcs, std::vector<TreeEvent>* events);

  // A session starts (a transaction in ZooKeeper: it takes a zxid).
  void OpenSession();
  // A session ends (closed or expired): one transaction that deletes every
  // ephemeral it owns.
  void CloseSession(int64_t session_id, std::vector<TreeEvent>* events);

  int64_t last_zxid() const { return zxid_; }
  // The ACL stored on `path` ("auth" expanded); nullopt if there is no node.
  std::optional<AclList> GetAcl(const std::string& path) const;
  // Every node, one per line in path order: path, data size, version,
  // cversion, ephemeral owner.
  std::string Dump() const;

 private:
  struct Node {
    std::string data;
    Stat stat;         // cversion and num_children are computed on output
    int32_t creates = 0;  // children ever created: the next sequence number
    AclList acl;
    std::set<std::string> children;  // names, in byte order
  };
  // How to undo one op of a failing multi.
  struct Undo {
    std::string path;
    std::optional<Node> before;  // without children; nullopt: did not exist
    std::optional<Node> parent_before;  // without children
  };

  const Node* Find(const std::string& path) const;
  Node* Find(const std::string& path);
  Stat StatOf(const Node& node) const;
  int ApplyOp(const MultiOps::Op& op, const AclList& default_acl,
              const Caller& caller, int64_t now_ms, OpResult* result,
              std::vector<Undo>* undo, std::vector<TreeEvent>* events);
  int Create(const MultiOps::Op& op, const AclList& default_acl,
             const Caller& caller, int64_t now_ms, OpResult* result,
             std::vector<Undo>* undo, std::vector<TreeEvent>* events);
  int Delete(const std::string& path, int version, const Caller& caller,
             std::vector<Undo>* undo, std::vector<TreeEvent>* events);
  void SaveUndo(const std::string& path, std::vector<Undo>* undo) const;
  void Rollback(std::vector<Undo>* undo);

  std::map<std::string, Node> nodes_;
  int64_t zxid_ = 0;
};

}  // namespace testing
}  // namespace zk
}  // namespace kess
