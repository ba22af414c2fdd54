// The DNS interface on a real Agent, in-process, against a FakeDistributor
// on loopback: a query subscribes the agent to the service and is answered
// when the first table arrives; pushes, deletions and services that never
// existed reach DNS; a restarted agent answers from its file cache with no
// distributor; the subscription limit; a distributor that is down.
#include "agent/dns/agent_dns.h"

#include <stdlib.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/agent.h"
#include "agent/dns/testing/dns_client.h"
#include "agent/testing/fake_distributor.h"
#include "common/metrics.h"
#include "common/testing/wait_for.h"
#include "common/transport/testing/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "model/file_cache/format.h"
#include "model/route_table.h"
#include "third_party/ldns_cxx.h"

namespace kess {
namespace agent {
namespace dns {
namespace {

using ::kess::testing::WaitFor;
using ::testing::ElementsAre;
using file_cache::CacheKey;
using testing::BuildQuery;
using testing::DecodedReply;
using testing::DecodeReply;
using testing::UdpExchange;
using agent::testing::FakeDistributor;
using transport::testing::CounterValue;

constexpr absl::Duration kLong = absl::Seconds(30);  // "did not hang"

std::string TempDir() {
  std::string base = getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp";
  std::string tmpl = base + "/agentdnsXXXXXX";
  EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
  return tmpl;
}

std::string TableJson(const std::string& service,
                      const std::vector<std::string>& addresses) {
  RouteTable t;
  t.service = service;
  t.revision = 1;
  for (size_t i = 0; i < addresses.size(); ++i) {
    RouteInstance in;
    in.id = absl::StrCat(service, "-", i);
    in.host = "h" + std::to_string(i);
    in.address = addresses[i];
    in.datacenter = "dc1";
    t.instances.push_back(in);
  }
  return RouteTableToJson(t);
}

class AgentDnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempDir();
    auto d = FakeDistributor::Start({});
    ASSERT_TRUE(d.ok()) << d.status();
    dist_ = std::move(d).value();
  }
  void TearDown() override { StopAgent(); }

  AgentDnsOptions DnsOptions() {
    AgentDnsOptions o;
    o.enabled = true;
    o.server.port = 0;
    o.server.responder.datacenter = "dc1";
    o.server.table_wait = absl::Seconds(2);
    o.server.registry = &registry_;
    o.feed.cache_dir = dir_;
    o.feed.subscribe_wait = absl::Seconds(2);
    o.feed.registry = &registry_;
    return o;
  }

  void StartAgent(const std::string& distributor,
                  AgentDnsOptions dns_options) {
    dns_ = std::make_unique<AgentDns>(std::move(dns_options));
    AgentOptions o;
    o.host_id = "host-1";
    o.datacenter = "dc1";
    o.distributors = {distributor};
    o.cache_dir = dir_;
    o.pull_interval = absl::Seconds(60);
    o.heartbeat_interval = absl::Milliseconds(100);
    o.heartbeat_timeout = absl::Seconds(1);
    o.connect_timeout = absl::Seconds(1);
    o.call_timeout = absl::Seconds(1);
    o.reconnect_initial = absl::Milliseconds(20);
    o.reconnect_max = absl::Milliseconds(200);
    o.registry = &registry_;
    o.on_accepted = dns_->OnAccepted();
    auto a = Agent::Create(std::move(o));
    ASSERT_TRUE(a.ok()) << a.status();
    agent_ = std::move(a).value();
    Agent* agent = agent_.get();
    ASSERT_TRUE(dns_
                    ->Start([agent](const std::vector<CacheKey>& keys,
                                    absl::Duration wait) {
                      return agent->Subscribe(keys, wait);
                    })
                    .ok());
    ASSERT_GT(dns_->port(), 0);
  }

  void StopAgent() {
    if (dns_ != nullptr) dns_->Stop();
    agent_.reset();
    dns_.reset();
  }

  DecodedReply Ask(const std::string& name, uint16_t type = LDNS_RR_TYPE_A) {
    auto wire = UdpExchange(dns_->port(),
                            BuildQuery({.name = name, .type = type}), kLong);
    EXPECT_TRUE(wire.ok()) << wire.status();
    return wire.ok() ? DecodeReply(*wire) : DecodedReply{};
  }

  bool Subscribed(const std::string& service) {
    for (const KeyState& k : agent_->Keys()) {
      if (k.key == CacheKey::Route(service)) return true;
    }
    return false;
  }

  std::string dir_;
  metrics::Registry registry_;
  std::unique_ptr<FakeDistributor> dist_;
  std::unique_ptr<AgentDns> dns_;
  std::unique_ptr<Agent> agent_;
};

TEST_F(AgentDnsTest, FirstQuerySubscribesAndWaitsForTheTable) {
  dist_->Set(CacheKey::Route("payments"),
             TableJson("payments", {"10.0.0.1:8080"}));
  StartAgent(dist_->address(), DnsOptions());
  EXPECT_FALSE(Subscribed("payments"));
  DecodedReply r = Ask("payments.service.kess");
  EXPECT_EQ(r.rcode, 0);
  EXPECT_THAT(r.Answers("A"), ElementsAre("10.0.0.1"));
  EXPECT_TRUE(Subscribed("payments"));  // persisted like an HTTP subscription
  EXPECT_EQ(CounterValue(registry_, "kess_agent_dns_waits_total",
                         {{"result", "answered"}}),
            1);

  // A push reaches DNS.
  dist_->Set(CacheKey::Route("payments"),
             TableJson("payments", {"10.0.0.2:8080", "10.0.0.3:8080"}));
  ASSERT_TRUE(WaitFor(
      [&] { return Ask("payments.service.kess").Answers("A").size() == 2; },
      kLong));
  // A deletion: NXDOMAIN.
  dist_->Delete(CacheKey::Route("payments"));
  ASSERT_TRUE(
      WaitFor([&] { return Ask("payments.service.kess").rcode == 3; }, kLong));
  // Created again.
  dist_->Set(CacheKey::Route("payments"),
             TableJson("payments", {"10.0.0.4:8080"}));
  ASSERT_TRUE(WaitFor(
      [&] {
        return Ask("payments.service.kess").Answers("A") ==
               std::vector<std::string>{"10.0.0.4"};
      },
      kLong));
}

TEST_F(AgentDnsTest, ServiceThatNeverExistedIsNxdomain) {
  StartAgent(dist_->address(), DnsOptions());
  const auto start = std::chrono::steady_clock::now();
  DecodedReply r = Ask("ghost.service.kess");
  EXPECT_EQ(r.rcode, 3);
  // Answered when the distributor said so, not at the wait's end.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_EQ(Ask("ghost.service.kess", LDNS_RR_TYPE_SRV).rcode, 3);
  // Subscribed all the same: if it appears, DNS learns of it.
  dist_->Set(CacheKey::Route("ghost"), TableJson("ghost", {"10.0.0.5:80"}));
  ASSERT_TRUE(WaitFor(
      [&] { return Ask("ghost.service.kess").Answers("A").size() == 1; },
      kLong));
}

TEST_F(AgentDnsTest, RestartedAgentAnswersFromItsCacheWithoutDistributor) {
  dist_->Set(CacheKey::Route("orders"), TableJson("orders", {"10.0.1.1:80"}));
  StartAgent(dist_->address(), DnsOptions());
  EXPECT_THAT(Ask("orders.service.kess").Answers("A"),
              ElementsAre("10.0.1.1"));
  StopAgent();
  dist_.reset();
  // No distributor at all now.
  StartAgent(absl::StrCat("127.0.0.1:", transport::testing::UnusedPort()),
             DnsOptions());
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitFor(
      [&] { return Ask("orders.service.kess").Answers("A").size() == 1; },
      kLong));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST_F(AgentDnsTest, DistributorDownIsServfailAfterTheWait) {
  AgentDnsOptions o = DnsOptions();
  o.server.table_wait = absl::Milliseconds(300);
  o.feed.subscribe_wait = absl::Milliseconds(300);
  transport::testing::SilentServer silent;
  ASSERT_TRUE(silent.ok());
  StartAgent(silent.address(), o);
  const auto start = std::chrono::steady_clock::now();
  DecodedReply r = Ask("payments.service.kess");
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.rcode, 2);
  EXPECT_GE(waited, std::chrono::milliseconds(250));
  EXPECT_LT(waited, std::chrono::seconds(10));
  // Asked again next time (and again SERVFAIL, bounded).
  EXPECT_EQ(Ask("payments.service.kess").rcode, 2);
}

TEST_F(AgentDnsTest, SubscriptionLimit) {
  dist_->Set(CacheKey::Route("a"), TableJson("a", {"10.0.2.1:80"}));
  dist_->Set(CacheKey::Route("b"), TableJson("b", {"10.0.2.2:80"}));
  AgentDnsOptions o = DnsOptions();
  o.feed.max_subscriptions = 1;
  StartAgent(dist_->address(), o);
  EXPECT_THAT(Ask("a.service.kess").Answers("A"), ElementsAre("10.0.2.1"));
  DecodedReply r = Ask("b.service.kess");
  EXPECT_EQ(r.rcode, 2);
  EXPECT_FALSE(Subscribed("b"));
  EXPECT_EQ(CounterValue(registry_, "kess_agent_dns_subscriptions_total",
                         {{"result", "over_limit"}}),
            1);
  // Services subscribed otherwise (HTTP API, SDK) are served all the same.
  ASSERT_TRUE(agent_->Subscribe({CacheKey::Route("b")}, kLong).ok());
  ASSERT_TRUE(WaitFor(
      [&] { return Ask("b.service.kess").Answers("A").size() == 1; }, kLong));
}

TEST_F(AgentDnsTest, UnparsableTableKeepsTheLastGoodOne) {
  dist_->Set(CacheKey::Route("c"), TableJson("c", {"10.0.3.1:80"}));
  StartAgent(dist_->address(), DnsOptions());
  EXPECT_THAT(Ask("c.service.kess").Answers("A"), ElementsAre("10.0.3.1"));
  dist_->Set(CacheKey::Route("c"), "{not json");
  ASSERT_TRUE(WaitFor(
      [&] {
        return CounterValue(registry_, "kess_agent_dns_bad_tables_total", {}) ==
               1;
      },
      kLong));
  EXPECT_THAT(Ask("c.service.kess").Answers("A"), ElementsAre("10.0.3.1"));
}

TEST(AgentDnsDisabledTest, NothingStarts) {
  AgentDns dns(AgentDnsOptions{});
  EXPECT_FALSE(dns.enabled());
  EXPECT_EQ(dns.OnAccepted(), nullptr);
  EXPECT_TRUE(dns.Start(nullptr).ok());
  EXPECT_EQ(dns.port(), 0);
}

}  // namespace
}  // namespace dns
}  // namespace agent
}  // namespace kess
