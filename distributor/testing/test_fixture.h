// The fixture of the distributor's real-ZooKeeper tests. One
// standalone ZooKeeper per test binary (ZkTestBase); each test gets a fresh
// kess tree under /<test name>/kess, a writer that commits configs and route
// tables as the main DC's leader does (zk_schema's TestLeader), an EventLoop
// for TestAgents, and distributors with their own metrics registries and short
// intervals.
#pragma once

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/metrics.h"
#include "common/testing/wait_for.h"
#include "common/transport/event_loop.h"
#include "distributor/distributor.h"
#include "distributor/testing/test_agent.h"
#include "gtest/gtest.h"
#include "model/route_table.h"
#include "tests/harness/zk_test_base.h"
#include "zk_schema/testing/real_zk.h"
#include "zk_schema/testing/test_leader.h"
#include "zk_schema/zk_client.h"

namespace kess {
namespace distributor {
namespace testing {

// Generous bounds: they only mean "did not hang".
inline constexpr absl::Duration kWait = absl::Seconds(30);

class DistributorFixture : public kess::testing::ZkTestBase {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<zk::ZkClient>> client = zk::ZkClient::Create(
        zk::testing::TestClientOptions(zk()->ConnectString()));
    ASSERT_TRUE(client.ok()) << client.status();
    writer_ = *std::move(client);
    absl::StatusOr<zk::Layout> layout = zk::testing::CreateTestTree(
        *writer_,
        ::testing::UnitTest::GetInstance()->current_test_info()->name(),
        zk::SchemaInfo(), /*changelog_retention=*/100);
    ASSERT_TRUE(layout.ok()) << layout.status();
    layout_ = std::make_unique<zk::Layout>(*layout);
    leader_ =
        std::make_unique<zk::testing::TestLeader>(writer_.get(), *layout_);
    absl::StatusOr<std::unique_ptr<transport::EventLoop>> loop =
        transport::EventLoop::Create("test-agents");
    ASSERT_TRUE(loop.ok()) << loop.status();
    loop_ = *std::move(loop);
  }

  void TearDown() override {
    agents_.clear();
    loop_.reset();
  }

  DistributorOptions Options(const std::string& id = "d1") {
    DistributorOptions options;
    options.id = id;
    options.datacenter = "dc1";
    options.zk_connect = zk()->ConnectString();
    options.zk_root = layout_->root();
    options.zk_session_timeout = absl::Seconds(4);
    options.http_port = 0;
    options.follower.poll_interval = absl::Milliseconds(200);
    options.follower.retry_interval = absl::Milliseconds(50);
    options.registry = NewRegistry();
    return options;
  }

  metrics::Registry* NewRegistry() {
    registries_.push_back(std::make_unique<metrics::Registry>());
    return registries_.back().get();
  }

  // Starts a distributor and waits for its first load.
  std::unique_ptr<Distributor> Start(DistributorOptions options) {
    absl::StatusOr<std::unique_ptr<Distributor>> d =
        Distributor::Create(std::move(options));
    EXPECT_TRUE(d.ok()) << d.status();
    if (!d.ok()) return nullptr;
    EXPECT_TRUE(
        ::kess::testing::WaitFor([&] { return (*d)->loaded(); }, kWait));
    return *std::move(d);
  }

  // A connected agent (owned by the fixture).
  TestAgent* Agent(const Distributor& d, const std::string& token = "",
                   const std::string& host = "host-1") {
    TestAgent::Options options;
    options.port = d.port();
    options.auth_token = token;
    options.host_id = host;
    options.registry = agent_registry_.get();
    absl::StatusOr<std::unique_ptr<TestAgent>> agent =
        TestAgent::Connect(loop_.get(), options);
    EXPECT_TRUE(agent.ok()) << agent.status();
    if (!agent.ok()) return nullptr;
    agents_.push_back(*std::move(agent));
    return agents_.back().get();
  }

  // Commits a config put / delete like the leader; returns the revision
  // (or -1, failing the test).
  int64_t Put(const std::string& ns, const std::string& key,
              const std::string& value) {
    absl::StatusOr<int64_t> revision = leader_->PutConfig(ns, key, value);
    EXPECT_TRUE(revision.ok()) << revision.status();
    return revision.ok() ? *revision : -1;
  }
  int64_t Delete(const std::string& ns, const std::string& key) {
    absl::StatusOr<int64_t> revision = leader_->DeleteConfig(ns, key);
    EXPECT_TRUE(revision.ok()) << revision.status();
    return revision.ok() ? *revision : -1;
  }

  // The current revision in ZooKeeper.
  int64_t ZkRevision() {
    absl::StatusOr<std::pair<zk::RevisionSummary, int>> summary =
        zk::ReadRevision(*writer_, *layout_);
    return summary.ok() ? summary->first.revision() : -1;
  }

  std::unique_ptr<zk::ZkClient> writer_;
  std::unique_ptr<zk::Layout> layout_;
  std::unique_ptr<zk::testing::TestLeader> leader_;
  std::unique_ptr<metrics::Registry> agent_registry_ =
      std::make_unique<metrics::Registry>();
  std::vector<std::unique_ptr<metrics::Registry>> registries_;
  std::unique_ptr<transport::EventLoop> loop_;
  std::vector<std::unique_ptr<TestAgent>> agents_;
};

inline double Counter(metrics::Registry* registry, const std::string& name,
                      const metrics::Labels& labels = {}) {
  return registry->GetCounter(name, "", labels)->Value();
}
inline double Gauge(metrics::Registry* registry, const std::string& name) {
  return registry->GetGauge(name, "")->Value();
}

// A valid route-table instance at `address` (for TestLeader::PutRoute).
inline RouteInstance TestInstance(const std::string& address) {
  RouteInstance instance;
  instance.id = "i1";
  instance.host = "host-1";
  instance.address = address;
  instance.datacenter = "dc1";
  return instance;
}

// The value of `item` as an agent would get it.
inline protocol::Resource Decode(const ItemPtr& item) {
  protocol::Resource r;
  if (item != nullptr) r.ParseFromString(item->wire);
  return r;
}

}  // namespace testing
}  // namespace distributor
}  // namespace kess
