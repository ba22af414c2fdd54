// EphemeralNode: an ephemeral znode that comes back after session expiry.
//
// Member registration (/kess/members/...) needs its node to exist as long as
// the process lives, but ZooKeeper deletes ephemerals when a session
// expires. EphemeralNode creates the node now and again on every
// SessionEvent::kNewSession of its client (and on kReconnected if an earlier
// re-creation failed), replacing a stale node left by an older session of
// the same owner. Destroying it deletes the node, unless it was created
// with OnDestroy::kLeaveToSession (an owner without DELETE permission on the
// parent, e.g. a distributor as `reader`: the node goes when the owner
// closes its session). Such an owner cannot replace a stale node of its own
// older session either: creating fails (AlreadyExists) until that session
// expires, and the owner retries.
//
// Thread-safe. Must be destroyed before its ZkApi.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "common/status.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace zk {

class EphemeralNode {
 public:
  // Creates `path` (its parent must exist) with `data` in the current
  // session. Fails if the node cannot be created now.
  enum class OnDestroy { kDelete, kLeaveToSession };
  static absl::StatusOr<std::unique_ptr<EphemeralNode>> Create(
      ZkApi* zk, std::string path, std::string data, AclList acl = {},
      OnDestroy on_destroy = OnDestroy::kDelete);
  ~EphemeralNode();

  EphemeralNode(const EphemeralNode&) = delete;
  EphemeralNode& operator=(const EphemeralNode&) = delete;

  const std::string& path() const { return path_; }
  // The session generation in which the node was last created; 0 if the
  // last re-creation failed (it is retried on the next reconnect).
  int64_t created_generation() const;

 private:
  EphemeralNode(ZkApi* zk, std::string path, std::string data, AclList acl,
                OnDestroy on_destroy)
      : zk_(zk),
        path_(std::move(path)),
        data_(std::move(data)),
        acl_(std::move(acl)),
        on_destroy_(on_destroy) {}
  // Creates the node in the current session (bounded retries).
  absl::Status CreateNow();
  void OnSessionEvent(const SessionEvent& event);

  ZkApi* const zk_;
  const std::string path_;
  const std::string data_;
  const AclList acl_;
  const OnDestroy on_destroy_;
  int64_t listener_id_ = 0;
  mutable absl::Mutex mu_;
  int64_t created_generation_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace zk
}  // namespace kess
