#include "common/steady_await.h"

#include <chrono>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace kess {
namespace {

using std::chrono::steady_clock;

// Lower bounds only: a timeout cannot end early; how late it ends is not a
// test's business on a shared machine ("did not hang" = the test ends).
TEST(SteadyAwaitTest, TimesOutAfterTheTimeoutOnTheMonotonicClock) {
  absl::Mutex mu;
  bool flag = false;
  absl::MutexLock lock(&mu);
  const auto start = steady_clock::now();
  EXPECT_FALSE(AwaitWithSteadyTimeout(&mu, absl::Condition(&flag),
                                      absl::Milliseconds(50)));
  EXPECT_GE(steady_clock::now() - start, std::chrono::milliseconds(50));
}

TEST(SteadyAwaitTest, ReturnsAtOnceWhenTheConditionHolds) {
  absl::Mutex mu;
  bool flag = true;
  absl::MutexLock lock(&mu);
  EXPECT_TRUE(
      AwaitWithSteadyTimeout(&mu, absl::Condition(&flag), absl::Hours(1)));
  bool never = false;
  EXPECT_FALSE(AwaitWithSteadyTimeout(&mu, absl::Condition(&never),
                                      absl::ZeroDuration()));
}

TEST(SteadyAwaitTest, WakesWhenAnotherThreadMakesTheConditionTrue) {
  absl::Mutex mu;
  bool flag = false;
  std::thread setter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    absl::MutexLock lock(&mu);
    flag = true;
  });
  {
    absl::MutexLock lock(&mu);
    EXPECT_TRUE(
        AwaitWithSteadyTimeout(&mu, absl::Condition(&flag), absl::Hours(1)));
  }
  setter.join();
}

// Many concurrent waits with different timeouts, on one mutex and on
// several: each ends (none is lost by the shared ticker), none early.
TEST(SteadyAwaitTest, ManyConcurrentWaitsAllEnd) {
  absl::Mutex shared;
  std::vector<absl::Mutex> own(8);
  std::vector<std::thread> threads;
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&, i] {
      absl::Mutex* mu = i % 2 == 0 ? &shared : &own[i / 2];
      bool never = false;
      const auto timeout = std::chrono::milliseconds(10 + 7 * i);
      const auto start = steady_clock::now();
      absl::MutexLock lock(mu);
      EXPECT_FALSE(AwaitWithSteadyTimeout(mu, absl::Condition(&never),
                                          absl::FromChrono(timeout)));
      EXPECT_GE(steady_clock::now() - start, timeout);
    });
  }
  for (std::thread& t : threads) t.join();
}

TEST(SteadyNotificationTest, TimesOutThenSeesTheNotification) {
  SteadyNotification n;
  EXPECT_FALSE(n.HasBeenNotified());
  const auto start = steady_clock::now();
  EXPECT_FALSE(n.WaitForNotificationWithTimeout(absl::Milliseconds(30)));
  EXPECT_GE(steady_clock::now() - start, std::chrono::milliseconds(30));
  std::thread notifier([&n] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    n.Notify();
  });
  EXPECT_TRUE(n.WaitForNotificationWithTimeout(absl::Hours(1)));
  EXPECT_TRUE(n.HasBeenNotified());
  notifier.join();
}

}  // namespace
}  // namespace kess
