// RouteStore and RouteWriter against a real ZooKeeper.
#include "mandator/routes/route_writer.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "mandator/routes/route_store.h"
#include "mandator/testing/test_util.h"
#include "tests/harness/zk_test_base.h"
#include "zk_schema/codec.h"
#include "zk_schema/revision_log.h"

namespace kess {
namespace mandator {
namespace routes {
namespace {

using ::kess::mandator::testing::ConnectMandator;
using ::kess::mandator::testing::FreshLayout;
using ::kess::mandator::testing::TestAcl;

RouteTable Table(const std::string& service, int instances,
                 const std::string& metadata = "") {
  RouteTable table;
  table.service = service;
  for (int i = 0; i < instances; ++i) {
    RouteInstance in;
    in.id = absl::StrCat("i", 100000 + i);
    in.host = absl::StrCat("h", i);
    in.address = absl::StrCat("10.0.", i / 250, ".", i % 250, ":80");
    in.datacenter = "dc1";
    if (!metadata.empty()) in.metadata["blob"] = metadata;
    table.instances.push_back(in);
  }
  return table;
}

class RouteWriterTest : public kess::testing::ZkTestBase {
 protected:
  void SetUp() override {
    auto client = ConnectMandator(zk()->ConnectString());
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(client).value();
    auto layout = FreshLayout(*client_);
    ASSERT_TRUE(layout.ok()) << layout.status();
    layout_ = std::make_unique<zk::Layout>(*layout);
    store_ = std::make_unique<RouteStore>(
        client_.get(), RouteStore::Options{*layout_, TestAcl(), "m1"});
    writer_ = NewWriter();
    ASSERT_TRUE(writer_->Load().ok());
  }

  std::unique_ptr<RouteWriter> NewWriter() {
    RouteWriter::Options options;
    options.window = absl::Seconds(1);
    options.registry = &registry_;
    return std::make_unique<RouteWriter>(store_.get(), options);
  }

  int64_t Revision() {
    auto summary = zk::ReadRevision(*client_, *layout_);
    EXPECT_TRUE(summary.ok());
    return summary.ok() ? summary->first.revision() : -1;
  }

  // The change records' kinds and services from `after`+1 on.
  std::vector<std::string> Changes(int64_t after) {
    std::vector<std::string> out;
    for (int64_t r = after + 1; r <= Revision(); ++r) {
      const std::string path = layout_->ChangelogPath(r);
      auto node = client_->Get(path);
      EXPECT_TRUE(node.ok()) << path;
      if (!node.ok()) continue;
      auto change = zk::DecodeAs<zk::ChangeRecord>(node->data, path);
      out.push_back(absl::StrCat(zk::ChangeKind_Name(change->kind()), " ",
                                 change->service()));
    }
    return out;
  }

  std::unique_ptr<zk::ZkClient> client_;
  std::unique_ptr<zk::Layout> layout_;
  metrics::Registry registry_;
  std::unique_ptr<RouteStore> store_;
  std::unique_ptr<RouteWriter> writer_;
  const absl::Time t0_ = absl::FromUnixSeconds(1000000);
};

TEST_F(RouteWriterTest, WritesJsonWithTheCommitRevisionAndOnlyChanges) {
  const int64_t before = Revision();
  writer_->Submit({{"a", Table("a", 2)}, {"b", Table("b", 1)}});
  RouteWriter::FlushResult flushed = writer_->Flush(t0_, "");
  EXPECT_EQ(flushed.written, 2);
  EXPECT_EQ(Changes(before),
            (std::vector<std::string>{"ROUTE_PUT a", "ROUTE_PUT b"}));

  // The stored value is the JSON of docs/route-table.md with its revision.
  auto node = client_->Get(*layout_->RoutePath("a"));
  ASSERT_TRUE(node.ok());
  auto record = zk::DecodeAs<zk::RouteRecord>(node->data, "a");
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->instance_count(), 2u);
  auto table = RouteTableFromJson(record->value().inline_data());
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->revision, record->revision());
  EXPECT_EQ(table->revision, before + 1);
  EXPECT_EQ(table->instances.size(), 2u);

  // Same tables again: nothing written. One service changed: one write.
  const int64_t mid = Revision();
  writer_->Submit({{"a", Table("a", 2)}, {"b", Table("b", 1)}});
  EXPECT_EQ(writer_->pending(), 0u);
  writer_->Submit({{"a", Table("a", 2)}, {"b", Table("b", 3)}});
  EXPECT_EQ(writer_->Flush(t0_ + absl::Seconds(5), "").written, 1);
  EXPECT_EQ(Changes(mid), (std::vector<std::string>{"ROUTE_PUT b"}));
  EXPECT_EQ(
      registry_.GetCounter("kess_routes_writes_total", "", {{"result", "ok"}})
          ->Value(),
      3);
}

TEST_F(RouteWriterTest, ABurstForOneServiceIsOneWritePerWindow) {
  const int64_t before = Revision();
  // 200 registrations for one service over 1.99 s, a flush every 10 ms.
  int written = 0;
  for (int k = 1; k <= 200; ++k) {
    writer_->Submit({{"storm", Table("storm", k)}});
    written +=
        writer_->Flush(t0_ + absl::Milliseconds(10 * (k - 1)), "").written;
  }
  // t=0 (1 instance), t=1 s (up to 101), and the rest once the window ends.
  EXPECT_EQ(written, 2);
  EXPECT_EQ(writer_->pending(), 1u);
  EXPECT_EQ(writer_->Flush(t0_ + absl::Seconds(3), "").written, 1);
  EXPECT_EQ(Changes(before).size(), 3u);
  auto stored = store_->Get("storm");
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((*stored)->instances.size(), 200u);
  EXPECT_GT(registry_.GetCounter("kess_routes_coalesced_total", "")->Value(),
            190);
}

TEST_F(RouteWriterTest, DeletesAndANewLeaderLoadsWhatIsPublished) {
  writer_->Submit({{"a", Table("a", 2)}, {"gone", Table("gone", 1)}});
  ASSERT_EQ(writer_->Flush(t0_, "").written, 2);
  writer_->Submit({{"gone", std::nullopt}});
  const int64_t before = Revision();
  ASSERT_EQ(writer_->Flush(t0_ + absl::Seconds(2), "").written, 1);
  EXPECT_EQ(Changes(before), (std::vector<std::string>{"ROUTE_DELETE gone"}));

  std::unique_ptr<RouteWriter> next = NewWriter();
  ASSERT_TRUE(next->Load().ok());
  ASSERT_EQ(next->published().size(), 1u);
  const RouteTable& a = next->published().at("a");
  EXPECT_TRUE(SameInstances(a, Table("a", 2)));
  EXPECT_EQ(a.revision, writer_->published().at("a").revision);
}

TEST_F(RouteWriterTest, LargeTablesAreChunked) {
  RouteTable big = Table("big", 3000, std::string(400, 'x'));
  writer_->Submit({{"big", big}});
  ASSERT_EQ(writer_->Flush(t0_, "").written, 1);
  auto node = client_->Get(*layout_->RoutePath("big"));
  ASSERT_TRUE(node.ok());
  auto record = zk::DecodeAs<zk::RouteRecord>(node->data, "big");
  EXPECT_TRUE(record->value().has_chunked());
  auto stored = store_->Get("big");
  ASSERT_TRUE(stored.ok() && stored->has_value()) << stored.status();
  EXPECT_TRUE(SameInstances(**stored, big));
  // Rewritten smaller: the old chunk set is collected.
  writer_->Submit({{"big", Table("big", 3)}});
  ASSERT_EQ(writer_->Flush(t0_ + absl::Seconds(2), "").written, 1);
  auto chunks = client_->GetChildren(layout_->ChunksDir());
  ASSERT_TRUE(chunks.ok());
  EXPECT_TRUE(chunks->children.empty());
}

TEST_F(RouteWriterTest, ALostFenceWritesNothingAndKeepsTheChange) {
  const int64_t before = Revision();
  writer_->Submit({{"a", Table("a", 1)}});
  RouteWriter::FlushResult flushed =
      writer_->Flush(t0_, layout_->root() + "/election/mandators/n_gone");
  EXPECT_EQ(flushed.written, 0);
  EXPECT_TRUE(absl::IsUnavailable(flushed.last_error)) << flushed.last_error;
  EXPECT_EQ(Revision(), before);
  EXPECT_EQ(writer_->pending(), 1u);
}

}  // namespace
}  // namespace routes
}  // namespace mandator
}  // namespace kess
