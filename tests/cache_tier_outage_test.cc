// The cache tier end to end: a DC's ZooKeeper stopped entirely. Two DCs of real
// processes (ZooKeeper, a mandator, 2 distributors and 3 agents per DC).
// Invariant 11 of docs/design.md (and 6 and 7 once it is back).
//  - Slave DC's ZooKeeper down: its agents and an SDK client keep serving
//    the last data; its distributors say stale (/metrics
//    kess_distributor_stale, /api/v1/status) and so do its agents
//    (/v1/status); the main DC keeps taking writes and its agents get them;
//    after the restart the slave DC's agents get every write made meanwhile.
//  - Main DC's ZooKeeper down: the same for the main DC's tier; after the
//    restart a new write reaches every agent of both DCs.
// A reader loop over every cache file checks the whole time that no file is
// torn and no revision goes backwards.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "model/file_cache/reader.h"
#include "common/metrics.h"
#include "common/testing/wait_for.h"
#include "gtest/gtest.h"
#include "sdk/config_client.h"
#include "tests/cluster/cache_reader_loop.h"
#include "tests/cluster/cache_tier_cluster.h"

namespace kess {
namespace testing {
namespace {

// Bounds that only mean "did not hang".
constexpr absl::Duration kWait = absl::Seconds(45);

std::vector<AgentHost*> Agents(const CacheTierDc& dc) {
  std::vector<AgentHost*> agents;
  for (const auto& a : dc.agents) agents.push_back(a.get());
  return agents;
}

// Every distributor of `dc` reports `stale` in /metrics and in
// /api/v1/status, and every agent in /v1/status.
bool TierStale(const CacheTierDc& dc, bool stale) {
  for (const auto& d : dc.distributors) {
    absl::StatusOr<double> gauge =
        MetricValue(d->Metrics(), "kess_distributor_stale");
    Poco::JSON::Object::Ptr status = d->Status();
    if (!gauge.ok() || *gauge != (stale ? 1 : 0) || !status ||
        status->getValue<bool>("stale") != stale) {
      return false;
    }
  }
  for (const auto& a : dc.agents) {
    Poco::JSON::Object::Ptr status = a->Status();
    if (!status || status->getValue<bool>("stale") != stale) return false;
  }
  return true;
}

// The agent's API and cache still serve `value` at `revision`.
void ExpectServes(const AgentHost& agent, const std::string& ns,
                  const std::string& key, int64_t revision,
                  const std::string& value) {
  EXPECT_EQ(CachedRevision(agent, ns, key), revision) << agent.host_id();
  absl::StatusOr<HttpReply> reply =
      agent.Call("GET", absl::StrCat("/v1/configs/", ns, "/", key));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->status, 200) << reply->body;
  Poco::JSON::Object::Ptr file = JsonBody(reply->body);
  ASSERT_TRUE(file) << reply->body;
  EXPECT_EQ(file->getValue<int64_t>("revision"), revision);
  EXPECT_EQ(file->getValue<std::string>("value"), value);
}

TEST(CacheTierOutageTest, DcZooKeeperDownTierServesLastDataAndConverges) {
  auto started = CacheTierCluster::Start({});
  ASSERT_TRUE(started.ok()) << started.status();
  CacheTierCluster& cluster = **started;
  const std::vector<AgentHost*> all = cluster.AllAgents();
  const std::vector<AgentHost*> main_agents = Agents(cluster.main());
  const std::vector<AgentHost*> slave_agents = Agents(cluster.slave());
  for (AgentHost* a : all) {
    ASSERT_TRUE(
        a->Subscribe(ConfigSubscription({{"app", "color"}, {"app", "size"}}))
            .ok());
  }
  absl::StatusOr<int64_t> v1 = cluster.Put("app", "color", "v1");
  ASSERT_TRUE(v1.ok()) << v1.status();
  ASSERT_TRUE(WaitCached(all, "app", "color", *v1, kWait));
  ASSERT_TRUE(
      WaitFor([&] { return TierStale(cluster.slave(), false); }, kWait));

  // An SDK client in a slave-DC process.
  AgentHost* sdk_host = slave_agents[0];
  metrics::Registry registry;
  sdk::ConfigClient::Options options;
  options.cache_dir = sdk_host->cache_dir();
  options.agent_http_address = sdk_host->http_address();
  options.poll_interval = absl::Milliseconds(50);
  options.registry = &registry;
  auto client = sdk::ConfigClient::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::Mutex mu;
  int64_t sdk_revision = 0;
  auto watch = (*client)->Watch("app", "color", [&](const sdk::ConfigValue& v) {
    absl::MutexLock lock(&mu);
    sdk_revision = v.revision;
  });
  ASSERT_TRUE(watch.ok()) << watch.status();
  auto sdk_has = [&](int64_t revision) {
    absl::MutexLock lock(&mu);
    return sdk_revision == revision;
  };
  ASSERT_TRUE(WaitFor([&] { return sdk_has(*v1); }, kWait));

  CacheReaderLoop reader([&] {
    std::vector<std::string> dirs;
    for (AgentHost* a : all) dirs.push_back(a->cache_dir());
    return dirs;
  }());

  // --- The slave DC's ZooKeeper stops.
  ASSERT_TRUE(cluster.dcs().slave_zk().StopServer(0).ok());
  EXPECT_TRUE(WaitFor([&] { return TierStale(cluster.slave(), true); }, kWait))
      << "the slave DC's distributors and agents do not report stale";
  EXPECT_TRUE(TierStale(cluster.main(), false));
  // The main DC keeps taking writes and delivering them.
  absl::StatusOr<int64_t> v2 = cluster.Put("app", "color", "v2");
  ASSERT_TRUE(v2.ok()) << v2.status();
  absl::StatusOr<int64_t> s1 = cluster.Put("app", "size", "s1");
  ASSERT_TRUE(s1.ok()) << s1.status();
  EXPECT_TRUE(WaitCached(main_agents, "app", "size", *s1, kWait));
  EXPECT_EQ(CachedRevision(*main_agents[0], "app", "color"), *v2);
  // The slave DC serves the last data it had, from the agents and the SDK.
  absl::SleepFor(absl::Seconds(1));
  for (AgentHost* a : slave_agents) ExpectServes(*a, "app", "color", *v1, "v1");
  absl::StatusOr<sdk::ConfigValue> sdk_value = (*client)->Get("app", "color");
  ASSERT_TRUE(sdk_value.ok()) << sdk_value.status();
  EXPECT_EQ(sdk_value->value, "v1");
  EXPECT_EQ(sdk_value->revision, *v1);

  // --- It comes back: the slave DC gets everything written meanwhile.
  ASSERT_TRUE(cluster.dcs().slave_zk().StartServer(0).ok());
  EXPECT_TRUE(WaitCached(slave_agents, "app", "size", *s1, kWait));
  EXPECT_TRUE(WaitCached(slave_agents, "app", "color", *v2, kWait));
  EXPECT_TRUE(
      WaitFor([&] { return TierStale(cluster.slave(), false); }, kWait));
  EXPECT_TRUE(WaitFor([&] { return sdk_has(*v2); }, kWait));

  // --- The main DC's ZooKeeper stops: its tier serves and says stale.
  ASSERT_TRUE(cluster.dcs().main_zk().StopServer(0).ok());
  EXPECT_TRUE(WaitFor([&] { return TierStale(cluster.main(), true); }, kWait))
      << "the main DC's distributors and agents do not report stale";
  for (AgentHost* a : main_agents) ExpectServes(*a, "app", "color", *v2, "v2");
  ASSERT_TRUE(cluster.dcs().main_zk().StartServer(0).ok());
  EXPECT_TRUE(WaitFor([&] { return TierStale(cluster.main(), false); }, kWait));
  absl::StatusOr<int64_t> v3 = cluster.Put("app", "color", "v3");
  ASSERT_TRUE(v3.ok()) << v3.status();
  EXPECT_TRUE(WaitCached(all, "app", "color", *v3, kWait));
  EXPECT_TRUE(WaitFor([&] { return sdk_has(*v3); }, kWait));

  reader.Stop();
  EXPECT_GT(reader.reads(), 0);
  EXPECT_EQ(reader.torn(), 0) << reader.first_error();
  EXPECT_EQ(reader.backwards(), 0) << reader.first_error();
  watch->reset();
}

}  // namespace
}  // namespace testing
}  // namespace kess
