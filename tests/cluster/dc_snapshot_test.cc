// The comparisons of dc_snapshot.h fail when they should (no ZooKeeper).
#include "tests/cluster/dc_snapshot.h"

#include "gtest/gtest.h"

namespace kess {
namespace testing {
namespace {

DcSnapshot TwoConfigs() {
  DcSnapshot dc;
  dc.revision = 2;
  dc.oldest_retained = 1;
  for (int r = 1; r <= 2; ++r) {
    mandator::core::Config& c = dc.configs["ns/k" + std::to_string(r)];
    c.record.set_revision(r);
    c.record.set_version(1);
    c.record.mutable_value()->set_inline_data("v");
    c.value = "v";
    dc.changelog[r] = "change " + std::to_string(r);
  }
  return dc;
}

TEST(SameDataTest, EqualDatacenters) {
  EXPECT_TRUE(SameData(TwoConfigs(), TwoConfigs()));
  // Chunk-set names differ between DCs: the body is compared as a value.
  DcSnapshot slave = TwoConfigs();
  slave.configs["ns/k1"]
      .record.mutable_value()
      ->mutable_chunked()
      ->set_chunk_set("cs-7");
  EXPECT_TRUE(SameData(TwoConfigs(), slave));
  // A slave keeps a shorter change log (trimmed), without gaps.
  slave.changelog.erase(1);
  EXPECT_TRUE(SameData(TwoConfigs(), slave));
}

TEST(SameDataTest, EveryDifferenceIsFound) {
  const DcSnapshot main = TwoConfigs();
  DcSnapshot slave = TwoConfigs();
  slave.revision = 1;
  EXPECT_FALSE(SameData(main, slave));
  slave = TwoConfigs();
  slave.configs.erase("ns/k2");
  EXPECT_FALSE(SameData(main, slave));
  slave = TwoConfigs();
  slave.configs["ns/k3"] = slave.configs["ns/k2"];
  EXPECT_FALSE(SameData(main, slave));
  slave = TwoConfigs();
  slave.configs["ns/k2"].value = "w";
  EXPECT_FALSE(SameData(main, slave));
  slave = TwoConfigs();
  slave.configs["ns/k2"].record.set_revision(3);
  EXPECT_FALSE(SameData(main, slave));
  slave = TwoConfigs();
  slave.changelog[2] = "other content";
  EXPECT_FALSE(SameData(main, slave));
  slave = TwoConfigs();
  slave.changelog.erase(2);  // the newest is missing
  EXPECT_FALSE(SameData(main, slave));
  slave = TwoConfigs();
  slave.revision = 3;
  slave.changelog[3] = "change 3";
  slave.changelog.erase(2);  // a gap
  DcSnapshot main3 = TwoConfigs();
  main3.revision = 3;
  EXPECT_FALSE(SameData(main3, slave));
}

TEST(SameTreeTest, CreatedChangedDeleted) {
  const NodeMap before = {{"/kess", {0, ""}}, {"/kess/revision", {4, "r"}}};
  EXPECT_TRUE(SameTree(before, before));
  NodeMap after = before;
  after["/kess/chunks/cs-1"] = {0, ""};
  EXPECT_FALSE(SameTree(before, after));
  after = before;
  after["/kess/revision"] = {5, "r"};
  EXPECT_FALSE(SameTree(before, after));
  after = before;
  after.erase("/kess/revision");
  EXPECT_FALSE(SameTree(before, after));
}

}  // namespace
}  // namespace testing
}  // namespace kess
