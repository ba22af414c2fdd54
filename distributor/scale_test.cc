// 1,000 simulated agents (separate transport connections on one EventLoop in
// this process) on 2 distributors all receive a change.
#include <atomic>
#include <memory>
#include <vector>

#include "common/testing/wait_for.h"
#include "distributor/testing/test_fixture.h"
#include "gtest/gtest.h"

namespace kess {
namespace distributor {
namespace testing {
namespace {

using ::kess::testing::WaitFor;

constexpr int kAgents = 1000;

class ScaleTest : public DistributorFixture {};

TEST_F(ScaleTest, ThousandAgentsOnTwoDistributorsAllReceiveAChange) {
  Put("ns", "shared", "v0");
  for (int i = 0; i < 10; ++i) Put("ns", absl::StrCat("own", i), "x");
  // Every simulated agent is 127.0.0.1: no per-address cap here.
  DistributorOptions o1 = Options("d1");
  DistributorOptions o2 = Options("d2");
  o1.max_connections_per_peer = 0;
  o2.max_connections_per_peer = 0;
  std::unique_ptr<Distributor> d1 = Start(o1);
  std::unique_ptr<Distributor> d2 = Start(o2);

  std::vector<std::unique_ptr<TestAgent>> agents;
  for (int i = 0; i < kAgents; ++i) {
    TestAgent::Options options;
    options.port = (i % 2 == 0 ? d1 : d2)->port();
    options.host_id = absl::StrCat("host-", i);
    options.registry = agent_registry_.get();
    absl::StatusOr<std::unique_ptr<TestAgent>> agent =
        TestAgent::Start(loop_.get(), options);
    ASSERT_TRUE(agent.ok()) << agent.status();
    agents.push_back(*std::move(agent));
  }
  ASSERT_TRUE(WaitFor(
      [&] {
        return d1->connected_agents() + d2->connected_agents() == kAgents;
      },
      kWait));
  std::atomic<int> subscribed{0};
  std::atomic<int> failed{0};
  for (int i = 0; i < kAgents; ++i) {
    agents[i]->SubscribeAsync(
        {ConfigKey("ns", "shared"),
         ConfigKey("ns", absl::StrCat("own", i % 10))},
        [&](absl::Status status) { (status.ok() ? subscribed : failed)++; });
  }
  ASSERT_TRUE(WaitFor([&] { return subscribed + failed == kAgents; }, kWait));
  ASSERT_EQ(failed.load(), 0);
  EXPECT_EQ(d1->hub().subscribers("c/ns/shared") +
                d2->hub().subscribers("c/ns/shared"),
            static_cast<size_t>(kAgents));

  const int64_t change = Put("ns", "shared", "v1");
  auto received = [&] {
    int n = 0;
    for (const auto& agent : agents) {
      n += agent->RevisionOf(ConfigKey("ns", "shared")) == change;
    }
    return n;
  };
  ASSERT_TRUE(WaitFor([&] { return received() == kAgents; }, kWait))
      << received() << " of " << kAgents << " agents got the change";
  for (const auto& agent : agents) {
    EXPECT_EQ(agent->Get(ConfigKey("ns", "shared"))->value(), "v1");
    EXPECT_EQ(agent->pushes(), 1);  // the "own" keys did not change
  }
  EXPECT_EQ(Counter(d1->metrics().registry,
                    "kess_distributor_pushed_resources_total"),
            kAgents / 2);
  agents.clear();
}

}  // namespace
}  // namespace testing
}  // namespace distributor
}  // namespace kess
