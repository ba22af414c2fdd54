// ZooKeeper return codes as absl::Status, and how callers tell the cases
// apart that need different handling.
//
//   ZNONODE -> NotFound            ZNODEEXISTS -> AlreadyExists
//   ZBADVERSION -> Aborted (a compare-and-set lost; re-read and retry)
//   ZNOTEMPTY, ZNOCHILDRENFOREPHEMERALS -> FailedPrecondition
//   ZNOAUTH, ZAUTHFAILED -> PermissionDenied
//   ZCONNECTIONLOSS, ZOPERATIONTIMEOUT -> Unavailable; IsConnectionLoss():
//       the library reconnects by itself and the session lives on, but a
//       write in flight may or may not have been applied: check first.
//   ZSESSIONEXPIRED, ZINVALIDSTATE -> Unavailable; IsSessionExpired(): the
//       handle is dead; ephemerals are gone and watches will not fire.
//       ZkClient re-creates the session and tells its session listeners.
//   ZTHROTTLEDOP -> Unavailable; the server shed the request without doing
//       it: back off with jitter and retry.
//   ZBADARGUMENTS, ZINVALIDACL -> InvalidArgument
//   anything else -> Internal / Unknown
//
// Every Status made here carries the original ZooKeeper code as a payload
// (ZkErrorCode()), and a failed multi the index of the op that failed
// (MultiFailedOp()).
//
// Thread-safe: pure functions.
#pragma once

#include <optional>

#include "absl/strings/string_view.h"
#include "common/status.h"

namespace kess {
namespace zk {

// OK for ZOK; otherwise the mapped code with "<context>: <what happened>".
absl::Status ZkStatus(int zk_rc, absl::string_view context);

// The ZooKeeper return code behind `status`, if it came from ZkStatus().
std::optional<int> ZkErrorCode(const absl::Status& status);

bool IsSessionExpired(const absl::Status& status);
bool IsConnectionLoss(const absl::Status& status);  // incl. op timeout
bool IsThrottled(const absl::Status& status);

// Marks `status` as the failure of op `index` of a multi.
absl::Status WithMultiFailedOp(absl::Status status, int index);
// The index of the failed op of a multi, if `status` says so.
std::optional<int> MultiFailedOp(const absl::Status& status);

}  // namespace zk
}  // namespace kess
