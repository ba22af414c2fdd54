#include "mandator/routes/peer_timeout_policy.h"

#include "gtest/gtest.h"

namespace kess {
namespace mandator {
namespace routes {
namespace {

TEST(PeerTimeoutPolicyTest, DegradesAfterThreeTimeoutsInARow) {
  PeerTimeoutPolicy policy;
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
  policy.OnSuccess();
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
    policy.OnSuccess();
    EXPECT_EQ(policy.timeout(), absl::Milliseconds(100)) << i;
  }
  policy.OnSuccess();
  EXPECT_FALSE(policy.degraded());
  EXPECT_EQ(policy.timeout(), absl::Seconds(5));
}

TEST(PeerTimeoutPolicyTest, ATimeoutOrErrorWhileDegradedRestartsTheCount) {
  PeerTimeoutPolicy policy;
  for (int i = 0; i < 3; ++i) policy.OnTimeout();
  for (int i = 0; i < 9; ++i) policy.OnSuccess();
  policy.OnTimeout();
  for (int i = 0; i < 9; ++i) policy.OnSuccess();
  EXPECT_TRUE(policy.degraded());
  policy.OnError();
  for (int i = 0; i < 9; ++i) policy.OnSuccess();
  EXPECT_TRUE(policy.degraded());
  policy.OnSuccess();
  EXPECT_FALSE(policy.degraded());
}

TEST(PeerTimeoutPolicyTest, ErrorsAreNotTimeouts) {
  PeerTimeoutPolicy policy;
  for (int i = 0; i < 10; ++i) policy.OnError();
  EXPECT_FALSE(policy.degraded());
}

TEST(PeerTimeoutPolicyTest, ConstantsAreConfigurable) {
  PeerTimeoutPolicy::Options options;
  options.normal_timeout = absl::Seconds(1);
  options.degraded_timeout = absl::Milliseconds(10);
  options.timeouts_to_degrade = 1;
  options.successes_to_recover = 2;
  PeerTimeoutPolicy policy(options);
  policy.OnTimeout();
  EXPECT_EQ(policy.timeout(), absl::Milliseconds(10));
  policy.OnSuccess();
  policy.OnSuccess();
  EXPECT_EQ(policy.timeout(), absl::Seconds(1));
}

}  // namespace
}  // namespace routes
}  // namespace mandator
}  // namespace kess
