#include "mandator/core/leader_write.h"

namespace kess {
namespace mandator {
namespace core {

absl::StatusOr<CommitResult> CommitLeaderWrite(const WriteOp& op,
                                               const std::string& fence,
                                               ConfigStore* configs,
                                               GrayStore* gray) {
  if (fence.empty()) {
    return absl::UnavailableError(
        "this mandator is no longer the leader; nothing was written, retry "
        "against the new leader");
  }
  switch (op.kind) {
    case WriteOp::Kind::kPut:
      return configs->Put(op.put, fence);
    case WriteOp::Kind::kDelete:
      return configs->Delete(op.del, fence);
    case WriteOp::Kind::kRollback:
      return configs->Rollback(op.rollback, fence);
    case WriteOp::Kind::kGrayStart:
      return gray->Start(op.gray, fence);
    case WriteOp::Kind::kGrayPromote:
      return gray->Promote(op.gray_end, fence);
    case WriteOp::Kind::kGrayAbort:
      return gray->Abort(op.gray_end, fence);
  }
  return absl::InternalError("unknown write kind");
}

}  // namespace core
}  // namespace mandator
}  // namespace kess
