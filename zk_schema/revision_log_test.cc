// The commit ops and catch-up rules, without ZooKeeper (the real commit is
// exercised in schema_zk_test.cc).
#include "zk_schema/revision_log.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "zk_schema/codec.h"

namespace kess {
namespace zk {
namespace {

ChangeRecord ConfigPut(const Layout& layout) {
  ChangeRecord change;
  change.set_kind(CONFIG_PUT);
  change.set_namespace_name("ns");
  change.set_key("k");
  change.set_path(*layout.ConfigPath("ns", "k"));
  return change;
}

TEST(AddCommitOpsTest, BumpsRevisionWithCasAndAppendsRecord) {
  Layout layout;
  RevisionSummary current;
  current.set_revision(41);
  current.set_oldest_retained(1);
  current.set_retention(100);
  MultiOps ops;
  absl::StatusOr<RevisionSummary> next = AddCommitOps(
      layout, current, /*current_version=*/7, ConfigPut(layout), &ops);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->revision(), 42);
  EXPECT_EQ(next->oldest_retained(), 1);
  EXPECT_EQ(next->last_kind(), CONFIG_PUT);
  EXPECT_EQ(next->last_target(), "/kess/configs/ns/k");
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops.ops()[0].type, MultiOps::Type::kSet);
  EXPECT_EQ(ops.ops()[0].path, "/kess/revision");
  EXPECT_EQ(ops.ops()[0].version, 7);
  EXPECT_EQ(ops.ops()[0].data, Encode(*next));
  EXPECT_EQ(ops.ops()[1].type, MultiOps::Type::kCreate);
  EXPECT_EQ(ops.ops()[1].path, "/kess/changelog/0000000000000000042");
  absl::StatusOr<ChangeRecord> record =
      DecodeAs<ChangeRecord>(ops.ops()[1].data, "x");
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->revision(), 42);
}

TEST(AddCommitOpsTest, RetentionRaisesOldest) {
  Layout layout;
  RevisionSummary current;
  current.set_revision(10);
  current.set_oldest_retained(1);
  current.set_retention(5);
  MultiOps ops;
  absl::StatusOr<RevisionSummary> next =
      AddCommitOps(layout, current, 0, ConfigPut(layout), &ops);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->oldest_retained(), 7);  // keeps 7..11
}

TEST(AddCommitOpsTest, ReplayJumpMovesOldestToTheNewRevision) {
  Layout layout;
  RevisionSummary current;
  current.set_revision(10);
  current.set_oldest_retained(3);
  current.set_retention(100);
  ChangeRecord change = ConfigPut(layout);
  change.set_revision(50);
  MultiOps ops;
  absl::StatusOr<RevisionSummary> next =
      AddCommitOps(layout, current, 0, change, &ops);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->revision(), 50);
  EXPECT_EQ(next->oldest_retained(), 50);
}

TEST(AddCommitOpsTest, RejectsBadInput) {
  Layout layout;
  RevisionSummary current;
  current.set_revision(10);
  MultiOps ops;
  EXPECT_FALSE(AddCommitOps(layout, current, 0, ChangeRecord(), &ops).ok());
  ChangeRecord stale = ConfigPut(layout);
  stale.set_revision(10);
  EXPECT_FALSE(AddCommitOps(layout, current, 0, stale, &ops).ok());
  EXPECT_TRUE(ops.empty());
}

TEST(PlanCatchUpTest, Cases) {
  RevisionSummary s;
  s.set_revision(100);
  s.set_oldest_retained(51);
  EXPECT_EQ(PlanCatchUp(100, s), CatchUp::kUpToDate);
  EXPECT_EQ(PlanCatchUp(99, s), CatchUp::kIncremental);
  EXPECT_EQ(PlanCatchUp(50, s), CatchUp::kIncremental);  // needs 51..100
  EXPECT_EQ(PlanCatchUp(49, s), CatchUp::kFullResync);   // 50 is gone
  EXPECT_EQ(PlanCatchUp(0, s), CatchUp::kFullResync);
  EXPECT_EQ(PlanCatchUp(101, s), CatchUp::kFullResync);  // source was reset
  RevisionSummary fresh;  // revision 0, nothing committed
  fresh.set_oldest_retained(1);
  EXPECT_EQ(PlanCatchUp(0, fresh), CatchUp::kUpToDate);
}

}  // namespace
}  // namespace zk
}  // namespace kess
