// The cache tier end to end, at scale: 1,000 simulated agents (separate transport
// connections on one EventLoop in this process; distributor/test_agent.h)
// on 2 real distributor processes, one in each DC, all receive a change
// written through the real main-DC mandator's HTTP API (the slave DC's
// half through replication).
#include <sys/resource.h>

#include <atomic>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/metrics.h"
#include "common/testing/wait_for.h"
#include "common/transport/event_loop.h"
#include "distributor/testing/test_agent.h"
#include "gtest/gtest.h"
#include "tests/cluster/cache_tier_cluster.h"

namespace kess {
namespace testing {
namespace {

using distributor::testing::ConfigKey;
using distributor::testing::TestAgent;

constexpr int kAgents = 1000;
constexpr absl::Duration kWait = absl::Seconds(60);  // "did not hang"

TEST(CacheTierScaleTest, ThousandAgentsOnTwoDistributorProcessesGetAChange) {
  rlimit files;  // 1,000 sockets here
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &files), 0);
  files.rlim_cur = files.rlim_max;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &files), 0);
  ASSERT_GE(files.rlim_cur, rlim_t{kAgents + 200});

  CacheTierClusterOptions options;
  options.distributors_per_dc = 1;
  options.agents_per_dc = 0;
  // Every simulated agent is 127.0.0.1: no per-address cap here.
  options.distributor_flags.push_back("--max_connections_per_peer=0");
  auto started = CacheTierCluster::Start(options);
  ASSERT_TRUE(started.ok()) << started.status();
  CacheTierCluster& cluster = **started;
  absl::StatusOr<int64_t> first = cluster.Put("fleet", "shared", "v0");
  ASSERT_TRUE(first.ok()) << first.status();

  const std::vector<DistributorProcess*> distributors = {
      cluster.main().distributors[0].get(),
      cluster.slave().distributors[0].get()};
  auto loop = transport::EventLoop::Create("simulated-agents");
  ASSERT_TRUE(loop.ok()) << loop.status();
  metrics::Registry registry;
  // The simulated agents speak TLS like the real ones, resuming sessions.
  auto tls = cluster.dcs().tls().ClientContext();
  ASSERT_TRUE(tls.ok()) << tls.status();
  std::vector<std::unique_ptr<TestAgent>> agents;
  for (int i = 0; i < kAgents; ++i) {
    TestAgent::Options o;
    o.tls = *tls;
    o.port = distributors[i % 2]->port();
    o.host_id = absl::StrCat("sim-", i);
    o.auth_token = "cache-tier-test-token";  // CacheTierCluster's
    o.registry = &registry;
    auto agent = TestAgent::Start(loop->get(), o);
    ASSERT_TRUE(agent.ok()) << agent.status();
    agents.push_back(std::move(agent).value());
  }
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const auto& a : agents) {
          if (!a->connected()) return false;
        }
        return true;
      },
      kWait));
  std::atomic<int> subscribed{0}, failed{0};
  for (auto& a : agents) {
    a->SubscribeAsync({ConfigKey("fleet", "shared")}, [&](absl::Status s) {
      (s.ok() ? subscribed : failed)++;
    });
  }
  ASSERT_TRUE(WaitFor([&] { return subscribed + failed == kAgents; }, kWait));
  ASSERT_EQ(failed.load(), 0);
  // The slave DC's distributor answers with what it has replicated so far;
  // wait until everyone holds v0 before the change.
  auto holding = [&](int64_t revision) {
    int n = 0;
    for (const auto& a : agents) {
      n += a->RevisionOf(ConfigKey("fleet", "shared")) >= revision;
    }
    return n;
  };
  ASSERT_TRUE(WaitFor([&] { return holding(*first) == kAgents; }, kWait))
      << holding(*first);
  for (DistributorProcess* d : distributors) {
    Poco::JSON::Object::Ptr status = d->Status();
    ASSERT_TRUE(status);
    EXPECT_EQ(status->getValue<int>("subscribed_agents"), kAgents / 2);
  }

  absl::StatusOr<int64_t> change = cluster.Put("fleet", "shared", "v1");
  ASSERT_TRUE(change.ok()) << change.status();
  const absl::Time written = absl::Now();
  ASSERT_TRUE(WaitFor([&] { return holding(*change) == kAgents; }, kWait))
      << holding(*change) << " of " << kAgents << " agents got the change";
  RecordProperty(
      "all_agents_ms",
      absl::StrCat(absl::ToInt64Milliseconds(absl::Now() - written)));
  for (const auto& a : agents) {
    EXPECT_EQ(a->Get(ConfigKey("fleet", "shared"))->value(), "v1");
  }
  for (DistributorProcess* d : distributors) {
    EXPECT_GE(
        MetricValue(d->Metrics(), "kess_distributor_pushed_resources_total")
            .value_or(0),
        kAgents / 2)
        << d->id();
  }
  agents.clear();
}

}  // namespace
}  // namespace testing
}  // namespace kess
