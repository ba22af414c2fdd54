// Caller-side failover state: exponential ejection (1 s, 2 s, 4 s, ...
// capped), the weight ramp after an ejection, failures while ejected
// ignored, successes and quiet periods forgetting failures. Time is a
// ManualClock-style integer; nothing sleeps.
#include "sdk/failure_tracker.h"

#include "gtest/gtest.h"
#include "sdk/testing/route_tables.h"

namespace kess {
namespace sdk {
namespace {

using testing::Instance;

class FailureTrackerTest : public ::testing::Test {
 protected:
  // Factor of instance `id` at `now`, as Select would see it.
  double Factor(const std::string& id, int64_t now) {
    auto availability = tracker_.Build(*snapshot_, now);
    if (availability == nullptr || !availability->ActiveAt(now)) return 1.0;
    return availability->Factor(*snapshot_->IndexOf(id), now);
  }

  std::shared_ptr<const RouteSnapshot> snapshot_ =
      testing::Snapshot({Instance("a"), Instance("b")});
  FailureTracker tracker_{FailureTracker::Options()};  // 1 s .. 30 s
};

TEST_F(FailureTrackerTest, EjectsWithExponentialBackoffThenRampsUp) {
  int64_t now = 1000000;
  EXPECT_EQ(tracker_.Build(*snapshot_, now), nullptr);  // nobody ejected
  const int64_t expected[] = {1000, 2000, 4000, 8000, 16000, 30000, 30000};
  for (int64_t duration : expected) {
    ASSERT_TRUE(tracker_.ReportFailure("a", now));
    EXPECT_EQ(Factor("a", now), 0.0);
    EXPECT_EQ(Factor("b", now), 1.0);
    EXPECT_EQ(Factor("a", now + duration - 1), 0.0) << duration;
    // Back, at 10 % of its weight, ramping to 100 % over as long again.
    EXPECT_DOUBLE_EQ(Factor("a", now + duration), 0.1) << duration;
    EXPECT_DOUBLE_EQ(Factor("a", now + duration + duration / 2), 0.55);
    EXPECT_EQ(Factor("a", now + 2 * duration), 1.0);
    now += duration;  // fails again right when it is back
  }
  EXPECT_EQ(tracker_.failures("a"), 7);
}

TEST_F(FailureTrackerTest, FailuresWhileEjectedAreIgnored) {
  const int64_t now = 5000000;
  ASSERT_TRUE(tracker_.ReportFailure("a", now));
  // Calls that were in flight when it was ejected fail too.
  EXPECT_FALSE(tracker_.ReportFailure("a", now + 10));
  EXPECT_FALSE(tracker_.ReportFailure("a", now + 999));
  EXPECT_EQ(tracker_.failures("a"), 1);
  EXPECT_DOUBLE_EQ(Factor("a", now + 1000), 0.1);  // still a 1 s ejection
  // A failure while recovering is a new one: 2 s.
  ASSERT_TRUE(tracker_.ReportFailure("a", now + 1500));
  EXPECT_EQ(Factor("a", now + 1500 + 1999), 0.0);
  EXPECT_DOUBLE_EQ(Factor("a", now + 1500 + 2000), 0.1);
}

TEST_F(FailureTrackerTest, SuccessesForgetFailures) {
  int64_t now = 7000000;
  ASSERT_TRUE(tracker_.ReportFailure("a", now));
  now += 1000;
  ASSERT_TRUE(tracker_.ReportFailure("a", now));  // 2 s
  now += 2000;
  EXPECT_FALSE(tracker_.ReportSuccess("a", now));
  EXPECT_FALSE(tracker_.ReportSuccess("a", now));
  EXPECT_TRUE(tracker_.ReportSuccess("a", now));  // third: full weight
  EXPECT_EQ(tracker_.failures("a"), 0);
  EXPECT_EQ(Factor("a", now), 1.0);
  // The next failure starts over at 1 s.
  ASSERT_TRUE(tracker_.ReportFailure("a", now));
  EXPECT_DOUBLE_EQ(Factor("a", now + 1000), 0.1);
  EXPECT_FALSE(tracker_.ReportSuccess("b", now));  // never failed
}

TEST_F(FailureTrackerTest, QuietPeriodForgetsAndUnknownIdsAreHarmless) {
  int64_t now = 9000000;
  ASSERT_TRUE(tracker_.ReportFailure("a", now));
  ASSERT_TRUE(tracker_.ReportFailure("gone", now));  // not in the table
  EXPECT_EQ(Factor("b", now), 1.0);
  now += 2000 + 60000;  // recovered, then forget_after
  EXPECT_EQ(tracker_.Build(*snapshot_, now), nullptr);
  EXPECT_EQ(tracker_.failures("a"), 0);
  EXPECT_EQ(tracker_.failures("gone"), 0);
}

TEST_F(FailureTrackerTest, QuietPeriodForgetsWithoutABuildInBetween) {
  // Discovery builds only when a report changes something or a table
  // arrives, so forgetting must not wait for a Build.
  int64_t now = 10000000;
  ASSERT_TRUE(tracker_.ReportFailure("a", now));
  ASSERT_TRUE(tracker_.ReportFailure("a", now + 1000));  // 2 s, back at +5 s
  EXPECT_EQ(tracker_.failures("a"), 2);
  now += 1000 + 4000 + 60000;  // recovered, then quiet for forget_after
  ASSERT_TRUE(tracker_.ReportFailure("a", now));
  EXPECT_EQ(tracker_.failures("a"), 1);  // starts over: 1 s
  EXPECT_EQ(Factor("a", now + 999), 0.0);
  EXPECT_DOUBLE_EQ(Factor("a", now + 1000), 0.1);
  // One millisecond earlier it would have been the third failure (4 s).
  FailureTracker other{FailureTracker::Options()};
  ASSERT_TRUE(other.ReportFailure("a", 0));
  ASSERT_TRUE(other.ReportFailure("a", 1000));
  ASSERT_TRUE(other.ReportFailure("a", 64999));
  EXPECT_EQ(other.failures("a"), 3);
  // A success after the quiet period changes nothing and forgets it.
  FailureTracker third{FailureTracker::Options()};
  ASSERT_TRUE(third.ReportFailure("a", 0));
  EXPECT_FALSE(third.ReportSuccess("a", 62000));
  EXPECT_EQ(third.failures("a"), 0);
}

TEST_F(FailureTrackerTest, SurvivesANewTableVersion) {
  const int64_t now = 11000000;
  ASSERT_TRUE(tracker_.ReportFailure("b", now));
  // A new version with another instance in front: still "b" is ejected.
  snapshot_ = testing::Snapshot({Instance("0"), Instance("a"), Instance("b")});
  EXPECT_EQ(Factor("b", now + 1), 0.0);
  EXPECT_EQ(Factor("0", now + 1), 1.0);
  EXPECT_EQ(Factor("a", now + 1), 1.0);
}

}  // namespace
}  // namespace sdk
}  // namespace kess
