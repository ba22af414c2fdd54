#include "mandator/core/write_queue.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/testing/wait_for.h"
#include "gtest/gtest.h"

namespace kess {
namespace mandator {
namespace core {
namespace {

constexpr absl::Duration kLong = absl::Seconds(30);

// A committer that records what it commits and can be held at a gate.
class FakeStore {
 public:
  absl::StatusOr<CommitResult> Commit(const WriteOp& op) {
    absl::MutexLock lock(&mu_);
    ++entered_;
    auto open = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return open_; };
    mu_.Await(absl::Condition(&open));
    if (!fail_.ok()) return fail_;
    commits_.push_back(op);
    times_.push_back(absl::Now());
    return CommitResult{static_cast<int64_t>(commits_.size()), 1};
  }
  void SetOpen(bool open) {
    absl::MutexLock lock(&mu_);
    open_ = open;
  }
  void Fail(absl::Status status) {
    absl::MutexLock lock(&mu_);
    fail_ = std::move(status);
  }
  bool WaitEntered(int n) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return entered_ >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), kLong);
  }
  std::vector<WriteOp> commits() {
    absl::MutexLock lock(&mu_);
    return commits_;
  }
  std::vector<absl::Time> times() {
    absl::MutexLock lock(&mu_);
    return times_;
  }

 private:
  absl::Mutex mu_;
  bool open_ = true;
  int entered_ = 0;
  absl::Status fail_;
  std::vector<WriteOp> commits_;
  std::vector<absl::Time> times_;
};

WriteOp Put(const std::string& key, const std::string& value,
            std::optional<int64_t> expected = std::nullopt) {
  PutRequest r;
  r.ns = "ns";
  r.key = key;
  r.value = value;
  r.expected_revision = expected;
  return WriteOp::Put(r);
}

class WriteQueueTest : public ::testing::Test {
 protected:
  std::unique_ptr<WriteQueue> MakeQueue(WriteQueue::Options options = {}) {
    options.registry = &registry_;
    auto queue = WriteQueue::Create(
        [this](const WriteOp& op) { return store_.Commit(op); }, options);
    EXPECT_TRUE(queue.ok()) << queue.status();
    return std::move(queue).value();
  }

  // Submits `op` on a new thread once the queue holds `depth_before`
  // waiting writes, and waits until it is queued, so that the order of
  // the queue is the order of the calls.
  void SubmitInOrder(WriteQueue* queue, WriteOp op, WriteReply* reply) {
    const size_t before = queue->depth();
    threads_.emplace_back(
        [queue, op, reply] { *reply = queue->Submit(op, kLong); });
    ::kess::testing::WaitFor([&] { return queue->depth() != before; }, kLong);
  }
  // Submits `op` on a new thread while the store is closed, and waits until
  // the writer holds it at the gate.
  void SubmitHeld(WriteQueue* queue, WriteOp op, WriteReply* reply) {
    store_.SetOpen(false);
    threads_.emplace_back(
        [queue, op, reply] { *reply = queue->Submit(op, kLong); });
    ASSERT_TRUE(store_.WaitEntered(1));
  }
  void JoinAll() {
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }

  metrics::Registry registry_;
  FakeStore store_;
  std::vector<std::thread> threads_;
};

TEST_F(WriteQueueTest, UnconditionalPutsToOneKeyCoalesceAndCasDoesNot) {
  auto queue = MakeQueue();
  WriteReply r[6];
  SubmitHeld(queue.get(), Put("k", "1"), &r[0]);
  SubmitInOrder(queue.get(), Put("k", "2"), &r[1]);
  SubmitInOrder(queue.get(), Put("other", "x"), &r[2]);
  SubmitInOrder(queue.get(), Put("k", "3"), &r[3]);
  SubmitInOrder(queue.get(), Put("k", "4", /*expected=*/2), &r[4]);
  SubmitInOrder(queue.get(), Put("k", "5"), &r[5]);
  ASSERT_EQ(queue->depth(), 5u);
  store_.SetOpen(true);
  JoinAll();

  std::vector<WriteOp> commits = store_.commits();
  ASSERT_EQ(commits.size(), 5u);
  EXPECT_EQ(commits[0].put.value, "1");
  EXPECT_EQ(commits[1].put.value, "3");  // 2 and 3 in one commit
  EXPECT_EQ(commits[2].put.key, "other");
  EXPECT_EQ(commits[3].put.value, "4");  // the CAS stays alone, in order
  EXPECT_EQ(commits[4].put.value, "5");
  for (const WriteReply& reply : r) ASSERT_TRUE(reply.result.ok());
  EXPECT_FALSE(r[0].coalesced);
  EXPECT_TRUE(r[1].coalesced);
  EXPECT_TRUE(r[3].coalesced);
  EXPECT_EQ(r[1].result->revision, 2);
  EXPECT_EQ(r[3].result->revision, 2);
  EXPECT_EQ(r[2].result->revision, 3);
  EXPECT_FALSE(r[4].coalesced);
  EXPECT_EQ(r[4].result->revision, 4);
  EXPECT_EQ(r[5].result->revision, 5);
  EXPECT_EQ(
      registry_.GetCounter("kess_mandator_coalesced_writes_total", "")->Value(),
      1);
}

TEST_F(WriteQueueTest, ADeleteBetweenPutsKeepsThemApart) {
  auto queue = MakeQueue();
  WriteReply r[4];
  SubmitHeld(queue.get(), Put("hold", "h"), &r[0]);
  SubmitInOrder(queue.get(), Put("k", "a"), &r[1]);
  SubmitInOrder(queue.get(), WriteOp::Delete(DeleteRequest{"ns", "k"}), &r[2]);
  SubmitInOrder(queue.get(), Put("k", "b"), &r[3]);
  store_.SetOpen(true);
  JoinAll();
  std::vector<WriteOp> commits = store_.commits();
  ASSERT_EQ(commits.size(), 4u);
  EXPECT_EQ(commits[1].put.value, "a");
  EXPECT_EQ(commits[2].kind, WriteOp::Kind::kDelete);
  EXPECT_EQ(commits[3].put.value, "b");
  for (const WriteReply& reply : r) EXPECT_FALSE(reply.coalesced);
}

TEST_F(WriteQueueTest, AFailedCommitReachesEveryCoalescedCaller) {
  auto queue = MakeQueue();
  WriteReply r[3];
  SubmitHeld(queue.get(), Put("hold", "h"), &r[0]);
  SubmitInOrder(queue.get(), Put("k", "a"), &r[1]);
  SubmitInOrder(queue.get(), Put("k", "b"), &r[2]);
  store_.Fail(absl::UnavailableError("zk down"));
  store_.SetOpen(true);
  JoinAll();
  for (const WriteReply& reply : r) {
    EXPECT_EQ(reply.result.status().code(), absl::StatusCode::kUnavailable);
  }
  EXPECT_TRUE(store_.commits().empty());
  EXPECT_EQ(registry_
                .GetCounter("kess_mandator_writes_total", "",
                            {{"result", "unavailable"}})
                ->Value(),
            3);
}

TEST_F(WriteQueueTest, AFullQueueIsRefusedAtOnce) {
  WriteQueue::Options options;
  options.max_pending = 2;
  auto queue = MakeQueue(options);
  WriteReply r[3];
  SubmitHeld(queue.get(), Put("a", "1"), &r[0]);
  SubmitInOrder(queue.get(), Put("b", "1"), &r[1]);
  SubmitInOrder(queue.get(), Put("c", "1"), &r[2]);
  WriteReply refused = queue->Submit(Put("d", "1"), kLong);
  EXPECT_EQ(refused.result.status().code(),
            absl::StatusCode::kResourceExhausted);
  store_.SetOpen(true);
  JoinAll();
  for (const WriteReply& reply : r) EXPECT_TRUE(reply.result.ok());
  EXPECT_EQ(store_.commits().size(), 3u);
}

TEST_F(WriteQueueTest, AWriteThatTimesOutBeforeItStartsIsNeverWritten) {
  auto queue = MakeQueue();
  WriteReply held;
  SubmitHeld(queue.get(), Put("a", "1"), &held);
  WriteReply late = queue->Submit(Put("b", "1"), absl::Milliseconds(50));
  EXPECT_EQ(late.result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(queue->depth(), 0u);
  store_.SetOpen(true);
  JoinAll();
  ASSERT_EQ(store_.commits().size(), 1u);
  EXPECT_EQ(store_.commits()[0].put.key, "a");
}

TEST_F(WriteQueueTest, FailPendingAnswersWaitingWritesOnly) {
  auto queue = MakeQueue();
  WriteReply r[2];
  SubmitHeld(queue.get(), Put("a", "1"), &r[0]);
  SubmitInOrder(queue.get(), Put("b", "1"), &r[1]);
  queue->FailPending(absl::UnavailableError("demoted"));
  store_.SetOpen(true);
  JoinAll();
  EXPECT_TRUE(r[0].result.ok());
  EXPECT_EQ(r[1].result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(store_.commits().size(), 1u);
}

TEST_F(WriteQueueTest, CommitsNeverExceedTheRate) {
  WriteQueue::Options options;
  options.max_writes_per_second = 100;
  options.burst = 5;
  auto queue = MakeQueue(options);
  constexpr int kWrites = 40;
  std::vector<std::thread> writers;
  std::atomic<int> ok{0};
  for (int i = 0; i < kWrites; ++i) {
    writers.emplace_back([&, i] {
      if (queue->Submit(Put(absl::StrCat("k", i), "v"), kLong).result.ok()) {
        ++ok;
      }
    });
  }
  for (std::thread& t : writers) t.join();
  EXPECT_EQ(ok, kWrites);
  // In every window, at most burst + rate * window commits (plus one for
  // rounding at the window's edges).
  std::vector<absl::Time> times = store_.times();
  ASSERT_EQ(times.size(), static_cast<size_t>(kWrites));
  for (size_t i = 0; i < times.size(); ++i) {
    for (size_t j = i + 1; j < times.size(); ++j) {
      const double window = absl::ToDoubleSeconds(times[j] - times[i]);
      EXPECT_LE(static_cast<double>(j - i + 1), 5 + 100 * window + 1)
          << "commits " << i << ".." << j << " within " << window << " s";
    }
  }
}

TEST(WriteQueueCreateTest, BadOptionsAreRejected) {
  metrics::Registry registry;
  WriteQueue::Options options;
  options.registry = &registry;
  options.max_writes_per_second = 0;
  auto commit = [](const WriteOp&) {
    return absl::StatusOr<CommitResult>(CommitResult{});
  };
  EXPECT_FALSE(WriteQueue::Create(commit, options).ok());
  options.max_writes_per_second = 10;
  options.max_pending = 0;
  EXPECT_FALSE(WriteQueue::Create(commit, options).ok());
}

}  // namespace
}  // namespace core
}  // namespace mandator
}  // namespace kess
