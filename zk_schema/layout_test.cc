#include "zk_schema/layout.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kess {
namespace zk {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(LayoutTest, DefaultPaths) {
  Layout layout;
  EXPECT_EQ(layout.root(), "/kess");
  EXPECT_EQ(layout.RevisionPath(), "/kess/revision");
  EXPECT_EQ(layout.OverlayPath(), "/kess/overlay");
  EXPECT_EQ(layout.ChangelogPath(42), "/kess/changelog/0000000000000000042");
  EXPECT_EQ(*layout.ConfigPath("payments", "db.url"),
            "/kess/configs/payments/db.url");
  EXPECT_EQ(*layout.NamespacePath("payments"), "/kess/configs/payments");
  EXPECT_EQ(*layout.HistoryPath("payments", "db.url", 7),
            "/kess/configs_history/payments/db.url/0000000000000000007");
  EXPECT_EQ(*layout.RoutePath("user-service"), "/kess/routes/user-service");
  EXPECT_EQ(*layout.MemberPath(MANDATOR, "m1"), "/kess/members/mandators/m1");
  EXPECT_EQ(*layout.MemberPath(DISTRIBUTOR, "d-2"),
            "/kess/members/distributors/d-2");
  EXPECT_EQ(layout.ElectionNodePrefix(), "/kess/election/mandators/n_");
  EXPECT_EQ(layout.ChunkSetPrefix(), "/kess/chunks/cs-");
  EXPECT_EQ(*layout.ChunkPath("cs-0000000007", 3),
            "/kess/chunks/cs-0000000007/00003");
}

TEST(LayoutTest, RejectsNamesThatEscapeTheirSubtree) {
  Layout layout;
  for (const char* bad : {"", "..", "a/b", "../x", "a..b", ".hidden", "a b"}) {
    EXPECT_FALSE(layout.ConfigPath(bad, "k").ok()) << bad;
    EXPECT_FALSE(layout.ConfigPath("ns", bad).ok()) << bad;
    EXPECT_FALSE(layout.RoutePath(bad).ok()) << bad;
    EXPECT_FALSE(layout.MemberPath(MANDATOR, bad).ok()) << bad;
  }
  EXPECT_THAT(layout.ConfigPath("ns", "a/b").status().message(),
              HasSubstr("'/'"));
  EXPECT_FALSE(layout.MembersDir(MEMBER_ROLE_UNSPECIFIED).ok());
  EXPECT_FALSE(layout.ChunkPath("cs-12", 0).ok());
  EXPECT_FALSE(layout.ChunkPath("../configs", 0).ok());
}

TEST(LayoutTest, CustomRoot) {
  absl::StatusOr<Layout> layout = Layout::Create("/test/kess");
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->RevisionPath(), "/test/kess/revision");
  EXPECT_EQ(layout->SkeletonPaths().front(), "/test");
  EXPECT_EQ(layout->SkeletonPaths()[1], "/test/kess");
  for (const char* bad : {"", "/", "kess", "/kess/", "/a//b", "/a/../b"}) {
    EXPECT_FALSE(Layout::Create(bad).ok()) << bad;
  }
}

TEST(LayoutTest, SkeletonHasParentsFirst) {
  Layout layout;
  std::vector<std::string> paths = layout.SkeletonPaths();
  ASSERT_FALSE(paths.empty());
  EXPECT_EQ(paths[0], "/kess");
  for (size_t i = 1; i < paths.size(); ++i) {
    std::string parent = paths[i].substr(0, paths[i].rfind('/'));
    bool parent_before = false;
    for (size_t j = 0; j < i; ++j) parent_before |= paths[j] == parent;
    EXPECT_TRUE(parent_before) << paths[i];
  }
}

TEST(LayoutTest, RevisionNamesSortNumerically) {
  EXPECT_EQ(FormatRevision(0), "0000000000000000000");
  EXPECT_EQ(FormatRevision(INT64_MAX), "9223372036854775807");
  EXPECT_LT(FormatRevision(9), FormatRevision(10));
  EXPECT_EQ(*ParseRevision("0000000000000000042"), 42);
  EXPECT_EQ(*ParseRevision(FormatRevision(INT64_MAX)), INT64_MAX);
  EXPECT_FALSE(ParseRevision("42").ok());
  EXPECT_FALSE(ParseRevision("000000000000000004x").ok());
  EXPECT_FALSE(ParseRevision("-000000000000000042").ok());
  EXPECT_FALSE(ParseRevision("9999999999999999999").ok());  // > INT64_MAX
}

TEST(LayoutTest, ParsesElectionAndChunkSetNames) {
  EXPECT_EQ(*ParseElectionSequence("n_0000000012"), 12);
  EXPECT_FALSE(ParseElectionSequence("x_0000000012").ok());
  EXPECT_FALSE(ParseElectionSequence("n_12").ok());
  EXPECT_TRUE(ValidateChunkSetName("cs-0000000000").ok());
  EXPECT_FALSE(ValidateChunkSetName("cs-000000000a").ok());
  EXPECT_THAT(std::vector<std::string>({*MemberRoleDirName(MANDATOR),
                                        *MemberRoleDirName(DISTRIBUTOR)}),
              ElementsAre("mandators", "distributors"));
}

}  // namespace
}  // namespace zk
}  // namespace kess
