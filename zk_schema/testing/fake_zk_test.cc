// The fake's own controls: faults, connection loss, expiry, server down,
// DrainCallbacks, several servers, threads. (What it shares with a real
// ZooKeeper is in zk_contract_test.cc.)
#include "zk_schema/testing/fake_zk.h"

#include <zookeeper/zookeeper.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "zk_schema/ephemeral_node.h"
#include "zk_schema/testing/event_log.h"
#include "zk_schema/zk_errors.h"

namespace kess {
namespace zk {
namespace testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::string Changed(const std::string& tag, const std::string& path) {
  return absl::StrCat(tag, " changed ", path);
}
std::string Deleted(const std::string& tag, const std::string& path) {
  return absl::StrCat(tag, " deleted ", path);
}

// ---- Faults ------------------------------------------------------------------

TEST(FakeZkFaultTest, ConnectionLossBeforeApplyLosesTheRequest) {
  FakeZkServer zk;
  FakeZkClient c(&zk);
  EventLog log;
  log.Listen(c, "c");
  c.InjectFault({.ops = FaultSpec::kCreate,
                 .path_prefix = "/a",
                 .kind = FaultSpec::kConnectionLossBeforeApply});
  EXPECT_EQ(zk.PendingFaults(), 1);
  ASSERT_TRUE(c.Create("/b", "").ok());  // another path
  ASSERT_TRUE(c.Set("/b", "").ok());     // another op
  absl::Status lost = c.Create("/a", "").status();
  EXPECT_TRUE(IsConnectionLoss(lost)) << lost;
  EXPECT_EQ(lost.message(),
            "create /a: connection lost (a write may or may not have been "
            "applied) (ZK -4)");
  EXPECT_FALSE(c.Exists("/a")->has_value());
  EXPECT_EQ(zk.PendingFaults(), 0);
  ASSERT_TRUE(c.Create("/a", "").ok());  // count = 1: once only
  c.DrainCallbacks();
  // The connection dropped and came back within the session.
  EXPECT_THAT(log.entries(),
              ElementsAre("c: connection lost 1", "c: reconnected 1"));
  EXPECT_EQ(c.generation(), 1);
}

TEST(FakeZkFaultTest, ConnectionLossAfterApplyIsTheAmbiguousWrite) {
  FakeZkServer zk;
  FakeZkClient c(&zk), other(&zk);
  ASSERT_TRUE(c.Create("/x", "0").ok());
  EventLog log;
  log.Listen(c, "c");
  ASSERT_TRUE(c.Get("/x", log.Watcher("c")).ok());
  ASSERT_TRUE(other.Get("/x", log.Watcher("other")).ok());
  c.InjectFault({.ops = FaultSpec::kSet,
                 .kind = FaultSpec::kConnectionLossAfterApply});
  absl::Status lost = c.Set("/x", "1").status();
  EXPECT_TRUE(IsConnectionLoss(lost)) << lost;
  // Applied all the same.
  EXPECT_EQ(c.Get("/x")->data, "1");
  EXPECT_EQ(c.Get("/x")->stat.version, 1);
  zk.DrainCallbacks();
  std::vector<std::string> entries = log.entries();
  // The other client's watch fires at once; the caller's own after it is
  // back (the C client re-arms it on reconnection).
  EXPECT_THAT(entries, ::testing::Contains(Changed("other", "/x")));
  entries.erase(std::find(entries.begin(), entries.end(),
                          Changed("other", "/x")));
  EXPECT_THAT(entries, ElementsAre("c: connection lost 1", "c: reconnected 1",
                                   Changed("c", "/x")));
}

TEST(FakeZkFaultTest, MultiFaults) {
  FakeZkServer zk;
  FakeZkClient c(&zk);
  MultiOps ops;
  ops.Create("/a", "").Create("/b", "");
  // The prefix matches any op of the multi.
  c.InjectFault({.ops = FaultSpec::kMulti, .path_prefix = "/b"});
  absl::Status lost = c.Multi(ops).status();
  EXPECT_TRUE(IsConnectionLoss(lost));
  EXPECT_EQ(lost.message(),
            "multi of 2 ops: connection lost (a write may or may not have "
            "been applied) (ZK -4)");
  EXPECT_FALSE(MultiFailedOp(lost).has_value());
  EXPECT_FALSE(c.Exists("/a")->has_value());

  c.InjectFault({.ops = FaultSpec::kMulti,
                 .kind = FaultSpec::kConnectionLossAfterApply});
  EXPECT_TRUE(IsConnectionLoss(c.Multi(ops).status()));
  EXPECT_TRUE(c.Exists("/a")->has_value());
  EXPECT_TRUE(c.Exists("/b")->has_value());
  // Retrying the ambiguous multi shows it happened.
  EXPECT_EQ(MultiFailedOp(c.Multi(ops).status()), 0);
}

TEST(FakeZkFaultTest, GetManyLosesTheRestOfTheBatch) {
  FakeZkServer zk;
  FakeZkClient c(&zk);
  std::vector<GetRequest> requests;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(c.Create(absl::StrCat("/n", i), absl::StrCat(i)).ok());
    requests.push_back({absl::StrCat("/n", i), nullptr});
  }
  c.InjectFault({.ops = FaultSpec::kGet, .path_prefix = "/n2"});
  std::vector<absl::StatusOr<GetResult>> got = c.GetMany(requests);
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[0]->data, "0");
  EXPECT_EQ(got[1]->data, "1");
  for (int i = 2; i < 5; ++i) {
    EXPECT_TRUE(IsConnectionLoss(got[i].status())) << i << got[i].status();
    EXPECT_EQ(got[i].status().message(),
              absl::StrCat("get /n", i,
                           ": connection lost (a write may or may not have "
                           "been applied) (ZK -4)"));
  }
  // A timeout or an error fails only its own request.
  c.InjectFault({.ops = FaultSpec::kGet,
                 .path_prefix = "/n1",
                 .kind = FaultSpec::kOperationTimeout});
  c.InjectFault({.ops = FaultSpec::kGet,
                 .path_prefix = "/n3",
                 .kind = FaultSpec::kError,
                 .error_code = ZTHROTTLEDOP});
  got = c.GetMany(requests);
  EXPECT_EQ(ZkErrorCode(got[1].status()), ZOPERATIONTIMEOUT);
  EXPECT_TRUE(IsThrottled(got[3].status()));
  for (int i : {0, 2, 4}) {
    ASSERT_TRUE(got[i].ok()) << i << got[i].status();
    EXPECT_EQ(got[i]->data, absl::StrCat(i));
  }
}

TEST(FakeZkFaultTest, TimeoutAndErrorApplyNothing) {
  FakeZkServer zk;
  FakeZkClient c(&zk);
  EventLog log;
  log.Listen(c, "c");
  ASSERT_TRUE(c.Create("/x", "").ok());
  c.InjectFault({.ops = FaultSpec::kDelete,
                 .kind = FaultSpec::kOperationTimeout});
  absl::Status timeout = c.Delete("/x");
  EXPECT_TRUE(IsConnectionLoss(timeout));
  EXPECT_EQ(ZkErrorCode(timeout), ZOPERATIONTIMEOUT);
  EXPECT_TRUE(c.Exists("/x")->has_value());
  c.InjectFault({.ops = FaultSpec::kWrites,
                 .kind = FaultSpec::kError,
                 .error_code = ZTHROTTLEDOP});
  absl::Status throttled = c.Set("/x", "1").status();
  EXPECT_TRUE(IsThrottled(throttled)) << throttled;
  EXPECT_EQ(c.Get("/x")->stat.version, 0);
  c.DrainCallbacks();
  EXPECT_THAT(log.entries(), IsEmpty());  // the connection stayed up
}

TEST(FakeZkFaultTest, SkipCountAndClear) {
  FakeZkServer zk;
  FakeZkClient c(&zk);
  // The 3rd and 4th create fail.
  c.InjectFault({.ops = FaultSpec::kCreate, .skip = 2, .count = 2});
  std::vector<bool> ok;
  for (int i = 0; i < 5; ++i) {
    ok.push_back(c.Create(absl::StrCat("/n", i), "").ok());
  }
  EXPECT_THAT(ok, ElementsAre(true, true, false, false, true));
  // count = -1: every matching call until cleared.
  c.InjectFault({.ops = FaultSpec::kReads,
                 .kind = FaultSpec::kOperationTimeout,
                 .count = -1});
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(c.Exists("/n0").ok());
  EXPECT_TRUE(c.Set("/n0", "").ok());  // a write: no match
  EXPECT_EQ(zk.PendingFaults(), 1);
  c.ClearFaults();
  EXPECT_EQ(zk.PendingFaults(), 0);
  EXPECT_TRUE(c.Exists("/n0").ok());
}

TEST(FakeZkFaultTest, ServerFaultsHitEveryClientClientFaultsOnlyTheirOwn) {
  FakeZkServer zk;
  FakeZkClient a(&zk), b(&zk);
  a.InjectFault({.kind = FaultSpec::kOperationTimeout, .count = -1});
  EXPECT_FALSE(a.Exists("/").ok());
  EXPECT_TRUE(b.Exists("/").ok());
  a.ClearFaults();
  zk.InjectFault({.kind = FaultSpec::kOperationTimeout, .count = 2});
  EXPECT_FALSE(a.Exists("/").ok());
  EXPECT_FALSE(b.Exists("/").ok());
  EXPECT_TRUE(a.Exists("/").ok());
  // Calls that never reach the server do not count.
  FakeZkClient c(&zk);
  zk.InjectFault({.kind = FaultSpec::kOperationTimeout});
  c.DropConnection();
  EXPECT_EQ(ZkErrorCode(c.Exists("/").status()), ZCONNECTIONLOSS);
  EXPECT_EQ(c.Get("bad").status().code(), absl::StatusCode::kInvalidArgument);
  c.RestoreConnection();
  EXPECT_EQ(ZkErrorCode(c.Exists("/").status()), ZOPERATIONTIMEOUT);
}

TEST(FakeZkFaultTest, DelayHoldsNoLock) {
  FakeZkServer zk;
  FakeZkClient slow(&zk), fast(&zk);
  ASSERT_TRUE(slow.Create("/x", "old").ok());
  slow.InjectFault({.ops = FaultSpec::kSet,
                    .kind = FaultSpec::kDelay,
                    .delay = absl::Milliseconds(300)});
  const absl::Time start = absl::Now();
  absl::Duration set_took;
  std::thread writer([&] {
    EXPECT_TRUE(slow.Set("/x", "new").ok());
    set_took = absl::Now() - start;
  });
  // Meanwhile the fake serves other calls, and the write is not applied.
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(fast.Get("/x")->data, "old");
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(250));
  writer.join();
  EXPECT_GE(set_took, absl::Milliseconds(300));
  EXPECT_EQ(fast.Get("/x")->data, "new");
}

// ---- Connection and session controls ----------------------------------------

TEST(FakeZkSessionTest, DisconnectionKeepsTheSessionAndHoldsWatchEvents) {
  FakeZkServer zk;
  FakeZkClient c(&zk), other(&zk);
  ASSERT_TRUE(c.Create("/e", "", CreateMode::kEphemeral).ok());
  ASSERT_TRUE(c.Create("/x", "").ok());
  EventLog log;
  log.Listen(c, "c");
  ASSERT_TRUE(c.Get("/x", log.Watcher("c")).ok());
  const int64_t session = c.session_id();

  c.DropConnection();
  c.DropConnection();  // idempotent
  EXPECT_FALSE(c.connected());
  absl::Status lost = c.Get("/x").status();
  EXPECT_TRUE(IsConnectionLoss(lost)) << lost;
  EXPECT_TRUE(IsConnectionLoss(c.Create("/y", "").status()));
  EXPECT_TRUE(other.Exists("/e")->has_value());  // the session lives
  ASSERT_TRUE(other.Set("/x", "1").ok());
  zk.DrainCallbacks();
  EXPECT_THAT(log.entries(), ElementsAre("c: connection lost 1"));

  c.RestoreConnection();
  EXPECT_TRUE(c.connected());
  c.DrainCallbacks();
  EXPECT_THAT(log.entries(), ElementsAre("c: connection lost 1",
                                         "c: reconnected 1",
                                         Changed("c", "/x")));
  EXPECT_EQ(c.session_id(), session);
  EXPECT_EQ(c.generation(), 1);
  EXPECT_TRUE(c.Get("/x").ok());
}

TEST(FakeZkSessionTest, ExpiryWhileDisconnectedIsSeenOnReconnection) {
  FakeZkServer zk;
  FakeZkClient c(&zk), other(&zk);
  ASSERT_TRUE(c.Create("/e", "", CreateMode::kEphemeral).ok());
  // One log per client: two callback threads have no order between them.
  EventLog log, other_log;
  log.Listen(c, "c");
  ASSERT_TRUE(other.Exists("/e", other_log.Watcher("other")).ok());
  c.DropConnection();
  c.ExpireSession();
  // The server deleted the ephemeral at once; the client does not know yet.
  other.DrainCallbacks();
  EXPECT_THAT(other_log.entries(), ElementsAre(Deleted("other", "/e")));
  EXPECT_FALSE(other.Exists("/e")->has_value());
  c.DrainCallbacks();
  EXPECT_THAT(log.entries(), ElementsAre("c: connection lost 1"));
  EXPECT_TRUE(IsConnectionLoss(c.Get("/").status()));
  EXPECT_EQ(c.generation(), 1);

  c.RestoreConnection();
  c.DrainCallbacks();
  EXPECT_THAT(log.entries(),
              ElementsAre("c: connection lost 1", "c: session expired 1",
                          "c: new session 2"));
  EXPECT_EQ(c.generation(), 2);
  EXPECT_TRUE(c.connected());
}

TEST(FakeZkSessionTest, WithoutRecreationAnExpiredClientWaitsForReconnect) {
  FakeZkServer zk;
  FakeZkClient c(&zk, {.recreate_on_expiry = false});
  ASSERT_TRUE(c.Create("/e", "", CreateMode::kEphemeral).ok());
  EventLog log;
  log.Listen(c, "c");
  c.ExpireSession();
  c.DrainCallbacks();
  EXPECT_THAT(log.entries(), ElementsAre("c: session expired 1"));
  absl::Status expired = c.Get("/").status();
  EXPECT_TRUE(IsSessionExpired(expired)) << expired;
  EXPECT_EQ(expired.message(),
            "get /: ZooKeeper session expired (ephemerals and watches are "
            "gone; a new session is needed) (ZK -9)");
  EXPECT_FALSE(c.connected());
  EXPECT_EQ(c.generation(), 1);

  ASSERT_TRUE(c.Reconnect().ok());
  c.DrainCallbacks();
  EXPECT_THAT(log.entries(),
              ElementsAre("c: session expired 1", "c: new session 2"));
  EXPECT_EQ(c.generation(), 2);
  EXPECT_FALSE(c.Exists("/e")->has_value());
}

TEST(FakeZkSessionTest, ReconnectStartsANewSessionLikeZkClient) {
  FakeZkServer zk;
  FakeZkClient c(&zk);
  ASSERT_TRUE(c.Create("/e", "", CreateMode::kEphemeral).ok());
  const int64_t old_session = c.session_id();
  ASSERT_TRUE(c.Reconnect().ok());
  EXPECT_EQ(c.generation(), 2);
  EXPECT_NE(c.session_id(), old_session);
  EXPECT_FALSE(c.Exists("/e")->has_value());
  // Disconnected: no session at all until the next Reconnect().
  c.DropConnection();
  EXPECT_EQ(c.Reconnect().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(c.session_id(), 0);
  c.RestoreConnection();
  absl::Status none = c.Get("/").status();
  EXPECT_TRUE(IsSessionExpired(none));
  EXPECT_THAT(std::string(none.message()),
              ::testing::HasSubstr("get / (no live session)"));
  ASSERT_TRUE(c.Reconnect().ok());
  EXPECT_EQ(c.generation(), 3);
}

TEST(FakeZkSessionTest, ServerDownAndUp) {
  FakeZkServer zk;
  FakeZkClient a(&zk), b(&zk);
  EventLog log;
  log.Listen(a, "a");
  log.Listen(b, "b");
  ASSERT_TRUE(a.Create("/e", "", CreateMode::kEphemeral).ok());
  zk.Stop();
  EXPECT_FALSE(zk.running());
  EXPECT_TRUE(IsConnectionLoss(a.Exists("/e").status()));
  EXPECT_TRUE(IsConnectionLoss(b.Create("/x", "").status()));
  b.ExpireSession();  // expired by the server while it was down
  zk.DrainCallbacks();
  std::vector<std::string> entries = log.entries();
  std::sort(entries.begin(), entries.end());
  EXPECT_THAT(entries, ElementsAre("a: connection lost 1",
                                   "b: connection lost 1"));
  log.Clear();
  zk.Start();
  zk.DrainCallbacks();
  entries = log.entries();
  std::sort(entries.begin(), entries.end());
  EXPECT_THAT(entries, ElementsAre("a: reconnected 1", "b: new session 2",
                                   "b: session expired 1"));
  EXPECT_TRUE(b.Exists("/e")->has_value());  // a's session lived on
}

TEST(FakeZkSessionTest, DestroyingAClientClosesItsSession) {
  FakeZkServer zk;
  FakeZkClient other(&zk);
  EventLog log;
  {
    FakeZkClient c(&zk);
    ASSERT_TRUE(c.Create("/e", "", CreateMode::kEphemeral).ok());
    ASSERT_TRUE(c.Exists("/x", log.Watcher("gone")).ok());
    ASSERT_TRUE(other.Exists("/e", log.Watcher("other")).ok());
  }
  ASSERT_TRUE(other.Create("/x", "").ok());
  zk.DrainCallbacks();
  EXPECT_THAT(log.entries(), ElementsAre(Deleted("other", "/e")));
  EXPECT_EQ(zk.watch_count(), 0);
}

TEST(FakeZkSessionTest, RemovedListenersAreNotCalled) {
  FakeZkServer zk;
  FakeZkClient c(&zk);
  EventLog log;
  const int64_t id = c.AddSessionListener(
      [&log](const SessionEvent& e) { log.Add("removed"); });
  log.Listen(c, "kept");
  c.RemoveSessionListener(id);
  c.DropConnection();
  c.DrainCallbacks();
  EXPECT_THAT(log.entries(), ElementsAre("kept: connection lost 1"));
}

TEST(FakeZkSessionTest, EphemeralNodeComesBackAfterExpiry) {
  FakeZkServer zk;
  FakeZkClient c(&zk);
  ASSERT_TRUE(c.Create("/members", "").ok());
  absl::StatusOr<std::unique_ptr<EphemeralNode>> member =
      EphemeralNode::Create(&c, "/members/m1", "addr");
  ASSERT_TRUE(member.ok()) << member.status();
  c.ExpireSession();
  c.DrainCallbacks();
  absl::StatusOr<std::optional<Stat>> stat = c.Exists("/members/m1");
  ASSERT_TRUE(stat.ok() && stat->has_value());
  EXPECT_EQ((*stat)->ephemeral_owner, c.session_id());
  EXPECT_EQ((*member)->created_generation(), 2);
  member->reset();
  EXPECT_FALSE(c.Exists("/members/m1")->has_value());
}

// ---- Callbacks, servers, threads, inspection ------------------------------------

TEST(FakeZkTest, DrainCallbacksWaitsForChainsAcrossClients) {
  FakeZkServer zk;
  FakeZkClient a(&zk), b(&zk);
  ASSERT_TRUE(a.Create("/ping", "0").ok());
  ASSERT_TRUE(a.Create("/pong", "0").ok());
  // a and b bounce a counter 20 times, each from a watch callback of the
  // other's write.
  std::atomic<int> rounds{0};
  std::function<void(FakeZkClient*, const std::string&, const std::string&)>
      arm = [&](FakeZkClient* me, const std::string& watch,
                const std::string& write) {
        ASSERT_TRUE(me->Get(watch, [&, me, watch, write](const WatchEvent&) {
                        if (++rounds >= 20) return;
                        arm(me, watch, write);
                        ASSERT_TRUE(me->Set(write, "x").ok());
                      }).ok());
      };
  arm(&a, "/ping", "/pong");
  arm(&b, "/pong", "/ping");
  ASSERT_TRUE(b.Set("/ping", "go").ok());
  zk.DrainCallbacks();
  EXPECT_EQ(rounds.load(), 20);
}

TEST(FakeZkTest, ServersAreIndependent) {
  FakeZkServer dc1, dc2;
  FakeZkClient a(&dc1), b(&dc2);
  ASSERT_TRUE(a.Create("/x", "1").ok());
  EXPECT_FALSE(b.Exists("/x")->has_value());
  EXPECT_NE(a.session_id(), b.session_id());
  dc1.Stop();
  EXPECT_TRUE(b.Create("/x", "2").ok());
  dc1.Start();
  EXPECT_EQ(a.Get("/x")->data, "1");
}

TEST(FakeZkTest, ConcurrentCompareAndSet) {
  FakeZkServer zk;
  constexpr int kThreads = 4;
  constexpr int kIncrements = 100;
  std::vector<std::unique_ptr<FakeZkClient>> clients;
  for (int i = 0; i < 2; ++i) {
    clients.push_back(std::make_unique<FakeZkClient>(&zk));
  }
  ASSERT_TRUE(clients[0]->Create("/counter", "0").ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      FakeZkClient& c = *clients[t % 2];
      for (int i = 0; i < kIncrements;) {
        absl::StatusOr<GetResult> got = c.Get("/counter");
        ASSERT_TRUE(got.ok());
        const int value = std::stoi(got->data);
        absl::StatusOr<Stat> set =
            c.Set("/counter", std::to_string(value + 1), got->stat.version);
        if (set.ok()) {
          ++i;
        } else {
          ASSERT_EQ(set.status().code(), absl::StatusCode::kAborted);
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  absl::StatusOr<GetResult> final_value = clients[0]->Get("/counter");
  EXPECT_EQ(final_value->data, std::to_string(kThreads * kIncrements));
  EXPECT_EQ(final_value->stat.version, kThreads * kIncrements);
}

TEST(FakeZkTest, Inspection) {
  FakeZkServer zk;
  FakeZkClient c(&zk, {.credentials = {{"alice", "pw"}}});
  const int64_t zxid = zk.last_zxid();
  ASSERT_TRUE(c.Create("/open", "").ok());
  ASSERT_TRUE(
      c.Create("/mine", "abc", CreateMode::kPersistent, {{kPermRead, "auth", ""}})
          .ok());
  EXPECT_EQ(zk.last_zxid(), zxid + 2);
  EXPECT_EQ(zk.GetAcl("/open"), OpenAcl());
  const AclList mine = {Acl{kPermRead, "digest", *DigestId("alice", "pw")}};
  EXPECT_EQ(zk.GetAcl("/mine"), mine);
  EXPECT_FALSE(zk.GetAcl("/none").has_value());
  EXPECT_THAT(zk.Dump(), ::testing::HasSubstr("/mine bytes=3 version=0"));
  ASSERT_TRUE(c.Exists("/a", [](const WatchEvent&) {}).ok());
  ASSERT_TRUE(c.GetChildren("/", [](const WatchEvent&) {}).ok());
  EXPECT_EQ(zk.watch_count(), 2);
  ASSERT_TRUE(c.Create("/a", "").ok());
  EXPECT_EQ(zk.watch_count(), 0);
}

}  // namespace
}  // namespace testing
}  // namespace zk
}  // namespace kess
