// The commit step of the main-DC leader's write path: what its WriteQueue
// (write_queue.h) runs for each write the HTTP API accepted. Mandator
// (mandator.h) and the in-process API server of tests
// (mandator/testing/api_server.h) commit through it, so both write exactly
// as the leader does.
//
//   auto queue = WriteQueue::Create(
//       [&](const WriteOp& op) {
//         return CommitLeaderWrite(op, LeaderFence(), store, gray);
//       },
//       options);
//
// Thread-safety: as ConfigStore's and GrayStore's writes (meant to be called
// from the WriteQueue's one writer thread).
#pragma once

#include <string>

#include "common/status.h"
#include "mandator/core/config_store.h"
#include "mandator/core/gray_store.h"
#include "mandator/core/write_queue.h"

namespace kess {
namespace mandator {
namespace core {

// Applies `op` to `configs` (put, delete, rollback) or `gray` (gray start,
// promote, abort), fenced by `fence`: the leader's election node, which the
// commit multi checks (invariant 3). An empty `fence` means this mandator
// is not, or no longer, the main DC's leader: Unavailable, nothing written.
// Otherwise the store's answer (config_store.h, gray_store.h).
absl::StatusOr<CommitResult> CommitLeaderWrite(const WriteOp& op,
                                               const std::string& fence,
                                               ConfigStore* configs,
                                               GrayStore* gray);

}  // namespace core
}  // namespace mandator
}  // namespace kess
