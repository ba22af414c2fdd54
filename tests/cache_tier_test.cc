// The cache tier end to end: two DCs of real processes (ZooKeeper, a mandator,
// 2 distributors and 3 agents per DC, each agent a separate host with its
// own cache dir) on 127.0.0.1. One cluster is shared by the tests of this
// file, which run in order and leave every process running (invariants 6,
// 7, 11 and 13 of docs/design.md):
//  - a config written through the main leader's HTTP API reaches every
//    agent's file cache in both DCs, and an SDK ConfigClient watching
//    through one agent gets its callback;
//  - kill -9 of the distributor an agent uses, in each DC, while writes
//    stream: the agent moves to the other one and gets the next change; a
//    reader loop over every cache file never sees a torn file or a revision
//    going backwards;
//  - kill -9 of an agent, three times, while it writes large values: no torn
//    or partial file is ever visible; after each restart it resumes;
//  - bad names at the agent's API and at the distributor (a raw transport
//    client), and malformed/oversized frames from a raw socket: rejected,
//    only that connection closed, everyone else keeps receiving changes.
#include <unistd.h>

#include <atomic>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "model/file_cache/reader.h"
#include "common/metrics.h"
#include "common/testing/wait_for.h"
#include "common/transport/event_loop.h"
#include "common/transport/testing/test_util.h"
#include "distributor/testing/test_agent.h"
#include "gtest/gtest.h"
#include "sdk/config_client.h"
#include "tests/cluster/cache_reader_loop.h"
#include "tests/cluster/cache_tier_cluster.h"

namespace kess {
namespace testing {
namespace {

// Bounds that only mean "did not hang".
constexpr absl::Duration kWait = absl::Seconds(30);
constexpr char kToken[] = "cache-tier-test-token";  // CacheTierCluster's

std::vector<std::string> CacheDirs(const std::vector<AgentHost*>& agents) {
  std::vector<std::string> dirs;
  for (const AgentHost* a : agents) dirs.push_back(a->cache_dir());
  return dirs;
}

std::string ValueIn(const AgentHost& agent, const std::string& ns,
                    const std::string& key) {
  file_cache::FileCacheReader reader(agent.cache_dir());
  auto entry = reader.Read(file_cache::CacheKey::Config(ns, key));
  return entry.ok() ? entry->value : entry.status().ToString();
}

std::string DistributorOf(const AgentHost& agent) {
  Poco::JSON::Object::Ptr status = agent.Status();
  if (!status || !status->getValue<bool>("connected")) return "";
  return status->getValue<std::string>("distributor");
}

// Puts ns/key = "<prefix>-<i>" (padded to `bytes`) back to back until
// stopped; remembers the newest acknowledged revision of each key.
class WriteLoop {
 public:
  WriteLoop(CacheTierCluster* cluster, std::string ns,
            std::vector<std::string> keys, size_t bytes, absl::Duration pause)
      : thread_([=] {
          for (int i = 0; !stop_; ++i) {
            const std::string& key = keys[i % keys.size()];
            std::string value = absl::StrCat("v", i, "-");
            value.resize(std::max(bytes, value.size()), 'a' + i % 26);
            absl::StatusOr<int64_t> r = cluster->Put(ns, key, value);
            absl::MutexLock lock(&mu_);
            if (!r.ok()) {
              if (error_.ok()) error_ = r.status();
              return;
            }
            last_[key] = *r;
            ++writes_;
            absl::SleepFor(pause);
          }
        }) {}
  ~WriteLoop() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::map<std::string, int64_t> last() {
    absl::MutexLock lock(&mu_);
    return last_;
  }
  int writes() {
    absl::MutexLock lock(&mu_);
    return writes_;
  }
  absl::Status error() {
    absl::MutexLock lock(&mu_);
    return error_;
  }

 private:
  std::atomic<bool> stop_{false};
  absl::Mutex mu_;
  std::map<std::string, int64_t> last_ ABSL_GUARDED_BY(mu_);
  int writes_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

class CacheTierTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto cluster = CacheTierCluster::Start({});
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(cluster).value().release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(cluster_, nullptr); }

  static CacheTierCluster* cluster_;
};
CacheTierCluster* CacheTierTest::cluster_ = nullptr;

TEST_F(CacheTierTest, ConfigReachesEveryAgentInBothDcsAndSdkCallbackFires) {
  const std::vector<AgentHost*> agents = cluster_->AllAgents();
  ASSERT_EQ(agents.size(), 6u);
  for (AgentHost* a : agents) {
    ASSERT_TRUE(a->Subscribe(ConfigSubscription({{"app", "color"}})).ok());
  }

  // The SDK in a process of a slave-DC host, watching through its agent.
  AgentHost* sdk_host = cluster_->slave().agents[0].get();
  metrics::Registry registry;
  sdk::ConfigClient::Options options;
  options.cache_dir = sdk_host->cache_dir();
  options.agent_http_address = sdk_host->http_address();
  options.poll_interval = absl::Milliseconds(50);
  options.registry = &registry;
  auto client = sdk::ConfigClient::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::Mutex mu;
  std::vector<sdk::ConfigValue> seen;
  auto watch =
      (*client)->Watch("app", "color", [&](const sdk::ConfigValue& value) {
        absl::MutexLock lock(&mu);
        seen.push_back(value);
      });
  ASSERT_TRUE(watch.ok()) << watch.status();

  absl::StatusOr<int64_t> revision = cluster_->Put("app", "color", "blue");
  ASSERT_TRUE(revision.ok()) << revision.status();
  ASSERT_TRUE(WaitCached(agents, "app", "color", *revision, kWait));
  for (AgentHost* a : agents) {
    EXPECT_EQ(CachedRevision(*a, "app", "color"), *revision) << a->host_id();
    EXPECT_EQ(ValueIn(*a, "app", "color"), "blue") << a->host_id();
  }
  auto called = [&] {
    absl::MutexLock lock(&mu);
    return !seen.empty() && seen.back().revision == *revision;
  };
  ASSERT_TRUE(WaitFor(called, kWait));
  {
    absl::MutexLock lock(&mu);
    EXPECT_EQ(seen.back().value, "blue");
    EXPECT_FALSE(seen.back().deleted);
  }
  watch->reset();
}

TEST_F(CacheTierTest, KilledDistributorAgentsMoveOnAndNoFileGoesBack) {
  const std::vector<AgentHost*> agents = cluster_->AllAgents();
  for (AgentHost* a : agents) {
    ASSERT_TRUE(a
                    ->Subscribe(ConfigSubscription(
                        {{"app", "color"}, {"app", "tick0"}, {"app", "tick1"}}))
                    .ok());
  }
  CacheReaderLoop reader(CacheDirs(agents));
  WriteLoop writes(cluster_, "app", {"tick0", "tick1"}, 64,
                   absl::Milliseconds(20));

  // In each DC, the distributor that the first agent uses.
  std::vector<DistributorProcess*> killed;
  std::map<AgentHost*, std::string> before;
  for (CacheTierDc* dc : {&cluster_->main(), &cluster_->slave()}) {
    for (auto& a : dc->agents) before[a.get()] = DistributorOf(*a);
    DistributorProcess* d = dc->DistributorAt(before[dc->agents[0].get()]);
    ASSERT_NE(d, nullptr) << before[dc->agents[0].get()];
    killed.push_back(d);
  }
  absl::SleepFor(absl::Milliseconds(300));  // writes are flowing
  for (DistributorProcess* d : killed) d->Kill();

  // Every agent that used a killed distributor is on the other one.
  auto moved = [&] {
    for (AgentHost* a : agents) {
      const std::string now = DistributorOf(*a);
      if (now.empty()) return false;
      for (DistributorProcess* d : killed) {
        if (now == d->address()) return false;
      }
    }
    return true;
  };
  ASSERT_TRUE(WaitFor(moved, kWait));

  absl::StatusOr<int64_t> next = cluster_->Put("app", "color", "green");
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_TRUE(WaitCached(agents, "app", "color", *next, kWait));
  for (AgentHost* a : agents) {
    EXPECT_EQ(ValueIn(*a, "app", "color"), "green") << a->host_id();
  }

  for (DistributorProcess* d : killed) ASSERT_TRUE(d->Restart().ok());
  absl::SleepFor(absl::Milliseconds(300));
  writes.Stop();
  ASSERT_TRUE(writes.error().ok()) << writes.error();
  EXPECT_GT(writes.writes(), 10);
  for (const auto& [key, revision] : writes.last()) {
    EXPECT_TRUE(WaitCached(agents, "app", key, revision, kWait)) << key;
  }
  reader.Stop();
  EXPECT_GT(reader.reads(), 0);
  EXPECT_EQ(reader.torn(), 0) << reader.first_error();
  EXPECT_EQ(reader.backwards(), 0) << reader.first_error();
  for (const auto& [agent, address] : before) {
    Poco::JSON::Object::Ptr status = agent->Status();
    ASSERT_TRUE(status);
    for (DistributorProcess* d : killed) {
      if (address == d->address()) {
        EXPECT_GE(status->getValue<int64_t>("switches"), 1) << agent->host_id();
      }
    }
  }
}

TEST_F(CacheTierTest, AgentKilledMidWriteShowsNoTornFileAndResumes) {
  AgentHost* victim = cluster_->main().agents[1].get();
  const std::vector<std::string> keys = {"big0", "big1", "big2"};
  std::vector<std::pair<std::string, std::string>> subscription;
  for (const std::string& k : keys) subscription.push_back({"stress", k});
  ASSERT_TRUE(victim->Subscribe(ConfigSubscription(subscription)).ok());

  CacheReaderLoop reader({victim->cache_dir()});
  // 512 KiB values: each file write takes long enough for a kill to land
  // in the middle of one now and then.
  WriteLoop writes(cluster_, "stress", keys, 512 * 1024, absl::ZeroDuration());
  std::mt19937 random(4);
  for (int kill = 0; kill < 3; ++kill) {
    absl::SleepFor(absl::Milliseconds(400 + random() % 600));
    victim->Kill();
    absl::SleepFor(absl::Milliseconds(100));
    ASSERT_TRUE(victim->Restart().ok());
    // It resumes from its cache: what it had is still there.
    Poco::JSON::Object::Ptr status = victim->Status();
    ASSERT_TRUE(status);
  }
  absl::SleepFor(absl::Milliseconds(500));
  writes.Stop();
  ASSERT_TRUE(writes.error().ok()) << writes.error();
  EXPECT_GT(writes.writes(), 6);
  for (const auto& [key, revision] : writes.last()) {
    EXPECT_TRUE(WaitCached({victim}, "stress", key, revision, kWait)) << key;
  }
  reader.Stop();
  EXPECT_GT(reader.reads(), 0);
  EXPECT_EQ(reader.torn(), 0) << reader.first_error();
  EXPECT_EQ(reader.backwards(), 0) << reader.first_error();
}

TEST_F(CacheTierTest, BadNamesAndBadFramesAreRejectedOthersKeepReceiving) {
  AgentHost* agent = cluster_->main().agents[0].get();
  auto before = agent->Call("GET", "/v1/subscriptions");
  ASSERT_TRUE(before.ok());
  for (const std::string body : {
           R"({"configs":[{"namespace":"..","key":"x"}]})",
           R"({"configs":[{"namespace":"app","key":"a/b"}]})",
           R"({"configs":[{"namespace":"a\u0000b","key":"x"}]})",
           R"({"configs":[{"namespace":"app","key":"..\/..\/etc"}]})",
           R"({"routes":["../etc"]})",
       }) {
    auto reply = agent->Call("POST", "/v1/subscriptions", body);
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(reply->status, 400) << body << " -> " << reply->body;
    EXPECT_TRUE(absl::StrContains(reply->body, "INVALID_ARGUMENT"))
        << reply->body;
  }
  auto after = agent->Call("GET", "/v1/subscriptions");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->body, before->body);

  // A raw transport client at a real distributor.
  DistributorProcess* d = cluster_->main().distributors[0].get();
  auto loop = transport::EventLoop::Create("raw-agent");
  ASSERT_TRUE(loop.ok()) << loop.status();
  metrics::Registry registry;
  distributor::testing::TestAgent::Options raw_options;
  raw_options.port = d->port();
  raw_options.host_id = "raw-client";
  raw_options.auth_token = kToken;
  raw_options.registry = &registry;
  auto raw_tls = cluster_->dcs().tls().ClientContext();
  ASSERT_TRUE(raw_tls.ok()) << raw_tls.status();
  raw_options.tls = *raw_tls;
  auto raw = distributor::testing::TestAgent::Connect(loop->get(), raw_options);
  ASSERT_TRUE(raw.ok()) << raw.status();
  using distributor::testing::ConfigKey;
  auto answer = (*raw)->Subscribe(
      {ConfigKey("..", "x"), ConfigKey("app", "a/b"),
       ConfigKey(std::string("a\0b", 3), "k"), ConfigKey("app", "color")});
  ASSERT_TRUE(answer.ok()) << answer.status();
  ASSERT_EQ(answer->rejected_size(), 3) << answer->DebugString();
  EXPECT_EQ(answer->rejected(0).namespace_name(), "..");
  EXPECT_EQ(answer->rejected(1).key(), "a/b");
  EXPECT_EQ(answer->rejected(2).namespace_name(), std::string("a\0b", 3));
  EXPECT_FALSE(answer->rejected_reason().empty());
  EXPECT_GT((*raw)->RevisionOf(ConfigKey("app", "color")), 0);
  EXPECT_GE(MetricValue(d->Metrics(), "kess_distributor_rejected_total",
                        "reason=\"invalid_name\"")
                .value_or(0),
            3);

  // A malformed frame and an oversized one, each on its own raw socket.
  const int garbage = transport::testing::ConnectRaw(d->port());
  ASSERT_GE(garbage, 0);
  ASSERT_TRUE(transport::testing::WriteAll(
      garbage,
      transport::testing::LengthHeader(6) + "\x08\xff\xff\xff\xff\xff"));
  EXPECT_TRUE(transport::testing::WaitForPeerClose(garbage, absl::Seconds(10)));
  close(garbage);
  const int oversized = transport::testing::ConnectRaw(d->port());
  ASSERT_GE(oversized, 0);
  // Over TLS one byte more: a TLS record header is 5 bytes.
  ASSERT_TRUE(transport::testing::WriteAll(
      oversized, transport::testing::LengthHeader(64 << 20) +
                     (cluster_->dcs().tls().enabled() ? std::string(1, '\0')
                                                      : std::string())));
  EXPECT_TRUE(
      transport::testing::WaitForPeerClose(oversized, absl::Seconds(10)));
  close(oversized);
  const std::string metrics = d->Metrics();
  if (cluster_->dcs().tls().enabled()) {
    // The port speaks TLS: neither got past the handshake.
    EXPECT_GE(MetricValue(metrics, "kess_transport_disconnects_total",
                          "reason=\"tls_handshake_failed\",role=\"server\"")
                  .value_or(0),
              2)
        << metrics;
  } else {
    EXPECT_GE(MetricValue(metrics, "kess_transport_disconnects_total",
                          "reason=\"malformed_frame\",role=\"server\"")
                  .value_or(0),
              1)
        << metrics;
    // Before a token is accepted, the lower limit for untrusted peers
    // applies (--untrusted_max_frame_bytes), so that is the reason counted.
    EXPECT_GE(
        MetricValue(metrics, "kess_transport_disconnects_total",
                    "reason=\"untrusted_frame_too_large\",role=\"server\"")
            .value_or(0),
        1)
        << metrics;
  }

  // Everyone else, the raw client included, still receives changes.
  absl::StatusOr<int64_t> next = cluster_->Put("app", "color", "after-garbage");
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_TRUE(WaitCached(cluster_->AllAgents(), "app", "color", *next, kWait));
  EXPECT_TRUE(WaitFor(
      [&] { return (*raw)->RevisionOf(ConfigKey("app", "color")) == *next; },
      kWait));
  EXPECT_TRUE((*raw)->connected());
  raw->reset();
}

}  // namespace
}  // namespace testing
}  // namespace kess
