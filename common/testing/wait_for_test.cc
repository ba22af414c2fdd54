#include "common/testing/wait_for.h"

#include <atomic>
#include <chrono>
#include <thread>

#include "gtest/gtest.h"

namespace kess {
namespace testing {
namespace {

TEST(WaitForTest, TrueAtOnceWithoutSleeping) {
  int calls = 0;
  EXPECT_TRUE(WaitFor(
      [&] {
        ++calls;
        return true;
      },
      absl::Seconds(10)));
  EXPECT_EQ(calls, 1);
}

TEST(WaitForTest, TrueOnceTheConditionHolds) {
  std::atomic<bool> done{false};
  std::thread setter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    done = true;
  });
  EXPECT_TRUE(WaitFor([&] { return done.load(); }, absl::Seconds(30)));
  setter.join();
}

TEST(WaitForTest, FalseAfterTheTimeout) {
  int calls = 0;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(WaitFor(
      [&] {
        ++calls;
        return false;
      },
      absl::Milliseconds(100)));
  EXPECT_GE(std::chrono::steady_clock::now() - start,
            std::chrono::milliseconds(100));
  EXPECT_GE(calls, 2);  // polled, and asked once more at the deadline
}

TEST(WaitForTest, ZeroTimeoutStillAsksOnce) {
  int calls = 0;
  EXPECT_FALSE(WaitFor(
      [&] {
        ++calls;
        return false;
      },
      absl::ZeroDuration()));
  EXPECT_EQ(calls, 2);
  EXPECT_TRUE(WaitFor([] { return true; }, -absl::Seconds(1)));
}

TEST(WaitForTest, PollsAtTheGivenInterval) {
  int calls = 0;
  EXPECT_FALSE(WaitFor(
      [&] {
        ++calls;
        return false;
      },
      absl::Milliseconds(250), absl::Milliseconds(100)));
  // Asked at about 0, 100, 200 ms and once more at the deadline; at the
  // default 5 ms it would be about 50 times.
  EXPECT_GE(calls, 2);
  EXPECT_LE(calls, 5);
}

}  // namespace
}  // namespace testing
}  // namespace kess
