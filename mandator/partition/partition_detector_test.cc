#include "mandator/partition/partition_detector.h"

#include "gtest/gtest.h"

namespace kess {
namespace mandator {
namespace partition {
namespace {

using Mode = PartitionDetector::Mode;

class PartitionDetectorTest : public ::testing::Test {
 protected:
  PartitionDetector::Options Opts() {
    PartitionDetector::Options o;
    o.partition_after = absl::Seconds(3);
    o.heal_after = absl::Seconds(5);
    return o;
  }
  // Observes `reachable` every 100 ms for `d`; returns the modes seen.
  int Run(PartitionDetector& d, absl::Duration span, bool reachable) {
    int changes = 0;
    Mode last = d.mode();
    for (absl::Time end = now_ + span; now_ < end;
         now_ += absl::Milliseconds(100)) {
      Mode m = d.Observe(now_, reachable);
      if (m != last) ++changes;
      last = m;
    }
    return changes;
  }
  absl::Time now_ = absl::FromUnixSeconds(1000);
};

TEST_F(PartitionDetectorTest, EntersOnlyAfterPartitionAfter) {
  PartitionDetector d(Opts(), Mode::kConnected);
  EXPECT_EQ(Run(d, absl::Seconds(10), true), 0);
  EXPECT_EQ(Run(d, absl::Milliseconds(2900), false), 0);
  EXPECT_EQ(d.mode(), Mode::kConnected);
  EXPECT_EQ(Run(d, absl::Milliseconds(300), false), 1);
  EXPECT_EQ(d.mode(), Mode::kPartitioned);
  EXPECT_EQ(Run(d, absl::Seconds(30), false), 0);
}

TEST_F(PartitionDetectorTest, HealsOnlyAfterHealAfter) {
  PartitionDetector d(Opts(), Mode::kPartitioned);
  EXPECT_EQ(Run(d, absl::Milliseconds(4900), true), 0);
  EXPECT_EQ(d.mode(), Mode::kPartitioned);
  EXPECT_EQ(Run(d, absl::Milliseconds(300), true), 1);
  EXPECT_EQ(d.mode(), Mode::kConnected);
}

TEST_F(PartitionDetectorTest, QuickTogglesNeverChangeTheMode) {
  PartitionDetector d(Opts(), Mode::kConnected);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(Run(d, absl::Milliseconds(2500), false), 0);
    EXPECT_EQ(Run(d, absl::Milliseconds(200), true), 0);
  }
  EXPECT_EQ(d.mode(), Mode::kConnected);
  EXPECT_EQ(Run(d, absl::Seconds(4), false), 1);  // a real partition
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(Run(d, absl::Milliseconds(4500), true), 0);
    EXPECT_EQ(Run(d, absl::Milliseconds(100), false), 0);
  }
  EXPECT_EQ(d.mode(), Mode::kPartitioned);
}

TEST_F(PartitionDetectorTest, OneContraryObservationRestartsTheClock) {
  PartitionDetector d(Opts(), Mode::kConnected);
  EXPECT_EQ(Run(d, absl::Seconds(2), false), 0);
  d.Observe(now_, true);
  EXPECT_EQ(Run(d, absl::Milliseconds(2900), false), 0);
  EXPECT_EQ(d.mode(), Mode::kConnected);
}

TEST_F(PartitionDetectorTest, SparseObservationsUseTheirTimes) {
  PartitionDetector d(Opts(), Mode::kConnected);
  EXPECT_EQ(d.Observe(now_, false), Mode::kConnected);
  EXPECT_EQ(d.Observe(now_ + absl::Seconds(3), false), Mode::kPartitioned);
  EXPECT_EQ(d.Observe(now_ + absl::Seconds(4), true), Mode::kPartitioned);
  EXPECT_EQ(d.Observe(now_ + absl::Seconds(9), true), Mode::kConnected);
}

TEST_F(PartitionDetectorTest, ResetRestartsHysteresis) {
  PartitionDetector d(Opts(), Mode::kConnected);
  Run(d, absl::Seconds(2), false);
  d.Reset(Mode::kConnected);
  EXPECT_EQ(Run(d, absl::Milliseconds(2900), false), 0);
  EXPECT_EQ(Run(d, absl::Milliseconds(200), false), 1);
}

}  // namespace
}  // namespace partition
}  // namespace mandator
}  // namespace kess
