// BatchApplier on two in-memory ZooKeepers (main and slave DC): a run
// of revisions lands as few multis with main's change log, small records
// come from the change records themselves (no read of main), larger ones
// are read from main in one pipelined batch, chunked values still work, a
// record never moves backwards, and a lost compare-and-set applies nothing.
#include "mandator/replication/batch_applier.h"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mandator/replication/change_applier.h"
#include "mandator/replication/main_side.h"
#include "mandator/replication/record_sync.h"
#include "mandator/replication/testing/two_dc.h"
#include "mandator/routes/route_store.h"
#include "model/route_delta.h"
#include "mandator/testing/test_util.h"
#include "zk_schema/codec.h"
#include "zk_schema/revision_log.h"
#include "zk_schema/testing/fake_zk.h"
#include "zk_schema/zk_errors.h"

namespace kess {
namespace mandator {
namespace replication {
namespace {

// Forwards to a real client and counts the round trips made to it: one
// per Get/Exists/GetChildren/write, one per GetMany batch.
class RoundTripCounter : public zk::ZkApi {
 public:
  explicit RoundTripCounter(zk::ZkApi* real) : real_(real) {}
  int64_t round_trips() const { return round_trips_; }

  absl::StatusOr<zk::GetResult> Get(const std::string& path,
                                    zk::WatchCallback watch) override {
    ++round_trips_;
    return real_->Get(path, std::move(watch));
  }
  std::vector<absl::StatusOr<zk::GetResult>> GetMany(
      std::vector<zk::GetRequest> requests) override {
    ++round_trips_;
    return real_->GetMany(std::move(requests));
  }
  absl::StatusOr<std::optional<zk::Stat>> Exists(
      const std::string& path, zk::WatchCallback watch) override {
    ++round_trips_;
    return real_->Exists(path, std::move(watch));
  }
  absl::StatusOr<zk::ChildrenResult> GetChildren(
      const std::string& path, zk::WatchCallback watch) override {
    ++round_trips_;
    return real_->GetChildren(path, std::move(watch));
  }
  absl::StatusOr<std::string> Create(const std::string& path,
                                     absl::string_view data,
                                     zk::CreateMode mode,
                                     const zk::AclList& acl) override {
    ++round_trips_;
    return real_->Create(path, data, mode, acl);
  }
  absl::StatusOr<zk::Stat> Set(const std::string& path, absl::string_view data,
                               int version) override {
    ++round_trips_;
    return real_->Set(path, data, version);
  }
  absl::Status Delete(const std::string& path, int version) override {
    ++round_trips_;
    return real_->Delete(path, version);
  }
  absl::StatusOr<std::vector<zk::OpResult>> Multi(
      const zk::MultiOps& ops) override {
    ++round_trips_;
    return real_->Multi(ops);
  }
  int64_t AddSessionListener(zk::SessionListener listener) override {
    return real_->AddSessionListener(std::move(listener));
  }
  void RemoveSessionListener(int64_t id) override {
    real_->RemoveSessionListener(id);
  }
  int64_t generation() const override { return real_->generation(); }
  int64_t session_id() const override { return real_->session_id(); }

 private:
  zk::ZkApi* const real_;
  std::atomic<int64_t> round_trips_{0};
};

class BatchApplierTest : public testing::TwoDcTest {
 protected:
  void SetUp() override {
    TwoDcTest::SetUp();
    main_counted_ = std::make_unique<RoundTripCounter>(main_.get());
    sync_ = std::make_unique<RecordSync>(main_counted_.get(), local_.get(),
                                         layout_, mandator::testing::TestAcl());
    applier_ = std::make_unique<BatchApplier>(main_counted_.get(), local_.get(),
                                              sync_.get(), layout_,
                                              mandator::testing::TestAcl());
  }

  // Main's change records [from, to], checked, read directly (not counted).
  std::vector<zk::ChangeRecord> Changes(int64_t from, int64_t to) {
    std::vector<zk::ChangeRecord> changes;
    for (int64_t r = from; r <= to; ++r) {
      absl::StatusOr<zk::GetResult> node = main_->Get(layout_.ChangelogPath(r));
      EXPECT_TRUE(node.ok()) << node.status();
      if (!node.ok()) return {};
      absl::StatusOr<zk::ChangeRecord> change =
          ParseChange(layout_, r, node->data);
      EXPECT_TRUE(change.ok()) << change.status();
      if (!change.ok()) return {};
      changes.push_back(*std::move(change));
    }
    return changes;
  }

  std::unique_ptr<RoundTripCounter> main_counted_;
  std::unique_ptr<RecordSync> sync_;
  std::unique_ptr<BatchApplier> applier_;
};

TEST_F(BatchApplierTest, ARunOfSmallChangesIsOneMultiWithoutReadingMain) {
  // Puts, overwrites, deletes, routes, in two namespaces that exist in the
  // slave DC already (the first key of a namespace is another test).
  ASSERT_EQ(Put("ns", "seed", "0"), 1);
  ASSERT_EQ(Put("ns2", "seed", "0"), 2);
  LocalHead head = Head();
  BatchApplier::Stats stats;
  ASSERT_TRUE(applier_->Apply(Changes(1, 2), &head, &stats).ok());
  int64_t r = 2;
  for (int i = 0; i < 40; ++i) {
    ASSERT_EQ(Put(i % 2 ? "ns" : "ns2", absl::StrCat("k", i % 7),
                  absl::StrCat("v", i)),
              ++r);
  }
  ASSERT_EQ(PutRoute("svc", 3), ++r);
  ASSERT_EQ(Delete("ns", "k1"), ++r);
  ASSERT_EQ(PutRoute("svc", 5), ++r);
  ASSERT_EQ(PutRoute("svc2", 1), ++r);
  ASSERT_EQ(DeleteRoute("svc2"), ++r);
  std::vector<zk::ChangeRecord> changes = Changes(3, r);
  for (const zk::ChangeRecord& c : changes) {
    const bool is_delete =
        c.kind() == zk::CONFIG_DELETE || c.kind() == zk::ROUTE_DELETE;
    EXPECT_EQ(c.has_record(), !is_delete) << "revision " << c.revision();
  }
  const int64_t trips_before = main_counted_->round_trips();
  stats = BatchApplier::Stats();
  absl::Status applied = applier_->Apply(changes, &head, &stats);
  ASSERT_TRUE(applied.ok()) << applied;
  EXPECT_EQ(main_counted_->round_trips(), trips_before) << "main was read";
  EXPECT_EQ(stats.main_reads, 0);
  EXPECT_EQ(stats.multis, 1);
  EXPECT_EQ(stats.applied, r - 2);
  EXPECT_EQ(head.summary.revision(), r);
  EXPECT_EQ(LocalRevision(), r);
  // Every path once: 13 of the 14 config keys, and svc. ns/k1 and svc2 are
  // created and deleted within the run and never existed locally: nothing
  // to write for them.
  EXPECT_EQ(stats.records_written, 13 + 1);
  EXPECT_TRUE(SameContent());
  EXPECT_TRUE(ChangelogMatchesMain(1, r));
}

TEST_F(BatchApplierTest, NewNamespacesAndLargeRecordsCostOneBatchedReadEach) {
  const std::string large(20 * 1024, 'L');  // inline, above the embed limit
  ASSERT_EQ(Put("fresh1", "a", "1"), 1);
  ASSERT_EQ(Put("fresh2", "b", large), 2);
  ASSERT_EQ(Put("fresh2", "c", large + "2"), 3);
  ASSERT_EQ(Put("fresh1", "a", "2"), 4);
  std::vector<zk::ChangeRecord> changes = Changes(1, 4);
  EXPECT_TRUE(changes[0].has_record());
  EXPECT_FALSE(changes[1].has_record());
  LocalHead head = Head();
  const int64_t trips_before = main_counted_->round_trips();
  BatchApplier::Stats stats;
  ASSERT_TRUE(applier_->Apply(changes, &head, &stats).ok());
  // One batch for the two large records, one for the two namespaces.
  EXPECT_EQ(main_counted_->round_trips() - trips_before, 2);
  EXPECT_EQ(stats.main_reads, 2 + 2);
  EXPECT_EQ(stats.multis, 1);
  EXPECT_EQ(LocalConfig("fresh2", "b").value().inline_data(), large);
  EXPECT_EQ(LocalConfig("fresh1", "a").value().inline_data(), "2");
  EXPECT_TRUE(SameContent());
  EXPECT_TRUE(ChangelogMatchesMain(1, 4));
}

TEST_F(BatchApplierTest, ManyLargeRecordsSplitIntoMultisUnderTheSizeLimit) {
  const std::string large(100 * 1024, 'x');
  for (int i = 0; i < 25; ++i) {  // ~2.5 MB in all
    ASSERT_EQ(Put("ns", absl::StrCat("big", i), large + std::to_string(i)),
              i + 1);
  }
  LocalHead head = Head();
  BatchApplier::Stats stats;
  absl::Status applied = applier_->Apply(Changes(1, 25), &head, &stats);
  ASSERT_TRUE(applied.ok()) << applied;
  EXPECT_GE(stats.multis, 3);
  EXPECT_LE(stats.multis, 6);
  EXPECT_EQ(LocalRevision(), 25);
  EXPECT_TRUE(SameContent());
  EXPECT_TRUE(ChangelogMatchesMain(1, 25));
}

TEST_F(BatchApplierTest, AChunkedValueInARunIsCopiedByItself) {
  const std::string big = testing::RandomValue(3 * 1024 * 1024, 11);
  ASSERT_EQ(Put("ns", "a", "1"), 1);
  ASSERT_EQ(Put("ns", "big", big), 2);
  ASSERT_EQ(Put("ns", "b", "2"), 3);
  LocalHead head = Head();
  BatchApplier::Stats stats;
  ASSERT_TRUE(applier_->Apply(Changes(1, 3), &head, &stats).ok());
  EXPECT_EQ(stats.multis, 3);  // [1], [2] by RecordSync, [3]
  zk::ConfigRecord record = LocalConfig("ns", "big");
  ASSERT_EQ(record.value().body_case(), zk::StoredValue::kChunked);
  EXPECT_EQ(record.value().crc32(), zk::Crc32(big));
  EXPECT_TRUE(SameContent());
  EXPECT_TRUE(ChangelogMatchesMain(1, 3));
  // Replaced by a small value in a batch: the local chunk set is collected.
  ASSERT_EQ(Put("ns", "big", "small"), 4);
  ASSERT_TRUE(applier_->Apply(Changes(4, 4), &head, &stats).ok());
  EXPECT_TRUE(local_->GetChildren(layout_.ChunksDir())->children.empty());
  EXPECT_TRUE(SameContent());
}

// A chunked route table whose change records carry route deltas is built
// from the local table: nothing of it is read from main; a change without a
// usable delta is copied as before.
TEST_F(BatchApplierTest, ChunkedRouteTablesAreBuiltFromDeltasNotCopied) {
  routes::RouteStore store(main_.get(),
                           {layout_, mandator::testing::TestAcl(), "m1"});
  RouteTable table;
  table.service = "big";
  for (int i = 0; i < 3000; ++i) {
    RouteInstance in;
    in.id = "i" + std::to_string(100000 + i);
    in.host = "h" + std::to_string(i % 40);
    in.address = "127.0.0.1:" + std::to_string(1000 + i);
    in.datacenter = "dc1";
    in.metadata["blob"] = std::string(60, 'x');
    table.instances.push_back(in);
  }
  absl::StatusOr<int64_t> first = store.Put(table, "");
  ASSERT_TRUE(first.ok()) << first.status();
  table.revision = *first;
  LocalHead head = Head();
  BatchApplier::Stats stats;
  ASSERT_TRUE(applier_->Apply(Changes(1, *first), &head, &stats).ok());
  EXPECT_EQ(stats.route_deltas, 0);  // no base yet: copied

  // Two changes in one run, each with its delta.
  RouteTable second = table;
  second.instances[10].weight = 3;
  absl::StatusOr<int64_t> r2 = store.Put(second, "", &table);
  ASSERT_TRUE(r2.ok()) << r2.status();
  second.revision = *r2;
  RouteTable third = second;
  third.instances.erase(third.instances.begin() + 20);
  absl::StatusOr<int64_t> r3 = store.Put(third, "", &second);
  ASSERT_TRUE(r3.ok()) << r3.status();
  ASSERT_EQ(store.deltas_written(), 2);
  const int64_t reads_before = main_counted_->round_trips();
  stats = BatchApplier::Stats();
  ASSERT_TRUE(applier_->Apply(Changes(*first + 1, *r3), &head, &stats).ok());
  EXPECT_EQ(stats.route_deltas, 1);
  EXPECT_EQ(stats.main_reads, 1);  // the record node in the batched read
  // Nothing but that one batched read of the records went to main: no
  // chunk of the table.
  EXPECT_LE(main_counted_->round_trips() - reads_before, 1);
  EXPECT_TRUE(SameContent());
  EXPECT_TRUE(ChangelogMatchesMain(1, *r3));
  absl::StatusOr<zk::GetResult> node = local_->Get(*layout_.RoutePath("big"));
  ASSERT_TRUE(node.ok());
  zk::RouteRecord record = *zk::DecodeAs<zk::RouteRecord>(node->data, "big");
  EXPECT_EQ(record.revision(), *r3);
  EXPECT_EQ(record.instance_count(), 2999u);
  ASSERT_EQ(record.value().body_case(), zk::StoredValue::kChunked);

  // A change whose delta is missing (an older leader): copied from main.
  RouteTable fourth = third;
  fourth.instances[30].weight = 9;
  absl::StatusOr<int64_t> r4 = store.Put(fourth, "");
  ASSERT_TRUE(r4.ok()) << r4.status();
  stats = BatchApplier::Stats();
  ASSERT_TRUE(applier_->Apply(Changes(*r4, *r4), &head, &stats).ok());
  EXPECT_EQ(stats.route_deltas, 0);
  EXPECT_TRUE(SameContent());
}

TEST_F(BatchApplierTest, ANewNamespaceIsCreatedOnceWhenAChunkedCopyComesFirst) {
  // The chunked copy (RecordSync) creates the namespace itself; the batched
  // write of the small key after it must not create it again.
  const std::string big = testing::RandomValue(2 * 1024 * 1024, 5);
  ASSERT_EQ(Put("brandnew", "big", big), 1);
  ASSERT_EQ(Put("brandnew", "small", "s"), 2);
  LocalHead head = Head();
  BatchApplier::Stats stats;
  absl::Status applied = applier_->Apply(Changes(1, 2), &head, &stats);
  ASSERT_TRUE(applied.ok()) << applied;
  EXPECT_EQ(LocalRevision(), 2);
  EXPECT_TRUE(SameContent());
  EXPECT_TRUE(ChangelogMatchesMain(1, 2));
}

TEST_F(BatchApplierTest, StopsBetweenMultisWhenCancelled) {
  const std::string large(100 * 1024, 'c');
  for (int i = 0; i < 25; ++i) {
    ASSERT_EQ(Put("ns", absl::StrCat("big", i), large + std::to_string(i)),
              i + 1);
  }
  LocalHead head = Head();
  BatchApplier::Stats stats;
  int asked = 0;
  absl::Status applied = applier_->Apply(Changes(1, 25), &head, &stats,
                                         [&] { return ++asked >= 1; });
  EXPECT_TRUE(absl::IsCancelled(applied)) << applied;
  EXPECT_EQ(stats.multis, 1);  // the first multi, then it stopped
  EXPECT_EQ(LocalRevision(), head.summary.revision());
  EXPECT_LT(head.summary.revision(), 25);
  // The rest later, from where it stopped.
  ASSERT_TRUE(
      applier_->Apply(Changes(head.summary.revision() + 1, 25), &head, &stats)
          .ok());
  EXPECT_TRUE(SameContent());
}

TEST_F(BatchApplierTest, NeverMovesALocalRecordBackwards) {
  ASSERT_EQ(Put("ns", "seed", "0"), 1);
  LocalHead head = Head();
  ASSERT_TRUE(applier_->Apply(Changes(1, 1), &head).ok());
  ASSERT_EQ(Put("ns", "k", "old"), 2);
  ASSERT_EQ(Put("ns", "k", "new"), 3);
  // The local node already holds revision 3 of the record (as a copy read
  // from main "now" while applying revision 2 would).
  const std::string path = *layout_.ConfigPath("ns", "k");
  ASSERT_TRUE(local_
                  ->Create(path, main_->Get(path)->data,
                           zk::CreateMode::kPersistent, mandator::testing::TestAcl())
                  .ok());
  BatchApplier::Stats stats;
  ASSERT_TRUE(applier_->Apply(Changes(2, 2), &head, &stats).ok());
  EXPECT_EQ(stats.records_written, 0);
  EXPECT_EQ(LocalConfig("ns", "k").value().inline_data(), "new");
  EXPECT_EQ(LocalConfig("ns", "k").revision(), 3);
  ASSERT_TRUE(applier_->Apply(Changes(3, 3), &head, &stats).ok());
  EXPECT_EQ(LocalRevision(), 3);
  EXPECT_TRUE(SameContent());
  EXPECT_TRUE(ChangelogMatchesMain(1, 3));
}

TEST_F(BatchApplierTest, ChangeRecordsWithoutRecordsAreReadFromMain) {
  // A main DC written before records were embedded: every put is read.
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(Put("ns", absl::StrCat("k", i), "v"), i + 1);
  }
  std::vector<zk::ChangeRecord> changes = Changes(1, 10);
  for (zk::ChangeRecord& c : changes) c.clear_record();
  LocalHead head = Head();
  const int64_t trips_before = main_counted_->round_trips();
  BatchApplier::Stats stats;
  ASSERT_TRUE(applier_->Apply(changes, &head, &stats).ok());
  EXPECT_LE(main_counted_->round_trips() - trips_before, 2);  // + namespace
  EXPECT_TRUE(SameContent());
}

TEST_F(BatchApplierTest, ALostCompareAndSetAppliesNothing) {
  ASSERT_EQ(Put("ns", "a", "1"), 1);
  ASSERT_EQ(Put("ns", "b", "2"), 2);
  LocalHead first = Head();
  LocalHead second = first;  // a second replicator that read the same head
  ASSERT_TRUE(applier_->Apply(Changes(1, 1), &first).ok());
  absl::Status lost = applier_->Apply(Changes(1, 2), &second);
  EXPECT_FALSE(lost.ok());
  EXPECT_FALSE(IsMainSide(lost)) << lost;
  EXPECT_FALSE(local_->Exists(*layout_.ConfigPath("ns", "b"))->has_value());
  EXPECT_EQ(LocalRevision(), 1);
  EXPECT_EQ(second.summary.revision(), 0);
  second = Head();
  ASSERT_TRUE(applier_->Apply(Changes(2, 2), &second).ok());
  EXPECT_TRUE(ChangelogMatchesMain(1, 2));
  EXPECT_TRUE(SameContent());
}

TEST_F(BatchApplierTest, RejectsARunThatDoesNotFollowTheHead) {
  ASSERT_EQ(Put("ns", "a", "1"), 1);
  ASSERT_EQ(Put("ns", "b", "2"), 2);
  LocalHead head = Head();
  absl::Status applied = applier_->Apply(Changes(2, 2), &head);
  EXPECT_TRUE(absl::IsInvalidArgument(applied)) << applied;
  EXPECT_EQ(LocalRevision(), 0);
}

// Invariants 4 and 5: the batch multi is applied in the slave DC but its
// answer is lost (connection loss after apply). Apply reports the
// ambiguous outcome (a local connection loss, not main's) and leaves the
// head where it was; the stale head cannot apply the run a second time
// (its change records exist, its revision compare-and-set is stale: the
// multi is refused whole); the re-read head is at the run's last revision,
// with main's change records exactly once each.
TEST_F(BatchApplierTest, ABatchWhoseAnswerIsLostIsNeverAppliedTwice) {
  ASSERT_EQ(Put("ns", "a", "1"), 1);
  ASSERT_EQ(Put("ns", "b", "2"), 2);
  ASSERT_EQ(PutRoute("svc", 2), 3);
  LocalHead head = Head();
  zk::testing::FaultSpec lost;
  lost.ops = zk::testing::FaultSpec::kMulti;
  lost.path_prefix = layout_.RevisionPath();
  lost.kind = zk::testing::FaultSpec::kConnectionLossAfterApply;
  local_->InjectFault(lost);
  BatchApplier::Stats stats;
  absl::Status applied = applier_->Apply(Changes(1, 3), &head, &stats);
  EXPECT_TRUE(zk::IsConnectionLoss(applied)) << applied;
  EXPECT_FALSE(IsMainSide(applied));
  EXPECT_EQ(slave_zk_.PendingFaults(), 0);
  EXPECT_EQ(stats.applied, 0);
  EXPECT_EQ(head.summary.revision(), 0);  // outcome unknown: re-read it
  EXPECT_EQ(LocalRevision(), 3);          // it was applied

  absl::Status again = applier_->Apply(Changes(1, 3), &head);
  EXPECT_TRUE(absl::IsAlreadyExists(again) || absl::IsAborted(again)) << again;
  EXPECT_EQ(LocalRevision(), 3);
  head = Head();
  EXPECT_EQ(head.summary.revision(), 3);
  EXPECT_EQ(local_->GetChildren(layout_.ChangelogDir())->children.size(), 3u);
  EXPECT_TRUE(ChangelogMatchesMain(1, 3));
  EXPECT_TRUE(SameContent());
}

// Invariant 5: the batch multi is lost on its way: nothing of the run is
// applied, and the same run applies in full from the same head.
TEST_F(BatchApplierTest, ABatchLostOnItsWayAppliesNothingAndCanBeRetried) {
  ASSERT_EQ(Put("ns", "a", "1"), 1);
  ASSERT_EQ(Put("ns", "b", "2"), 2);
  LocalHead head = Head();
  zk::testing::FaultSpec lost;
  lost.ops = zk::testing::FaultSpec::kMulti;
  lost.path_prefix = layout_.RevisionPath();
  lost.kind = zk::testing::FaultSpec::kConnectionLossBeforeApply;
  local_->InjectFault(lost);
  absl::Status applied = applier_->Apply(Changes(1, 2), &head);
  EXPECT_TRUE(zk::IsConnectionLoss(applied)) << applied;
  EXPECT_EQ(LocalRevision(), 0);
  EXPECT_FALSE(local_->Exists(*layout_.ConfigPath("ns", "a"))->has_value());
  ASSERT_TRUE(applier_->Apply(Changes(1, 2), &head).ok());
  EXPECT_EQ(head.summary.revision(), 2);
  EXPECT_TRUE(ChangelogMatchesMain(1, 2));
  EXPECT_TRUE(SameContent());
}

}  // namespace
}  // namespace replication
}  // namespace mandator
}  // namespace kess
