#include "common/transport/event_loop.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace kess {
namespace transport {
namespace {

std::unique_ptr<EventLoop> MakeLoop() {
  absl::StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::Create("test");
  EXPECT_TRUE(loop.ok()) << loop.status();
  return std::move(loop).value();
}

// Runs `fn` on the loop and waits for it.
void RunAndWait(EventLoop* loop, std::function<void()> fn) {
  absl::Notification done;
  loop->Post([&] {
    fn();
    done.Notify();
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
}

TEST(EventLoopTest, PostedTasksRunOnLoopThreadInOrder) {
  auto loop = MakeLoop();
  std::vector<int> order;
  std::atomic<bool> all_in_loop{true};
  for (int i = 0; i < 100; ++i) {
    loop->Post([&, i] {
      if (!loop->InLoopThread()) all_in_loop = false;
      order.push_back(i);
    });
  }
  RunAndWait(loop.get(), [] {});
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
  EXPECT_TRUE(all_in_loop);
  EXPECT_FALSE(loop->InLoopThread());
}

TEST(EventLoopTest, PostsFromManyThreadsAllRun) {
  auto loop = MakeLoop();
  std::atomic<int> ran{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) loop->Post([&] { ran++; });
    });
  }
  for (auto& t : threads) t.join();
  RunAndWait(loop.get(), [] {});
  EXPECT_EQ(ran.load(), 4000);
}

TEST(EventLoopTest, TimersFireInDeadlineOrderAndCancelWorks) {
  auto loop = MakeLoop();
  std::vector<int> fired;
  absl::Notification done;
  RunAndWait(loop.get(), [&] {
    loop->RunAfter(absl::Milliseconds(30), [&] { fired.push_back(30); });
    EventLoop::TimerId cancelled =
        loop->RunAfter(absl::Milliseconds(10), [&] { fired.push_back(-1); });
    loop->RunAfter(absl::ZeroDuration(), [&] { fired.push_back(0); });
    loop->RunAfter(absl::Milliseconds(60), [&] { done.Notify(); });
    loop->CancelTimer(cancelled);
    loop->CancelTimer(cancelled);  // twice is harmless
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(fired, (std::vector<int>{0, 30}));
}

TEST(EventLoopTest, TimerCallbackMayScheduleAnotherTimer) {
  auto loop = MakeLoop();
  std::atomic<int> count{0};
  absl::Notification done;
  std::function<void()> tick = [&] {
    if (++count == 5) {
      done.Notify();
    } else {
      loop->RunAfter(absl::ZeroDuration(), tick);
    }
  };
  loop->Post([&] { loop->RunAfter(absl::ZeroDuration(), tick); });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(count.load(), 5);
}

TEST(EventLoopTest, SubMillisecondDelaysRoundUpAndNegativeOnesRunNow) {
  auto loop = MakeLoop();
  std::vector<int> fired;
  absl::Notification done;
  int64_t start_ms = 0;
  int64_t rounded_up_ms = 0;
  RunAndWait(loop.get(), [&] {
    start_ms = EventLoop::NowMs();
    loop->RunAfter(absl::Microseconds(1), [&] {
      fired.push_back(1);
      rounded_up_ms = EventLoop::NowMs() - start_ms;
      done.Notify();
    });
    loop->RunAfter(absl::Milliseconds(-5), [&] { fired.push_back(0); });
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(fired, (std::vector<int>{0, 1}));
  EXPECT_GE(rounded_up_ms, 1);  // 1 us is 1 ms, not 0
}

TEST(EventLoopTest, DeleteSoonDeletesOnLoop) {
  auto loop = MakeLoop();
  struct Flag {
    explicit Flag(std::atomic<bool>* d) : deleted(d) {}
    ~Flag() { *deleted = true; }
    std::atomic<bool>* deleted;
  };
  std::atomic<bool> deleted{false};
  RunAndWait(loop.get(), [&] {
    loop->DeleteSoon(std::make_unique<Flag>(&deleted));
    EXPECT_FALSE(deleted.load());  // not before the current task ends
  });
  RunAndWait(loop.get(), [] {});
  EXPECT_TRUE(deleted.load());
}

TEST(EventLoopTest, DestructorReturnsWithPendingTimersAndTasks) {
  auto loop = MakeLoop();
  auto shared = std::make_shared<int>(1);
  std::weak_ptr<int> weak = shared;
  RunAndWait(loop.get(),
             [&, shared] { loop->RunAfter(absl::Hours(1), [shared] {}); });
  shared.reset();
  EXPECT_FALSE(weak.expired());  // held by the hour-long timer
  loop.reset();
  EXPECT_TRUE(weak.expired());  // destroyed, not leaked, without running
}

}  // namespace
}  // namespace transport
}  // namespace kess
