// Discovery, end to end with real processes in two DCs (discovery_cluster.h):
// what happens to an instance whose heartbeats stop, as seen in the route
// file of every agent of both DCs. Service "pay" has 3 instances in the
// slave DC: pay-1 is the sample provider as a process on host dc2-h1,
// pay-2 and pay-3 are registered from this test on dc2-h2. Invariant 9 of
// docs/design.md: removed only when both heartbeats are lost.
//  1. SIGSTOP of pay-1 (its heartbeats stop, its host's agent keeps
//     beating): it turns `suspect` everywhere and stays there, never
//     removed, for several instance timeouts (long enough for the
//     mandators to forget it from memory too); SIGCONT: healthy again.
//  2. kill -9 of pay-1 AND of dc2-h1's agent: removed from every remaining
//     agent's file, and not before --instance_timeout_ms; pay-2 and pay-3
//     stay healthy throughout.
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "glog/logging.h"
#include "gtest/gtest.h"
#include "tests/discovery/discovery_cluster.h"

namespace kess {
namespace {

using testing::AgentHost;
using testing::DiscoveryCluster;
using testing::HasInstance;
using testing::kTimeouts;
using testing::LacksInstance;
using testing::ProviderProcess;
using testing::WaitAllAgents;

constexpr absl::Duration kPatience = absl::Seconds(30);  // "did not hang"

// The earliest an instance can go stale after its process stopped: its
// last heartbeat was up to one interval (+10 % jitter) before that.
absl::Duration StaleAtTheEarliest() {
  return kTimeouts.instance_timeout - 2 * kTimeouts.heartbeat;
}

// True if `id` is in `service`'s route file of every agent, in `state`,
// at every check for `how_long` (checks every 50 ms).
::testing::AssertionResult StaysEverywhere(
    const std::vector<AgentHost*>& agents, const std::string& service,
    const std::string& id, const std::string& state, absl::Duration how_long) {
  const absl::Time end = absl::Now() + how_long;
  while (absl::Now() < end) {
    for (const AgentHost* a : agents) {
      auto table = testing::CachedRouteTable(*a, service);
      if (!HasInstance(id, state)(table.ok() ? &*table : nullptr)) {
        return ::testing::AssertionFailure()
               << id << " not " << state << " in " << a->host_id();
      }
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return ::testing::AssertionSuccess();
}

TEST(InstanceFailureTest, SuspectWhileOnlyHeartbeatsStopRemovedWhenHostDies) {
  auto started = DiscoveryCluster::Start({});
  ASSERT_TRUE(started.ok()) << started.status();
  DiscoveryCluster& cluster = **started;
  ASSERT_TRUE(cluster.SubscribeRoutes({"pay"}).ok());
  auto pay1 =
      ProviderProcess::Start({.service = "pay",
                              .id = "pay-1",
                              .host = "dc2-h1",
                              .datacenter = "dc2",
                              .mandators = cluster.MandatorAddresses("dc2"),
                              .tls_flags = cluster.dcs().tls().Flags("client")});
  ASSERT_TRUE(pay1.ok()) << pay1.status();
  auto pay2 = cluster.Register("dc2", "pay", "pay-2", "dc2-h2");
  auto pay3 = cluster.Register("dc2", "pay", "pay-3", "dc2-h2");
  ASSERT_TRUE(pay2.ok() && pay3.ok());
  std::vector<AgentHost*> agents = cluster.AllAgents();
  for (const char* id : {"pay-1", "pay-2", "pay-3"}) {
    ASSERT_TRUE(WaitAllAgents(agents, "pay", HasInstance(id), kPatience)) << id;
  }

  // 1. Heartbeats blocked, host alive: suspect, kept.
  const absl::Time paused_at = absl::Now();
  (*pay1)->Pause();
  ASSERT_TRUE(
      WaitAllAgents(agents, "pay", HasInstance("pay-1", "suspect"), kPatience));
  const absl::Duration to_suspect = absl::Now() - paused_at;
  LOG(INFO) << "pay-1 suspect in all agents " << to_suspect << " after SIGSTOP";
  EXPECT_GE(to_suspect, StaleAtTheEarliest());
  // Well past the mandators' memory expiry (10 heartbeat intervals).
  EXPECT_TRUE(
      StaysEverywhere(agents, "pay", "pay-1", "suspect",
                      12 * kTimeouts.heartbeat + kTimeouts.instance_timeout -
                          to_suspect));
  for (const char* id : {"pay-2", "pay-3"}) {
    EXPECT_TRUE(
        WaitAllAgents(agents, "pay", HasInstance(id), absl::ZeroDuration()))
        << id;
  }
  (*pay1)->Resume();
  ASSERT_TRUE(
      WaitAllAgents(agents, "pay", HasInstance("pay-1", "healthy"), kPatience));
  LOG(INFO) << "pay-1 healthy again everywhere after SIGCONT";

  // 2. Provider and its host's agent killed: removed after the timeouts.
  AgentHost* host = cluster.Agent("dc2-h1");
  ASSERT_NE(host, nullptr);
  const absl::Time killed_at = absl::Now();
  (*pay1)->Kill();
  host->Kill();
  std::vector<AgentHost*> alive;
  for (AgentHost* a : agents) {
    if (a != host) alive.push_back(a);
  }
  ASSERT_TRUE(WaitAllAgents(alive, "pay", LacksInstance("pay-1"), kPatience));
  const absl::Duration to_removed = absl::Now() - killed_at;
  LOG(INFO) << "pay-1 removed from all live agents " << to_removed
            << " after kill -9 of it and its host's agent";
  EXPECT_GE(to_removed, StaleAtTheEarliest());
  for (const char* id : {"pay-2", "pay-3"}) {
    EXPECT_TRUE(
        WaitAllAgents(alive, "pay", HasInstance(id), absl::ZeroDuration()))
        << id;
  }
}

}  // namespace
}  // namespace kess
