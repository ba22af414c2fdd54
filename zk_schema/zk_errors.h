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
// (MultiFailedOp()). ZkClient and the in-memory fake
// (testing/fake_zk.h) build every error with these functions, so the two
// cannot disagree on codes or texts.
//
// Thread-safe: pure functions.
#pragma once

#include <optional>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/status.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace zk {

// OK for ZOK; otherwise the mapped code with "<context>: <what happened>".
absl::Status ZkStatus(int zk_rc, absl::string_view context);

// A call made while the client has no session at all (after an expiry,
// before the new session): ZINVALIDSTATE, so IsSessionExpired() holds;
// "<context> (no live session): ...".
absl::Status NoSessionStatus(absl::string_view context);

// Op `index` of multi `ops` failed with `op_rc`, so none was applied:
// "<context>: <ops.Describe(index)> failed, so none was applied: ...",
// marked with WithMultiFailedOp(index).
absl::Status MultiOpFailedStatus(const MultiOps& ops, size_t index, int op_rc,
                                 absl::string_view context);

// The Status of multi `ops` that returned `rc` with the per-op codes
// `op_rcs` (one per op, as the server reports them: ZOK before the failed
// op, its own code, ZRUNTIMEINCONSISTENCY after it). The failed op's code,
// "<context>: <ops.Describe(i)> failed, so none was applied", marked with
// WithMultiFailedOp(i). Without such an op (the request as a whole failed,
// e.g. connection loss) ZkStatus(rc, context). OK if rc is ZOK.
absl::Status MultiStatus(int rc, const std::vector<int>& op_rcs,
                         const MultiOps& ops, absl::string_view context);

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
