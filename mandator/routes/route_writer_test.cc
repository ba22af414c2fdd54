// RouteStore and RouteWriter on the in-memory ZooKeeper
// (zk_schema/testing/fake_zk.h), with commits that lose their request,
// their answer, or both their answer and its read-back.
#include "mandator/routes/route_writer.h"

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "mandator/routes/route_store.h"
#include "model/route_delta.h"
#include "mandator/testing/test_util.h"
#include "zk_schema/codec.h"
#include "zk_schema/revision_log.h"
#include "zk_schema/testing/fake_zk.h"

namespace kess {
namespace mandator {
namespace routes {
namespace {

using ::kess::mandator::testing::TestAcl;
using ::kess::zk::testing::FaultSpec;

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

class RouteWriterTest : public mandator::testing::FakeZkTest {
 protected:
  void SetUp() override {
    FakeZkTest::SetUp();
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

  // Arms `kind` on the next route-table commit (the multi that writes
  // under /kess/routes).
  void LoseNextCommit(FaultSpec::Kind kind) {
    FaultSpec spec;
    spec.ops = FaultSpec::kMulti;
    spec.path_prefix = layout_->RoutesDir();
    spec.kind = kind;
    client_->InjectFault(spec);
  }

  size_t ChunkSets() {
    auto chunks = client_->GetChildren(layout_->ChunksDir());
    EXPECT_TRUE(chunks.ok()) << chunks.status();
    return chunks.ok() ? chunks->children.size() : 0;
  }

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

// A put that replaces the published table carries the delta from it in its
// change record; applied to the old table's JSON it gives the new one, whose
// CRC-32 the change record names. Also for a table far above 1 MB.
TEST_F(RouteWriterTest, ChangeRecordsCarryTheDeltaFromThePublishedTable) {
  for (int instances : {5, 20000}) {
    SCOPED_TRACE(instances);
    const std::string service = absl::StrCat("svc", instances);
    RouteTable table = Table(service, instances, std::string(200, 'm'));
    writer_->Submit({{service, table}});
    ASSERT_EQ(writer_->Flush(t0_, "").written, 1);
    const int64_t first = Revision();
    auto change_at = [&](int64_t r) {
      const std::string path = layout_->ChangelogPath(r);
      auto node = client_->Get(path);
      EXPECT_TRUE(node.ok()) << path;
      return *zk::DecodeAs<zk::ChangeRecord>(node->data, path);
    };
    // The first put has no base.
    EXPECT_FALSE(change_at(first).has_route_delta());
    absl::StatusOr<std::optional<RouteTable>> before = store_->Get(service);
    ASSERT_TRUE(before.ok() && before->has_value());
    const std::string before_json = RouteTableToJson(**before);
    if (instances > 5000) {
      EXPECT_GT(before_json.size(), 4u << 20);
    }

    table.instances[instances / 2].weight = 7;
    table.instances.erase(table.instances.begin());
    writer_->Submit({{service, table}});
    ASSERT_EQ(writer_->Flush(t0_ + absl::Seconds(2), "").written, 1);
    const zk::ChangeRecord change = change_at(Revision());
    ASSERT_TRUE(change.has_route_delta());
    EXPECT_LT(change.route_delta().size(), 2000u);
    absl::StatusOr<RouteDelta> delta = RouteDeltaFromJson(change.route_delta());
    ASSERT_TRUE(delta.ok()) << delta.status();
    EXPECT_EQ(delta->base_revision, first);
    EXPECT_EQ(delta->revision, Revision());
    EXPECT_EQ(delta->changed.size(), 1u);
    EXPECT_EQ(delta->removed.size(), 1u);
    absl::StatusOr<std::string> applied =
        ApplyRouteDeltaToJson(before_json, *delta, change.value_crc32());
    ASSERT_TRUE(applied.ok()) << applied.status();
    absl::StatusOr<std::optional<RouteTable>> after = store_->Get(service);
    ASSERT_TRUE(after.ok() && after->has_value());
    EXPECT_EQ(*applied, RouteTableToJson(**after));
  }
  EXPECT_EQ(store_->deltas_written(), 2);
  // A table replaced wholesale: the delta would not be smaller than half of
  // it, so the change record has none.
  writer_->Submit({{"svc5", Table("svc5", 1)}});
  ASSERT_EQ(writer_->Flush(t0_ + absl::Seconds(4), "").written, 1);
  EXPECT_EQ(store_->deltas_written(), 2);
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

// Invariants 1 and 2: a route-table commit is applied but its answer is
// lost. The store reads its change record back and reports it written:
// it is published, nothing waits, and it is not written a second time.
TEST_F(RouteWriterTest, ACommitWhoseAnswerIsLostIsPublishedOnce) {
  const int64_t before = Revision();
  LoseNextCommit(FaultSpec::kConnectionLossAfterApply);
  writer_->Submit({{"a", Table("a", 2)}});
  RouteWriter::FlushResult flushed = writer_->Flush(t0_, "");
  EXPECT_EQ(zk_.PendingFaults(), 0);
  EXPECT_EQ(flushed.written, 1);
  EXPECT_EQ(flushed.failed, 0);
  EXPECT_EQ(writer_->pending(), 0u);
  EXPECT_EQ(writer_->published().at("a").revision, before + 1);
  EXPECT_EQ(writer_->Flush(t0_ + absl::Seconds(5), "").written, 0);
  EXPECT_EQ(Changes(before), (std::vector<std::string>{"ROUTE_PUT a"}));
}

// Invariants 1 and 11: a route-table commit is lost on its way. Nothing is
// written (refused, never half applied), the flush stops at the connection
// error, and the table keeps waiting: the next flush writes it, once, at
// the next revision.
TEST_F(RouteWriterTest, ALostCommitStaysPendingAndIsWrittenOnceNextFlush) {
  const int64_t before = Revision();
  LoseNextCommit(FaultSpec::kConnectionLossBeforeApply);
  writer_->Submit({{"a", Table("a", 2)}, {"b", Table("b", 1)}});
  RouteWriter::FlushResult flushed = writer_->Flush(t0_, "");
  EXPECT_EQ(zk_.PendingFaults(), 0);
  EXPECT_EQ(flushed.written, 0);
  EXPECT_EQ(flushed.failed, 1);
  EXPECT_TRUE(absl::IsUnavailable(flushed.last_error)) << flushed.last_error;
  EXPECT_EQ(Revision(), before);
  EXPECT_EQ(writer_->pending(), 2u);  // "b" was not even tried

  EXPECT_EQ(writer_->Flush(t0_ + absl::Seconds(1), "").written, 2);
  EXPECT_EQ(writer_->pending(), 0u);
  EXPECT_EQ(Changes(before),
            (std::vector<std::string>{"ROUTE_PUT a", "ROUTE_PUT b"}));
  auto stored = store_->Get("a");
  ASSERT_TRUE(stored.ok() && stored->has_value()) << stored.status();
  EXPECT_TRUE(SameInstances(**stored, Table("a", 2)));
}

// Invariants 2 and 4: a large (chunked) table's commit is applied, but its
// answer and the read-back that would tell are both lost: outcome unknown.
// Its chunks are kept (the committed record reads back whole), the table
// waits, and the next flush writes it again at a newer revision; the
// replaced chunk set is collected then, so exactly one is left.
TEST_F(RouteWriterTest, AnUnverifiableCommitKeepsItsChunksAndIsWrittenAgain) {
  const int64_t before = Revision();
  const RouteTable big = Table("big", 3000, std::string(400, 'x'));
  LoseNextCommit(FaultSpec::kConnectionLossAfterApply);
  FaultSpec read_back;
  read_back.ops = FaultSpec::kGet;
  read_back.path_prefix = layout_->ChangelogPath(before + 1);
  read_back.kind = FaultSpec::kConnectionLossBeforeApply;
  client_->InjectFault(read_back);
  writer_->Submit({{"big", big}});
  RouteWriter::FlushResult flushed = writer_->Flush(t0_, "");
  EXPECT_EQ(zk_.PendingFaults(), 0);
  EXPECT_EQ(flushed.written, 0);
  EXPECT_TRUE(absl::StrContains(flushed.last_error.message(), "unknown"))
      << flushed.last_error;
  EXPECT_EQ(writer_->pending(), 1u);
  auto applied = store_->Get("big");
  ASSERT_TRUE(applied.ok() && applied->has_value()) << applied.status();
  EXPECT_TRUE(SameInstances(**applied, big));
  EXPECT_EQ((*applied)->revision, before + 1);

  ASSERT_EQ(writer_->Flush(t0_ + absl::Seconds(1), "").written, 1);
  auto rewritten = store_->Get("big");
  ASSERT_TRUE(rewritten.ok() && rewritten->has_value());
  EXPECT_TRUE(SameInstances(**rewritten, big));
  EXPECT_EQ((*rewritten)->revision, before + 2);
  EXPECT_EQ(ChunkSets(), 1u);
}

}  // namespace
}  // namespace routes
}  // namespace mandator
}  // namespace kess
