// SubtreeMirror between two in-memory ZooKeepers (main and slave DC).
#include "mandator/replication/subtree_mirror.h"

#include <string>

#include "common/metrics.h"
#include "gtest/gtest.h"
#include "zk_schema/testing/fake_zk.h"

namespace kess {
namespace mandator {
namespace replication {
namespace {

using zk::testing::FakeZkClient;
using zk::testing::FakeZkServer;

class SubtreeMirrorTest : public ::testing::Test {
 protected:
  SubtreeMirrorTest() {
    EXPECT_TRUE(main_.Create("/kess", "").ok());
    EXPECT_TRUE(local_.Create("/kess", "").ok());
  }
  SubtreeMirror::Options Options(size_t max_records = 10000) {
    SubtreeMirror::Options o;
    o.auth_dir = "/kess/auth";
    o.audit_dir = "/kess/audit";
    o.audit_max_records = max_records;
    o.registry = &registry_;
    return o;
  }
  std::string LocalData(const std::string& path) {
    auto got = local_.Get(path);
    return got.ok() ? got->data : "<missing>";
  }

  metrics::Registry registry_;
  FakeZkServer main_dc_, slave_dc_;
  FakeZkClient main_{&main_dc_}, local_{&slave_dc_};
};

TEST_F(SubtreeMirrorTest, UsersAndTokensFollowMainGenerationLast) {
  SubtreeMirror mirror(&main_, &local_, Options());
  EXPECT_TRUE(mirror.RunOnce().ok());  // nothing in main yet
  EXPECT_EQ(LocalData("/kess/auth"), "<missing>");

  ASSERT_TRUE(main_.Create("/kess/auth", "2").ok());
  ASSERT_TRUE(main_.Create("/kess/auth/users", "").ok());
  ASSERT_TRUE(main_.Create("/kess/auth/tokens", "").ok());
  ASSERT_TRUE(main_.Create("/kess/auth/users/alice", "{\"a\":1}").ok());
  ASSERT_TRUE(main_.Create("/kess/auth/tokens/0123456789abcdef", "t1").ok());
  ASSERT_TRUE(mirror.RunOnce().ok());
  EXPECT_EQ(LocalData("/kess/auth"), "2");
  EXPECT_EQ(LocalData("/kess/auth/users/alice"), "{\"a\":1}");
  EXPECT_EQ(LocalData("/kess/auth/tokens/0123456789abcdef"), "t1");

  // A revocation and a changed user reach the slave; generation moves.
  ASSERT_TRUE(main_.Delete("/kess/auth/tokens/0123456789abcdef").ok());
  ASSERT_TRUE(main_.Set("/kess/auth/users/alice", "{\"a\":2}").ok());
  ASSERT_TRUE(main_.Set("/kess/auth", "3").ok());
  ASSERT_TRUE(mirror.RunOnce().ok());
  EXPECT_EQ(LocalData("/kess/auth"), "3");
  EXPECT_EQ(LocalData("/kess/auth/tokens/0123456789abcdef"), "<missing>");
  EXPECT_EQ(LocalData("/kess/auth/users/alice"), "{\"a\":2}");
  // A slave-side stray (written by hand) goes with the next generation.
  ASSERT_TRUE(local_.Create("/kess/auth/tokens/ffffffffffffffff", "x").ok());
  ASSERT_TRUE(main_.Set("/kess/auth", "4").ok());
  ASSERT_TRUE(mirror.RunOnce().ok());
  EXPECT_EQ(LocalData("/kess/auth/tokens/ffffffffffffffff"), "<missing>");
}

TEST_F(SubtreeMirrorTest, AuditRecordsAreCopiedOnceAndLocalOnesStay) {
  SubtreeMirror mirror(&main_, &local_, Options(/*max_records=*/5));
  ASSERT_TRUE(main_.Create("/kess/audit", "").ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(main_.Create("/kess/audit/r-000000000000" +
                                 std::to_string(i) + "-dc1-m1-000001",
                             "main" + std::to_string(i))
                    .ok());
  }
  ASSERT_TRUE(mirror.RunOnce().ok());
  EXPECT_EQ(local_.GetChildren("/kess/audit")->children.size(), 3u);
  EXPECT_EQ(LocalData("/kess/audit/r-0000000000001-dc1-m1-000001"), "main1");
  // The slave's own record stays; an unchanged main costs no listing.
  ASSERT_TRUE(
      local_.Create("/kess/audit/r-0000000000005-dc2-m3-000001", "own").ok());
  ASSERT_TRUE(mirror.RunOnce().ok());
  EXPECT_EQ(local_.GetChildren("/kess/audit")->children.size(), 4u);
  // Full (5, after its own trim dropped r0): records older than the
  // local oldest are not copied again.
  ASSERT_TRUE(
      main_.Create("/kess/audit/r-0000000000006-dc1-m1-000001", "new").ok());
  ASSERT_TRUE(local_.Delete("/kess/audit/r-0000000000000-dc1-m1-000001").ok());
  ASSERT_TRUE(
      local_.Create("/kess/audit/r-0000000000007-dc2-m3-000001", "own2").ok());
  ASSERT_TRUE(
      local_.Create("/kess/audit/r-0000000000008-dc2-m3-000001", "own3").ok());
  ASSERT_TRUE(mirror.RunOnce().ok());
  auto children = local_.GetChildren("/kess/audit");
  ASSERT_TRUE(children.ok());
  // r1 r2 r5 r7 r8 held (full), r6 added; the local retention trims later.
  EXPECT_EQ(children->children.size(), 6u);
  EXPECT_EQ(LocalData("/kess/audit/r-0000000000006-dc1-m1-000001"), "new");
  EXPECT_EQ(LocalData("/kess/audit/r-0000000000000-dc1-m1-000001"),
            "<missing>");
}

TEST_F(SubtreeMirrorTest, StartAndStopRunRounds) {
  SubtreeMirror::Options o = Options();
  o.interval = absl::Milliseconds(10);
  SubtreeMirror mirror(&main_, &local_, o);
  ASSERT_TRUE(main_.Create("/kess/auth", "7").ok());
  mirror.Start();
  for (int i = 0; i < 500 && LocalData("/kess/auth") != "7"; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  mirror.Stop();
  EXPECT_EQ(LocalData("/kess/auth"), "7");
}

}  // namespace
}  // namespace replication
}  // namespace mandator
}  // namespace kess
