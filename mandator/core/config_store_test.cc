// ConfigStore on the in-memory ZooKeeper (zk_schema/testing/fake_zk.h):
// round trips, history and rollback, CAS, 16 MiB, invalid names, fence,
// chunk collection, change-log trimming, ACLs; and faults injected at exact
// points of the commit (a lost request, a lost answer, an operation
// timeout, a session that ends between reading the revision and the multi).
#include "mandator/core/config_store.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "mandator/testing/test_util.h"
#include "zk_schema/codec.h"
#include "zk_schema/revision_log.h"
#include "zk_schema/testing/fake_zk.h"

namespace kess {
namespace mandator {
namespace core {
namespace {

using ::kess::mandator::testing::FakeAnonymous;
using ::kess::mandator::testing::FakeReader;
using ::kess::mandator::testing::HookedZkApi;
using ::kess::mandator::testing::TestAcl;
using ::kess::zk::testing::FaultSpec;

class ConfigStoreTest : public mandator::testing::FakeZkTest {
 protected:
  void SetUp() override {
    FakeZkTest::SetUp();
    store_ = MakeStore(3);
  }

  std::unique_ptr<ConfigStore> MakeStore(int history_limit,
                                         zk::ZkApi* zk = nullptr) {
    ConfigStore::Options options{*layout_, TestAcl(), history_limit, "m1"};
    auto store =
        ConfigStore::Create(zk != nullptr ? zk : client_.get(), options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  static PutRequest Put(const std::string& ns, const std::string& key,
                        const std::string& value) {
    PutRequest r;
    r.ns = ns;
    r.key = key;
    r.value = value;
    r.content_type = "text/plain";
    r.author = "alice";
    return r;
  }

  // Everything that a rejected write must leave untouched.
  std::string Snapshot() {
    auto summary = zk::ReadRevision(*client_, *layout_);
    auto log = client_->GetChildren(layout_->ChangelogDir());
    auto configs = client_->GetChildren(layout_->ConfigsDir());
    auto chunks = client_->GetChildren(layout_->ChunksDir());
    EXPECT_TRUE(summary.ok() && log.ok() && configs.ok() && chunks.ok());
    return absl::StrCat(summary->first.revision(), "/", summary->second, "/",
                        log->children.size(), "/", configs->children.size(),
                        "/", chunks->children.size());
  }

  // The change records' revisions, oldest first.
  std::vector<std::string> ChangeLog() {
    auto log = client_->GetChildren(layout_->ChangelogDir());
    EXPECT_TRUE(log.ok()) << log.status();
    return log.ok() ? log->children : std::vector<std::string>{};
  }

  // The history nodes of ns/k.
  size_t HistorySize(const std::string& ns, const std::string& key) {
    auto history = client_->GetChildren(*layout_->HistoryKeyDir(ns, key));
    return history.ok() ? history->children.size() : 0;
  }

  std::unique_ptr<ConfigStore> store_;
};

TEST_F(ConfigStoreTest, PutGetListDelete) {
  auto first = store_->Put(Put("payments", "db.timeout_ms", "250"));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->revision, 1);
  EXPECT_EQ(first->version, 1);
  auto second = store_->Put(Put("payments", "db.timeout_ms", "300"));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->revision, 2);
  EXPECT_EQ(second->version, 2);
  ASSERT_TRUE(store_->Put(Put("search", "k", "v")).ok());

  auto got = store_->Get("payments", "db.timeout_ms");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->value, "300");
  EXPECT_EQ(got->record.revision(), 2);
  EXPECT_EQ(got->record.content_type(), "text/plain");
  EXPECT_EQ(got->record.meta().author(), "alice");
  EXPECT_EQ(got->record.meta().writer(), "m1");

  EXPECT_EQ(*store_->ListNamespaces(),
            (std::vector<std::string>{"payments", "search"}));
  auto keys = store_->ListKeys("payments");
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0].key, "db.timeout_ms");
  EXPECT_EQ((*keys)[0].revision, 2);
  EXPECT_EQ((*keys)[0].version, 2);
  EXPECT_EQ((*keys)[0].size, 3u);
  EXPECT_EQ(store_->ListKeys("nope").status().code(),
            absl::StatusCode::kNotFound);

  DeleteRequest del{"payments", "db.timeout_ms"};
  auto deleted = store_->Delete(del);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->revision, 4);
  EXPECT_EQ(store_->Get("payments", "db.timeout_ms").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Delete(del).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(*store_->Revision(), 4);

  // Every revision has its change record, in order, naming the change.
  for (int64_t r = 1; r <= 4; ++r) {
    auto node = client_->Get(layout_->ChangelogPath(r));
    ASSERT_TRUE(node.ok()) << r;
    auto change = zk::DecodeAs<zk::ChangeRecord>(node->data, "log");
    ASSERT_TRUE(change.ok());
    EXPECT_EQ(change->revision(), r);
    EXPECT_EQ(change->kind(), r == 4 ? zk::CONFIG_DELETE : zk::CONFIG_PUT);
  }
}

// A raised minimum revision makes the next write jump to it (a restore,
// ../snapshot.h), the writes after it follow on, and it is never lowered.
TEST_F(ConfigStoreTest, RaiseMinRevisionJumpsTheNextWrite) {
  ASSERT_EQ(store_->Put(Put("jump", "k", "1"))->revision, 1);
  store_->RaiseMinRevision(1000);
  store_->RaiseMinRevision(10);  // lower: ignored
  EXPECT_EQ(store_->min_revision(), 1000);
  auto jumped = store_->Put(Put("jump", "k", "2"));
  ASSERT_TRUE(jumped.ok()) << jumped.status();
  EXPECT_EQ(jumped->revision, 1000);
  EXPECT_EQ(jumped->version, 2);
  EXPECT_EQ(store_->Put(Put("jump", "other", "3"))->revision, 1001);
  EXPECT_EQ(*store_->Revision(), 1001);
  // The change log starts again above the jump (followers resync).
  auto summary = zk::ReadRevision(*client_, *layout_);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_GE(summary->first.oldest_retained(), 1000);
}

TEST_F(ConfigStoreTest, HistoryKeepsTheLastNAndRollbackWritesANewRevision) {
  for (int i = 1; i <= 5; ++i) {
    PutRequest put = Put("ns", "k", absl::StrCat("v", i));
    put.content_type = i == 2 ? "text/csv" : "text/plain";
    ASSERT_TRUE(store_->Put(put).ok());
  }
  auto history = store_->History("ns", "k", 10);
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->size(), 3u);  // history_limit
  EXPECT_EQ((*history)[0].value, "v5");
  EXPECT_EQ((*history)[0].record.revision(), 5);
  EXPECT_EQ((*history)[2].value, "v3");
  EXPECT_EQ(store_->History("ns", "k", 1)->size(), 1u);

  RollbackRequest to_trimmed{"ns", "k", 2};
  EXPECT_EQ(store_->Rollback(to_trimmed).status().code(),
            absl::StatusCode::kNotFound);
  RollbackRequest rollback{"ns", "k", 3};
  rollback.author = "bob";
  auto result = store_->Rollback(rollback);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->revision, 6);
  EXPECT_EQ(result->version, 6);
  auto now = store_->Get("ns", "k");
  EXPECT_EQ(now->value, "v3");
  EXPECT_EQ(now->record.meta().author(), "bob");
  EXPECT_NE(now->record.meta().comment().find("rollback to revision 3"),
            std::string::npos);

  // A deleted key keeps its history and can be rolled back.
  ASSERT_TRUE(store_->Delete(DeleteRequest{"ns", "k"}).ok());
  ASSERT_TRUE(store_->Rollback(RollbackRequest{"ns", "k", 5}).ok());
  EXPECT_EQ(store_->Get("ns", "k")->value, "v5");
  EXPECT_EQ(store_->Get("ns", "k")->record.version(), 1);
}

TEST_F(ConfigStoreTest, CompareAndSetSucceedsOrChangesNothing) {
  PutRequest create = Put("ns", "k", "a");
  create.expected_revision = 0;
  auto created = store_->Put(create);
  ASSERT_TRUE(created.ok()) << created.status();

  const std::string before = Snapshot();
  auto again = store_->Put(create);  // must not exist: it does
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAborted);
  EXPECT_NE(again.status().message().find("current revision 1"),
            std::string::npos)
      << again.status();
  PutRequest stale = Put("ns", "k", "b");
  stale.expected_revision = 7;
  EXPECT_EQ(store_->Put(stale).status().code(), absl::StatusCode::kAborted);
  DeleteRequest stale_delete{"ns", "k", 7};
  EXPECT_EQ(store_->Delete(stale_delete).status().code(),
            absl::StatusCode::kAborted);
  RollbackRequest stale_rollback{"ns", "k", 1, 7};
  EXPECT_EQ(store_->Rollback(stale_rollback).status().code(),
            absl::StatusCode::kAborted);
  // A large value with a stale CAS leaves no chunks behind either.
  PutRequest big_stale = Put("ns", "k", std::string(1 << 20, 'x'));
  big_stale.expected_revision = 7;
  EXPECT_EQ(store_->Put(big_stale).status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(Snapshot(), before);
  EXPECT_EQ(store_->Get("ns", "k")->value, "a");

  PutRequest good = Put("ns", "k", "c");
  good.expected_revision = 1;
  auto updated = store_->Put(good);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->revision, 2);
  EXPECT_EQ(store_->Get("ns", "k")->value, "c");
}

TEST_F(ConfigStoreTest, SixteenMiBIsStoredAndOneByteMoreIsRejected) {
  std::string value(zk::kMaxValueBytes, '\0');
  for (size_t i = 0; i < value.size(); ++i) value[i] = static_cast<char>(i * 7);
  auto put = store_->Put(Put("big", "blob", value));
  ASSERT_TRUE(put.ok()) << put.status();
  auto got = store_->Get("big", "blob");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->value == value);
  EXPECT_EQ(got->record.value().body_case(), zk::StoredValue::kChunked);

  const std::string before = Snapshot();
  auto too_big = store_->Put(Put("big", "blob2", value + "x"));
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(too_big.status().message().find("16 MiB"), std::string::npos);
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(ConfigStoreTest, MalformedValuesOfACheckedFormatAreRefusedWithTheirPosition) {
  const std::string before = Snapshot();
  struct Case {
    const char* content_type;
    const char* value;
    const char* expect;
  };
  for (const Case& c : {
           Case{"application/json", "{\"a\": 1,\n \"b\" 2}",
                "not valid json: json: line 2, column 6: "},
           Case{"application/yaml", "a: 1\na: 2\n",
                "not valid yaml: yaml: line 2, column 1: duplicate mapping "
                "key"},
           Case{"text/x-java-properties", "a=\\u00zz\n",
                "not valid properties"},
       }) {
    PutRequest put = Put("ns", "bad", c.value);
    put.content_type = c.content_type;
    absl::StatusOr<CommitResult> result = store_->Put(put);
    ASSERT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument)
        << c.content_type;
    EXPECT_NE(result.status().message().find(c.expect), std::string::npos)
        << result.status().message();
    EXPECT_NE(result.status().message().find("nothing was written"),
              std::string::npos);
  }
  EXPECT_EQ(Snapshot(), before);

  // Well-formed values of those formats, and anything as text, are stored.
  PutRequest json = Put("ns", "good", "{\"a\": [1, 2]}");
  json.content_type = "application/json; charset=utf-8";
  EXPECT_TRUE(store_->Put(json).ok());
  PutRequest text = Put("ns", "text", "{\"a\" 1");
  text.content_type = "text/plain";
  EXPECT_TRUE(store_->Put(text).ok());
}

TEST_F(ConfigStoreTest, InvalidInputIsRejectedAndNothingIsWritten) {
  const std::string before = Snapshot();
  for (const char* bad : {"..", "../etc", "a/b", "", ".hidden", "a..b"}) {
    EXPECT_EQ(store_->Put(Put(bad, "k", "v")).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
    EXPECT_EQ(store_->Put(Put("ns", bad, "v")).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
    EXPECT_EQ(store_->Get("ns", bad).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  EXPECT_FALSE(store_->Put(Put(std::string(129, 'a'), "k", "v")).ok());
  PutRequest negative = Put("ns", "k", "v");
  negative.expected_revision = -1;
  EXPECT_EQ(store_->Put(negative).status().code(),
            absl::StatusCode::kInvalidArgument);
  PutRequest long_comment = Put("ns", "k", "v");
  long_comment.comment = std::string(kMaxCommentBytes + 1, 'c');
  EXPECT_EQ(store_->Put(long_comment).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(ConfigStoreTest, AMissingFenceRefusesTheWrite) {
  const std::string fence = layout_->root() + "/fence";
  ASSERT_TRUE(client_->Create(fence, "", zk::CreateMode::kPersistent).ok());
  ASSERT_TRUE(store_->Put(Put("ns", "k", "a"), fence).ok());
  ASSERT_TRUE(client_->Delete(fence).ok());
  const std::string before = Snapshot();
  auto refused = store_->Put(Put("ns", "k", "b"), fence);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(refused.status().message().find("no longer the leader"),
            std::string::npos);
  EXPECT_EQ(store_->Delete(DeleteRequest{"ns", "k"}, fence).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(Snapshot(), before);
  EXPECT_EQ(store_->Get("ns", "k")->value, "a");
}

TEST_F(ConfigStoreTest, ChunksOfTrimmedHistoryAreCollected) {
  auto store = MakeStore(2);
  const std::string big(kRecordInlineLimit + 1, 'b');
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(store->Put(Put("ns", "big", big + std::to_string(i))).ok());
  }
  // Two versions in history (the newest is the current value): two sets.
  EXPECT_EQ(client_->GetChildren(layout_->ChunksDir())->children.size(), 2u);
  auto history = store->History("ns", "big", 10);
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ((*history)[1].value, big + "2");
}

TEST_F(ConfigStoreTest, ChangeLogIsTrimmedToItsRetention) {
  for (int i = 0; i < 110; ++i) {
    ASSERT_TRUE(store_->Put(Put("ns", absl::StrCat("k", i % 3), "v")).ok());
  }
  auto log = client_->GetChildren(layout_->ChangelogDir());
  EXPECT_EQ(log->children.size(), 100u);  // the skeleton's retention
  auto summary = zk::ReadRevision(*client_, *layout_);
  EXPECT_EQ(summary->first.revision(), 110);
  EXPECT_EQ(summary->first.oldest_retained(), 11);
}

TEST_F(ConfigStoreTest, ReadersAndStrangersCannotModifyKessData) {
  ASSERT_TRUE(store_->Put(Put("ns", "k", "v")).ok());
  auto reader = FakeReader(&zk_);
  auto anonymous = FakeAnonymous(&zk_);
  const std::string record = *layout_->ConfigPath("ns", "k");
  const std::string ns = *layout_->NamespacePath("ns");
  const std::string log = layout_->ChangelogPath(1);
  const std::string history = *layout_->HistoryPath("ns", "k", 1);

  EXPECT_TRUE(reader->Get(record).ok());
  EXPECT_TRUE(reader->Get(log).ok());
  for (zk::ZkApi* c : {static_cast<zk::ZkApi*>(reader.get()),
                       static_cast<zk::ZkApi*>(anonymous.get())}) {
    for (const std::string& path :
         {record, log, history, layout_->RevisionPath(), layout_->root()}) {
      EXPECT_EQ(c->Set(path, "x").status().code(),
                absl::StatusCode::kPermissionDenied)
          << path;
      EXPECT_EQ(c->Delete(path).code(), absl::StatusCode::kPermissionDenied)
          << path;
    }
    EXPECT_EQ(c->Create(ns + "/evil", "x").status().code(),
              absl::StatusCode::kPermissionDenied);
    EXPECT_EQ(c->Create(layout_->ConfigsDir() + "/evil", "x").status().code(),
              absl::StatusCode::kPermissionDenied);
  }
  EXPECT_EQ(anonymous->Get(record).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(store_->Get("ns", "k")->value, "v");
}

// ---- Faults at exact points of the commit ----

// The one commit multi (record, history, revision compare-and-set, change
// record) is the only multi that sets the revision node.
FaultSpec CommitMulti(const zk::Layout& layout, FaultSpec::Kind kind) {
  FaultSpec spec;
  spec.ops = FaultSpec::kMulti;
  spec.path_prefix = layout.RevisionPath();
  spec.kind = kind;
  return spec;
}

// Invariants 1 and 2: the commit multi is applied but its answer is lost
// (connection loss after apply). The store reads the change record back,
// reports the write committed at its revision, and does not apply it again:
// one revision, one change record, one history node. A delete likewise.
TEST_F(ConfigStoreTest, ALostAnswerOfAnAppliedCommitIsReportedCommittedOnce) {
  client_->InjectFault(
      CommitMulti(*layout_, FaultSpec::kConnectionLossAfterApply));
  auto put = store_->Put(Put("ns", "k", "v1"));
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(zk_.PendingFaults(), 0);  // the answer was lost
  EXPECT_EQ(put->revision, 1);
  EXPECT_EQ(*store_->Revision(), 1);
  EXPECT_EQ(ChangeLog(), std::vector<std::string>{zk::FormatRevision(1)});
  EXPECT_EQ(HistorySize("ns", "k"), 1u);
  EXPECT_EQ(store_->Get("ns", "k")->value, "v1");

  client_->InjectFault(
      CommitMulti(*layout_, FaultSpec::kConnectionLossAfterApply));
  auto deleted = store_->Delete(DeleteRequest{"ns", "k"});
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(zk_.PendingFaults(), 0);
  EXPECT_EQ(deleted->revision, 2);
  EXPECT_EQ(ChangeLog().size(), 2u);
  EXPECT_EQ(store_->Get("ns", "k").status().code(),
            absl::StatusCode::kNotFound);
  // The next write takes the next revision: no gap, no repeat.
  auto next = store_->Put(Put("ns", "k", "v3"));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->revision, 3);
}

// Invariant 2: the commit multi is lost on its way (connection loss before
// apply). Nothing is written, not even the chunks of a large value; the
// error says it was not applied, and a retry commits it once.
TEST_F(ConfigStoreTest, ALostRequestWritesNothingAndARetryCommitsOnce) {
  ASSERT_TRUE(store_->Put(Put("ns", "k", "v1")).ok());
  const std::string before = Snapshot();
  const std::string big(kRecordInlineLimit + 1, 'b');  // chunked
  client_->InjectFault(
      CommitMulti(*layout_, FaultSpec::kConnectionLossBeforeApply));
  auto lost = store_->Put(Put("ns", "k", big));
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(lost.status().message(), "not applied"))
      << lost.status();
  EXPECT_EQ(zk_.PendingFaults(), 0);
  EXPECT_EQ(Snapshot(), before);
  EXPECT_EQ(store_->Get("ns", "k")->value, "v1");

  auto retried = store_->Put(Put("ns", "k", big));
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(retried->revision, 2);
  EXPECT_EQ(store_->Get("ns", "k")->value, big);
  EXPECT_EQ(HistorySize("ns", "k"), 2u);
}

// Invariants 1 and 2: ZooKeeper answers ZOPERATIONTIMEOUT to the multi that
// compare-and-sets the revision, having applied nothing. The write is
// refused as not applied, the revision and the change log stay as they
// were, and the next write takes the next revision, without a gap.
TEST_F(ConfigStoreTest, AnOperationTimeoutOnTheRevisionCasWritesNothing) {
  ASSERT_TRUE(store_->Put(Put("ns", "a", "1")).ok());
  const std::string before = Snapshot();
  client_->InjectFault(CommitMulti(*layout_, FaultSpec::kOperationTimeout));
  auto timed_out = store_->Put(Put("ns", "b", "2"));
  EXPECT_EQ(timed_out.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(timed_out.status().message(), "not applied"))
      << timed_out.status();
  EXPECT_EQ(zk_.PendingFaults(), 0);
  EXPECT_EQ(Snapshot(), before);
  EXPECT_EQ(store_->Get("ns", "b").status().code(),
            absl::StatusCode::kNotFound);

  auto next = store_->Put(Put("ns", "b", "2"));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->revision, 2);
  EXPECT_EQ(ChangeLog(), (std::vector<std::string>{zk::FormatRevision(1),
                                                   zk::FormatRevision(2)}));
}

// Invariant 2: the answer of an applied commit is lost, and so is the read
// of its change record that would tell. The write is reported "outcome
// unknown" (never "not applied"), and the chunks of its large value are
// kept: the committed record references them and reads back whole.
TEST_F(ConfigStoreTest, AnUnverifiableCommitIsOutcomeUnknownAndKeepsItsChunks) {
  client_->InjectFault(
      CommitMulti(*layout_, FaultSpec::kConnectionLossAfterApply));
  FaultSpec read_back;
  read_back.ops = FaultSpec::kGet;
  read_back.path_prefix = layout_->ChangelogPath(1);
  read_back.kind = FaultSpec::kConnectionLossBeforeApply;
  client_->InjectFault(read_back);
  const std::string big(kRecordInlineLimit + 1, 'u');
  auto put = store_->Put(Put("ns", "big", big));
  EXPECT_EQ(put.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(put.status().message(), "outcome unknown"))
      << put.status();
  EXPECT_EQ(zk_.PendingFaults(), 0);

  auto got = store_->Get("ns", "big");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->record.value().body_case(), zk::StoredValue::kChunked);
  EXPECT_TRUE(got->value == big);
  EXPECT_EQ(got->record.revision(), 1);
  EXPECT_EQ(ChangeLog().size(), 1u);
}

// Invariant 3: the leader's session ends after its commit read the revision
// and before its multi, and with it its election node, the fence. The
// client has a new session when the multi goes out, yet the fence check in
// the multi refuses it: nothing is written, and the error says this
// mandator is no longer the leader.
TEST_F(ConfigStoreTest, ALeaderWhoseSessionEndsBeforeItsMultiCommitsNothing) {
  auto fence = client_->Create(layout_->ElectionNodePrefix(), "",
                               zk::CreateMode::kEphemeralSequential);
  ASSERT_TRUE(fence.ok()) << fence.status();
  ASSERT_TRUE(store_->Put(Put("ns", "k", "a"), *fence).ok());
  HookedZkApi hooked(client_.get());
  std::unique_ptr<ConfigStore> leader = MakeStore(3, &hooked);
  bool expired = false;
  hooked.set_hook([&](FaultSpec::Op op, const std::string&) {
    if (op != FaultSpec::kMulti || expired) return;
    expired = true;
    client_->ExpireSession();
    client_->DrainCallbacks();  // the new session is up
  });
  const int64_t generation = client_->generation();
  const std::string before = Snapshot();

  auto refused = leader->Put(Put("ns", "k", "b"), *fence);
  EXPECT_TRUE(expired);
  EXPECT_EQ(client_->generation(), generation + 1);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(
      absl::StrContains(refused.status().message(), "no longer the leader"))
      << refused.status();
  EXPECT_EQ(Snapshot(), before);
  EXPECT_EQ(store_->Get("ns", "k")->value, "a");
}

}  // namespace
}  // namespace core
}  // namespace mandator
}  // namespace kess
