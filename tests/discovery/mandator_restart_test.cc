// Discovery, end to end with real processes in two DCs (discovery_cluster.h):
// nothing is removed because kess itself is sick (invariant 9 of
// docs/design.md). 8 instances (2 services, 2 instances of each in each
// DC, registered through sdk::Registration from this test) are healthy in
// every agent's route file; then
//  1. kill -9 of the main DC's leader (the one building the route tables)
//     and of one slave-DC mandator at once; both restarted later;
//  2. all 3 mandators of the slave DC killed and restarted;
//  3. all 3 mandators of the main DC killed and restarted.
// A RouteSampler reads every agent's route files and both DCs' route
// records in ZooKeeper every 50 ms during the whole scenario: every
// instance must be present at every sample. At the end every instance is
// healthy again everywhere.
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "glog/logging.h"
#include "gtest/gtest.h"
#include "tests/cluster/mandator_cluster.h"
#include "tests/discovery/discovery_cluster.h"

namespace kess {
namespace {

using testing::DiscoveryCluster;
using testing::HasInstance;
using testing::kTimeouts;
using testing::MandatorProcess;
using testing::WaitAllAgents;

constexpr absl::Duration kPatience = absl::Seconds(30);  // "did not hang"

// Long enough for the route loop to act on any evidence it has: a DC's
// mandator list settles after the warm-up, an instance is stale after the
// instance timeout, plus a few cycles.
absl::Duration Settle() {
  return kTimeouts.warmup + kTimeouts.instance_timeout +
         4 * kTimeouts.route_cycle;
}

TEST(MandatorRestartTest, NoInstanceIsRemovedWhileMandatorsDieAndRestart) {
  auto started = DiscoveryCluster::Start({});
  ASSERT_TRUE(started.ok()) << started.status();
  DiscoveryCluster& cluster = **started;
  const std::vector<std::string> services = {"cart", "search"};
  ASSERT_TRUE(cluster.SubscribeRoutes(services).ok());
  std::map<std::string, std::set<std::string>> expected;
  std::vector<std::unique_ptr<sdk::Registration>> registrations;
  for (const std::string& service : services) {
    for (const char* dc : {"dc1", "dc2"}) {
      for (int i = 1; i <= 2; ++i) {
        const std::string id = absl::StrCat(service, "-", dc, "-", i);
        auto r = cluster.Register(dc, service, id, absl::StrCat(dc, "-h", i));
        ASSERT_TRUE(r.ok()) << r.status();
        registrations.push_back(*std::move(r));
        expected[service].insert(id);
      }
    }
  }
  const auto agents = cluster.AllAgents();
  auto all_healthy = [&](absl::Duration timeout) {
    for (const auto& [service, ids] : expected) {
      for (const std::string& id : ids) {
        if (!WaitAllAgents(agents, service, HasInstance(id), timeout)) {
          ADD_FAILURE() << service << "/" << id << " not healthy everywhere";
          return false;
        }
      }
    }
    return true;
  };
  ASSERT_TRUE(all_healthy(kPatience));

  auto main_zk = cluster.dcs().ConnectMainReader();
  auto slave_zk = cluster.dcs().ConnectSlaveReader();
  ASSERT_TRUE(main_zk.ok() && slave_zk.ok());
  testing::RouteSampler sampler(agents, *std::move(main_zk),
                                *std::move(slave_zk), cluster.dcs().layout(),
                                expected);

  // 1. The route builder and one slave mandator killed at once.
  MandatorProcess* leader =
      testing::WaitLeader(cluster.dcs().main(), kPatience);
  ASSERT_NE(leader, nullptr);
  MandatorProcess* slave_victim = cluster.dcs().slave()[1].get();
  LOG(INFO) << "kill -9 of main leader " << leader->id() << " and slave "
            << slave_victim->id();
  leader->Kill();
  slave_victim->Kill();
  ASSERT_NE(testing::WaitLeader(cluster.dcs().main(), kPatience), nullptr);
  absl::SleepFor(Settle());
  ASSERT_TRUE(leader->Restart().ok());
  ASSERT_TRUE(slave_victim->Restart().ok());
  absl::SleepFor(Settle());
  EXPECT_TRUE(all_healthy(kPatience));

  // 2., 3. Every mandator of one DC killed, then restarted.
  for (testing::MandatorList* dc :
       {&cluster.dcs().slave(), &cluster.dcs().main()}) {
    LOG(INFO) << "kill -9 of every mandator of "
              << (dc == &cluster.dcs().main() ? "dc1" : "dc2");
    for (auto& m : *dc) m->Kill();
    absl::SleepFor(2 * kTimeouts.instance_timeout);
    for (auto& m : *dc) ASSERT_TRUE(m->Restart().ok()) << m->id();
    ASSERT_NE(testing::WaitLeader(*dc, kPatience), nullptr);
    absl::SleepFor(Settle());
    EXPECT_TRUE(all_healthy(kPatience));
  }

  sampler.Stop();
  LOG(INFO) << sampler.samples() << " samples, " << sampler.unreadable()
            << " ZooKeeper reads failed";
  EXPECT_GT(sampler.samples(), 100);
  EXPECT_EQ(sampler.violation_count(), 0);
  for (const std::string& v : sampler.violations()) ADD_FAILURE() << v;
}

}  // namespace
}  // namespace kess
