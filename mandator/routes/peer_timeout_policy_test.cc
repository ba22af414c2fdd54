#include "mandator/routes/peer_timeout_policy.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kess {
namespace mandator {
namespace routes {
namespace {

TEST(PeerTimeoutPolicyTest, DegradesAfterThreeTimeoutsInARow) {
  PeerTimeoutPolicy policy;
  policy.OnSuccess(absl::Milliseconds(1));  // a near peer, answered once
  EXPECT_EQ(policy.timeout(), absl::Seconds(5));
  policy.OnTimeout();
  policy.OnTimeout();
  EXPECT_EQ(policy.timeout(), absl::Seconds(5));
  policy.OnTimeout();
  EXPECT_TRUE(policy.degraded());
  EXPECT_EQ(policy.timeout(), absl::Milliseconds(100));
}

TEST(PeerTimeoutPolicyTest, ASuccessBreaksTheTimeoutStreak) {
  PeerTimeoutPolicy policy;
  policy.OnTimeout();
  policy.OnTimeout();
  policy.OnSuccess(absl::Milliseconds(1));
  policy.OnTimeout();
  policy.OnTimeout();
  EXPECT_FALSE(policy.degraded());
  policy.OnTimeout();
  EXPECT_TRUE(policy.degraded());
}

TEST(PeerTimeoutPolicyTest, RecoversAfterTenSuccessesInARow) {
  PeerTimeoutPolicy policy;
  for (int i = 0; i < 3; ++i) policy.OnTimeout();
  for (int i = 0; i < 9; ++i) {
    policy.OnSuccess(absl::Milliseconds(1));
    EXPECT_EQ(policy.timeout(), absl::Milliseconds(100)) << i;
  }
  policy.OnSuccess(absl::Milliseconds(1));
  EXPECT_FALSE(policy.degraded());
  EXPECT_EQ(policy.timeout(), absl::Seconds(5));
}

TEST(PeerTimeoutPolicyTest, ATimeoutOrErrorWhileDegradedRestartsTheCount) {
  PeerTimeoutPolicy policy;
  for (int i = 0; i < 3; ++i) policy.OnTimeout();
  for (int i = 0; i < 9; ++i) policy.OnSuccess(absl::Milliseconds(1));
  policy.OnTimeout();
  for (int i = 0; i < 9; ++i) policy.OnSuccess(absl::Milliseconds(1));
  EXPECT_TRUE(policy.degraded());
  policy.OnError();
  for (int i = 0; i < 9; ++i) policy.OnSuccess(absl::Milliseconds(1));
  EXPECT_TRUE(policy.degraded());
  policy.OnSuccess(absl::Milliseconds(1));
  EXPECT_FALSE(policy.degraded());
}

TEST(PeerTimeoutPolicyTest, ErrorsAreNotTimeouts) {
  PeerTimeoutPolicy policy;
  for (int i = 0; i < 10; ++i) policy.OnError();
  EXPECT_FALSE(policy.degraded());
}

TEST(PeerTimeoutPolicyTest, DegradedTimeoutLeavesRoomForAFarPeer) {
  PeerTimeoutPolicy policy;
  // A peer two regions away: every answer takes ~150 ms.
  for (int i = 0; i < 5; ++i) policy.OnSuccess(absl::Milliseconds(150));
  for (int i = 0; i < 3; ++i) policy.OnTimeout();
  ASSERT_TRUE(policy.degraded());
  // 4 x the slowest answer, not 100 ms: it can still answer and recover.
  EXPECT_EQ(policy.timeout(), absl::Milliseconds(600));
  for (int i = 0; i < 10; ++i) policy.OnSuccess(absl::Milliseconds(150));
  EXPECT_FALSE(policy.degraded());
  EXPECT_EQ(policy.timeout(), absl::Seconds(5));
}

TEST(PeerTimeoutPolicyTest, APeerNeverHeardFromIsProbedWithRoomForAFarDc) {
  PeerTimeoutPolicy policy;
  for (int i = 0; i < 3; ++i) policy.OnTimeout();
  ASSERT_TRUE(policy.degraded());
  // Short, except every 5th call: room for a far DC to answer once.
  std::vector<absl::Duration> timeouts;
  for (int i = 0; i < 10; ++i) {
    timeouts.push_back(policy.timeout());
    policy.OnTimeout();
  }
  const absl::Duration s = absl::Milliseconds(100), l = absl::Seconds(1);
  EXPECT_THAT(timeouts, ::testing::ElementsAre(s, s, s, s, l, s, s, s, s, l));
  // It answers the probe in 150 ms: from then on it has 600 ms.
  policy.OnSuccess(absl::Milliseconds(150));
  EXPECT_EQ(policy.timeout(), absl::Milliseconds(600));
}

TEST(PeerTimeoutPolicyTest, LearnedTimeoutIsCappedAndForgetsOldSlowness) {
  PeerTimeoutPolicy policy;
  policy.OnSuccess(absl::Seconds(3));  // one very slow answer
  for (int i = 0; i < 3; ++i) policy.OnTimeout();
  EXPECT_EQ(policy.timeout(), absl::Seconds(1));  // a sick peer stays short
  // Two windows of fast answers later it is forgotten. (Degraded still:
  // timeouts in between keep it so.)
  for (int i = 0; i < 32; ++i) {
    policy.OnSuccess(absl::Milliseconds(10));
    if (i % 8 == 0) policy.OnTimeout();
  }
  for (int i = 0; i < 3; ++i) policy.OnTimeout();
  ASSERT_TRUE(policy.degraded());
  EXPECT_EQ(policy.timeout(), absl::Milliseconds(100));
}

TEST(PeerTimeoutPolicyTest, ConstantsAreConfigurable) {
  PeerTimeoutPolicy::Options options;
  options.normal_timeout = absl::Seconds(1);
  options.degraded_timeout = absl::Milliseconds(10);
  options.timeouts_to_degrade = 1;
  options.successes_to_recover = 2;
  PeerTimeoutPolicy policy(options);
  policy.OnSuccess(absl::Milliseconds(1));
  policy.OnTimeout();
  EXPECT_EQ(policy.timeout(), absl::Milliseconds(10));
  policy.OnSuccess(absl::Milliseconds(1));
  policy.OnSuccess(absl::Milliseconds(1));
  EXPECT_EQ(policy.timeout(), absl::Seconds(1));
}

}  // namespace
}  // namespace routes
}  // namespace mandator
}  // namespace kess
