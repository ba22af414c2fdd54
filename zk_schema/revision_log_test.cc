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

std::string ConfigBytes(size_t value_size, bool chunked) {
  ConfigRecord record;
  record.set_namespace_name("ns");
  record.set_key("k");
  record.set_revision(5);
  if (chunked) {
    record.mutable_value()->mutable_chunked()->set_chunk_set("cs-1");
  } else {
    record.mutable_value()->set_inline_data(std::string(value_size, 'x'));
  }
  return Encode(record);
}

TEST(EmbedRecordTest, EmbedsTheSmallInlineRecordTheOpsWrite) {
  Layout layout;
  ChangeRecord change = ConfigPut(layout);
  MultiOps ops;
  ops.Check("/kess/elsewhere", 1);
  ops.Set(change.path(), ConfigBytes(100, false), 3);
  EmbedRecord(ops, &change);
  ASSERT_TRUE(change.has_record());
  EXPECT_EQ(change.record(), ops.ops()[1].data);
  // A create counts as well.
  MultiOps create;
  create.Create(change.path(), ConfigBytes(10, false));
  ChangeRecord created = ConfigPut(layout);
  EmbedRecord(create, &created);
  EXPECT_TRUE(created.has_record());
}

TEST(EmbedRecordTest, LeavesOutLargeChunkedDeletedAndForeignRecords) {
  Layout layout;
  {
    ChangeRecord change = ConfigPut(layout);
    MultiOps ops;
    ops.Set(change.path(), ConfigBytes(kMaxEmbeddedRecordBytes + 1, false));
    EmbedRecord(ops, &change);
    EXPECT_FALSE(change.has_record()) << "above the size limit";
  }
  {
    ChangeRecord change = ConfigPut(layout);
    MultiOps ops;
    ops.Set(change.path(), ConfigBytes(0, true));
    EmbedRecord(ops, &change);
    EXPECT_FALSE(change.has_record()) << "chunked value";
  }
  {
    ChangeRecord change = ConfigPut(layout);
    change.set_kind(CONFIG_DELETE);
    MultiOps ops;
    ops.Delete(change.path(), 2);
    EmbedRecord(ops, &change);
    EXPECT_FALSE(change.has_record()) << "delete";
  }
  {
    ChangeRecord change = ConfigPut(layout);
    change.set_record("stale");
    MultiOps ops;
    ops.Set("/kess/configs/ns/other", ConfigBytes(10, false));
    EmbedRecord(ops, &change);
    EXPECT_FALSE(change.has_record()) << "no op writes the change's path";
  }
  {
    ChangeRecord change = ConfigPut(layout);
    MultiOps ops;
    ops.Set(change.path(), "not a record");
    EmbedRecord(ops, &change);
    EXPECT_FALSE(change.has_record()) << "does not decode";
  }
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
