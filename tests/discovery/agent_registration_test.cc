// Registration through the host agent, end to end with real processes in
// two DCs (discovery_cluster.h: ZooKeeper, mandators, a distributor and two
// agents per DC). Two providers that know nothing about kess (python3 -m
// http.server, child processes of this test) are registered through the
// agents' HTTP API with an HTTP health check each: shop-1 on dc1-h1,
// shop-2 on dc2-h1. Every agent of both DCs subscribes to "shop".
//  1. Both appear healthy, check_status "passing", in every agent's route
//     file.
//  2. SIGSTOP of shop-1's process: its port stays open (the kernel accepts)
//     but nothing answers, so the HTTP check times out: the agent's API
//     says critical, and shop-1 turns suspect (check_status "critical",
//     the check's output) in every route file while the agent keeps
//     heartbeating it; shop-2 stays healthy.
//  3. SIGCONT: healthy again everywhere.
//  4. DELETE through the agent: gone from every route file.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/http_client.h"
#include "common/testing/wait_for.h"
#include "common/transport/testing/test_util.h"
#include "glog/logging.h"
#include "gtest/gtest.h"
#include "tests/discovery/discovery_cluster.h"
#include "tests/harness/daemon_process.h"

namespace kess {
namespace {

using testing::AgentHost;
using testing::DaemonProcess;
using testing::DiscoveryCluster;
using testing::FindInstance;
using testing::HasInstance;
using testing::LacksInstance;
using testing::WaitAllAgents;
using testing::WaitFor;

constexpr absl::Duration kPatience = absl::Seconds(40);  // "did not hang"

// A plain HTTP server in its own process: python3 -m http.server.
struct PlainProvider {
  std::unique_ptr<DaemonProcess> process;
  int port = 0;
  std::string address() const { return absl::StrCat("127.0.0.1:", port); }
};

absl::StatusOr<PlainProvider> StartPlainProvider(const std::string& name) {
  PlainProvider p;
  for (int attempt = 0; attempt < 5; ++attempt) {
    p.port = transport::testing::UnusedPort();
    p.process = std::make_unique<DaemonProcess>(
        name, absl::StrCat(testing::TestTmpDir(), "/", name, ".log"));
    KESS_RETURN_IF_ERROR(p.process->Start(
        {"/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1",
         "--directory", testing::TestTmpDir(), std::to_string(p.port)}));
    const bool up = WaitFor(
        [&] {
          auto r = HttpCall(p.address(), "GET", "/", "", absl::Seconds(1));
          return (r.ok() && r->status == 200) || p.process->Exited();
        },
        absl::Seconds(15));
    if (up && p.process->running()) return p;
  }
  return absl::UnavailableError("python3 -m http.server did not start");
}

// `id` is in the table in `state` with check_status `check`.
testing::TablePredicate HasChecked(const std::string& id,
                                   const std::string& state,
                                   const std::string& check) {
  return [=](const RouteTable* table) {
    if (!HasInstance(id, state)(table)) return false;
    return FindInstance(*table, id)->check_status == check;
  };
}

std::string Registration(const PlainProvider& p, const std::string& version) {
  return absl::StrCat(
      R"({"address":")", p.address(), R"(","weight":100,"owner":"e2e",)",
      R"("metadata":{"version":")", version, R"("},"checks":[)",
      R"({"id":"http-)", version, R"(","kind":"http","url":"http://)",
      p.address(), R"(/","interval":"1s","timeout":"500ms",)",
      R"("failures_before_critical":2,"success_before_passing":1}]})");
}

TEST(AgentRegistrationTest, HttpCheckedProviderThroughTheAgentInBothDcs) {
  auto started = DiscoveryCluster::Start({});
  ASSERT_TRUE(started.ok()) << started.status();
  DiscoveryCluster& cluster = **started;
  ASSERT_TRUE(cluster.SubscribeRoutes({"shop"}).ok());
  std::vector<AgentHost*> agents = cluster.AllAgents();
  AgentHost* dc1_h1 = cluster.Agent("dc1-h1");
  AgentHost* dc2_h1 = cluster.Agent("dc2-h1");
  ASSERT_NE(dc1_h1, nullptr);
  ASSERT_NE(dc2_h1, nullptr);

  auto shop1 = StartPlainProvider("provider-shop-1");
  ASSERT_TRUE(shop1.ok()) << shop1.status();
  auto shop2 = StartPlainProvider("provider-shop-2");
  ASSERT_TRUE(shop2.ok()) << shop2.status();

  // 1. Registered through the agents' API.
  auto put1 = dc1_h1->Call("PUT", "/v1/services/shop/instances/shop-1",
                           Registration(*shop1, "1"));
  ASSERT_TRUE(put1.ok() && put1->status == 200)
      << (put1.ok() ? put1->body : put1.status().ToString());
  auto put2 = dc2_h1->Call("PUT", "/v1/services/shop/instances/shop-2",
                           Registration(*shop2, "2"));
  ASSERT_TRUE(put2.ok() && put2->status == 200)
      << (put2.ok() ? put2->body : put2.status().ToString());
  for (const char* id : {"shop-1", "shop-2"}) {
    ASSERT_TRUE(WaitAllAgents(agents, "shop",
                              HasChecked(id, "healthy", "passing"), kPatience))
        << id;
  }
  {
    auto table = testing::CachedRouteTable(*agents.back(), "shop");
    ASSERT_TRUE(table.ok());
    const RouteInstance* one = FindInstance(*table, "shop-1");
    ASSERT_NE(one, nullptr);
    EXPECT_EQ(one->host, "dc1-h1");
    EXPECT_EQ(one->datacenter, "dc1");
    EXPECT_EQ(one->address, shop1->address());
    EXPECT_EQ(one->metadata.at("version"), "1");
  }
  LOG(INFO) << "shop-1 and shop-2 healthy and passing in every agent";

  // 2. The provider hangs with its port open.
  const absl::Time paused_at = absl::Now();
  ASSERT_TRUE(shop1->process->Pause().ok());
  EXPECT_TRUE(WaitFor(
      [&] {
        auto r = dc1_h1->Call("GET", "/v1/services/shop/instances/shop-1");
        return r.ok() && absl::StrContains(r->body,
                                           "\"check_status\":\"critical\"");
      },
      kPatience));
  ASSERT_TRUE(WaitAllAgents(agents, "shop",
                            HasChecked("shop-1", "suspect", "critical"),
                            kPatience));
  LOG(INFO) << "shop-1 suspect (critical) in every agent "
            << absl::Now() - paused_at << " after SIGSTOP";
  {
    auto table = testing::CachedRouteTable(*agents.front(), "shop");
    ASSERT_TRUE(table.ok());
    const std::string& output = FindInstance(*table, "shop-1")->check_output;
    EXPECT_TRUE(absl::StrContains(output, "timed out after 500ms")) << output;
  }
  EXPECT_TRUE(WaitAllAgents(agents, "shop",
                            HasChecked("shop-2", "healthy", "passing"),
                            absl::ZeroDuration()));
  // Still suspect a while later: the agent keeps heartbeating it, so it is
  // neither removed nor healthy.
  absl::SleepFor(absl::Seconds(4));
  EXPECT_TRUE(WaitAllAgents(agents, "shop",
                            HasChecked("shop-1", "suspect", "critical"),
                            absl::ZeroDuration()));

  // 3. It answers again.
  ASSERT_TRUE(shop1->process->Resume().ok());
  ASSERT_TRUE(WaitAllAgents(agents, "shop",
                            HasChecked("shop-1", "healthy", "passing"),
                            kPatience));
  LOG(INFO) << "shop-1 healthy again everywhere after SIGCONT";

  // 4. Deregistered through the agent (the owner must match).
  auto wrong = dc1_h1->Call("DELETE", "/v1/services/shop/instances/shop-1");
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ(wrong->status, 409) << wrong->body;
  auto del =
      dc1_h1->Call("DELETE", "/v1/services/shop/instances/shop-1?owner=e2e");
  ASSERT_TRUE(del.ok() && del->status == 200)
      << (del.ok() ? del->body : del.status().ToString());
  ASSERT_TRUE(WaitAllAgents(agents, "shop", LacksInstance("shop-1"), kPatience));
  EXPECT_TRUE(WaitAllAgents(agents, "shop",
                            HasChecked("shop-2", "healthy", "passing"),
                            absl::ZeroDuration()));
  LOG(INFO) << "shop-1 gone from every agent after DELETE";
}

}  // namespace
}  // namespace kess
