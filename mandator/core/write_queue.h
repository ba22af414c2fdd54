// WriteQueue: the leader's write path between the HTTP handlers and the
// ConfigStore. One writer thread commits pending writes one at a time:
//
//  - Rate bound: commits are paced by a token bucket of
//    `max_writes_per_second` (capacity `burst`). A coalesced group is one
//    commit.
//  - Coalescing: when the writer takes an unconditional put, every later
//    pending unconditional put to the SAME key joins it, up to the first
//    pending write of that key that is not one (a delete, a rollback, a
//    compare-and-set put). The group is committed once with the last value
//    (last writer wins; writes to other keys in between commute with it),
//    and every caller of the group gets the committed revision with
//    `coalesced` set. Compare-and-set writes are never coalesced.
//  - Bounded: more than `max_pending` waiting writes -> ResourceExhausted
//    at once (HTTP 429).
//  - Acknowledged = committed: Submit returns OK only after the committer
//    returned OK (the multi succeeded). A write whose deadline passes before
//    the writer took it is dropped and answered DeadlineExceeded ("not
//    written"); one that the writer already took is waited for.
//
// Metrics (in Options::registry): kess_mandator_writes_total{result},
// kess_mandator_coalesced_writes_total, kess_mandator_commits_total,
// kess_mandator_write_queue_depth.
//
// Thread-safety: Submit, depth and FailPending are thread-safe. The
// committer runs on the writer thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "common/status.h"
#include "mandator/core/config_store.h"
#include "mandator/core/gray_store.h"

namespace kess {
namespace mandator {
namespace core {

struct WriteOp {
  enum class Kind {
    kPut,
    kDelete,
    kRollback,
    kGrayStart,
    kGrayPromote,
    kGrayAbort
  };
  Kind kind = Kind::kPut;
  PutRequest put;            // kPut
  DeleteRequest del;         // kDelete
  RollbackRequest rollback;  // kRollback
  GrayRequest gray;          // kGrayStart
  GrayEndRequest gray_end;   // kGrayPromote, kGrayAbort

  static WriteOp Put(PutRequest request);
  static WriteOp Delete(DeleteRequest request);
  static WriteOp Rollback(RollbackRequest request);
  static WriteOp GrayStart(GrayRequest request);
  static WriteOp GrayEnd(GrayEndRequest request, bool promote);

  const std::string& ns() const;
  const std::string& key() const;
  // An unconditional put: may be merged with others of the same key.
  bool Coalescable() const;
};

struct WriteReply {
  absl::StatusOr<CommitResult> result = absl::UnknownError("not answered");
  bool coalesced = false;  // committed together with other callers' puts
};

class WriteQueue {
 public:
  using Committer = std::function<absl::StatusOr<CommitResult>(const WriteOp&)>;

  struct Options {
    size_t max_pending = 10000;
    double max_writes_per_second = 2000;
    // Token bucket capacity; 0 = max(1, max_writes_per_second / 10).
    int burst = 0;
    metrics::Registry* registry = &metrics::Registry::Default();
  };

  // Starts the writer thread. InvalidArgument for a rate <= 0 or
  // max_pending == 0.
  static absl::StatusOr<std::unique_ptr<WriteQueue>> Create(Committer committer,
                                                            Options options);
  // Answers pending writes Unavailable and joins the writer (after the
  // commit in progress, if any).
  ~WriteQueue();

  WriteQueue(const WriteQueue&) = delete;
  WriteQueue& operator=(const WriteQueue&) = delete;

  // Queues `op` and waits for its outcome (see the header comment).
  WriteReply Submit(WriteOp op, absl::Duration timeout);

  // Waiting writes (not yet taken by the writer).
  size_t depth() const;

  // Answers every waiting write with `status` (e.g. on losing leadership);
  // the commit in progress, if any, completes normally.
  void FailPending(const absl::Status& status);

 private:
  struct Entry {
    WriteOp op;
    bool started = false;
    bool done = false;
    WriteReply reply;
  };

  WriteQueue(Committer committer, Options options);
  void Loop();
  // Blocks until a token is available or stop_; returns false on stop_.
  bool TakeToken();
  // Removes the head and the writes that coalesce with it.
  std::vector<std::shared_ptr<Entry>> TakeGroup()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Finish(const std::vector<std::shared_ptr<Entry>>& group,
              const absl::StatusOr<CommitResult>& result);
  void CountResult(const absl::Status& status);
  void FailPendingLocked(const absl::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Committer committer_;
  const Options options_;
  const double capacity_;

  mutable absl::Mutex mu_;
  std::deque<std::shared_ptr<Entry>> pending_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  double tokens_ ABSL_GUARDED_BY(mu_);
  // Monotonic (Clock::Steady()): a wall-clock jump must not stall writes.
  int64_t refilled_ms_ ABSL_GUARDED_BY(mu_);

  metrics::Counter* coalesced_;
  metrics::Counter* commits_;
  std::thread writer_;
};

}  // namespace core
}  // namespace mandator
}  // namespace kess
