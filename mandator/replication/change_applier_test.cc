// ChangeApplier on two in-memory ZooKeepers (main and slave DC):
// revisions are applied with main's numbers and change records, records are
// copied as main holds them, a lost compare-and-set applies nothing, chunked
// values land in local chunk sets.
#include "mandator/replication/change_applier.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mandator/replication/main_side.h"
#include "mandator/replication/record_sync.h"
#include "mandator/replication/testing/two_dc.h"
#include "mandator/testing/test_util.h"
#include "zk_schema/codec.h"
#include "zk_schema/revision_log.h"

namespace kess {
namespace mandator {
namespace replication {
namespace {

using ::testing::ElementsAre;

class ChangeApplierTest : public testing::TwoDcTest {
 protected:
  void SetUp() override {
    TwoDcTest::SetUp();
    sync_ = std::make_unique<RecordSync>(main_.get(), local_.get(), layout_,
                                         mandator::testing::TestAcl());
    applier_ =
        std::make_unique<ChangeApplier>(main_.get(), sync_.get(), layout_);
  }

  std::unique_ptr<RecordSync> sync_;
  std::unique_ptr<ChangeApplier> applier_;
};

TEST_F(ChangeApplierTest, AppliesEachRevisionWithMainsNumberAndRecord) {
  ASSERT_EQ(Put("ns", "a", "1"), 1);
  ASSERT_EQ(Put("ns", "b", "2"), 2);
  ASSERT_EQ(PutRoute("svc", 3), 3);
  ASSERT_EQ(Put("ns2", "c", "3"), 4);
  ASSERT_EQ(Delete("ns", "b"), 5);
  ASSERT_EQ(DeleteRoute("svc"), 6);
  ASSERT_EQ(PutRoute("svc2", 2), 7);
  LocalHead head = Head();
  for (int64_t r = 1; r <= 7; ++r) {
    absl::Status applied = applier_->Apply(r, &head);
    ASSERT_TRUE(applied.ok()) << "revision " << r << ": " << applied;
    EXPECT_EQ(head.summary.revision(), r);
    EXPECT_EQ(LocalRevision(), r);
  }
  EXPECT_TRUE(SameContent());
  EXPECT_TRUE(ChangelogMatchesMain(1, 7));
  EXPECT_EQ(head.summary.oldest_retained(), 1);
}

TEST_F(ChangeApplierTest, CopiesTheRecordAsMainHoldsItAndReplaysAreNoOps) {
  ASSERT_EQ(Put("ns", "k", "v1"), 1);
  ASSERT_EQ(Put("ns", "k", "v2"), 2);
  LocalHead head = Head();
  bool wrote = false;
  ASSERT_TRUE(applier_->Apply(1, &head, &wrote).ok());
  EXPECT_TRUE(wrote);
  // Revision 1 names the record; main holds revision 2 of it by now, and
  // that is what is copied (with its own revision field).
  zk::ConfigRecord record = LocalConfig("ns", "k");
  EXPECT_EQ(record.revision(), 2);
  EXPECT_EQ(record.value().inline_data(), "v2");
  const auto before = LocalNodeVersions();
  ASSERT_TRUE(applier_->Apply(2, &head, &wrote).ok());
  EXPECT_FALSE(wrote);
  EXPECT_EQ(LocalNodeVersions(), before);  // the record was not rewritten
  EXPECT_TRUE(ChangelogMatchesMain(1, 2));
  EXPECT_TRUE(SameContent());
}

TEST_F(ChangeApplierTest, ALostCompareAndSetAppliesNothing) {
  ASSERT_EQ(Put("ns", "a", "1"), 1);
  ASSERT_EQ(Put("ns", "b", "2"), 2);
  LocalHead first = Head();
  LocalHead second = first;  // a second replicator that read the same head
  ASSERT_TRUE(applier_->Apply(1, &first).ok());
  absl::Status lost = applier_->Apply(1, &second);
  EXPECT_TRUE(absl::IsAborted(lost)) << lost;
  EXPECT_FALSE(IsMainSide(lost));
  // Its head is stale for every later revision too, until it re-reads.
  lost = applier_->Apply(2, &second);
  EXPECT_TRUE(absl::IsAborted(lost)) << lost;
  EXPECT_FALSE(local_->Exists(*layout_.ConfigPath("ns", "b"))->has_value());
  EXPECT_EQ(LocalRevision(), 1);
  second = Head();
  ASSERT_TRUE(applier_->Apply(2, &second).ok());
  EXPECT_THAT(local_->GetChildren(layout_.ChangelogDir())->children,
              ElementsAre(zk::FormatRevision(1), zk::FormatRevision(2)));
  EXPECT_TRUE(ChangelogMatchesMain(1, 2));
  EXPECT_TRUE(SameContent());
}

TEST_F(ChangeApplierTest, RejectsAChangeRecordThatNamesAnotherPath) {
  auto [summary, version] = *zk::ReadRevision(*main_, layout_);
  zk::ChangeRecord change;
  change.set_kind(zk::CONFIG_PUT);
  change.set_namespace_name("ns");
  change.set_key("k");
  change.set_path(layout_.RevisionPath());  // not /configs/ns/k
  zk::MultiOps ops;
  ASSERT_TRUE(zk::AddCommitOps(layout_, summary, version, change, &ops).ok());
  ASSERT_TRUE(main_->Multi(ops).ok());
  LocalHead head = Head();
  absl::Status applied = applier_->Apply(1, &head);
  EXPECT_TRUE(absl::IsDataLoss(applied)) << applied;
  EXPECT_TRUE(IsMainSide(applied));
  EXPECT_EQ(LocalRevision(), 0);
}

TEST_F(ChangeApplierTest, AMissingChangeRecordIsNotFoundOnMainsSide) {
  LocalHead head = Head();
  absl::Status applied = applier_->Apply(1, &head);
  EXPECT_TRUE(absl::IsNotFound(applied)) << applied;
  EXPECT_TRUE(IsMainSide(applied));
}

TEST_F(ChangeApplierTest, AChunkedValueIsCopiedIntoLocalChunkSets) {
  const std::string big = testing::RandomValue(5 * 1024 * 1024, 7);
  ASSERT_EQ(Put("ns", "big", big), 1);
  LocalHead head = Head();
  ASSERT_TRUE(applier_->Apply(1, &head).ok());
  zk::ConfigRecord record = LocalConfig("ns", "big");
  ASSERT_EQ(record.value().body_case(), zk::StoredValue::kChunked);
  EXPECT_EQ(record.value().crc32(), zk::Crc32(big));
  const std::string local_set = record.value().chunked().chunk_set();
  EXPECT_THAT(local_->GetChildren(layout_.ChunksDir())->children,
              ElementsAre(local_set));
  zk::ChunkedValueStore local_store(local_.get(), layout_);
  absl::StatusOr<std::string> loaded =
      local_store.Load(record.value(), "local big");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(*loaded == big);
  EXPECT_TRUE(SameContent());

  // Replaced by a small value: the local chunk set is collected.
  ASSERT_EQ(Put("ns", "big", "small now"), 2);
  ASSERT_TRUE(applier_->Apply(2, &head).ok());
  EXPECT_TRUE(local_->GetChildren(layout_.ChunksDir())->children.empty());
  EXPECT_EQ(LocalConfig("ns", "big").value().inline_data(), "small now");
  EXPECT_TRUE(SameContent());
}

}  // namespace
}  // namespace replication
}  // namespace mandator
}  // namespace kess
