// The fault suite, link faults (scenarios 4 and 5): one cache-tier
// cluster of real processes on 127.0.0.1 (two DCs, each ZooKeeper +
// 2 mandators + 2 distributors + 2 agents), in which the slave DC's
// mandators reach the main DC's ZooKeeper through a proxy (the DC link) and
// some agents reach their preferred distributor through one. The proxies
// (tests/cluster/zk_session_proxy.h, any byte stream) cut a link or delay
// every byte on it. Each scenario runs a write stream, injects its faults,
// lifts them, and runs the InvariantChecker (invariants of docs/design.md:
// every agent converges to the main DC (6), no cache file went backwards or
// was torn for a reader (7), no acknowledged write was lost (2)).
//
// Each scenario prints "FAULTS|<scenario>|<faults>|<writes>|<files>|
// <reads>|<violations>" for scripts/faults.sh.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/distributor_order.h"
#include "common/testing/wait_for.h"
#include "gtest/gtest.h"
#include "tests/cluster/cache_tier_cluster.h"
#include "tests/cluster/mandator_cluster.h"
#include "tests/cluster/zk_session_proxy.h"
#include "tests/faults/fault_fixture.h"

namespace kess {
namespace testing {
namespace {

constexpr char kNs[] = "links";

class LinkFaultsTest : public CacheTierFaultTest {
 protected:
  static void SetUpTestSuite() {
    CacheTierClusterOptions options;
    options.dcs.mandators_per_dc = 2;
    options.dcs.proxy_main_zk_for_slaves = true;
    options.distributors_per_dc = 2;
    options.agents_per_dc = 2;
    StartCluster(options, FaultKeys(kNs));
  }

  // One more main-DC agent whose preferred distributor (first in its own
  // rendezvous order) is reached through a new proxy, the other directly.
  // Waits until it uses the proxied one. Sets *proxy and *preferred (the
  // proxy's address) and *other.
  AgentHost* AddAgentBehindProxy(const std::string& prefix,
                                 std::unique_ptr<ZkSessionProxy>* proxy,
                                 std::string* preferred, std::string* other) {
    CacheTierDc& main = cluster_->main();
    std::string host_id;
    for (int i = 0; i < 20 && host_id.empty(); ++i) {
      for (size_t behind = 0; behind < 2 && host_id.empty(); ++behind) {
        auto p = ZkSessionProxy::Start(main.distributors[behind]->address());
        EXPECT_TRUE(p.ok()) << p.status();
        if (!p.ok()) return nullptr;
        const std::string direct = main.distributors[1 - behind]->address();
        const std::string id = absl::StrCat(prefix, "-", i);
        if (agent::DistributorOrder(id, {(*p)->address(), direct})[0] ==
            (*p)->address()) {
          *proxy = std::move(p).value();
          host_id = id;
          *preferred = (*proxy)->address();
          *other = direct;
        }
      }
    }
    EXPECT_FALSE(host_id.empty());
    if (host_id.empty()) return nullptr;
    AgentHost* agent = AddAgent(main, host_id, "", {*preferred, *other});
    if (agent != nullptr && !WaitDistributor(*agent, *preferred)) {
      ADD_FAILURE() << "the agent never used the proxied distributor";
      RemoveAgent(main, agent);
      return nullptr;
    }
    return agent;
  }

  static bool WaitDistributor(const AgentHost& agent,
                              const std::string& address) {
    // Asks the agent over HTTP: polled slowly.
    return WaitFor([&] { return DistributorOf(agent) == address; }, kConverge,
                   absl::Milliseconds(100));
  }

  // The lowest cached revision of keys()[0] over `agents`.
  int64_t MinCached(const std::vector<std::unique_ptr<AgentHost>>& agents) {
    int64_t low = -1;
    for (const auto& a : agents) {
      const int64_t r = CachedRevision(*a, kNs, keys()[0].second);
      if (low < 0 || r < low) low = r;
    }
    return low;
  }
};

// (4) One agent partitioned from its distributor: an extra main-DC agent
// reaches its preferred distributor through a proxy and the other
// directly. The proxy's link is cut for 6 s during a write stream: the
// agent fails over to the other distributor, keeps serving its cache and
// follows the writes; after the heal it returns to its preferred one.
TEST_F(LinkFaultsTest, AgentCutFromItsDistributor) {
  std::unique_ptr<ZkSessionProxy> proxy;
  std::string preferred, other;
  AgentHost* agent = AddAgentBehindProxy("cut", &proxy, &preferred, &other);
  ASSERT_NE(agent, nullptr);
  const std::string k0 = keys()[0].second;
  std::vector<std::string> faults;
  {
    AckedWriter writes(cluster_, checker_.get(), keys(), "agent-cut");
    absl::SleepFor(absl::Seconds(1));
    proxy->SetCut(true);
    faults.push_back("one agent cut from its distributor for 6 s");
    const absl::Time cut_at = absl::Now();
    EXPECT_TRUE(WaitDistributor(*agent, other)) << "no failover";
    const absl::Duration failover = absl::Now() - cut_at;
    faults.push_back(absl::StrCat("failover in ",
                                  absl::ToInt64Milliseconds(failover), " ms"));
    // Serving while cut: its HTTP API answers and its cache follows the
    // writes through the other distributor.
    const int64_t seen = CachedRevision(*agent, kNs, k0);
    absl::SleepFor(absl::Seconds(6) - failover);
    EXPECT_NE(agent->Status(), nullptr);
    EXPECT_GT(CachedRevision(*agent, kNs, k0), seen)
        << "the cut agent's cache did not follow the writes";
    proxy->SetCut(false);
    EXPECT_TRUE(WaitDistributor(*agent, preferred))
        << "it did not return to its preferred distributor once healed";
  }
  Finish("agent_cut_from_distributor", faults);
  RemoveAgent(cluster_->main(), agent);
}

// (5) A slow link between one agent and its preferred distributor:
//   a) 150 ms each way for 5 s: slow but working — the agent stays (no
//      switch) and its cache still follows the writes;
//   b) 3 s each way for 10 s or more (beyond its 2 s heartbeat timeout,
//      and until a return probe was refused): it fails
//      over, and does not go back while the link stays slow (its return
//      probes, every ~3 s, get no answer in time) — no flapping, reconnect
//      attempts bounded;
//   c) healed: it returns to its preferred distributor.
TEST_F(LinkFaultsTest, AgentSlowLinkToItsDistributor) {
  std::unique_ptr<ZkSessionProxy> proxy;
  std::string preferred, other;
  AgentHost* agent = AddAgentBehindProxy("slow", &proxy, &preferred, &other);
  ASSERT_NE(agent, nullptr);
  const std::string k0 = keys()[0].second;
  auto counter = [&](const char* name, const char* labels = "") {
    return Metric(AgentMetrics(*agent), name, labels);
  };
  std::vector<std::string> faults;
  {
    AckedWriter writes(cluster_, checker_.get(), keys(), "agent-slow");
    absl::SleepFor(absl::Seconds(1));

    // a) slow but working.
    const double switches0 = counter("kess_agent_distributor_switches_total");
    proxy->SetDelay(absl::Milliseconds(150));
    faults.push_back("agent link +150 ms each way (5 s)");
    const int64_t seen = CachedRevision(*agent, kNs, k0);
    absl::SleepFor(absl::Seconds(5));
    EXPECT_EQ(DistributorOf(*agent), preferred) << "left a working link";
    EXPECT_EQ(counter("kess_agent_distributor_switches_total"), switches0);
    EXPECT_GT(CachedRevision(*agent, kNs, k0), seen)
        << "the cache did not follow the writes over a slow link";

    // b) too slow.
    const double attempts0 = counter("kess_agent_reconnect_attempts_total");
    proxy->SetDelay(absl::Seconds(3));
    faults.push_back("agent link +3 s each way (10 s or more)");
    const absl::Time slow_at = absl::Now();
    EXPECT_TRUE(WaitDistributor(*agent, other)) << "no failover";
    faults.push_back(
        absl::StrCat("failover in ",
                     absl::ToInt64Milliseconds(absl::Now() - slow_at), " ms"));
    // At least one return probe (every ~3 s) has been refused, at least
    // 10 s slow in all ("did not hang" bound: kPatience).
    const absl::Time probed_by = absl::Now() + kPatience;
    while (counter("kess_agent_return_probes_total", "result=\"not_back\"") <
               1 &&
           absl::Now() < probed_by) {
      absl::SleepFor(absl::Milliseconds(200));
    }
    absl::SleepFor(std::max(absl::ZeroDuration(),
                            slow_at + absl::Seconds(10) - absl::Now()));
    EXPECT_EQ(DistributorOf(*agent), other) << "went back to a slow link";
    const double switches =
        counter("kess_agent_distributor_switches_total") - switches0;
    const double attempts =
        counter("kess_agent_reconnect_attempts_total") - attempts0;
    const double probes =
        counter("kess_agent_return_probes_total", "result=\"not_back\"");
    EXPECT_EQ(switches, 1) << "flapping between a slow and a good link";
    // The failover is one attempt; each move back to the slow link would
    // cost one more.
    EXPECT_LE(attempts, 2) << "flapping or a reconnect storm";
    EXPECT_GE(probes, 1) << "no return probe while on the other distributor";
    faults.push_back(absl::StrCat(switches, " switch, ", attempts,
                                  " reconnect attempts, ", probes,
                                  " return probes refused"));

    // c) healed.
    proxy->SetDelay(absl::ZeroDuration());
    EXPECT_TRUE(WaitDistributor(*agent, preferred))
        << "it did not return once the link was fast again";
  }
  Finish("agent_slow_link", faults);
  RemoveAgent(cluster_->main(), agent);
}

// (5) A slow DC link: every byte between the slave DC's mandators and the
// main DC's ZooKeeper delayed 300 ms each way for 8 s during a write
// stream. Replication goes on, only later: the slave DC's agents keep
// moving forward during the delay.
TEST_F(LinkFaultsTest, SlowDcLink) {
  ZkSessionProxy* link = cluster_->dcs().main_link_proxy();
  ASSERT_NE(link, nullptr);
  std::vector<std::string> faults;
  {
    AckedWriter writes(cluster_, checker_.get(), keys(), "dc-slow");
    absl::SleepFor(absl::Seconds(1));
    link->SetDelay(absl::Milliseconds(300));
    faults.push_back("DC link +300 ms each way (8 s)");
    absl::SleepFor(absl::Seconds(2));  // what was in flight lands
    const int64_t slave_before = MinCached(cluster_->slave().agents);
    absl::SleepFor(absl::Seconds(6));
    const int64_t slave_after = MinCached(cluster_->slave().agents);
    EXPECT_GT(slave_after, slave_before)
        << "replication stopped over a slow link";
    faults.push_back(absl::StrCat("slave agents moved ", slave_before, " -> ",
                                  slave_after, " while slow"));
    link->SetDelay(absl::ZeroDuration());
    absl::SleepFor(absl::Seconds(1));
  }
  Finish("dc_link_slow", faults);
}

// (4) A partition between the DCs: the slave DC's mandators cut from the
// main DC's ZooKeeper for 8 s during a write stream (partition mode off,
// the default). The main DC goes on taking writes; the slave DC keeps
// serving what it has (its agents' files stay readable and hold still),
// counts the failed replication rounds, and catches up once healed.
TEST_F(LinkFaultsTest, DcPartition) {
  ZkSessionProxy* link = cluster_->dcs().main_link_proxy();
  ASSERT_NE(link, nullptr);
  std::vector<std::string> faults;
  {
    AckedWriter writes(cluster_, checker_.get(), keys(), "dc-cut");
    absl::SleepFor(absl::Seconds(1));
    const double errors0 =
        MetricSum(cluster_->dcs().slave(), kReplicationErrors);
    link->SetCut(true);
    faults.push_back("DC link cut (8 s or more)");
    // What was in flight lands: the slave agents' revision holds still for
    // a second ("did not hang" bound: kPatience).
    int64_t slave_frozen = MinCached(cluster_->slave().agents);
    for (const absl::Time until = absl::Now() + kPatience;
         absl::Now() < until;) {
      absl::SleepFor(absl::Seconds(1));
      const int64_t now = MinCached(cluster_->slave().agents);
      if (now == slave_frozen) break;
      slave_frozen = now;
    }
    const int64_t acked0 = writes.acked();
    const int64_t reads0 = reader_->reads();
    const int64_t main_before = MinCached(cluster_->main().agents);
    absl::SleepFor(absl::Seconds(6));
    EXPECT_GT(writes.acked(), acked0) << "the main DC stopped taking writes";
    EXPECT_GT(MinCached(cluster_->main().agents), main_before);
    EXPECT_EQ(MinCached(cluster_->slave().agents), slave_frozen)
        << "slave agents changed without a link to the main DC?";
    EXPECT_GT(reader_->reads(), reads0) << "caches not readable";
    const double errors =
        MetricSum(cluster_->dcs().slave(), kReplicationErrors) - errors0;
    EXPECT_GT(errors, 0) << "the slave DC did not count the cut";
    faults.push_back(absl::StrCat(errors, " replication errors counted"));
    link->SetCut(false);
    absl::SleepFor(absl::Seconds(1));
  }
  Finish("dc_partition", faults);
}

}  // namespace
}  // namespace testing
}  // namespace kess
