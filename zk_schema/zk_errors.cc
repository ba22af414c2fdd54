#include "zk_schema/zk_errors.h"

#include <zookeeper/zookeeper.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace kess {
namespace zk {
namespace {

constexpr absl::string_view kRcPayload = "type.kess/zk.rc";
constexpr absl::string_view kFailedOpPayload = "type.kess/zk.multi_failed_op";

std::optional<int> IntPayload(const absl::Status& status,
                              absl::string_view url) {
  auto payload = status.GetPayload(url);
  int value = 0;
  if (!payload || !absl::SimpleAtoi(std::string(*payload), &value)) {
    return std::nullopt;
  }
  return value;
}

struct Mapping {
  absl::StatusCode code;
  const char* text;
};

Mapping Map(int rc) {
  using C = absl::StatusCode;
  switch (rc) {
    case ZNONODE:
      return {C::kNotFound, "node does not exist"};
    case ZNODEEXISTS:
      return {C::kAlreadyExists, "node already exists"};
    case ZBADVERSION:
      return {C::kAborted, "version mismatch (compare-and-set lost)"};
    case ZNOTEMPTY:
      return {C::kFailedPrecondition, "node has children"};
    case ZNOCHILDRENFOREPHEMERALS:
      return {C::kFailedPrecondition, "ephemeral nodes may not have children"};
    case ZNOAUTH:
      return {C::kPermissionDenied, "not authorized by the node's ACL"};
    case ZAUTHFAILED:
      return {C::kPermissionDenied, "authentication failed"};
    case ZCONNECTIONLOSS:
      return {C::kUnavailable,
              "connection lost (a write may or may not have been applied)"};
    case ZOPERATIONTIMEOUT:
      return {C::kUnavailable,
              "operation timed out (a write may or may not have been "
              "applied)"};
    case ZSESSIONEXPIRED:
    case ZINVALIDSTATE:
      return {C::kUnavailable,
              "ZooKeeper session expired (ephemerals and watches are gone; "
              "a new session is needed)"};
    case ZSESSIONMOVED:
      return {C::kUnavailable, "session moved to another server"};
    case ZTHROTTLEDOP:
      return {C::kUnavailable,
              "server throttled the request (not executed); back off with "
              "jitter and retry"};
    case ZBADARGUMENTS:
      return {C::kInvalidArgument, "bad arguments"};
    case ZINVALIDACL:
      return {C::kInvalidArgument, "invalid ACL"};
    case ZCLOSING:
      return {C::kCancelled, "client is closing"};
    case ZNOTREADONLY:
      return {C::kUnavailable, "server is read-only"};
    case ZUNIMPLEMENTED:
      return {C::kUnimplemented, "not implemented by the server"};
    case ZRUNTIMEINCONSISTENCY:
      return {C::kAborted, "not executed (an earlier op of the multi failed)"};
    default:
      return {C::kInternal, nullptr};
  }
}

}  // namespace

absl::Status ZkStatus(int zk_rc, absl::string_view context) {
  if (zk_rc == ZOK) return absl::OkStatus();
  Mapping m = Map(zk_rc);
  const char* text = m.text != nullptr ? m.text : zerror(zk_rc);
  absl::Status status(m.code,
                      absl::StrCat(context, ": ", text, " (ZK ", zk_rc, ")"));
  status.SetPayload(kRcPayload, absl::Cord(absl::StrCat(zk_rc)));
  return status;
}

absl::Status NoSessionStatus(absl::string_view context) {
  return ZkStatus(ZINVALIDSTATE, absl::StrCat(context, " (no live session)"));
}

absl::Status MultiOpFailedStatus(const MultiOps& ops, size_t index, int op_rc,
                                 absl::string_view context) {
  return WithMultiFailedOp(
      ZkStatus(op_rc, absl::StrCat(context, ": ", ops.Describe(index),
                                   " failed, so none was applied")),
      static_cast<int>(index));
}

absl::Status MultiStatus(int rc, const std::vector<int>& op_rcs,
                         const MultiOps& ops, absl::string_view context) {
  if (rc == ZOK) return absl::OkStatus();
  for (size_t i = 0; i < op_rcs.size(); ++i) {
    const int err = op_rcs[i];
    if (err != ZOK && err != ZRUNTIMEINCONSISTENCY) {
      return MultiOpFailedStatus(ops, i, err, context);
    }
  }
  return ZkStatus(rc, context);
}

std::optional<int> ZkErrorCode(const absl::Status& status) {
  return IntPayload(status, kRcPayload);
}

bool IsSessionExpired(const absl::Status& status) {
  std::optional<int> rc = ZkErrorCode(status);
  return rc && (*rc == ZSESSIONEXPIRED || *rc == ZINVALIDSTATE);
}

bool IsConnectionLoss(const absl::Status& status) {
  std::optional<int> rc = ZkErrorCode(status);
  return rc && (*rc == ZCONNECTIONLOSS || *rc == ZOPERATIONTIMEOUT);
}

bool IsThrottled(const absl::Status& status) {
  std::optional<int> rc = ZkErrorCode(status);
  return rc && *rc == ZTHROTTLEDOP;
}

absl::Status WithMultiFailedOp(absl::Status status, int index) {
  status.SetPayload(kFailedOpPayload, absl::Cord(absl::StrCat(index)));
  return status;
}

std::optional<int> MultiFailedOp(const absl::Status& status) {
  return IntPayload(status, kFailedOpPayload);
}

}  // namespace zk
}  // namespace kess
