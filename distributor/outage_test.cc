// ZooKeeper goes away under a serving distributor: replies say stale, the
// data is still served, nothing shrinks; when ZooKeeper is back the
// distributor converges. (Its own binary: it stops the suite's server.)
#include <memory>

#include "common/testing/wait_for.h"
#include "distributor/testing/test_fixture.h"
#include "gtest/gtest.h"

namespace kess {
namespace distributor {
namespace testing {
namespace {

using ::kess::testing::WaitFor;

class OutageTest : public DistributorFixture {};

TEST_F(OutageTest, ZooKeeperDownMeansStaleButServingThenConverges) {
  for (int i = 0; i < 5; ++i) Put("ns", absl::StrCat("k", i), "v");
  std::unique_ptr<Distributor> d = Start(Options());
  TestAgent* agent = Agent(*d);
  ASSERT_TRUE(agent->Subscribe({ConfigKey("ns", "k0")}).ok());
  metrics::Registry* registry = d->metrics().registry;

  ASSERT_TRUE(zk()->StopServer(0).ok());
  ASSERT_TRUE(WaitFor([&] { return d->stale(); }, kWait));
  EXPECT_EQ(Gauge(registry, "kess_distributor_stale"), 1);
  // Still served, flagged stale: a pull, and a new agent's subscribe.
  absl::StatusOr<protocol::SubscribeResponse> pull = agent->Pull();
  ASSERT_TRUE(pull.ok()) << pull.status();
  EXPECT_TRUE(pull->stale());
  TestAgent* late = Agent(*d, "", "host-late");
  absl::StatusOr<protocol::SubscribeResponse> reply =
      late->Subscribe({ConfigKey("ns", "k1"), ConfigKey("ns", "k4")});
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_TRUE(reply->stale());
  ASSERT_EQ(reply->updates_size(), 2);
  EXPECT_EQ(reply->updates(0).value(), "v");
  // Nothing shrinks while the follower keeps failing.
  absl::SleepFor(absl::Seconds(2));
  EXPECT_EQ(d->live_keys(), 5u);
  EXPECT_TRUE(d->loaded());
  EXPECT_GT(Counter(registry, "kess_distributor_zk_errors_total"), 0);
  EXPECT_EQ(Counter(registry, "kess_distributor_refused_shrink_total"), 0);
  const std::string status = d->StatusJson();
  EXPECT_NE(status.find("\"stale\":true"), std::string::npos) << status;
  absl::StatusOr<std::string> health = d->Health();
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(health->rfind("ok stale", 0), 0u) << *health;

  ASSERT_TRUE(zk()->StartServer(0).ok());
  ASSERT_TRUE(WaitFor([&] { return !d->stale(); }, absl::Seconds(60)));
  // The writer's session may have expired meanwhile; it re-creates it.
  int64_t put = -1;
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::StatusOr<int64_t> r = leader_->PutConfig("ns", "k0", "after");
        if (r.ok()) put = *r;
        return r.ok();
      },
      absl::Seconds(60)));
  ASSERT_TRUE(WaitFor(
      [&] { return agent->RevisionOf(ConfigKey("ns", "k0")) == put; }, kWait));
  EXPECT_EQ(agent->Get(ConfigKey("ns", "k0"))->value(), "after");
  EXPECT_FALSE(agent->last_push_stale());
  EXPECT_EQ(d->live_keys(), 5u);
  EXPECT_EQ(Gauge(registry, "kess_distributor_stale"), 0);
  EXPECT_EQ(Gauge(registry, "kess_distributor_lag_revisions"), 0);
}

}  // namespace
}  // namespace testing
}  // namespace distributor
}  // namespace kess
