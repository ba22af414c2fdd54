// The Replicator end to end on two in-memory ZooKeepers (main and slave
// DC): push-driven incremental replication, chunked values, two
// replicators at once, full resync after main trimmed its log, main ZK
// down, session expiry on either side (also in the middle of a round), a
// batch whose answer is lost, a main that looks empty, Stop().
#include "mandator/replication/replicator.h"

#include <atomic>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/testing/wait_for.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mandator/replication/replication_metrics.h"
#include "mandator/replication/testing/two_dc.h"
#include "mandator/testing/test_util.h"
#include "zk_schema/codec.h"
#include "zk_schema/revision_log.h"
#include "zk_schema/skeleton.h"
#include "zk_schema/testing/fake_zk.h"

namespace kess {
namespace mandator {
namespace replication {
namespace {

using ::kess::mandator::testing::HookedZkApi;
using ::kess::testing::WaitFor;
using ::kess::zk::testing::FaultSpec;
using testing::kPatience;

class ReplicatorTest : public testing::TwoDcTest {
 protected:
  int64_t MainRevision() {
    auto read = zk::ReadRevision(*main_, layout_);
    return read.ok() ? read->first.revision() : -1;
  }
  double Errors(const std::string& kind) {
    return CounterValue("kess_replication_errors_total",
                        {{"dc", "dc2"}, {"kind", kind}});
  }
  // Retries a main write until the main client is back (bounded).
  int64_t PutWhenMainIsBack(const std::string& ns, const std::string& key,
                            const std::string& value) {
    int64_t revision = -1;
    WaitFor(
        [&] {
          core::PutRequest request{ns, key,    value, "text/plain",
                                   {}, "test", ""};
          auto result = store_->Put(request);
          if (result.ok()) revision = result->revision;
          return result.ok();
        },
        kPatience);
    return revision;
  }
};

// Every error kind is exposed at 0 before the first error (the dashboard and
// alerts of deploy/ rate() them from the start).
TEST(ReplicationMetricsTest, EveryErrorKindIsExposedAtZero) {
  metrics::Registry registry;
  ReplicationMetrics replication_metrics(&registry, "dc2");
  const std::string text = registry.RenderText();
  for (const char* kind :
       {"main_unavailable", "main_refused", "main_data", "conflict", "local"}) {
    EXPECT_TRUE(absl::StrContains(
        text, absl::StrCat("kess_replication_errors_total{dc=\"dc2\",kind=\"",
                           kind, "\"} 0")))
        << kind << " in\n" << text;
  }
}

TEST_F(ReplicatorTest, RejectsBadOptions) {
  Replicator::Options options = ReplicatorOptions();
  options.max_backoff = options.min_backoff / 2;
  EXPECT_FALSE(Replicator::Create(main_.get(), local_.get(), options).ok());
  EXPECT_FALSE(
      Replicator::Create(main_.get(), main_.get(), ReplicatorOptions()).ok());
  options = ReplicatorOptions("bad/dc");
  EXPECT_FALSE(Replicator::Create(main_.get(), local_.get(), options).ok());
}

TEST_F(ReplicatorTest, ThePushReplicatesPutsDeletesAndRoutesInOrder) {
  Replicator::Options options = ReplicatorOptions();
  options.poll_interval = absl::Minutes(10);  // only the watch can wake it
  auto r = StartReplicator(main_.get(), local_.get(), options);
  ASSERT_NE(r, nullptr);
  ASSERT_TRUE(WaitFor([&] { return r->progress().main_reachable; }, kPatience));
  int64_t last = 0;
  for (int i = 0; i < 20; ++i) {
    last = Put(absl::StrCat("ns", i % 3), absl::StrCat("k", i % 7),
               absl::StrCat("v", i));
    if (i % 5 == 0) last = PutRoute(absl::StrCat("svc", i % 2), i + 1);
    if (i % 6 == 5)
      last = Delete(absl::StrCat("ns", i % 3), absl::StrCat("k", i % 7));
  }
  last = DeleteRoute("svc0");
  ASSERT_TRUE(WaitForRevision(*r, last))
      << "local at " << r->progress().local_revision << " of " << last;
  EXPECT_TRUE(SameContent());
  EXPECT_TRUE(ChangelogMatchesMain(1, last));
  EXPECT_EQ(CounterValue("kess_replication_applied_total", {{"dc", "dc2"}}),
            last);
  EXPECT_TRUE(r->progress().last_error.empty()) << r->progress().last_error;
  r->Stop();
}

TEST_F(ReplicatorTest, AFiveMiBValueArrivesIntact) {
  auto r = StartReplicator(main_.get(), local_.get(), ReplicatorOptions());
  ASSERT_NE(r, nullptr);
  const std::string big = testing::RandomValue(5 * 1024 * 1024, 42);
  const int64_t revision = Put("ns", "big", big);
  ASSERT_TRUE(WaitForRevision(*r, revision));
  const std::string path = *layout_.ConfigPath("ns", "big");
  zk::ChunkedValueStore local_store(local_.get(), layout_);
  auto read = local_store.ReadRecord(path, [&](absl::string_view record) {
    return zk::DecodeAs<zk::ConfigRecord>(record, path)->value();
  });
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(zk::Crc32(read->value), zk::Crc32(big));
  EXPECT_TRUE(read->value == big);
  EXPECT_TRUE(SameContent());
}

TEST_F(ReplicatorTest, TwoReplicatorsAtOnceApplyEveryRevisionOnce) {
  // Both DCs keep the whole log, so that every revision can be compared.
  InitTrees(/*retention=*/1000, "_r1000");
  // An old and a new slave leader overlapping: separate sessions, as two
  // processes would have.
  auto main_b = Connect(&main_zk_);
  auto local_b = Connect(&slave_zk_);
  ASSERT_NE(main_b, nullptr);
  ASSERT_NE(local_b, nullptr);
  auto a = StartReplicator(main_.get(), local_.get(), ReplicatorOptions());
  auto b = StartReplicator(main_b.get(), local_b.get(), ReplicatorOptions());
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  int64_t last = 0;
  for (int i = 0; i < 120; ++i) {
    last = Put("ns", absl::StrCat("k", i % 10), absl::StrCat("v", i));
    if (i % 10 == 9) last = Delete("ns", absl::StrCat("k", i % 7));
    if (i % 20 == 0) last = PutRoute("svc", i % 5 + 1);
  }
  last = Put("ns", "big", testing::RandomValue(600 * 1024, 3));
  ASSERT_TRUE(WaitForRevision(*a, last));
  ASSERT_TRUE(WaitForRevision(*b, last));
  a->Stop();
  b->Stop();
  EXPECT_TRUE(SameContent());
  EXPECT_EQ(LocalRevision(), last);
  auto log = local_->GetChildren(layout_.ChangelogDir());
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(log->children.size(), static_cast<size_t>(last));
  EXPECT_TRUE(ChangelogMatchesMain(1, last));
  EXPECT_EQ(CounterValue("kess_replication_applied_total", {{"dc", "dc2"}}),
            last)
      << "a revision was applied twice";
  // No chunk set is left over: the local big value (chunked: above
  // zk::kInlineValueLimit) owns exactly one, and it is the one it names.
  const zk::ConfigRecord big = LocalConfig("ns", "big");
  ASSERT_EQ(big.value().body_case(), zk::StoredValue::kChunked);
  EXPECT_THAT(local_->GetChildren(layout_.ChunksDir())->children,
              ::testing::ElementsAre(big.value().chunked().chunk_set()));
  LOG(INFO) << "lost compare-and-sets: " << Errors("conflict");
}

TEST_F(ReplicatorTest, FullResyncAfterMainTrimmedItsLogWritesOnlyDifferences) {
  InitTrees(/*retention=*/5, "_r5");
  for (int i = 0; i < 10; ++i) Put("ns", absl::StrCat("k", i), "v");
  auto r = StartReplicator(main_.get(), local_.get(), ReplicatorOptions());
  ASSERT_NE(r, nullptr);
  ASSERT_TRUE(WaitForRevision(*r, 10));
  EXPECT_EQ(r->progress().full_resyncs, 1);  // it started 10 behind
  r->Stop();
  const auto before = LocalNodeVersions();
  const double written_before = CounterValue(
      "kess_replication_resync_writes_total", {{"dc", "dc2"}, {"op", "put"}});

  // While no replicator runs, two keys change 4 times each: 8 > retention.
  for (int i = 0; i < 4; ++i) {
    Put("ns", "k3", absl::StrCat("x", i));
    Put("ns", "k7", absl::StrCat("y", i));
  }
  const int64_t last = MainRevision();
  r = StartReplicator(main_.get(), local_.get(), ReplicatorOptions());
  ASSERT_TRUE(WaitForRevision(*r, last));
  r->Stop();
  EXPECT_EQ(r->progress().full_resyncs, 1);
  EXPECT_EQ(CounterValue("kess_replication_resync_writes_total",
                         {{"dc", "dc2"}, {"op", "put"}}) -
                written_before,
            2);
  EXPECT_TRUE(SameContent());
  const auto after = LocalNodeVersions();
  for (const auto& [path, version] : before) {
    const bool changed =
        absl::EndsWith(path, "/k3") || absl::EndsWith(path, "/k7");
    EXPECT_EQ(after.at(path) != version, changed) << path;
  }
}

TEST_F(ReplicatorTest, MainDownKeepsLocalDataAndCatchesUpAfter) {
  auto r = StartReplicator(main_.get(), local_.get(), ReplicatorOptions());
  ASSERT_NE(r, nullptr);
  for (int i = 0; i < 5; ++i) Put("ns", absl::StrCat("k", i), "v");
  ASSERT_TRUE(WaitForRevision(*r, 5));
  const auto before = LocalNodeVersions();

  main_zk_.Stop();
  ASSERT_TRUE(
      WaitFor([&] { return !r->progress().main_reachable; }, kPatience));
  // Some failed rounds with backoff.
  ASSERT_TRUE(
      WaitFor([&] { return Errors("main_unavailable") >= 3; }, kPatience));
  EXPECT_FALSE(r->progress().main_reachable);
  EXPECT_FALSE(r->progress().last_error.empty());
  EXPECT_GE(Errors("main_unavailable"), 1);
  EXPECT_EQ(LocalNodeVersions(), before);
  EXPECT_EQ(LocalRevision(), 5);
  EXPECT_EQ(r->progress().local_revision, 5);

  main_zk_.Start();
  const int64_t last = PutWhenMainIsBack("ns", "after", "outage");
  ASSERT_GT(last, 5);
  ASSERT_TRUE(WaitForRevision(*r, last));
  EXPECT_TRUE(r->progress().main_reachable);
  EXPECT_TRUE(SameContent());
  EXPECT_TRUE(ChangelogMatchesMain(1, last));
}

TEST_F(ReplicatorTest, LocalSessionExpiryIsSurvived) {
  auto r = StartReplicator(main_.get(), local_.get(), ReplicatorOptions());
  ASSERT_NE(r, nullptr);
  ASSERT_TRUE(WaitForRevision(*r, Put("ns", "a", "1")));
  local_->ExpireSession();
  int64_t last = 0;
  for (int i = 0; i < 10; ++i) last = Put("ns", absl::StrCat("k", i), "v");
  ASSERT_TRUE(WaitFor([&] { return local_->generation() >= 2; }, kPatience));
  ASSERT_TRUE(WaitForRevision(*r, last));
  EXPECT_TRUE(SameContent());
  EXPECT_TRUE(ChangelogMatchesMain(1, last));
}

TEST_F(ReplicatorTest, MainSessionExpiryReArmsTheWatch) {
  auto main_r = Connect(&main_zk_);
  ASSERT_NE(main_r, nullptr);
  Replicator::Options options = ReplicatorOptions();
  options.poll_interval = absl::Minutes(10);  // only the watch can wake it
  auto r = StartReplicator(main_r.get(), local_.get(), options);
  ASSERT_NE(r, nullptr);
  ASSERT_TRUE(WaitForRevision(*r, Put("ns", "a", "1")));
  main_r->ExpireSession();
  main_r->DrainCallbacks();
  ASSERT_EQ(main_r->generation(), 2);
  // The watch of the old session is gone with it (the only client watching
  // main is the replicator's); one on the new session must be armed.
  ASSERT_TRUE(WaitFor([&] { return main_zk_.watch_count() >= 1; }, kPatience));
  const int64_t last = Put("ns", "b", "2");
  EXPECT_TRUE(WaitForRevision(*r, last))
      << "no push after the main session was replaced";
  r->Stop();
}

TEST_F(ReplicatorTest, AMainThatLooksEmptyDeletesNothing) {
  auto r = StartReplicator(main_.get(), local_.get(), ReplicatorOptions());
  ASSERT_NE(r, nullptr);
  Put("ns", "a", "1");
  PutRoute("svc", 2);
  ASSERT_TRUE(WaitForRevision(*r, Put("ns", "b", "2")));
  r->Stop();
  const auto before = LocalNodeVersions();
  ASSERT_EQ(before.size(), 4u);

  // 1. Main's tree is gone altogether.
  ASSERT_TRUE(testing::DeleteTree(*main_, layout_.root()).ok());
  r = StartReplicator(main_.get(), local_.get(), ReplicatorOptions());
  ASSERT_TRUE(WaitFor([&] { return Errors("main_refused") >= 2; }, kPatience));
  EXPECT_TRUE(absl::StrContains(r->progress().last_error, "looks empty"))
      << r->progress().last_error;
  EXPECT_TRUE(r->progress().main_reachable);
  // 2. Main was bootstrapped again: revision 0, empty.
  zk::SchemaInfo info;
  info.set_datacenter("dc1");
  info.set_is_main(true);
  ASSERT_TRUE(zk::EnsureSkeleton(*main_, layout_, info, 100,
                                 mandator::testing::TestAcl())
                  .ok());
  const double refused = Errors("main_refused");
  ASSERT_TRUE(WaitFor([&] { return Errors("main_refused") >= refused + 2; },
                      kPatience));
  r->Stop();
  EXPECT_EQ(LocalNodeVersions(), before);
  EXPECT_EQ(LocalRevision(), 3);
}

TEST_F(ReplicatorTest, NothingIsWrittenAfterStop) {
  Replicator::Options options = ReplicatorOptions();
  options.poll_interval = absl::Milliseconds(20);
  auto r = StartReplicator(main_.get(), local_.get(), options);
  ASSERT_NE(r, nullptr);
  ASSERT_TRUE(WaitForRevision(*r, Put("ns", "a", "1")));
  r->Stop();
  r->Stop();  // idempotent
  auto before = local_->Get(layout_.RevisionPath());
  ASSERT_TRUE(before.ok());
  for (int i = 0; i < 3; ++i) Put("ns", absl::StrCat("k", i), "v");
  main_zk_.DrainCallbacks();  // the watch, had it been left armed, has run
  // Nothing can show that nothing happens but waiting: 5 poll intervals.
  absl::SleepFor(absl::Milliseconds(100));
  auto after = local_->Get(layout_.RevisionPath());
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->stat.version, before->stat.version);
  EXPECT_EQ(LocalRevision(), 1);
}

// Invariants 5 and 6: main's session expires in the middle of a round,
// after the replicator read main's summary and change records (arming its
// watch) and before it commits them locally. The round still applies what
// it read; the watch lost with the session is armed again on the new one,
// so later changes are pushed (there is no poll) and applied in order,
// each exactly once.
TEST_F(ReplicatorTest, MainSessionExpiryInTheMiddleOfARoundLosesNoChange) {
  auto main_r = Connect(&main_zk_);
  HookedZkApi local(local_.get());
  std::atomic<bool> armed{false};
  std::atomic<bool> expired{false};
  local.set_hook([&](FaultSpec::Op op, const std::string&) {
    if (op == FaultSpec::kMulti && armed && !expired.exchange(true)) {
      main_r->ExpireSession();
    }
  });
  Replicator::Options options = ReplicatorOptions();
  options.poll_interval = absl::Minutes(10);  // only the watch can wake it
  auto r = StartReplicator(main_r.get(), &local, options);
  ASSERT_NE(r, nullptr);
  ASSERT_TRUE(WaitForRevision(*r, Put("ns", "a", "1")));

  armed = true;
  int64_t last = Put("ns", "b", "2");
  ASSERT_TRUE(WaitForRevision(*r, last));
  EXPECT_TRUE(expired);
  ASSERT_TRUE(WaitFor([&] { return main_r->generation() == 2; }, kPatience));
  for (int i = 0; i < 5; ++i) last = Put("ns", absl::StrCat("k", i), "v");
  EXPECT_TRUE(WaitForRevision(*r, last))
      << "local at " << r->progress().local_revision << " of " << last
      << ": no push after main's session ended mid-round";
  r->Stop();
  EXPECT_TRUE(SameContent());
  EXPECT_TRUE(ChangelogMatchesMain(1, last));
  EXPECT_EQ(CounterValue("kess_replication_applied_total", {{"dc", "dc2"}}),
            last)
      << "a revision was applied twice or not at all";
}

// Invariants 4 and 5: a batch multi is applied in the slave DC but its
// answer is lost. The replicator re-reads its head instead of applying the
// changes again: the slave DC ends at main's revision with main's change
// records once each, every record written once (data version 0), and its
// revision never went back.
TEST_F(ReplicatorTest, ABatchWhoseAnswerIsLostIsAppliedOnce) {
  auto r = StartReplicator(main_.get(), local_.get(), ReplicatorOptions());
  ASSERT_NE(r, nullptr);
  ASSERT_TRUE(WaitForRevision(*r, Put("ns", "a", "1")));
  FaultSpec lost;
  lost.ops = FaultSpec::kMulti;
  lost.path_prefix = layout_.RevisionPath();
  lost.kind = FaultSpec::kConnectionLossAfterApply;
  local_->InjectFault(lost);

  int64_t last = 0;
  for (int i = 0; i < 5; ++i) last = Put("ns", absl::StrCat("k", i), "v");
  ASSERT_TRUE(WaitForRevision(*r, last));
  r->Stop();
  EXPECT_EQ(slave_zk_.PendingFaults(), 0);
  EXPECT_GE(Errors("local"), 1) << "the lost answer went unnoticed";
  EXPECT_EQ(LocalRevision(), last);
  EXPECT_EQ(local_->GetChildren(layout_.ChangelogDir())->children.size(),
            static_cast<size_t>(last));
  EXPECT_TRUE(ChangelogMatchesMain(1, last));
  EXPECT_TRUE(SameContent());
  for (const auto& [path, version] : LocalNodeVersions()) {
    EXPECT_EQ(version.first, 0) << path << " was written more than once";
  }
}

}  // namespace
}  // namespace replication
}  // namespace mandator
}  // namespace kess
