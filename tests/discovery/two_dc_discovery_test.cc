// Discovery, end to end with real processes in two DCs (discovery_cluster.h:
// ZooKeeper, 3 mandators, a distributor and 2 agents per DC, the main
// DC's leader collecting the slave DC's mandators):
//  - an instance of the sample provider registered in the SLAVE DC reaches
//    the route file of every agent of both DCs, and a Discovery in each DC
//    reading its own agent's cache selects it;
//  - its clean shutdown (SIGTERM: Deregister) removes it from every
//    agent's route file in both DCs, while another instance of the same
//    service (registered in the main DC) stays and is what both Discovery
//    objects select afterwards.
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/testing/wait_for.h"
#include "glog/logging.h"
#include "gtest/gtest.h"
#include "sdk/discovery.h"
#include "tests/discovery/discovery_cluster.h"

namespace kess {
namespace {

using testing::AgentHost;
using testing::DiscoveryCluster;
using testing::HasInstance;
using testing::LacksInstance;
using testing::ProviderProcess;
using testing::WaitAllAgents;
using testing::WaitFor;

constexpr absl::Duration kPatience = absl::Seconds(30);  // "did not hang"

std::unique_ptr<sdk::Discovery> DiscoveryAt(const AgentHost& agent,
                                            const std::string& dc) {
  sdk::Discovery::Options o;
  o.cache_dir = agent.cache_dir();
  o.agent_http_address = agent.http_address();
  o.poll_interval = absl::Milliseconds(50);
  o.local_datacenter = dc;
  auto discovery = sdk::Discovery::Create(o);
  EXPECT_TRUE(discovery.ok()) << discovery.status();
  return discovery.ok() ? *std::move(discovery) : nullptr;
}

// The id Select() returns once it returns one; "" if it never did.
std::string SelectedId(sdk::Discovery& discovery, const std::string& service,
                       const std::string& want) {
  std::string last;
  const absl::Time deadline = absl::Now() + kPatience;
  while (absl::Now() < deadline) {
    auto instance = discovery.Select(service);
    if (instance.ok()) {
      last = (*instance)->id;
      if (last == want) return last;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return last;
}

TEST(TwoDcDiscoveryTest, SlaveInstanceIsFoundInBothDcsUntilItDeregisters) {
  auto started = DiscoveryCluster::Start({});
  ASSERT_TRUE(started.ok()) << started.status();
  DiscoveryCluster& cluster = **started;
  ASSERT_TRUE(cluster.SubscribeRoutes({"echo"}).ok());
  const auto agents = cluster.AllAgents();
  ASSERT_EQ(agents.size(), 4u);

  const absl::Time registered_at = absl::Now();
  auto provider =
      ProviderProcess::Start({.service = "echo",
                              .id = "echo-dc2-1",
                              .host = "dc2-h1",
                              .datacenter = "dc2",
                              .mandators = cluster.MandatorAddresses("dc2"),
                              .tls_flags = cluster.dcs().tls().Flags("client")});
  ASSERT_TRUE(provider.ok()) << provider.status();
  ASSERT_TRUE(
      WaitAllAgents(agents, "echo", HasInstance("echo-dc2-1"), kPatience));
  LOG(INFO) << "slave-DC instance in all 4 agents' caches after "
            << absl::Now() - registered_at;
  for (AgentHost* a : agents) {
    auto table = testing::CachedRouteTable(*a, "echo");
    ASSERT_TRUE(table.ok()) << a->host_id() << ": " << table.status();
    ASSERT_EQ(table->instances.size(), 1u) << a->host_id();
    const RouteInstance& i = table->instances[0];
    EXPECT_EQ(i.datacenter, "dc2");
    EXPECT_EQ(i.host, "dc2-h1");
    EXPECT_EQ(i.health, "up");
    EXPECT_EQ(i.metadata.at("example"), "demo_provider");
  }

  // A consumer in each DC, each reading its own agent's cache.
  AgentHost* dc1_host = cluster.Agent("dc1-h2");
  AgentHost* dc2_host = cluster.Agent("dc2-h2");
  ASSERT_NE(dc1_host, nullptr);
  ASSERT_NE(dc2_host, nullptr);
  auto dc1_consumer = DiscoveryAt(*dc1_host, "dc1");
  auto dc2_consumer = DiscoveryAt(*dc2_host, "dc2");
  ASSERT_NE(dc1_consumer, nullptr);
  ASSERT_NE(dc2_consumer, nullptr);
  EXPECT_EQ(SelectedId(*dc1_consumer, "echo", "echo-dc2-1"), "echo-dc2-1");
  EXPECT_EQ(SelectedId(*dc2_consumer, "echo", "echo-dc2-1"), "echo-dc2-1");

  // A second instance in the main DC, so the service outlives the first.
  auto other =
      ProviderProcess::Start({.service = "echo",
                              .id = "echo-dc1-1",
                              .host = "dc1-h1",
                              .datacenter = "dc1",
                              .mandators = cluster.MandatorAddresses("dc1"),
                              .tls_flags = cluster.dcs().tls().Flags("client")});
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_TRUE(
      WaitAllAgents(agents, "echo", HasInstance("echo-dc1-1"), kPatience));

  // Clean shutdown: removed everywhere; the main-DC instance stays.
  const absl::Time stopped_at = absl::Now();
  (*provider)->Stop();
  ASSERT_TRUE(
      WaitAllAgents(agents, "echo", LacksInstance("echo-dc2-1"), kPatience));
  LOG(INFO) << "deregistered instance gone from all 4 agents' caches after "
            << absl::Now() - stopped_at;
  EXPECT_TRUE(
      WaitAllAgents(agents, "echo", HasInstance("echo-dc1-1"), kPatience));
  // Both consumers, once their poll read the new file, pick the remaining
  // instance, and only it.
  for (sdk::Discovery* d : {dc1_consumer.get(), dc2_consumer.get()}) {
    auto table = d->GetTable("echo");
    WaitFor(
        [&] {
          table = d->GetTable("echo");
          return table.ok() && (*table)->instances.size() == 1;
        },
        kPatience);
    ASSERT_TRUE(table.ok()) << table.status();
    ASSERT_EQ((*table)->instances.size(), 1u);
    EXPECT_EQ((*table)->instances[0].id, "echo-dc1-1");
    for (int i = 0; i < 50; ++i) {
      auto picked = d->Select("echo");
      ASSERT_TRUE(picked.ok()) << picked.status();
      EXPECT_EQ((*picked)->id, "echo-dc1-1");
    }
  }
}

}  // namespace
}  // namespace kess
