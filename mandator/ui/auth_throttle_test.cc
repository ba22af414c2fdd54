#include "mandator/ui/auth_throttle.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "gtest/gtest.h"

namespace kess {
namespace mandator {
namespace ui {
namespace {

AuthThrottleOptions Opts(const Clock* clock, size_t max_addresses = 10000) {
  AuthThrottleOptions o;
  o.burst = 5;
  o.refill = absl::Seconds(1);
  o.max_addresses = max_addresses;
  o.clock = clock;
  return o;
}

TEST(ClientKeyTest, PortsAreDroppedAndIpv6IsItsSlash64) {
  EXPECT_EQ(ClientKey("127.0.0.1:53422"), "127.0.0.1");
  EXPECT_EQ(ClientKey("127.1.2.3"), "127.1.2.3");
  EXPECT_EQ(ClientKey("[2001:db8:1:2:3:4:5:6]:443"), "2001:db8:1:2::/64");
  EXPECT_EQ(ClientKey("[2001:db8:1:2:ffff::1]:80"), "2001:db8:1:2::/64");
  EXPECT_EQ(ClientKey("2001:db8:1:2::9"), "2001:db8:1:2::/64");
  EXPECT_EQ(ClientKey("[::ffff:127.0.0.7]:99"), "127.0.0.7");
  EXPECT_EQ(ClientKey("[::1]:7100"), "::/64");
  EXPECT_EQ(ClientKey("not-an-address"), "not-an-address");
}

TEST(AuthThrottleTest, BurstThenOnePerRefill) {
  ManualClock clock;
  AuthThrottle t(Opts(&clock));
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(t.RetryAfter("a"), absl::ZeroDuration()) << i;
    t.Failed("a");
  }
  EXPECT_EQ(t.RetryAfter("a"), absl::Seconds(1));
  clock.Advance(400);
  EXPECT_EQ(t.RetryAfter("a"), absl::Milliseconds(600));
  clock.Advance(600);
  EXPECT_EQ(t.RetryAfter("a"), absl::ZeroDuration());
  t.Failed("a");  // the one that came back
  EXPECT_EQ(t.RetryAfter("a"), absl::Seconds(1));
  // Ten seconds later: 5 again, never more.
  clock.Advance(10000);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(t.RetryAfter("a"), absl::ZeroDuration()) << i;
    t.Failed("a");
  }
  EXPECT_GT(t.RetryAfter("a"), absl::ZeroDuration());
}

TEST(AuthThrottleTest, NeverGlobal) {
  ManualClock clock;
  AuthThrottle t(Opts(&clock));
  for (int i = 0; i < 50; ++i) t.Failed("attacker");
  EXPECT_GT(t.RetryAfter("attacker"), absl::ZeroDuration());
  EXPECT_EQ(t.RetryAfter("someone-else"), absl::ZeroDuration());
  // Failing harder does not dig a deeper hole: one refill period suffices.
  clock.Advance(1000);
  EXPECT_EQ(t.RetryAfter("attacker"), absl::ZeroDuration());
}

TEST(AuthThrottleTest, FullBucketsAreDroppedAndTheMapIsBounded) {
  ManualClock clock;
  AuthThrottle t(Opts(&clock, /*max_addresses=*/100));
  for (int i = 0; i < 1000; ++i) t.Failed(absl::StrCat("127.0.", i / 250, ".", i % 250));
  EXPECT_EQ(t.tracked(), 100u);
  // The most recent ones are kept, the oldest forgotten.
  for (int i = 0; i < 5; ++i) t.Failed("127.0.3.249");
  EXPECT_GT(t.RetryAfter("127.0.3.249"), absl::ZeroDuration());
  EXPECT_EQ(t.RetryAfter("127.0.0.0"), absl::ZeroDuration());
  // Refilled to the brim: forgotten when seen.
  clock.Advance(5000);
  EXPECT_EQ(t.RetryAfter("127.0.3.249"), absl::ZeroDuration());
  EXPECT_EQ(t.tracked(), 99u);
}

TEST(AuthThrottleTest, TheLeastRecentlyFailingIsEvicted) {
  ManualClock clock;
  AuthThrottle t(Opts(&clock, /*max_addresses=*/2));
  for (int i = 0; i < 5; ++i) t.Failed("a");
  t.Failed("b");
  t.Failed("a");  // a is now the most recent
  t.Failed("c");  // evicts b
  EXPECT_GT(t.RetryAfter("a"), absl::ZeroDuration());
  EXPECT_EQ(t.tracked(), 2u);
}

}  // namespace
}  // namespace ui
}  // namespace mandator
}  // namespace kess
