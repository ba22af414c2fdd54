// The ZooKeeper operations kess uses, as an interface: ZkClient
// (zk_client.h) implements it over libzookeeper_mt, and FakeZkClient
// (testing/fake_zk.h) over an in-memory tree for unit tests. Code above
// zk_schema takes a ZkApi& so that its unit tests can run against
// FakeZkClient, without a ZooKeeper server.
//
// Contracts shared by every implementation:
//  - Errors are absl::Status as described in zk_errors.h.
//  - Every write is size-checked before it is sent: ZooKeeper answers a
//    request above jute.maxbuffer (~1 MB) not with an error but by dropping
//    the connection, so a write whose request would exceed kMaxRequestBytes
//    fails with InvalidArgument and is never sent. Multi requests are
//    checked as a whole.
//  - Watches are one-shot. A WatchCallback runs at most once, on the
//    client's callback thread (never on ZooKeeper's own threads, so it may
//    call back into the client). A watch set in a session that expires never
//    fires: re-arm it from the session listener (SessionEvent::kNewSession).
//  - An empty AclList on a create means the client's default ACL.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/status.h"
#include "zk_schema/zk_acl.h"

namespace kess {
namespace zk {

// The server's default jute.maxbuffer (0xfffff): the largest request or
// response packet it accepts.
inline constexpr size_t kJuteMaxBuffer = 0xfffff;
// Our ceiling for one request including its framing, ~48 KiB below
// kJuteMaxBuffer so that estimation errors cannot reach the real limit.
inline constexpr size_t kMaxRequestBytes = 1000 * 1000;

// Node metadata, as ZooKeeper's Stat.
struct Stat {
  int64_t czxid = 0;
  int64_t mzxid = 0;
  int64_t pzxid = 0;
  int64_t ctime_ms = 0;
  int64_t mtime_ms = 0;
  int32_t version = 0;   // data version: compare-and-set on this
  int32_t cversion = 0;  // children version
  int32_t aversion = 0;
  int64_t ephemeral_owner = 0;  // session id, 0 for persistent nodes
  int32_t data_length = 0;
  int32_t num_children = 0;
};

// "Any version" for Set/Delete/Check.
inline constexpr int kAnyVersion = -1;

enum class CreateMode {
  kPersistent,
  kEphemeral,
  kPersistentSequential,
  kEphemeralSequential,
};

enum class WatchEventType { kCreated, kDeleted, kChanged, kChildren };
struct WatchEvent {
  WatchEventType type;
  std::string path;
};
using WatchCallback = std::function<void(const WatchEvent&)>;

struct SessionEvent {
  enum Type {
    // The connection dropped; the library is reconnecting within the same
    // session. Ephemerals and watches survive if it succeeds in time.
    kConnectionLost,
    // Reconnected within the same session.
    kReconnected,
    // The session expired: ephemerals are gone, watches will never fire.
    kExpired,
    // A new session is established (after kExpired or Reconnect()):
    // re-create ephemerals, re-arm watches, re-read what you cache.
    kNewSession,
    // Authentication failed; the handle is unusable.
    kAuthFailed,
  };
  Type type;
  // Counts sessions of this client: 1 for the first, +1 per new session.
  int64_t generation;
};
using SessionListener = std::function<void(const SessionEvent&)>;
const char* SessionEventTypeName(SessionEvent::Type type);

struct GetResult {
  std::string data;
  Stat stat;
};

// One read of a pipelined batch (ZkApi::GetMany).
struct GetRequest {
  std::string path;
  WatchCallback watch;  // optional, as Get()'s
};

struct ChildrenResult {
  std::vector<std::string> children;  // names, sorted
  Stat stat;                          // of the parent
};

// The ops of one atomic multi: all apply or none does. Build with the
// chained adders, e.g.
//   MultiOps ops;
//   ops.Set(value_path, value, v).Check(parent, kAnyVersion)
//      .Create(log_path, record);
class MultiOps {
 public:
  enum class Type { kCreate, kSet, kDelete, kCheck };
  struct Op {
    Type type;
    std::string path;
    std::string data;                           // create, set
    int version = kAnyVersion;                  // set, delete, check
    CreateMode mode = CreateMode::kPersistent;  // create
    AclList acl;  // create; empty = client default
  };

  MultiOps& Create(std::string path, std::string data,
                   CreateMode mode = CreateMode::kPersistent, AclList acl = {});
  MultiOps& Set(std::string path, std::string data, int version = kAnyVersion);
  MultiOps& Delete(std::string path, int version = kAnyVersion);
  MultiOps& Check(std::string path, int version);
  // Appends every op of `other`, in order.
  MultiOps& Append(MultiOps other);
  // Removes the op at `index` (< size()).
  void RemoveOp(size_t index);

  const std::vector<Op>& ops() const { return ops_; }
  size_t size() const { return ops_.size(); }
  bool empty() const { return ops_.empty(); }

  // An upper bound of the serialized request size; creates without an ACL
  // are counted with `default_acl`.
  size_t EstimatedRequestBytes(const AclList& default_acl = {}) const;
  // "set /kess/revision (version 4)", for error messages.
  std::string Describe(size_t index) const;

 private:
  std::vector<Op> ops_;
};

// Per op of a successful multi.
struct OpResult {
  std::string created_path;  // create: the actual path (sequential suffix)
  Stat stat;                 // set: the node's new stat
};

// Whether the ZooKeeper C client accepts `path` (its isValidPath): absolute,
// no empty, "." or ".." component, no control character, and no trailing
// '/' unless `sequential` (the suffix then makes the name). The client
// answers other paths with ZBADARGUMENTS without sending anything.
bool IsValidZkPath(absl::string_view path, bool sequential);
// The index of the first op of `ops` whose path IsValidZkPath refuses.
std::optional<size_t> FirstInvalidPath(const MultiOps& ops);

// Upper bounds of the serialized size of single requests. An empty `acl`
// is counted as a default ACL of up to 256 bytes.
size_t EstimateCreateBytes(absl::string_view path, size_t data_size,
                           const AclList& acl);
size_t EstimateSetBytes(absl::string_view path, size_t data_size);
// OK, or InvalidArgument "<what> would be a request of N bytes, above the
// ZooKeeper limit of M ... (store large values with chunked_value.h)".
absl::Status CheckRequestSize(size_t estimated_bytes, absl::string_view what);

// The checks every implementation makes before sending a write (ZkClient and
// FakeZkClient call these, so they reject exactly the same requests):
// CheckRequestSize of the request's estimate, `context` ("create /a")
// naming it. An empty `acl` is counted as `default_acl`, which is what the
// implementation sends in its place.
absl::Status CheckCreateSize(absl::string_view path, size_t data_size,
                             const AclList& acl, const AclList& default_acl,
                             absl::string_view context);
absl::Status CheckSetSize(absl::string_view path, size_t data_size,
                          absl::string_view context);
absl::Status CheckMultiSize(const MultiOps& ops, const AclList& default_acl,
                            absl::string_view context);

class ZkApi {
 public:
  virtual ~ZkApi() = default;

  // Data and stat of `path`. With `watch`: also a one-shot data watch
  // (fires on change or delete); set only if the node exists.
  virtual absl::StatusOr<GetResult> Get(const std::string& path,
                                        WatchCallback watch = nullptr) = 0;
  // Get() of every request, answered in request order, but pipelined: every
  // request is sent before the first answer is awaited, so a batch costs
  // one round trip to the server instead of one per request (what matters
  // on a WAN link). ZooKeeper answers a session's requests in the order
  // sent, so a later read of the batch sees a state at least as new as an
  // earlier one. This default implementation calls Get() in turn.
  virtual std::vector<absl::StatusOr<GetResult>> GetMany(
      std::vector<GetRequest> requests);
  // The stat, or nullopt if `path` does not exist. With `watch`: fires when
  // the node is created, changed or deleted (set in both cases).
  virtual absl::StatusOr<std::optional<Stat>> Exists(
      const std::string& path, WatchCallback watch = nullptr) = 0;
  // Sorted child names. With `watch`: fires when a child is added or
  // removed, or the node is deleted.
  virtual absl::StatusOr<ChildrenResult> GetChildren(
      const std::string& path, WatchCallback watch = nullptr) = 0;

  // Returns the created path (differs from `path` for sequential modes).
  virtual absl::StatusOr<std::string> Create(
      const std::string& path, absl::string_view data,
      CreateMode mode = CreateMode::kPersistent, const AclList& acl = {}) = 0;
  // Compare-and-set when version != kAnyVersion (Aborted on mismatch).
  virtual absl::StatusOr<Stat> Set(const std::string& path,
                                   absl::string_view data,
                                   int version = kAnyVersion) = 0;
  virtual absl::Status Delete(const std::string& path,
                              int version = kAnyVersion) = 0;
  // All ops or none. On failure the Status names the failed op and carries
  // its index (MultiFailedOp()). An empty multi succeeds trivially.
  virtual absl::StatusOr<std::vector<OpResult>> Multi(const MultiOps& ops) = 0;

  // The ACL stored on `path` (NotFound if there is no node). ZooKeeper
  // answers it to a caller with READ or ADMIN permission on the node
  // (PermissionDenied otherwise), and to a caller without ADMIN with every
  // digest id masked as "user:x". This default implementation answers
  // Unimplemented.
  virtual absl::StatusOr<AclList> GetAcl(const std::string& path);
  // Replaces the ACL of `path`; needs ADMIN permission on the node
  // (PermissionDenied otherwise). This default implementation answers
  // Unimplemented.
  virtual absl::Status SetAcl(const std::string& path, const AclList& acl);

  // Session listeners run on the callback thread, in event order. The id
  // is for RemoveSessionListener. After RemoveSessionListener returns, the
  // listener is not running and will not run again (unless called from the
  // listener itself).
  virtual int64_t AddSessionListener(SessionListener listener) = 0;
  virtual void RemoveSessionListener(int64_t id) = 0;

  // The generation of the current session (see SessionEvent).
  virtual int64_t generation() const = 0;
  // The current session id; 0 while no session is established.
  virtual int64_t session_id() const = 0;
};

}  // namespace zk
}  // namespace kess
