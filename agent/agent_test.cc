// The Agent in-process against FakeDistributors on loopback: subscribe,
// push, pull repair, CRC rejection, failover and return, silent
// distributors, restart from the cache, host heartbeats, the HTTP API.
#include "agent/agent.h"

#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "agent/distributor_order.h"
#include "agent/http_api.h"
#include "agent/subscriptions_api.h"
#include "agent/testing/fake_distributor.h"
#include "agent/watch_api.h"
#include "common/http_client.h"
#include "common/http_server.h"
#include "common/metrics.h"
#include "common/testing/wait_for.h"
#include "common/transport/server.h"
#include "common/transport/testing/test_util.h"
#include "gtest/gtest.h"
#include "model/file_cache/reader.h"
#include "model/file_cache/writer.h"

namespace kess {
namespace agent {
namespace {

using file_cache::CacheEntry;
using file_cache::FileCacheReader;
using ::kess::testing::WaitFor;
using testing::FakeDistributor;

constexpr absl::Duration kLong = absl::Seconds(30);  // "did not hang"

std::string TempDir() {
  std::string base = getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp";
  std::string tmpl = base + "/agentXXXXXX";
  EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
  return tmpl;
}

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempDir();
    auto d = FakeDistributor::Start({});
    ASSERT_TRUE(d.ok()) << d.status();
    dist_ = std::move(d).value();
  }

  AgentOptions Options(std::vector<std::string> distributors) {
    AgentOptions o;
    o.host_id = "host-1";
    o.datacenter = "dc1";
    o.distributors = std::move(distributors);
    o.cache_dir = dir_;
    o.pull_interval = absl::Seconds(60);
    o.heartbeat_interval = absl::Milliseconds(100);
    o.heartbeat_timeout = absl::Seconds(1);
    o.connect_timeout = absl::Seconds(1);
    o.call_timeout = absl::Seconds(1);
    o.reconnect_initial = absl::Milliseconds(20);
    o.reconnect_max = absl::Milliseconds(200);
    o.return_interval = absl::Seconds(60);
    o.host_heartbeat_interval = absl::Milliseconds(100);
    o.registry = &registry_;
    return o;
  }

  void StartAgent(AgentOptions options) {
    auto a = Agent::Create(std::move(options));
    ASSERT_TRUE(a.ok()) << a.status();
    agent_ = std::move(a).value();
  }

  int64_t FileRevision(const CacheKey& key) {
    auto e = FileCacheReader(dir_).Read(key);
    return e.ok() ? e->revision : 0;
  }
  std::string FileValue(const CacheKey& key) {
    auto e = FileCacheReader(dir_).Read(key);
    return e.ok() ? e->value : "<" + e.status().ToString() + ">";
  }
  double Counter(const std::string& name, const metrics::Labels& labels = {}) {
    return registry_.GetCounter(name, "", labels)->Value();
  }

  const CacheKey key_ = CacheKey::Config("shop", "db.timeout");
  std::string dir_;
  metrics::Registry registry_;
  std::unique_ptr<FakeDistributor> dist_;
  std::unique_ptr<Agent> agent_;
};

TEST_F(AgentTest, SubscribePushAndDelete) {
  dist_->Set(key_, "30s");
  StartAgent(Options({dist_->address()}));
  ASSERT_TRUE(agent_->Subscribe({key_}, kLong).ok());
  ASSERT_TRUE(WaitFor([&] { return FileRevision(key_) == 1; }, kLong));
  EXPECT_EQ(FileValue(key_), "30s");
  EXPECT_TRUE(agent_->Status().connected);
  EXPECT_EQ(agent_->Status().distributor, dist_->address());

  int64_t rev = dist_->Set(key_, "45s");
  ASSERT_TRUE(WaitFor([&] { return FileRevision(key_) == rev; }, kLong));
  EXPECT_EQ(FileValue(key_), "45s");

  rev = dist_->Delete(key_);
  ASSERT_TRUE(WaitFor([&] { return FileRevision(key_) == rev; }, kLong));
  EXPECT_TRUE(FileCacheReader(dir_).Read(key_)->absent);
  // The counter moves after the file is written: wait for it too.
  EXPECT_TRUE(WaitFor(
      [&] { return Counter("kess_agent_updates_applied_total") >= 3; }, kLong));

  // A key that never existed gets no file.
  CacheKey missing = CacheKey::Config("shop", "missing");
  ASSERT_TRUE(agent_->Subscribe({missing}, kLong).ok());
  auto keys = agent_->Keys({missing});
  EXPECT_TRUE(keys[0].answered);
  EXPECT_EQ(keys[0].revision, 0);
}

TEST_F(AgentTest, PullRepairsLostPushes) {
  dist_->Set(key_, "v1");
  AgentOptions o = Options({dist_->address()});
  o.pull_interval = absl::Milliseconds(100);
  StartAgent(o);
  ASSERT_TRUE(agent_->Subscribe({key_}, kLong).ok());
  ASSERT_TRUE(WaitFor([&] { return FileRevision(key_) == 1; }, kLong));
  dist_->SetPushEnabled(false);
  int64_t rev = dist_->Set(key_, "v2");
  ASSERT_TRUE(WaitFor([&] { return FileRevision(key_) == rev; }, kLong));
  EXPECT_EQ(FileValue(key_), "v2");
  EXPECT_GT(dist_->pulls(), 0);
}

TEST_F(AgentTest, BadCrcIsRejectedThenRepaired) {
  dist_->Set(key_, "good");
  AgentOptions o = Options({dist_->address()});
  o.pull_interval = absl::Milliseconds(100);
  StartAgent(o);
  ASSERT_TRUE(agent_->Subscribe({key_}, kLong).ok());
  ASSERT_TRUE(WaitFor([&] { return FileRevision(key_) == 1; }, kLong));
  dist_->SetCorruptCrc(true);
  int64_t rev = dist_->Set(key_, "corrupted in transit");
  ASSERT_TRUE(WaitFor(
      [&] {
        return Counter("kess_agent_rejected_updates_total",
                       {{"reason", "crc_mismatch"}}) >= 2;  // push and a pull
      },
      kLong));
  EXPECT_EQ(FileValue(key_), "good");
  dist_->SetCorruptCrc(false);
  ASSERT_TRUE(WaitFor([&] { return FileRevision(key_) == rev; }, kLong));
  EXPECT_EQ(FileValue(key_), "corrupted in transit");
}

TEST_F(AgentTest, FailsOverAndReturnsToThePreferred) {
  auto second = FakeDistributor::Start({});
  ASSERT_TRUE(second.ok());
  std::unique_ptr<FakeDistributor> other = std::move(second).value();
  AgentOptions o = Options({dist_->address(), other->address()});
  o.return_interval = absl::Milliseconds(300);
  // Which one is preferred is decided by the hash; name them.
  const std::vector<std::string> order =
      DistributorOrder(o.host_id, o.distributors);
  FakeDistributor* preferred =
      order[0] == dist_->address() ? dist_.get() : other.get();
  FakeDistributor* next = preferred == dist_.get() ? other.get() : dist_.get();
  for (FakeDistributor* d : {dist_.get(), other.get()}) d->Set(key_, "v1");

  StartAgent(o);
  ASSERT_TRUE(agent_->Subscribe({key_}, kLong).ok());
  ASSERT_TRUE(WaitFor([&] { return agent_->Status().connected; }, kLong));
  EXPECT_EQ(agent_->Status().distributor, order[0]);

  // The preferred distributor dies: the agent moves to the next and
  // resumes from the revision it holds.
  const int port = preferred->port();
  auto& preferred_owner = preferred == dist_.get() ? dist_ : other;
  preferred_owner.reset();
  ASSERT_TRUE(
      WaitFor([&] { return agent_->Status().distributor == order[1]; }, kLong));
  const auto& subs = next->subscribes();
  ASSERT_FALSE(subs.empty());
  EXPECT_EQ(subs.back().keys(0).revision(), 1);  // resumed, not refetched
  int64_t rev = next->Set(key_, "v2");
  ASSERT_TRUE(WaitFor([&] { return FileRevision(key_) == rev; }, kLong));
  EXPECT_GE(Counter("kess_agent_distributor_switches_total"), 1);

  // It comes back on the same port: the agent returns to it.
  FakeDistributor::Options same_port;
  same_port.port = port;
  auto back = FakeDistributor::Restart(same_port, *next);
  ASSERT_TRUE(back.ok()) << back.status();
  preferred_owner = std::move(back).value();
  ASSERT_TRUE(
      WaitFor([&] { return agent_->Status().distributor == order[0]; }, kLong));
  EXPECT_GE(Counter("kess_agent_distributor_switches_total"), 2);
  rev = preferred_owner->Set(key_, "v3");
  ASSERT_TRUE(WaitFor([&] { return FileRevision(key_) == rev; }, kLong));
}

// A distributor that accepts TCP connections but never answers (hung
// process): transport::testing::SilentServer. The agent gives up on it and
// uses the next one.

// Options whose host id puts `first` at the head of its distributor order.
AgentOptions PreferringFirst(AgentOptions o, const std::string& first) {
  for (int i = 0; DistributorOrder(o.host_id, o.distributors)[0] != first;
       ++i) {
    o.host_id = "host-" + std::to_string(i);
  }
  return o;
}

TEST_F(AgentTest, SilentDistributorIsSkipped) {
  transport::testing::SilentServer listener;
  ASSERT_TRUE(listener.ok());
  const std::string silent = listener.address();
  dist_->Set(key_, "v1");
  StartAgent(PreferringFirst(Options({silent, dist_->address()}), silent));
  ASSERT_TRUE(agent_->Subscribe({key_}, absl::ZeroDuration()).ok());
  ASSERT_TRUE(WaitFor([&] { return FileRevision(key_) == 1; }, kLong));
  EXPECT_EQ(agent_->Status().distributor, dist_->address());
  EXPECT_EQ(agent_->Status().order[0], silent);
  agent_.reset();
}

// The same silent preferred distributor, probed for a return every 50 ms:
// a connect succeeds (the kernel's backlog) but nothing answers, so the
// agent must stay where it is instead of moving back and failing again
// (which a connect-only probe did, every return interval).
TEST_F(AgentTest, SilentPreferredIsNotReturnedTo) {
  transport::testing::SilentServer listener;
  ASSERT_TRUE(listener.ok());
  const std::string silent = listener.address();
  dist_->Set(key_, "v1");
  AgentOptions o = Options({silent, dist_->address()});
  o.return_interval = absl::Milliseconds(50);
  StartAgent(PreferringFirst(o, silent));
  ASSERT_TRUE(agent_->Subscribe({key_}, absl::ZeroDuration()).ok());
  ASSERT_TRUE(WaitFor([&] { return FileRevision(key_) == 1; }, kLong));
  // Moving to the silent one would cost a reconnect each time (its
  // kess.Subscribe times out); only the first failover may have.
  const double attempts = Counter("kess_agent_reconnect_attempts_total");
  // Several probes have failed (each waits up to heartbeat_timeout / 2 =
  // 500 ms for its answer) ...
  ASSERT_TRUE(WaitFor(
      [&] {
        return Counter("kess_agent_return_probes_total",
                       {{"result", "not_back"}}) >= 3;
      },
      kLong));
  // ... and the agent never left the distributor that answers.
  EXPECT_EQ(agent_->Status().distributor, dist_->address());
  EXPECT_EQ(Counter("kess_agent_reconnect_attempts_total"), attempts);
  EXPECT_EQ(Counter("kess_agent_distributor_switches_total"), 0);
  EXPECT_EQ(Counter("kess_agent_return_probes_total", {{"result", "returned"}}),
            0);
  agent_.reset();
}

TEST_F(AgentTest, RestartResumesFromCacheWithoutRefetch) {
  const CacheKey k2 = CacheKey::Config("shop", "k2");
  const CacheKey route = CacheKey::Route("payments");
  dist_->Set(key_, "a");
  dist_->Set(k2, "b");
  dist_->Set(route, std::string("\x00\x01\xff", 3));
  StartAgent(Options({dist_->address()}));
  ASSERT_TRUE(agent_->Subscribe({key_, k2, route}, kLong).ok());
  ASSERT_TRUE(WaitFor([&] { return FileRevision(route) == 3; }, kLong));
  agent_.reset();

  // While the agent is down one key changes.
  int64_t rev = dist_->Set(k2, "b2");
  const int64_t sent_before = dist_->resources_sent();
  const size_t subscribes_before = dist_->subscribes().size();
  StartAgent(Options({dist_->address()}));  // no Subscribe call: persisted
  ASSERT_TRUE(WaitFor([&] { return FileRevision(k2) == rev; }, kLong));
  auto subs = dist_->subscribes();
  ASSERT_GT(subs.size(), subscribes_before);
  const protocol::SubscribeRequest& req = subs[subscribes_before];
  ASSERT_EQ(req.keys_size(), 3);
  for (const protocol::Known& k : req.keys()) {
    EXPECT_GT(k.revision(), 0) << k.DebugString();
  }
  EXPECT_EQ(req.host_id(), "host-1");
  EXPECT_EQ(dist_->resources_sent() - sent_before, 1);  // only the change
  EXPECT_EQ(dist_->known_ahead(), 0);
  EXPECT_EQ(FileValue(route), std::string("\x00\x01\xff", 3));
}

// After a restart the files of a subscribed namespace are held without
// being subscribed one by one; a full watch answer (GET /v1/watch without
// an index, or after a restart) must carry them all.
TEST_F(AgentTest, FullWatchAnswerHasTheKeysHeldThroughANamespace) {
  {
    auto writer = file_cache::FileCacheWriter::Open({dir_});
    ASSERT_TRUE(writer.ok()) << writer.status();
    for (const auto& [ns, key, rev] :
         std::vector<std::tuple<std::string, std::string, int64_t>>{
             {"shop", "a", 5}, {"shop", "b", 6}, {"other", "c", 7}}) {
      CacheEntry e;
      e.key = CacheKey::Config(ns, key);
      e.revision = rev;
      e.value = "v" + key;
      ASSERT_TRUE((*writer)->Write(e).ok());
    }
  }
  StartAgent(Options({dist_->address()}));
  Subscription shop;
  shop.namespaces.insert("shop");
  ASSERT_TRUE(agent_->Subscribe("app1", shop, absl::ZeroDuration()).ok());
  Subscription one;
  one.keys.insert(CacheKey::Config("other", "c"));
  ASSERT_TRUE(agent_->Subscribe("app1", one, absl::ZeroDuration()).ok());

  CurrentEntries current = CurrentFromAgent(agent_.get());
  WatchSelection selection;
  selection.namespaces.insert("shop");
  std::vector<CacheEntry> full = current(selection);
  ASSERT_EQ(full.size(), 2u);
  EXPECT_EQ(full[0].key, CacheKey::Config("shop", "a"));
  EXPECT_EQ(full[0].value, "va");
  EXPECT_EQ(full[1].key, CacheKey::Config("shop", "b"));
  EXPECT_EQ(full[1].revision, 6);

  selection.configs.insert({"other", "c"});
  EXPECT_EQ(current(selection).size(), 3u);
  // Namespace "other" is not subscribed: only its key subscribed by itself.
  WatchSelection unsubscribed;
  unsubscribed.namespaces.insert("other");
  EXPECT_EQ(current(unsubscribed).size(), 1u);  // other/c: subscribed itself
}

// With a grace period, the last owner's DELETE leaves the key subscribed
// (pushes keep updating its file) until the grace period ends; an owner
// taking it again within it reuses it (no new kess.Subscribe), and a
// restarted agent keeps what lingered until its deadline.
TEST_F(AgentTest, UnsubscribeGracePeriod) {
  const absl::Duration grace = absl::Milliseconds(800);
  dist_->Set(key_, "v1");
  AgentOptions o = Options({dist_->address()});
  o.unsubscribe_grace = grace;
  StartAgent(o);
  Subscription one;
  one.keys.insert(key_);
  ASSERT_TRUE(agent_->Subscribe("a", one, kLong).ok());
  ASSERT_EQ(FileRevision(key_), 1);
  const size_t subscribes = dist_->subscribes().size();

  absl::StatusOr<Subscription> removed = agent_->Unsubscribe("a", one);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(*removed, one);  // no owner holds it any more
  const absl::Time dropped = absl::Now();
  int64_t rev = dist_->Set(key_, "v2");  // still pushed
  ASSERT_TRUE(WaitFor([&] { return FileRevision(key_) == rev; }, kLong));
  EXPECT_EQ(dist_->unsubscribes(), 0);
  // Taken again within the grace period: reused as it is.
  ASSERT_TRUE(agent_->Subscribe("b", one, kLong).ok());
  EXPECT_EQ(dist_->subscribes().size(), subscribes);
  EXPECT_EQ(agent_->OwnersOfKey(key_), (std::vector<std::string>{"b"}));
  absl::SleepFor(grace - (absl::Now() - dropped) + absl::Milliseconds(200));
  EXPECT_EQ(dist_->unsubscribes(), 0);  // b holds it

  // b leaves: unsubscribed upstream once the grace period is over.
  ASSERT_TRUE(agent_->Unsubscribe("b", one).ok());
  const absl::Time start = absl::Now();
  ASSERT_TRUE(WaitFor([&] { return dist_->unsubscribes() == 1; }, kLong));
  EXPECT_GE(absl::Now() - start, grace - absl::Milliseconds(50));

  // Dropped just before a restart: the restarted agent subscribes it again
  // (it still lingers) and unsubscribes it at the deadline.
  ASSERT_TRUE(agent_->Subscribe("c", one, kLong).ok());
  ASSERT_TRUE(agent_->Unsubscribe("c", one).ok());
  const absl::Time deadline = absl::Now() + grace;
  agent_.reset();
  const size_t before = dist_->subscribes().size();
  StartAgent(o);
  ASSERT_TRUE(
      WaitFor([&] { return dist_->subscribes().size() > before; }, kLong));
  EXPECT_EQ(dist_->subscribes()[before].keys_size(), 1);
  ASSERT_TRUE(WaitFor([&] { return dist_->unsubscribes() == 2; }, kLong));
  EXPECT_GE(absl::Now(), deadline - absl::Milliseconds(50));
  EXPECT_TRUE(agent_->Keys().empty());
}

// A distributor that cuts its answers at a budget (a namespace of thousands
// of keys) says how many it left out; the agent pulls the next page as soon
// as it has written this one, not at its next periodic pull (60 s here).
TEST_F(AgentTest, DeferredAnswersArePulledPageByPage) {
  FakeDistributor::Options paged;
  paged.max_updates_per_answer = 10;
  auto d = FakeDistributor::Start(paged);
  ASSERT_TRUE(d.ok()) << d.status();
  std::vector<CacheKey> keys;
  for (int i = 0; i < 45; ++i) {
    keys.push_back(CacheKey::Config("big", absl::StrCat("k", i)));
    (*d)->Set(keys.back(), absl::StrCat("v", i));
  }
  StartAgent(Options({(*d)->address()}));
  // Connected first, so that the keys go in one Subscribe (not also in the
  // connection's first one).
  ASSERT_TRUE(WaitFor([&] { return agent_->Status().connected; }, kLong));
  ASSERT_TRUE(agent_->Subscribe(keys, kLong).ok());
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const CacheKey& k : keys) {
          if (FileRevision(k) == 0) return false;
        }
        return true;
      },
      kLong));
  // 45 keys, 10 per answer: the Subscribe and 4 page pulls.
  EXPECT_GE((*d)->pulls(), 4);
  EXPECT_GE(Counter("kess_agent_page_pulls_total"), 4);
  // Each resource went once: every page pull listed what was written.
  EXPECT_EQ((*d)->resources_sent(), 45);
  for (int i = 0; i < 45; ++i) {
    EXPECT_EQ(FileValue(keys[i]), absl::StrCat("v", i));
  }
}

// A Subscribe through the API while the agent is still connecting must not
// become the connection's first frame: that one carries the token and stays
// within the distributors' limit for peers not yet authenticated
// (AgentOptions::distributor_untrusted_max_frame_bytes, their
// --untrusted_max_frame_bytes), filled with as many keys as fit.
TEST_F(AgentTest, ApiSubscribeWhileConnectingIsNotTheFirstFrame) {
  std::vector<CacheKey> many;
  for (int i = 0; i < 3000; ++i) {
    many.push_back(CacheKey::Config("shop", absl::StrCat("key.number.", i)));
  }
  AgentOptions o = Options({dist_->address()});
  o.auth_token = "secret";
  o.distributor_untrusted_max_frame_bytes = 16 << 10;
  StartAgent(o);
  // Right after Create the connection may or may not be up yet (on an idle
  // loopback it usually is: then this guards the order only).
  ASSERT_TRUE(agent_->Subscribe(many, kLong).ok());
  ASSERT_TRUE(WaitFor(
      [&] {
        size_t n = 0;
        for (const auto& r : dist_->subscribes()) n += r.keys_size();
        return n >= many.size();
      },
      kLong));
  auto subs = dist_->subscribes();
  ASSERT_GE(subs.size(), 2u);
  // The payload and the frame's envelope (method name, id: < 100 bytes).
  EXPECT_LE(subs[0].ByteSizeLong() + 100, size_t{16} << 10);
  EXPECT_EQ(subs[0].auth_token(), "secret");

  // Restarted, the agent names every persisted key on connecting: the
  // first frame is filled up to the limit, the rest follows.
  agent_.reset();
  const size_t before = dist_->subscribes().size();
  StartAgent(o);
  ASSERT_TRUE(
      WaitFor([&] { return dist_->subscribes().size() >= before + 2; }, kLong));
  subs = dist_->subscribes();
  EXPECT_LE(subs[before].ByteSizeLong() + 100, size_t{16} << 10);
  EXPECT_GE(subs[before].ByteSizeLong(), size_t{15} << 10);
  EXPECT_EQ(subs[before].auth_token(), "secret");
  EXPECT_EQ(subs[before].keys_size() + subs[before + 1].keys_size(),
            static_cast<int>(many.size()));
}

// One owner unsubscribes while another subscribes the same key: whatever
// order their messages reach the loop in, the distributor must end up with
// the key subscribed (pushes keep coming). The window between Remove() and
// the loop is narrow: this guards the outcome, it seldom hits the bad
// interleaving itself.
TEST_F(AgentTest, UnsubscribeRacingASubscribeOfAnotherOwnerKeepsTheKey) {
  dist_->Set(key_, "v0");
  StartAgent(Options({dist_->address()}));
  Subscription one;
  one.keys.insert(key_);
  ASSERT_TRUE(agent_->Subscribe("a", one, kLong).ok());
  std::string holder = "a";
  for (int i = 0; i < 50; ++i) {
    const std::string next = holder == "a" ? "b" : "a";
    std::thread t([&] { ASSERT_TRUE(agent_->Unsubscribe(holder, one).ok()); });
    ASSERT_TRUE(agent_->Subscribe(next, one, absl::ZeroDuration()).ok());
    t.join();
    holder = next;
    const int64_t rev = dist_->Set(key_, absl::StrCat("v", i + 1));
    ASSERT_TRUE(WaitFor([&] { return FileRevision(key_) == rev; },
                        absl::Seconds(5)))
        << "round " << i << ": the distributor no longer pushes the key";
  }
}

// POSTs of subscriptions wait for the distributor on the server's worker
// threads; only kMaxSubscribeWaits of them wait at once, so that the
// workers stay free for the other endpoints.
TEST_F(AgentTest, OnlyAFewSubscribePostsWaitAtOnce) {
  transport::testing::SilentServer silent;
  ASSERT_TRUE(silent.ok());
  AgentOptions o = Options({silent.address()});
  o.call_timeout = absl::Seconds(30);
  o.heartbeat_interval = absl::ZeroDuration();
  o.heartbeat_timeout = absl::ZeroDuration();
  StartAgent(o);
  HttpServer::Options ho;
  ho.registry = &registry_;
  auto server = HttpServer::Create(ho);
  ASSERT_TRUE(server.ok());
  RegisterHttpApi(server->get(), agent_.get(), {absl::Seconds(4)});
  ASSERT_TRUE((*server)->Start().ok());
  const std::string address = absl::StrCat("127.0.0.1:", (*server)->port());
  constexpr int kPosts = kMaxSubscribeWaits + 3;
  std::atomic<int> quick{0}, ok{0};
  std::vector<std::thread> posts;
  for (int i = 0; i < kPosts; ++i) {
    posts.emplace_back([&, i] {
      const auto start = std::chrono::steady_clock::now();
      auto r = HttpCall(address, "POST", "/v1/subscriptions",
                        absl::StrCat(R"({"app":"a)", i,
                                     R"(","routes":["svc)", i, R"("]})"),
                        kLong);
      if (r.ok() && r->status == 200) ok.fetch_add(1);
      if (std::chrono::steady_clock::now() - start < std::chrono::seconds(2)) {
        quick.fetch_add(1);
      }
    });
  }
  for (std::thread& t : posts) t.join();
  EXPECT_EQ(ok.load(), kPosts);
  EXPECT_GE(quick.load(), kPosts - kMaxSubscribeWaits);
  (*server)->Stop();
  agent_.reset();
}

TEST_F(AgentTest, AuthTokenIsSent) {
  FakeDistributor::Options opts;
  opts.auth_token = "s3cret";
  auto d = FakeDistributor::Start(opts);
  ASSERT_TRUE(d.ok());
  dist_ = std::move(d).value();
  dist_->Set(key_, "v");
  AgentOptions o = Options({dist_->address()});
  o.auth_token = "s3cret";
  StartAgent(o);
  ASSERT_TRUE(agent_->Subscribe({key_}, kLong).ok());
  ASSERT_TRUE(WaitFor([&] { return FileRevision(key_) == 1; }, kLong));
}

TEST_F(AgentTest, HostHeartbeatsToMandatorsAndFailuresAreNotFatal) {
  std::atomic<int> beats{0};
  std::string last_host;
  transport::HandlerMap handlers;
  handlers["kess.HostHeartbeat"] = [&](transport::Request request,
                                       transport::Responder responder) {
    protocol::HostHeartbeat hb;
    hb.ParseFromString(request.payload);
    if (hb.host_id() == "host-1" && hb.datacenter() == "dc1") ++beats;
    responder.Respond(protocol::HostHeartbeatResponse().SerializeAsString());
  };
  metrics::Registry mandator_registry;
  transport::ServerOptions so;
  so.registry = &mandator_registry;
  auto mandator = transport::Server::Create(so, handlers);
  ASSERT_TRUE(mandator.ok());
  // A second mandator that does not serve the method yet.
  auto old_mandator = transport::Server::Create(so, {});
  ASSERT_TRUE(old_mandator.ok());

  AgentOptions o = Options({dist_->address()});
  o.mandators = {"127.0.0.1:" + std::to_string((*mandator)->port()),
                 "127.0.0.1:" + std::to_string((*old_mandator)->port())};
  StartAgent(o);
  ASSERT_TRUE(WaitFor([&] { return beats >= 3; }, kLong));
  ASSERT_TRUE(WaitFor(
      [&] {
        return Counter("kess_agent_host_heartbeats_total",
                       {{"result", "unimplemented"}}) >= 2;
      },
      kLong));
  // The mandator counts a beat before the agent reads its answer.
  EXPECT_TRUE(WaitFor(
      [&] {
        return Counter("kess_agent_host_heartbeats_total",
                       {{"result", "ok"}}) >= 3;
      },
      kLong));
  agent_.reset();
}

TEST_F(AgentTest, HttpApi) {
  dist_->Set(key_, "30s");
  StartAgent(Options({dist_->address()}));
  HttpServer::Options ho;
  ho.registry = &registry_;
  auto server = HttpServer::Create(ho);
  ASSERT_TRUE(server.ok());
  RegisterHttpApi(server->get(), agent_.get(), {kLong});
  ASSERT_TRUE((*server)->Start().ok());
  const std::string address = absl::StrCat("127.0.0.1:", (*server)->port());
  // The reply; status 0 with the error as the body if there was none.
  auto http = [&](const std::string& method, const std::string& path,
                  const std::string& body = "") {
    absl::StatusOr<HttpReply> reply =
        HttpCall(address, method, path, body, kLong);
    if (reply.ok()) return *reply;
    HttpReply failed;
    failed.body = std::string(reply.status().message());
    return failed;
  };

  HttpReply r = http("POST", "/v1/subscriptions",
                     R"({"configs":[{"namespace":"shop","key":"db.timeout"}],
                          "routes":["payments"]})");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(absl::StrContains(r.body, "\"revision\":1")) << r.body;
  EXPECT_TRUE(absl::StrContains(r.body, "/configs/shop/db.timeout.json"))
      << r.body;
  EXPECT_TRUE(absl::StrContains(r.body, "\"cached\":true")) << r.body;

  for (const char* bad :
       {R"({"configs":[{"namespace":"..","key":"x"}]})",
        R"({"configs":[{"namespace":"shop","key":"a/b"}]})",
        R"({"configs":[{"namespace":"shop","key":"a\u0000b"}]})",
        R"({"routes":["../../etc/passwd"]})", R"({})", "garbage"}) {
    HttpReply b = http("POST", "/v1/subscriptions", bad);
    EXPECT_EQ(b.status, 400) << bad << " -> " << b.body;
  }
  HttpReply slash = http("POST", "/v1/subscriptions",
                         R"({"configs":[{"namespace":"shop","key":"a/b"}]})");
  EXPECT_TRUE(absl::StrContains(slash.body, "not allowed")) << slash.body;

  // A DELETE must name its owner: leaving it out does not remove the
  // subscriptions made without one ("default").
  const std::string routes = R"({"routes":["payments"]})";
  r = http("DELETE", "/v1/subscriptions", routes);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(agent_->OwnersOfKey(CacheKey::Route("payments")),
            std::vector<std::string>{"default"});
  r = http("DELETE", "/v1/subscriptions",
           R"({"app":"other","routes":["payments"]})");
  EXPECT_EQ(r.status, 200) << r.body;  // not its subscription: nothing
  EXPECT_EQ(agent_->OwnersOfKey(CacheKey::Route("payments")),
            std::vector<std::string>{"default"});

  r = http("GET", "/v1/configs/shop/db.timeout");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(absl::StrContains(r.body, "\"value\":\"30s\"")) << r.body;
  EXPECT_EQ(http("GET", "/v1/configs/shop/nothing").status, 404);
  EXPECT_EQ(http("GET", "/v1/configs/shop/..").status, 400);
  EXPECT_EQ(http("GET", "/v1/configs/shop/a%2F..%2Fb").status, 400);
  EXPECT_EQ(http("GET", "/v1/configs/shop/a%00b").status, 400);
  EXPECT_EQ(http("GET", "/v1/routes/..").status, 400);

  r = http("GET", "/v1/status");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(absl::StrContains(r.body, "\"connected\":true")) << r.body;
  EXPECT_TRUE(absl::StrContains(r.body, dist_->address())) << r.body;

  // Subscriptions persist across an agent restart.
  (*server)->Stop();
  server->reset();
  agent_.reset();
  StartAgent(Options({dist_->address()}));
  auto keys = agent_->Keys();
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].key, key_);
  EXPECT_EQ(keys[1].key, CacheKey::Route("payments"));
}

}  // namespace
}  // namespace agent
}  // namespace kess
