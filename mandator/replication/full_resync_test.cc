// FullResync on two in-memory ZooKeepers: writes only what differs,
// deletes what main no longer has, lands on main's revision and change
// record, and refuses to run against a main without its tree.
#include "mandator/replication/full_resync.h"

#include "gtest/gtest.h"
#include "mandator/replication/change_applier.h"
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

class FullResyncTest : public testing::TwoDcTest {
 protected:
  void SetUp() override {
    TwoDcTest::SetUp();
    InitTrees(/*retention=*/5, "_r5");
    sync_ = std::make_unique<RecordSync>(main_.get(), local_.get(), layout_,
                                         mandator::testing::TestAcl());
    applier_ =
        std::make_unique<ChangeApplier>(main_.get(), sync_.get(), layout_);
    resync_ = std::make_unique<FullResync>(
        main_.get(), local_.get(), sync_.get(), applier_.get(), layout_);
  }

  absl::Status Resync(FullResync::Stats* stats) {
    absl::StatusOr<LocalHead> head = ReadLocalHead(*local_, layout_);
    if (!head.ok()) return head.status();
    auto main = zk::ReadRevision(*main_, layout_);
    if (!main.ok()) return main.status();
    return resync_->Run(
        main->first, &*head, [] { return false; }, stats);
  }

  std::unique_ptr<RecordSync> sync_;
  std::unique_ptr<ChangeApplier> applier_;
  std::unique_ptr<FullResync> resync_;
};

TEST_F(FullResyncTest, WritesOnlyWhatDiffersAndDeletesWhatMainLacks) {
  for (int i = 0; i < 10; ++i) Put("ns", absl::StrCat("k", i), "v");
  Put("ns", "big", testing::RandomValue(1024 * 1024, 1));
  PutRoute("svc-a", 3);
  PutRoute("svc-b", 4);
  FullResync::Stats first;
  ASSERT_TRUE(Resync(&first).ok());
  // ns, 11 configs, 2 routes.
  EXPECT_EQ(first.written, 14);
  EXPECT_EQ(first.deleted, 0);
  EXPECT_TRUE(SameContent());
  EXPECT_EQ(LocalRevision(), 13);
  EXPECT_TRUE(ChangelogMatchesMain(13, 13));

  // Main moves on by more than its retention of 5 ...
  Put("ns", "k1", "changed");
  Delete("ns", "k2");
  Put("ns", "k10", "new");
  PutRoute("svc-a", 5);
  for (int i = 0; i < 5; ++i) Put("ns", "k3", absl::StrCat("v", i));
  // ... and the slave holds a stray namespace main never had.
  const std::string stray_ns = *layout_.NamespacePath("stray");
  ASSERT_TRUE(local_->Create(stray_ns, "").ok());
  ASSERT_TRUE(local_->Create(*layout_.ConfigPath("stray", "x"), "").ok());
  auto [main_summary, unused] = *zk::ReadRevision(*main_, layout_);
  ASSERT_EQ(zk::PlanCatchUp(13, main_summary), zk::CatchUp::kFullResync);

  const auto before = LocalNodeVersions();
  FullResync::Stats second;
  absl::Status status = Resync(&second);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(second.written, 4);  // k1, k10, k3, svc-a
  EXPECT_EQ(second.deleted, 3);  // k2, stray/x, stray
  EXPECT_TRUE(SameContent());
  EXPECT_EQ(LocalRevision(), main_summary.revision());
  EXPECT_TRUE(
      ChangelogMatchesMain(main_summary.revision(), main_summary.revision()));
  // Every node that was equal is untouched.
  const auto after = LocalNodeVersions();
  for (const std::string& same :
       {*layout_.NamespacePath("ns"), *layout_.ConfigPath("ns", "k0"),
        *layout_.ConfigPath("ns", "big"), *layout_.RoutePath("svc-b")}) {
    ASSERT_TRUE(before.count(same) && after.count(same)) << same;
    EXPECT_EQ(before.at(same), after.at(same)) << same;
  }
  EXPECT_NE(before.at(*layout_.ConfigPath("ns", "k1")),
            after.at(*layout_.ConfigPath("ns", "k1")));
}

TEST_F(FullResyncTest, RefusesWhenMainHasNoTree) {
  Put("ns", "a", "1");
  PutRoute("svc", 2);
  FullResync::Stats stats;
  ASSERT_TRUE(Resync(&stats).ok());
  const auto before = LocalNodeVersions();
  ASSERT_EQ(before.size(), 3u);

  // Main's configs directory is gone (a broken or half-restored main).
  ASSERT_TRUE(testing::DeleteTree(*main_, layout_.ConfigsDir()).ok());
  absl::StatusOr<LocalHead> head = ReadLocalHead(*local_, layout_);
  ASSERT_TRUE(head.ok());
  zk::RevisionSummary later;
  later.set_revision(head->summary.revision() + 10);
  later.set_oldest_retained(later.revision());
  FullResync::Stats refused;
  absl::Status status = resync_->Run(
      later, &*head, [] { return false; }, &refused);
  EXPECT_TRUE(absl::IsFailedPrecondition(status)) << status;
  EXPECT_TRUE(IsMainSide(status));
  EXPECT_EQ(refused.written + refused.deleted, 0);
  EXPECT_EQ(LocalNodeVersions(), before);
  EXPECT_EQ(LocalRevision(), 2);
}

TEST_F(FullResyncTest, StopsWhenCancelledWithoutMovingTheRevision) {
  for (int i = 0; i < 5; ++i) Put("ns", absl::StrCat("k", i), "v");
  absl::StatusOr<LocalHead> head = ReadLocalHead(*local_, layout_);
  ASSERT_TRUE(head.ok());
  auto main = zk::ReadRevision(*main_, layout_);
  ASSERT_TRUE(main.ok());
  FullResync::Stats stats;
  absl::Status status = resync_->Run(
      main->first, &*head, [] { return true; }, &stats);
  EXPECT_TRUE(absl::IsCancelled(status)) << status;
  EXPECT_EQ(LocalRevision(), 0);
}

}  // namespace
}  // namespace replication
}  // namespace mandator
}  // namespace kess
