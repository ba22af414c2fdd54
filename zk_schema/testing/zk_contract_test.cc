// The contract of ZkApi, run against FakeZkClient (Fake/...) and against
// ZkClient on a real standalone ZooKeeper (Real/...): the same cases, the
// same expected values, down to the text of every error. When ZooKeeper or
// ZkClient changes behaviour, the Real/ cases say so; when the fake drifts,
// the Fake/ cases do.
//
// Waiting for callbacks: the fake queues a write's events before the write
// returns, so Eventually() drains the callbacks and checks once (no
// polling: this checks the fake's DrainCallbacks contract too); against
// the real server it polls. Settle() lets due callbacks run before checking
// that one did not fire (real server: 300 ms).
//
// The fake only, no JVM:
//   bazel test //zk_schema/testing:zk_contract_test
//     --test_arg=--gtest_filter='Fake/*'
#include <zookeeper/zookeeper.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/testing/wait_for.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/harness/zk_ensemble.h"
#include "zk_schema/testing/event_log.h"
#include "zk_schema/testing/fake_zk.h"
#include "zk_schema/testing/real_zk.h"
#include "zk_schema/zk_api.h"
#include "zk_schema/zk_client.h"
#include "zk_schema/zk_errors.h"

namespace kess {
namespace zk {
namespace testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

enum class Backend { kFake, kReal };

constexpr absl::Duration kPatience = absl::Seconds(30);

class ZkContractTest : public ::testing::TestWithParam<Backend> {
 protected:
  static void TearDownTestSuite() { Real().reset(); }

  void SetUp() override {
    if (GetParam() == Backend::kReal) {
      if (Real() == nullptr) {
        auto started = kess::testing::ZkEnsemble::Start(
            {.name = "contract", .servers = 1});
        ASSERT_TRUE(started.ok()) << started.status();
        Real() = *std::move(started);
      }
    } else {
      fake_ = std::make_unique<FakeZkServer>();
    }
    // Real cases share one server: each works under its own root.
    root_ = "/" + absl::StrReplaceAll(
                      ::testing::UnitTest::GetInstance()
                          ->current_test_info()
                          ->name(),
                      {{"/", "_"}});
    a_ = NewClient();
    ASSERT_NE(a_, nullptr);
    ASSERT_TRUE(a_->Create(root_, "").ok());
  }

  void TearDown() override {
    clients_.clear();
    fake_.reset();
  }

  bool real() const { return GetParam() == Backend::kReal; }

  // A client with a session of its own, owned by the fixture.
  ZkApi* NewClient(std::vector<DigestCredential> credentials = {}) {
    if (!real()) {
      clients_.push_back(std::make_unique<FakeZkClient>(
          fake_.get(), FakeZkClientOptions{.credentials = credentials}));
      return clients_.back().get();
    }
    ZkClientOptions options = TestClientOptions(Real()->ConnectString());
    options.credentials = std::move(credentials);
    absl::StatusOr<std::unique_ptr<ZkClient>> client =
        ZkClient::Create(std::move(options));
    EXPECT_TRUE(client.ok()) << client.status();
    if (!client.ok()) return nullptr;
    clients_.push_back(*std::move(client));
    return clients_.back().get();
  }

  // Destroys `client`: its session closes.
  void CloseClient(ZkApi* client) {
    clients_.erase(std::find_if(clients_.begin(), clients_.end(),
                                [client](const std::unique_ptr<ZkApi>& c) {
                                  return c.get() == client;
                                }));
  }

  // The server expires `client`'s session.
  void Expire(ZkApi* client) {
    if (!real()) {
      static_cast<FakeZkClient*>(client)->ExpireSession();
      return;
    }
    absl::StatusOr<SessionCredentials> creds =
        static_cast<ZkClient*>(client)->session_credentials();
    ASSERT_TRUE(creds.ok()) << creds.status();
    ASSERT_TRUE(ExpireSession(Real()->ConnectString(), *creds).ok());
  }

  // Whether `condition` holds once the callbacks due have run.
  bool Eventually(const std::function<bool()>& condition) {
    if (!real()) {
      fake_->DrainCallbacks();
      return condition();
    }
    return ::kess::testing::WaitFor(condition, kPatience);
  }

  // Lets the callbacks due run, before checking that one did not.
  void Settle() {
    if (!real()) {
      fake_->DrainCallbacks();
    } else {
      absl::SleepFor(absl::Milliseconds(300));
    }
  }

  // A path under this case's root.
  std::string P(absl::string_view relative) const {
    return absl::StrCat(root_, "/", relative);
  }

  static std::unique_ptr<kess::testing::ZkEnsemble>& Real() {
    static auto* ensemble = new std::unique_ptr<kess::testing::ZkEnsemble>();
    return *ensemble;
  }

  std::unique_ptr<FakeZkServer> fake_;
  std::vector<std::unique_ptr<ZkApi>> clients_;
  std::string root_;
  ZkApi* a_ = nullptr;
};

std::string NoNode(absl::string_view context) {
  return absl::StrCat(context, ": node does not exist (ZK -101)");
}

// ---- Nodes -------------------------------------------------------------------

TEST_P(ZkContractTest, CreateGetSetDelete) {
  const std::string x = P("x");
  const int64_t before_ms = absl::ToUnixMillis(absl::Now());
  absl::StatusOr<std::string> created = a_->Create(x, "v0");
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(*created, x);

  absl::StatusOr<GetResult> got = a_->Get(x);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->data, "v0");
  const Stat& s0 = got->stat;
  EXPECT_EQ(s0.version, 0);
  EXPECT_EQ(s0.cversion, 0);
  EXPECT_EQ(s0.aversion, 0);
  EXPECT_EQ(s0.data_length, 2);
  EXPECT_EQ(s0.num_children, 0);
  EXPECT_EQ(s0.ephemeral_owner, 0);
  EXPECT_GT(s0.czxid, 0);
  EXPECT_EQ(s0.mzxid, s0.czxid);
  EXPECT_EQ(s0.pzxid, s0.czxid);
  EXPECT_EQ(s0.mtime_ms, s0.ctime_ms);
  EXPECT_GE(s0.ctime_ms, before_ms - 1000);
  EXPECT_LE(s0.ctime_ms, absl::ToUnixMillis(absl::Now()) + 1000);

  absl::StatusOr<Stat> set = a_->Set(x, "v11");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->version, 1);
  EXPECT_EQ(set->data_length, 3);
  EXPECT_EQ(set->czxid, s0.czxid);
  EXPECT_GT(set->mzxid, s0.czxid);
  EXPECT_EQ(set->pzxid, s0.pzxid);
  EXPECT_GE(set->mtime_ms, s0.ctime_ms);

  got = a_->Get(x);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->data, "v11");
  EXPECT_EQ(got->stat.mzxid, set->mzxid);
  EXPECT_EQ(got->stat.version, 1);
  absl::StatusOr<std::optional<Stat>> exists = a_->Exists(x);
  ASSERT_TRUE(exists.ok() && exists->has_value());
  EXPECT_EQ((*exists)->mzxid, set->mzxid);
  EXPECT_EQ((*exists)->data_length, 3);

  EXPECT_TRUE(a_->Delete(x).ok());
  exists = a_->Exists(x);
  ASSERT_TRUE(exists.ok());
  EXPECT_FALSE(exists->has_value());
  EXPECT_EQ(a_->Get(x).status().message(), NoNode("get " + x));

  ASSERT_TRUE(a_->Create(x, "").ok());
  got = a_->Get(x);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->data, "");
  EXPECT_EQ(got->stat.data_length, 0);
}

TEST_P(ZkContractTest, CompareAndSet) {
  const std::string x = P("x");
  ASSERT_TRUE(a_->Create(x, "").ok());
  absl::StatusOr<Stat> set = a_->Set(x, "a", 0);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->version, 1);
  absl::Status stale = a_->Set(x, "b", 0).status();
  EXPECT_EQ(stale.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(stale.message(), absl::StrCat("set ", x,
                                          ": version mismatch (compare-and-set "
                                          "lost) (ZK -103)"));
  EXPECT_EQ(a_->Get(x)->data, "a");
  set = a_->Set(x, "c", kAnyVersion);
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set->version, 2);
  absl::Status stale_delete = a_->Delete(x, 1);
  EXPECT_EQ(stale_delete.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(stale_delete.message(),
            absl::StrCat("delete ", x,
                         ": version mismatch (compare-and-set lost) (ZK -103)"));
  EXPECT_TRUE(a_->Delete(x, 2).ok());
}

TEST_P(ZkContractTest, ErrorCodesAndMessages) {
  const std::string m = P("missing");
  EXPECT_EQ(a_->Get(m).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(a_->Get(m).status().message(), NoNode("get " + m));
  EXPECT_EQ(ZkErrorCode(a_->Get(m).status()), ZNONODE);
  EXPECT_EQ(a_->Set(m, "").status().message(), NoNode("set " + m));
  EXPECT_EQ(a_->Delete(m).message(), NoNode("delete " + m));
  EXPECT_EQ(a_->GetChildren(m).status().message(),
            NoNode("get children of " + m));
  EXPECT_EQ(a_->Create(m + "/c", "").status().message(),
            NoNode("create " + m + "/c"));

  const std::string x = P("x");
  ASSERT_TRUE(a_->Create(x, "").ok());
  absl::Status exists = a_->Create(x, "").status();
  EXPECT_EQ(exists.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(exists.message(),
            absl::StrCat("create ", x, ": node already exists (ZK -110)"));
  ASSERT_TRUE(a_->Create(x + "/c", "").ok());
  absl::Status not_empty = a_->Delete(x);
  EXPECT_EQ(not_empty.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(not_empty.message(),
            absl::StrCat("delete ", x, ": node has children (ZK -111)"));
  // The version is checked before the children.
  EXPECT_EQ(a_->Delete(x, 7).code(), absl::StatusCode::kAborted);

  // The root exists; it and ZooKeeper's own nodes cannot be deleted.
  EXPECT_EQ(a_->Create("/", "").status().code(),
            absl::StatusCode::kAlreadyExists);
  for (const char* special : {"/", "/zookeeper"}) {
    absl::Status refused = a_->Delete(special);
    EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument) << special;
    EXPECT_EQ(refused.message(),
              absl::StrCat("delete ", special, ": bad arguments (ZK -8)"));
  }
  absl::StatusOr<ChildrenResult> top = a_->GetChildren("/");
  ASSERT_TRUE(top.ok());
  EXPECT_NE(std::find(top->children.begin(), top->children.end(), "zookeeper"),
            top->children.end());
}

TEST_P(ZkContractTest, InvalidPathsAreRejectedUnsent) {
  for (const std::string& bad :
       {std::string("relative"), std::string(""), P("trailing/"),
        root_ + "//double", P("."), P("a/./b"), P(".."), P("a/../b"),
        P("ctl\x01x")}) {
    absl::Status get = a_->Get(bad).status();
    EXPECT_EQ(get.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(get.message(), absl::StrCat("get ", bad, ": bad arguments (ZK -8)"));
    EXPECT_EQ(a_->Create(bad, "").status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  // Dots inside a name are fine, and so is a trailing '/' of a sequential
  // create (the suffix is the name).
  ASSERT_TRUE(a_->Create(P(".hidden"), "").ok());
  ASSERT_TRUE(a_->Create(P("a..b"), "").ok());
  ASSERT_TRUE(a_->Create(P("dir"), "").ok());
  absl::StatusOr<std::string> seq =
      a_->Create(P("dir/"), "", CreateMode::kPersistentSequential);
  ASSERT_TRUE(seq.ok()) << seq.status();
  EXPECT_EQ(*seq, P("dir/0000000000"));
  // A multi names the op (ZkClient checks multi paths itself: the C
  // client's zoo_multi crashes on an op after an invalid one).
  MultiOps create_then_bad;
  create_then_bad.Create(P("ok"), "").Create(P("bad/"), "");
  absl::Status multi = a_->Multi(create_then_bad).status();
  EXPECT_EQ(multi.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(multi.message(),
            absl::StrCat("multi of 2 ops: op #1 (create ", P("bad/"),
                         ") failed, so none was applied: bad arguments "
                         "(ZK -8)"));
  EXPECT_EQ(MultiFailedOp(multi), 1);
  MultiOps bad_first;
  bad_first.Set("relative", "").Create(P("ok"), "");
  multi = a_->Multi(bad_first).status();
  EXPECT_EQ(multi.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MultiFailedOp(multi), 0);
  EXPECT_FALSE(a_->Exists(P("ok"))->has_value());
  MultiOps sequential;
  sequential.Create(P("dir/"), "", CreateMode::kPersistentSequential);
  absl::StatusOr<std::vector<OpResult>> created = a_->Multi(sequential);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ((*created)[0].created_path, P("dir/0000000001"));
}

TEST_P(ZkContractTest, SequentialNamesCountTheParentsCreates) {
  const std::string p = P("p");
  ASSERT_TRUE(a_->Create(p, "").ok());
  ASSERT_TRUE(a_->Create(p + "/a", "").ok());
  ASSERT_TRUE(a_->Create(p + "/b", "").ok());
  absl::StatusOr<std::string> s =
      a_->Create(p + "/s-", "", CreateMode::kPersistentSequential);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, p + "/s-0000000002");
  // A delete does not give a number back: the suffix counts creates.
  ASSERT_TRUE(a_->Delete(p + "/a").ok());
  s = a_->Create(p + "/s-", "", CreateMode::kPersistentSequential);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, p + "/s-0000000003");
  s = a_->Create(p + "/e-", "", CreateMode::kEphemeralSequential);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, p + "/e-0000000004");
  EXPECT_EQ((*a_->Exists(*s))->ephemeral_owner, a_->session_id());
  // In a multi, every create counts.
  MultiOps ops;
  ops.Create(p + "/m-", "", CreateMode::kPersistentSequential)
      .Create(p + "/m-", "", CreateMode::kPersistentSequential);
  absl::StatusOr<std::vector<OpResult>> multi = a_->Multi(ops);
  ASSERT_TRUE(multi.ok()) << multi.status();
  EXPECT_EQ((*multi)[0].created_path, p + "/m-0000000005");
  EXPECT_EQ((*multi)[1].created_path, p + "/m-0000000006");
  // A failed create (the name exists) takes no number.
  EXPECT_FALSE(a_->Create(p + "/b", "").ok());
  s = a_->Create(p + "/s-", "", CreateMode::kPersistentSequential);
  EXPECT_EQ(*s, p + "/s-0000000007");
  // cversion counts creates and deletes: 8 creates, 1 delete.
  absl::StatusOr<ChildrenResult> children = a_->GetChildren(p);
  ASSERT_TRUE(children.ok());
  EXPECT_THAT(children->children,
              ElementsAre("b", "e-0000000004", "m-0000000005", "m-0000000006",
                          "s-0000000002", "s-0000000003", "s-0000000007"));
  EXPECT_EQ(children->stat.cversion, 9);
  EXPECT_EQ(children->stat.num_children, 7);
}

TEST_P(ZkContractTest, EphemeralRules) {
  const std::string e = P("e");
  ASSERT_TRUE(a_->Create(e, "x", CreateMode::kEphemeral).ok());
  absl::StatusOr<std::optional<Stat>> stat = a_->Exists(e);
  ASSERT_TRUE(stat.ok() && stat->has_value());
  EXPECT_NE(a_->session_id(), 0);
  EXPECT_EQ((*stat)->ephemeral_owner, a_->session_id());
  EXPECT_EQ((*a_->Exists(root_))->ephemeral_owner, 0);

  for (CreateMode mode :
       {CreateMode::kPersistent, CreateMode::kEphemeralSequential}) {
    absl::Status child = a_->Create(e + "/c", "", mode).status();
    EXPECT_EQ(child.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(child.message(),
              absl::StrCat("create ", e,
                           "/c: ephemeral nodes may not have children "
                           "(ZK -108)"));
  }
  // A second client sees it, owned by the first session, until that
  // session closes.
  ZkApi* b = NewClient();
  ASSERT_NE(b, nullptr);
  EXPECT_NE(b->session_id(), a_->session_id());
  EXPECT_EQ((*b->Exists(e))->ephemeral_owner, a_->session_id());
  EventLog log;
  ASSERT_TRUE(b->Exists(e, log.Watcher("b")).ok());
  CloseClient(a_);
  EXPECT_TRUE(Eventually([&] { return log.size() == 1; }));
  EXPECT_THAT(log.entries(), ElementsAre("b deleted " + e));
  EXPECT_FALSE(b->Exists(e)->has_value());
}

// ---- Multi -------------------------------------------------------------------

TEST_P(ZkContractTest, MultiIsAllOrNothing) {
  const std::string cas = P("cas");
  ASSERT_TRUE(a_->Create(cas, "v0").ok());
  const Stat root_before = **a_->Exists(root_);

  MultiOps bad;
  bad.Create(P("x"), "x").Set(cas, "v1", 5).Create(P("y"), "y");
  absl::Status failed = a_->Multi(bad).status();
  EXPECT_EQ(failed.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(MultiFailedOp(failed), 1);
  EXPECT_EQ(failed.message(),
            absl::StrCat("multi of 3 ops: op #1 (set ", cas,
                         ", version 5) failed, so none was applied: version "
                         "mismatch (compare-and-set lost) (ZK -103)"));
  EXPECT_FALSE(a_->Exists(P("x"))->has_value());
  EXPECT_FALSE(a_->Exists(P("y"))->has_value());
  EXPECT_EQ(a_->Get(cas)->data, "v0");
  const Stat root_after = **a_->Exists(root_);
  EXPECT_EQ(root_after.cversion, root_before.cversion);
  EXPECT_EQ(root_after.pzxid, root_before.pzxid);
  EXPECT_EQ(root_after.num_children, root_before.num_children);

  // A later op sees the earlier ones.
  MultiOps twice;
  twice.Create(P("x"), "").Create(P("x"), "");
  failed = a_->Multi(twice).status();
  EXPECT_EQ(failed.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(MultiFailedOp(failed), 1);
  MultiOps first;
  first.Delete(P("missing")).Create(P("x"), "");
  failed = a_->Multi(first).status();
  EXPECT_EQ(failed.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(MultiFailedOp(failed), 0);
  MultiOps check;
  check.Check(cas, 3);
  EXPECT_EQ(MultiFailedOp(a_->Multi(check).status()), 0);
  EXPECT_FALSE(a_->Exists(P("x"))->has_value());

  MultiOps good;
  good.Create(P("s-"), "", CreateMode::kPersistentSequential)
      .Set(cas, "v1", 0)
      .Check(root_, 0)
      .Create(P("z"), "z")
      .Delete(P("z"))
      .Create(P("kept"), "k");
  absl::StatusOr<std::vector<OpResult>> ok = a_->Multi(good);
  ASSERT_TRUE(ok.ok()) << ok.status();
  ASSERT_EQ(ok->size(), 6u);
  EXPECT_EQ((*ok)[0].created_path, P("s-0000000001"));
  EXPECT_EQ((*ok)[1].stat.version, 1);
  EXPECT_EQ((*ok)[1].stat.data_length, 2);
  EXPECT_EQ((*ok)[2].created_path, "");
  EXPECT_EQ((*ok)[3].created_path, P("z"));
  EXPECT_EQ((*ok)[5].created_path, P("kept"));
  EXPECT_EQ(a_->Get(cas)->data, "v1");
  EXPECT_FALSE(a_->Exists(P("z"))->has_value());
  // One transaction: one zxid for every op.
  const Stat seq = **a_->Exists(P("s-0000000001"));
  const Stat kept = **a_->Exists(P("kept"));
  EXPECT_EQ(seq.czxid, kept.czxid);
  EXPECT_EQ((*ok)[1].stat.mzxid, seq.czxid);
  EXPECT_EQ((**a_->Exists(root_)).pzxid, seq.czxid);

  EXPECT_TRUE(a_->Multi(MultiOps()).ok());
}

// ---- Watches -----------------------------------------------------------------

TEST_P(ZkContractTest, DataWatchFiresOnceOnChange) {
  const std::string x = P("x");
  ASSERT_TRUE(a_->Create(x, "0").ok());
  ZkApi* b = NewClient();
  ASSERT_NE(b, nullptr);
  EventLog log;
  ASSERT_TRUE(a_->Get(x, log.Watcher("get")).ok());
  ASSERT_TRUE(b->Set(x, "1").ok());
  ASSERT_TRUE(b->Set(x, "2").ok());  // one-shot: no second event
  EXPECT_TRUE(Eventually([&] { return log.size() >= 1; }));
  Settle();
  EXPECT_THAT(log.entries(), ElementsAre("get changed " + x));
  // Re-armed, it fires again, on delete.
  ASSERT_TRUE(a_->Get(x, log.Watcher("again")).ok());
  ASSERT_TRUE(b->Delete(x).ok());
  EXPECT_TRUE(Eventually([&] { return log.size() >= 2; }));
  Settle();
  EXPECT_THAT(log.entries(),
              ElementsAre("get changed " + x, "again deleted " + x));
}

TEST_P(ZkContractTest, ExistsWatches) {
  const std::string x = P("x");
  EventLog log;
  // On a missing node: armed anyway, fires on create.
  absl::StatusOr<std::optional<Stat>> missing =
      a_->Exists(x, log.Watcher("missing"));
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
  ASSERT_TRUE(a_->Create(x, "").ok());
  ASSERT_TRUE(a_->Set(x, "1").ok());
  EXPECT_TRUE(Eventually([&] { return log.size() >= 1; }));
  // On an existing node: a data watch.
  ASSERT_TRUE(a_->Exists(x, log.Watcher("changed")).ok());
  ASSERT_TRUE(a_->Set(x, "2").ok());
  EXPECT_TRUE(Eventually([&] { return log.size() >= 2; }));
  ASSERT_TRUE(a_->Exists(x, log.Watcher("deleted")).ok());
  ASSERT_TRUE(a_->Delete(x).ok());
  EXPECT_TRUE(Eventually([&] { return log.size() >= 3; }));
  Settle();
  EXPECT_THAT(log.entries(),
              ElementsAre("missing created " + x, "changed changed " + x,
                          "deleted deleted " + x));
}

TEST_P(ZkContractTest, ChildWatches) {
  const std::string p = P("p");
  ASSERT_TRUE(a_->Create(p, "").ok());
  ZkApi* b = NewClient();
  ASSERT_NE(b, nullptr);
  EventLog log;
  ASSERT_TRUE(a_->GetChildren(p, log.Watcher("add")).ok());
  ASSERT_TRUE(b->Create(p + "/c", "").ok());
  ASSERT_TRUE(b->Create(p + "/d", "").ok());  // one-shot
  EXPECT_TRUE(Eventually([&] { return log.size() >= 1; }));
  ASSERT_TRUE(a_->GetChildren(p, log.Watcher("remove")).ok());
  ASSERT_TRUE(b->Delete(p + "/c").ok());
  EXPECT_TRUE(Eventually([&] { return log.size() >= 2; }));
  // Data changes of the node or of a child are no child event.
  ASSERT_TRUE(a_->GetChildren(p, log.Watcher("self")).ok());
  ASSERT_TRUE(b->Set(p, "x").ok());
  ASSERT_TRUE(b->Set(p + "/d", "x").ok());
  Settle();
  EXPECT_EQ(log.size(), 2u);
  // The node's own delete fires its child watch.
  ASSERT_TRUE(b->Delete(p + "/d").ok());
  EXPECT_TRUE(Eventually([&] { return log.size() >= 3; }));
  ASSERT_TRUE(a_->GetChildren(p, log.Watcher("gone")).ok());
  ASSERT_TRUE(b->Delete(p).ok());
  EXPECT_TRUE(Eventually([&] { return log.size() >= 4; }));
  Settle();
  EXPECT_THAT(log.entries(),
              ElementsAre("add children " + p, "remove children " + p,
                          "self children " + p, "gone deleted " + p));
}

TEST_P(ZkContractTest, GetAndGetChildrenOfAMissingNodeSetNoWatch) {
  const std::string x = P("x");
  EventLog log;
  EXPECT_EQ(a_->Get(x, log.Watcher("get")).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(a_->GetChildren(x, log.Watcher("children")).status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(a_->Create(x, "").ok());
  ASSERT_TRUE(a_->Create(x + "/c", "").ok());
  ASSERT_TRUE(a_->Set(x, "1").ok());
  Settle();
  EXPECT_THAT(log.entries(), IsEmpty());
}

TEST_P(ZkContractTest, EveryRegistrationFiresOnce) {
  const std::string x = P("x");
  ASSERT_TRUE(a_->Create(x, "").ok());
  EventLog log;
  ASSERT_TRUE(a_->Get(x, log.Watcher("get")).ok());
  ASSERT_TRUE(a_->Exists(x, log.Watcher("exists")).ok());
  ASSERT_TRUE(a_->GetChildren(x, log.Watcher("children")).ok());
  ASSERT_TRUE(a_->GetChildren(root_, log.Watcher("parent")).ok());
  ASSERT_TRUE(a_->Delete(x).ok());
  ASSERT_TRUE(a_->Create(x, "").ok());
  ASSERT_TRUE(a_->Delete(x).ok());
  EXPECT_TRUE(Eventually([&] { return log.size() >= 4; }));
  Settle();
  std::vector<std::string> entries = log.entries();
  std::sort(entries.begin(), entries.end());
  EXPECT_THAT(entries, ElementsAre("children deleted " + x,
                                   "exists deleted " + x, "get deleted " + x,
                                   "parent children " + root_));
}

TEST_P(ZkContractTest, CallbacksMayCallTheClientAndSeeTheChange) {
  const std::string x = P("x");
  ASSERT_TRUE(a_->Create(x, "0").ok());
  EventLog log;
  ZkApi* client = a_;
  ASSERT_TRUE(a_->Get(x, [&log, client](const WatchEvent& e) {
                 absl::StatusOr<GetResult> now = client->Get(e.path);
                 log.Add(now.ok() ? now->data : now.status().ToString());
               }).ok());
  ASSERT_TRUE(a_->Set(x, "1").ok());
  EXPECT_TRUE(Eventually([&] { return log.size() >= 1; }));
  EXPECT_THAT(log.entries(), ElementsAre("1"));
}

TEST_P(ZkContractTest, MultiFiresTheWatchesOfEveryOp) {
  ASSERT_TRUE(a_->Create(P("x"), "").ok());
  ASSERT_TRUE(a_->Create(P("y"), "").ok());
  ZkApi* b = NewClient();
  ASSERT_NE(b, nullptr);
  EventLog log;
  ASSERT_TRUE(b->Get(P("x"), log.Watcher("x")).ok());
  ASSERT_TRUE(b->Exists(P("y"), log.Watcher("y")).ok());
  ASSERT_TRUE(b->Exists(P("z"), log.Watcher("z")).ok());
  MultiOps failing;
  failing.Set(P("x"), "1").Delete(P("y")).Create(P("z"), "").Check(P("x"), 9);
  ASSERT_FALSE(a_->Multi(failing).ok());
  Settle();
  EXPECT_THAT(log.entries(), IsEmpty());  // nothing happened
  MultiOps ops;
  ops.Set(P("x"), "1").Delete(P("y")).Create(P("z"), "");
  ASSERT_TRUE(a_->Multi(ops).ok());
  EXPECT_TRUE(Eventually([&] { return log.size() >= 3; }));
  Settle();
  std::vector<std::string> entries = log.entries();
  std::sort(entries.begin(), entries.end());
  EXPECT_THAT(entries,
              ElementsAre("x changed " + P("x"), "y deleted " + P("y"),
                          "z created " + P("z")));
}

// ---- Sessions ----------------------------------------------------------------

TEST_P(ZkContractTest, GenerationAndSessionId) {
  EXPECT_EQ(a_->generation(), 1);
  EXPECT_NE(a_->session_id(), 0);
  ZkApi* b = NewClient();
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->generation(), 1);
  EXPECT_NE(b->session_id(), 0);
  EXPECT_NE(b->session_id(), a_->session_id());
}

TEST_P(ZkContractTest, ExpiryDeletesEphemeralsAndStartsANewSession) {
  const std::string e = P("e");
  const std::string x = P("x");
  ASSERT_TRUE(a_->Create(e, "", CreateMode::kEphemeral).ok());
  ASSERT_TRUE(a_->Create(x, "").ok());
  EventLog sessions;
  a_->AddSessionListener([&sessions](const SessionEvent& event) {
    // Connection loss and reconnection may come first (the real expiry
    // helper attaches a second handle to the session): not part of it.
    if (event.type == SessionEvent::kExpired ||
        event.type == SessionEvent::kNewSession) {
      sessions.Add(absl::StrCat(SessionEventTypeName(event.type), " ",
                                event.generation));
    }
  });
  EventLog watches;
  ASSERT_TRUE(a_->Get(x, watches.Watcher("old session")).ok());
  ZkApi* b = NewClient();
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(b->Exists(e, watches.Watcher("b")).ok());
  const int64_t old_session = a_->session_id();

  Expire(a_);
  EXPECT_TRUE(Eventually([&] { return watches.size() >= 1; }));
  EXPECT_FALSE(b->Exists(e)->has_value());
  EXPECT_TRUE(Eventually([&] { return sessions.size() >= 2; }));
  EXPECT_THAT(sessions.entries(),
              ElementsAre("session expired 1", "new session 2"));
  EXPECT_EQ(a_->generation(), 2);
  EXPECT_NE(a_->session_id(), 0);
  EXPECT_NE(a_->session_id(), old_session);

  // The old session's watch never fires; the new session works.
  ASSERT_TRUE(b->Set(x, "1").ok());
  Settle();
  EXPECT_THAT(watches.entries(), ElementsAre("b deleted " + e));
  ASSERT_TRUE(a_->Create(e, "", CreateMode::kEphemeral).ok());
  EXPECT_EQ((*b->Exists(e))->ephemeral_owner, a_->session_id());
}

// ---- Reads in batches, sizes, order, Stat, ACLs --------------------------------

TEST_P(ZkContractTest, GetManyAnswersInRequestOrder) {
  for (int i = 0; i < 10; ++i) {
    if (i == 3 || i == 7) continue;  // missing
    ASSERT_TRUE(a_->Create(P(absl::StrCat("n", i)), absl::StrCat("v", i)).ok());
  }
  EventLog log;
  std::vector<GetRequest> requests;
  for (int i : {9, 3, 0, 5, 7, 0, 1}) {
    requests.push_back({P(absl::StrCat("n", i)), nullptr});
  }
  requests[1].watch = log.Watcher("missing");
  requests[2].watch = log.Watcher("n0");
  std::vector<absl::StatusOr<GetResult>> got = a_->GetMany(requests);
  ASSERT_EQ(got.size(), requests.size());
  const std::vector<int> order = {9, 3, 0, 5, 7, 0, 1};
  for (size_t i = 0; i < got.size(); ++i) {
    const int n = order[i];
    if (n == 3 || n == 7) {
      EXPECT_EQ(got[i].status().message(),
                NoNode("get " + P(absl::StrCat("n", n))));
    } else {
      ASSERT_TRUE(got[i].ok()) << got[i].status();
      EXPECT_EQ(got[i]->data, absl::StrCat("v", n));
      EXPECT_EQ(got[i]->stat.version, 0);
    }
  }
  ASSERT_TRUE(a_->Create(P("n3"), "").ok());
  ASSERT_TRUE(a_->Set(P("n0"), "x").ok());
  EXPECT_TRUE(Eventually([&] { return log.size() >= 1; }));
  Settle();
  EXPECT_THAT(log.entries(), ElementsAre("n0 changed " + P("n0")));
  EXPECT_TRUE(a_->GetMany({}).empty());
}

TEST_P(ZkContractTest, OversizeWritesAreRejectedUnsent) {
  const std::string x = P("x");
  const std::string y = P("y");
  const size_t largest =
      kMaxRequestBytes - EstimateCreateBytes(x, 0, OpenAcl());
  const int64_t session = a_->session_id();
  ASSERT_TRUE(a_->Create(x, std::string(largest, 'x')).ok());
  EXPECT_EQ(a_->Get(x)->stat.data_length, static_cast<int32_t>(largest));

  absl::Status create = a_->Create(y, std::string(largest + 1, 'y')).status();
  EXPECT_EQ(create.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(create.message(),
            CheckCreateSize(y, largest + 1, {}, OpenAcl(), "create " + y)
                .message());
  absl::Status set = a_->Set(x, std::string(1100 * 1000, 'z')).status();
  EXPECT_EQ(set.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(set.message(),
            CheckSetSize(x, 1100 * 1000, "set " + x).message());
  MultiOps ops;
  ops.Create(P("m1"), std::string(600 * 1000, 'a'))
      .Create(P("m2"), std::string(600 * 1000, 'b'));
  absl::Status multi = a_->Multi(ops).status();
  EXPECT_EQ(multi.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(multi.message(),
            CheckMultiSize(ops, OpenAcl(), "multi of 2 ops").message());
  EXPECT_FALSE(IsConnectionLoss(multi));
  EXPECT_FALSE(a_->Exists(y)->has_value());
  EXPECT_FALSE(a_->Exists(P("m1"))->has_value());
  EXPECT_EQ(a_->Get(x)->stat.version, 0);
  EXPECT_EQ(a_->session_id(), session);
}

TEST_P(ZkContractTest, ChildrenAreSortedByteWise) {
  const std::string p = P("p");
  ASSERT_TRUE(a_->Create(p, "").ok());
  for (const char* name : {"b", "a", "B", "a0", "_", "~", "10", "9", "a-"}) {
    ASSERT_TRUE(a_->Create(absl::StrCat(p, "/", name), "").ok()) << name;
  }
  absl::StatusOr<ChildrenResult> children = a_->GetChildren(p);
  ASSERT_TRUE(children.ok());
  EXPECT_THAT(children->children,
              ElementsAre("10", "9", "B", "_", "a", "a-", "a0", "b", "~"));
  EXPECT_EQ(children->stat.num_children, 9);
  EXPECT_EQ(children->stat.cversion, 9);
  EXPECT_EQ(children->stat.pzxid, (**a_->Exists(p + "/a-")).czxid);
}

TEST_P(ZkContractTest, StatFields) {
  const std::string p = P("p");
  ASSERT_TRUE(a_->Create(p, "abc").ok());
  const Stat created = **a_->Exists(p);
  ASSERT_TRUE(a_->Create(p + "/c1", "").ok());
  ASSERT_TRUE(a_->Create(p + "/c2", "").ok());
  const Stat c2 = **a_->Exists(p + "/c2");
  ASSERT_TRUE(a_->Delete(p + "/c1").ok());
  Stat s = **a_->Exists(p);
  EXPECT_EQ(s.num_children, 1);
  EXPECT_EQ(s.cversion, 3);
  EXPECT_GT(s.pzxid, c2.czxid);  // the delete's zxid
  EXPECT_EQ(s.version, 0);
  EXPECT_EQ(s.mzxid, created.czxid);  // child changes are no data change
  EXPECT_EQ(s.data_length, 3);
  ASSERT_TRUE(a_->Set(p, "").ok());
  ASSERT_TRUE(a_->Set(p, "12345").ok());
  s = **a_->Exists(p);
  EXPECT_EQ(s.version, 2);
  EXPECT_EQ(s.cversion, 3);
  EXPECT_EQ(s.data_length, 5);
  EXPECT_GT(s.mzxid, s.pzxid);
  EXPECT_EQ(s.aversion, 0);
  EXPECT_EQ(s.ephemeral_owner, 0);
  // zxids grow with every write, of any client.
  ZkApi* b = NewClient();
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(b->Create(P("later"), "").ok());
  EXPECT_GT((**a_->Exists(P("later"))).czxid, s.mzxid);
}

TEST_P(ZkContractTest, DigestAcls) {
  ZkApi* alice = NewClient({{"alice", "alice-pw"}});
  ZkApi* bob = NewClient({{"bob", "bob-pw"}});
  ZkApi* anonymous = a_;
  ASSERT_TRUE(alice && bob);
  const std::string x = P("secure");
  AclList acl = {*DigestAcl("alice", "alice-pw", kPermAll),
                 *DigestAcl("bob", "bob-pw", kPermRead)};
  ASSERT_TRUE(alice->Create(x, "s", CreateMode::kPersistent, acl).ok());
  EXPECT_EQ(alice->Get(x)->data, "s");
  EXPECT_EQ(bob->Get(x)->data, "s");
  absl::Status denied = bob->Set(x, "b").status();
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(denied.message(),
            absl::StrCat("set ", x, ": not authorized by the node's ACL "
                                    "(ZK -102)"));
  EXPECT_EQ(anonymous->Get(x).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(anonymous->GetChildren(x).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(anonymous->Exists(x).ok());  // exists checks no ACL
  // Create and delete need CREATE / DELETE on the parent.
  EXPECT_EQ(bob->Create(x + "/c", "").status().code(),
            absl::StatusCode::kPermissionDenied);
  ASSERT_TRUE(alice->Create(x + "/c", "").ok());
  EXPECT_EQ(bob->Delete(x + "/c").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(alice->Delete(x + "/c").ok());
  EXPECT_TRUE(alice->Set(x, "a").ok());

  // "auth" stands for the creator's own ids; without any it is invalid.
  const std::string mine = P("mine");
  ASSERT_TRUE(alice
                  ->Create(mine, "m", CreateMode::kPersistent,
                           {Acl{kPermAll, "auth", ""}})
                  .ok());
  EXPECT_TRUE(alice->Get(mine).ok());
  EXPECT_EQ(bob->Get(mine).status().code(),
            absl::StatusCode::kPermissionDenied);
  absl::Status invalid =
      anonymous
          ->Create(P("nobody"), "", CreateMode::kPersistent,
                   {Acl{kPermAll, "auth", ""}})
          .status();
  EXPECT_EQ(invalid.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(invalid.message(),
            absl::StrCat("create ", P("nobody"), ": invalid ACL (ZK -114)"));
  EXPECT_EQ(anonymous
                ->Create(P("bad"), "", CreateMode::kPersistent,
                         {Acl{kPermAll, "world", "someone"}})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Fake, ZkContractTest,
                         ::testing::Values(Backend::kFake));
INSTANTIATE_TEST_SUITE_P(Real, ZkContractTest,
                         ::testing::Values(Backend::kReal));

}  // namespace
}  // namespace testing
}  // namespace zk
}  // namespace kess
