#include "mandator/core/write_queue.h"

#include <algorithm>
#include <cctype>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "common/steady_await.h"

namespace kess {
namespace mandator {
namespace core {

WriteOp WriteOp::Put(PutRequest request) {
  WriteOp op;
  op.kind = Kind::kPut;
  op.put = std::move(request);
  return op;
}

WriteOp WriteOp::Delete(DeleteRequest request) {
  WriteOp op;
  op.kind = Kind::kDelete;
  op.del = std::move(request);
  return op;
}

WriteOp WriteOp::Rollback(RollbackRequest request) {
  WriteOp op;
  op.kind = Kind::kRollback;
  op.rollback = std::move(request);
  return op;
}

WriteOp WriteOp::GrayStart(GrayRequest request) {
  WriteOp op;
  op.kind = Kind::kGrayStart;
  op.gray = std::move(request);
  return op;
}

WriteOp WriteOp::GrayEnd(GrayEndRequest request, bool promote) {
  WriteOp op;
  op.kind = promote ? Kind::kGrayPromote : Kind::kGrayAbort;
  op.gray_end = std::move(request);
  return op;
}

const std::string& WriteOp::ns() const {
  switch (kind) {
    case Kind::kGrayStart:
      return gray.ns;
    case Kind::kGrayPromote:
    case Kind::kGrayAbort:
      return gray_end.ns;
    case Kind::kDelete:
      return del.ns;
    case Kind::kRollback:
      return rollback.ns;
    default:
      return put.ns;
  }
}

const std::string& WriteOp::key() const {
  switch (kind) {
    case Kind::kGrayStart:
      return gray.key;
    case Kind::kGrayPromote:
    case Kind::kGrayAbort:
      return gray_end.key;
    case Kind::kDelete:
      return del.key;
    case Kind::kRollback:
      return rollback.key;
    default:
      return put.key;
  }
}

bool WriteOp::Coalescable() const {
  return kind == Kind::kPut && !put.expected_revision.has_value();
}

absl::StatusOr<std::unique_ptr<WriteQueue>> WriteQueue::Create(
    Committer committer, Options options) {
  if (!(options.max_writes_per_second > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_writes_per_second must be positive, not ",
                     options.max_writes_per_second));
  }
  if (options.max_pending == 0) {
    return absl::InvalidArgumentError("max_pending must be positive");
  }
  std::unique_ptr<WriteQueue> queue(
      new WriteQueue(std::move(committer), std::move(options)));
  WriteQueue* self = queue.get();
  queue->options_.registry->SetCallbackGauge(
      "kess_mandator_write_queue_depth",
      "Writes waiting for the leader's writer thread.", {},
      [self] { return static_cast<double>(self->depth()); });
  queue->writer_ = std::thread([self] { self->Loop(); });
  return queue;
}

WriteQueue::WriteQueue(Committer committer, Options options)
    : committer_(std::move(committer)),
      options_(std::move(options)),
      capacity_(options_.burst > 0
                    ? options_.burst
                    : std::max(1.0, options_.max_writes_per_second / 10)),
      tokens_(capacity_),
      refilled_ms_(Clock::Steady()->NowMs()) {
  coalesced_ = options_.registry->GetCounter(
      "kess_mandator_coalesced_writes_total",
      "Writes committed together with an earlier pending put to the same "
      "key.");
  commits_ = options_.registry->GetCounter(
      "kess_mandator_commits_total",
      "Commits issued by the leader's writer (a coalesced group is one).");
}

WriteQueue::~WriteQueue() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    FailPendingLocked(absl::UnavailableError(
        "the mandator is shutting down; the write was not applied"));
  }
  writer_.join();
  options_.registry->RemoveCallbackGauge("kess_mandator_write_queue_depth", {});
}

size_t WriteQueue::depth() const {
  absl::MutexLock lock(&mu_);
  return pending_.size();
}

void WriteQueue::CountResult(const absl::Status& status) {
  std::string code = absl::StatusCodeToString(status.code());
  for (char& c : code) c = static_cast<char>(std::tolower(c));
  options_.registry
      ->GetCounter("kess_mandator_writes_total",
                   "Writes answered by the leader, by result.",
                   {{"result", code}})
      ->Increment();
}

WriteReply WriteQueue::Submit(WriteOp op, absl::Duration timeout) {
  auto entry = std::make_shared<Entry>();
  entry->op = std::move(op);
  absl::MutexLock lock(&mu_);
  if (stop_) {
    return WriteReply{absl::UnavailableError("the write queue is stopped")};
  }
  if (pending_.size() >= options_.max_pending) {
    absl::Status full = absl::ResourceExhaustedError(absl::StrCat(
        "write rate limit: ", pending_.size(),
        " writes are already waiting (at most ", options_.max_writes_per_second,
        " commits per second); retry later"));
    CountResult(full);
    return WriteReply{full};
  }
  pending_.push_back(entry);
  auto answered = [&entry]() { return entry->done; };
  AwaitWithSteadyTimeout(&mu_, absl::Condition(&answered), timeout);
  if (!entry->done && !entry->started) {
    pending_.erase(std::find(pending_.begin(), pending_.end(), entry));
    absl::Status late = absl::DeadlineExceededError(
        absl::StrCat("the write waited ", absl::FormatDuration(timeout),
                     " in the leader's queue and was not written"));
    CountResult(late);
    return WriteReply{late};
  }
  mu_.Await(absl::Condition(&answered));
  return entry->reply;
}

void WriteQueue::FailPending(const absl::Status& status) {
  absl::MutexLock lock(&mu_);
  FailPendingLocked(status);
}

void WriteQueue::FailPendingLocked(const absl::Status& status) {
  for (const std::shared_ptr<Entry>& entry : pending_) {
    entry->done = true;
    entry->reply = WriteReply{status};
    CountResult(status);
  }
  pending_.clear();
}

bool WriteQueue::TakeToken() {
  absl::MutexLock lock(&mu_);
  for (;;) {
    if (stop_) return false;
    const int64_t now_ms = Clock::Steady()->NowMs();
    const int64_t elapsed_ms = std::max<int64_t>(0, now_ms - refilled_ms_);
    tokens_ = std::min(capacity_, tokens_ + elapsed_ms / 1000.0 *
                                                options_.max_writes_per_second);
    refilled_ms_ = now_ms;
    if (tokens_ >= 1) {
      tokens_ -= 1;
      return true;
    }
    const absl::Duration wait =
        absl::Seconds((1 - tokens_) / options_.max_writes_per_second);
    AwaitWithSteadyTimeout(&mu_, absl::Condition(&stop_), wait);
  }
}

std::vector<std::shared_ptr<WriteQueue::Entry>> WriteQueue::TakeGroup() {
  std::vector<std::shared_ptr<Entry>> group = {pending_.front()};
  pending_.pop_front();
  const WriteOp& head = group[0]->op;
  if (head.Coalescable()) {
    for (auto it = pending_.begin(); it != pending_.end();) {
      const WriteOp& op = (*it)->op;
      if (op.ns() != head.ns() || op.key() != head.key()) {
        ++it;
        continue;
      }
      if (!op.Coalescable()) break;  // keep the order of this key's writes
      group.push_back(*it);
      it = pending_.erase(it);
    }
  }
  for (const std::shared_ptr<Entry>& entry : group) entry->started = true;
  return group;
}

void WriteQueue::Finish(const std::vector<std::shared_ptr<Entry>>& group,
                        const absl::StatusOr<CommitResult>& result) {
  absl::MutexLock lock(&mu_);
  for (const std::shared_ptr<Entry>& entry : group) {
    entry->reply = WriteReply{result, group.size() > 1};
    entry->done = true;
    CountResult(result.status());
  }
  if (result.ok() && group.size() > 1) coalesced_->Increment(group.size() - 1);
}

void WriteQueue::Loop() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_ || !pending_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (stop_) return;
    }
    // Waiting for a token before taking the group lets more puts to the
    // same key join it.
    if (!TakeToken()) return;
    std::vector<std::shared_ptr<Entry>> group;
    {
      absl::MutexLock lock(&mu_);
      if (pending_.empty()) continue;  // failed or timed out meanwhile
      group = TakeGroup();
    }
    WriteOp op = group.front()->op;
    if (group.size() > 1) op.put = group.back()->op.put;  // last value wins
    commits_->Increment();
    Finish(group, committer_(op));
  }
}

}  // namespace core
}  // namespace mandator
}  // namespace kess
