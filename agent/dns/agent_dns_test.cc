// The DNS interface on a real Agent, in-process, against a FakeDistributor
// on loopback: a query subscribes the agent to the service and is answered
// when the first table arrives; pushes, deletions and services that never
// existed reach DNS (and are unsubscribed again); a restarted agent answers
// from its file cache with no distributor, but not for services no longer
// subscribed; the subscription limit, also across a restart; the owner
// "dns"; unused DNS subscriptions expire; an application's unsubscription
// drops the table; upper-case service names; a distributor that is down.
#include "agent/dns/agent_dns.h"

#include <stdlib.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/agent.h"
#include "agent/subscription_set.h"
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
    // Long waits: a loaded machine must not turn an answer into SERVFAIL.
    o.server.table_wait = absl::Seconds(10);
    o.server.registry = &registry_;
    o.feed.cache_dir = dir_;
    o.feed.subscribe_wait = absl::Seconds(10);
    o.feed.sweep_interval = absl::Milliseconds(100);
    o.feed.absent_hold = absl::Milliseconds(300);
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
    o.on_unsubscribed = dns_->OnUnsubscribed();
    auto a = Agent::Create(std::move(o));
    ASSERT_TRUE(a.ok()) << a.status();
    agent_ = std::move(a).value();
    ASSERT_TRUE(dns_->Start(LinkToAgent(agent_.get())).ok());
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

  // Held by the DNS interface's owner.
  bool Subscribed(const std::string& service) {
    return agent_->OwnersOfKey(CacheKey::Route(service)) ==
           std::vector<std::string>{kDnsOwner};
  }

  // An application's subscription (owner "app").
  void AppSubscribes(const std::string& service) {
    Subscription what;
    what.keys.insert(CacheKey::Route(service));
    ASSERT_TRUE(agent_->Subscribe("app", what, kLong).ok());
  }
  void AppUnsubscribes(const std::string& service) {
    Subscription what;
    what.keys.insert(CacheKey::Route(service));
    ASSERT_TRUE(agent_->Unsubscribe("app", what).ok());
  }

  double Metric(const std::string& name, const metrics::Labels& labels) {
    return CounterValue(registry_, name, labels);
  }

  std::string dir_;
  metrics::Registry registry_;
  std::unique_ptr<FakeDistributor> dist_;
  std::unique_ptr<AgentDns> dns_;
  std::unique_ptr<Agent> agent_;
};

TEST_F(AgentDnsTest, FirstQuerySubscribesAndWaitsForTheTable) {
  dist_->Set(CacheKey::Route("payments"),
             TableJson("payments", {"127.0.0.1:8080"}));
  StartAgent(dist_->address(), DnsOptions());
  EXPECT_FALSE(Subscribed("payments"));
  DecodedReply r = Ask("payments.service.kess");
  EXPECT_EQ(r.rcode, 0);
  EXPECT_THAT(r.Answers("A"), ElementsAre("127.0.0.1"));
  EXPECT_TRUE(Subscribed("payments"));  // persisted like an HTTP subscription
  EXPECT_EQ(CounterValue(registry_, "kess_agent_dns_waits_total",
                         {{"result", "answered"}}),
            1);

  // A push reaches DNS.
  dist_->Set(CacheKey::Route("payments"),
             TableJson("payments", {"127.0.0.2:8080", "127.0.0.3:8080"}));
  ASSERT_TRUE(WaitFor(
      [&] { return Ask("payments.service.kess").Answers("A").size() == 2; },
      kLong));
  // A deletion: NXDOMAIN.
  dist_->Delete(CacheKey::Route("payments"));
  ASSERT_TRUE(
      WaitFor([&] { return Ask("payments.service.kess").rcode == 3; }, kLong));
  // Created again.
  dist_->Set(CacheKey::Route("payments"),
             TableJson("payments", {"127.0.0.4:8080"}));
  ASSERT_TRUE(WaitFor(
      [&] {
        return Ask("payments.service.kess").Answers("A") ==
               std::vector<std::string>{"127.0.0.4"};
      },
      kLong));
}

TEST_F(AgentDnsTest, ServiceThatNeverExistedIsNxdomainAndNotKept) {
  StartAgent(dist_->address(), DnsOptions());
  const auto start = std::chrono::steady_clock::now();
  DecodedReply r = Ask("ghost.service.kess");
  EXPECT_EQ(r.rcode, 3);
  // Answered when the distributor said so, not at the wait's end (10 s).
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(9));
  // Unsubscribed again: a junk name is not persisted.
  ASSERT_TRUE(WaitFor(
      [&] {
        return agent_->OwnersOfKey(CacheKey::Route("ghost")).empty() &&
               Metric("kess_agent_dns_unsubscriptions_total",
                      {{"reason", "never_existed"}}) == 1;
      },
      kLong));
  // Its NXDOMAIN is kept a while (absent_hold), then it is asked for
  // again: if it appeared meanwhile, DNS learns of it.
  dist_->Set(CacheKey::Route("ghost"), TableJson("ghost", {"127.0.0.5:80"}));
  ASSERT_TRUE(WaitFor(
      [&] { return Ask("ghost.service.kess").Answers("A").size() == 1; },
      kLong));
  // Counted once the subscription call returned (the answer may be sent
  // before).
  ASSERT_TRUE(WaitFor(
      [&] {
        return Subscribed("ghost") &&
               Metric("kess_agent_dns_subscriptions_total",
                      {{"result", "subscribed"}}) == 2;
      },
      kLong));
}

TEST_F(AgentDnsTest, DnsSubscriptionsHaveTheirOwnOwnerAndCountAcrossRestarts) {
  dist_->Set(CacheKey::Route("a"), TableJson("a", {"127.0.2.1:80"}));
  dist_->Set(CacheKey::Route("b"), TableJson("b", {"127.0.2.2:80"}));
  AgentDnsOptions o = DnsOptions();
  o.feed.max_subscriptions = 1;
  StartAgent(dist_->address(), o);
  EXPECT_THAT(Ask("a.service.kess").Answers("A"), ElementsAre("127.0.2.1"));
  EXPECT_TRUE(Subscribed("a"));
  // An application's DELETE of the same service leaves DNS's.
  AppSubscribes("a");
  AppUnsubscribes("a");
  EXPECT_TRUE(Subscribed("a"));
  EXPECT_THAT(Ask("a.service.kess").Answers("A"), ElementsAre("127.0.2.1"));

  // After a restart the persisted subscription counts against the limit.
  StopAgent();
  StartAgent(dist_->address(), o);
  EXPECT_TRUE(Subscribed("a"));
  EXPECT_EQ(Ask("b.service.kess").rcode, 2);
  EXPECT_FALSE(Subscribed("b"));
  EXPECT_EQ(Metric("kess_agent_dns_subscriptions_total",
                   {{"result", "over_limit"}}),
            1);
}

TEST_F(AgentDnsTest, UnusedDnsSubscriptionsExpire) {
  dist_->Set(CacheKey::Route("a"), TableJson("a", {"127.0.2.1:80"}));
  dist_->Set(CacheKey::Route("b"), TableJson("b", {"127.0.2.2:80"}));
  AgentDnsOptions o = DnsOptions();
  o.feed.idle_expiry = absl::Seconds(2);
  StartAgent(dist_->address(), o);
  EXPECT_THAT(Ask("a.service.kess").Answers("A"), ElementsAre("127.0.2.1"));
  EXPECT_THAT(Ask("b.service.kess").Answers("A"), ElementsAre("127.0.2.2"));
  // "a" is asked for (from the answer cache too) for 4 s; "b" is not.
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 200 && std::chrono::steady_clock::now() - start <
                                 std::chrono::seconds(4);
       ++i) {
    EXPECT_EQ(Ask("a.service.kess").Answers("A").size(), 1u);
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_TRUE(Subscribed("a"));
  EXPECT_FALSE(Subscribed("b"));
  EXPECT_GE(Metric("kess_agent_dns_unsubscriptions_total",
                   {{"reason", "unused"}}),
            1);
  // Its table is gone from DNS too: the next query subscribes again and
  // gets what the distributor has now.
  dist_->Set(CacheKey::Route("b"), TableJson("b", {"127.0.2.3:80"}));
  EXPECT_THAT(Ask("b.service.kess").Answers("A"), ElementsAre("127.0.2.3"));
  EXPECT_TRUE(Subscribed("b"));
}

TEST_F(AgentDnsTest, UnsubscribedServicesAreNotServedStale) {
  dist_->Set(CacheKey::Route("orders"), TableJson("orders", {"127.0.1.1:80"}));
  StartAgent(dist_->address(), DnsOptions());
  AppSubscribes("orders");
  EXPECT_THAT(Ask("orders.service.kess").Answers("A"),
              ElementsAre("127.0.1.1"));
  EXPECT_FALSE(Subscribed("orders"));  // held by the application
  // The application goes: DNS drops the table, and its next query
  // subscribes (owner dns) and gets the current one.
  AppUnsubscribes("orders");
  dist_->Set(CacheKey::Route("orders"), TableJson("orders", {"127.0.1.2:80"}));
  ASSERT_TRUE(WaitFor(
      [&] {
        return Ask("orders.service.kess").Answers("A") ==
               std::vector<std::string>{"127.0.1.2"};
      },
      kLong));
  EXPECT_TRUE(Subscribed("orders"));

  // After a restart, the file of a service nobody subscribes to any more
  // (it stays on disk, no longer updated) is not served: a query
  // subscribes and gets the distributor's current table.
  dist_->Set(CacheKey::Route("stale"), TableJson("stale", {"127.0.1.3:80"}));
  AppSubscribes("stale");  // waits until its file is written
  AppUnsubscribes("stale");
  StopAgent();
  dist_->Set(CacheKey::Route("stale"), TableJson("stale", {"127.0.1.4:80"}));
  StartAgent(dist_->address(), DnsOptions());
  EXPECT_THAT(Ask("orders.service.kess").Answers("A"),
              ElementsAre("127.0.1.2"));
  EXPECT_THAT(Ask("stale.service.kess").Answers("A"), ElementsAre("127.0.1.4"));
  EXPECT_TRUE(Subscribed("stale"));
}

TEST_F(AgentDnsTest, UpperCaseServiceNamesAreFoundWhenKnown) {
  dist_->Set(CacheKey::Route("Payments"),
             TableJson("Payments", {"127.0.4.1:80"}));
  StartAgent(dist_->address(), DnsOptions());
  // Known from an application's subscription (its file stays after).
  AppSubscribes("Payments");
  AppUnsubscribes("Payments");
  // DNS asks in lower case; the agent subscribes the name it knows (once
  // the unsubscription reached DNS, which drops the table meanwhile).
  ASSERT_TRUE(WaitFor(
      [&] {
        return Ask("payments.service.kess").Answers("A") ==
                   std::vector<std::string>{"127.0.4.1"} &&
               Subscribed("Payments");
      },
      kLong));
  EXPECT_FALSE(Subscribed("payments"));
  // A name the agent never heard of is asked as written: NXDOMAIN.
  dist_->Set(CacheKey::Route("Unknown"), TableJson("Unknown", {"127.0.4.2:80"}));
  EXPECT_EQ(Ask("unknown.service.kess").rcode, 3);
}

TEST_F(AgentDnsTest, RestartedAgentAnswersFromItsCacheWithoutDistributor) {
  dist_->Set(CacheKey::Route("orders"), TableJson("orders", {"127.0.1.1:80"}));
  StartAgent(dist_->address(), DnsOptions());
  EXPECT_THAT(Ask("orders.service.kess").Answers("A"),
              ElementsAre("127.0.1.1"));
  StopAgent();
  dist_.reset();
  // No distributor at all now.
  StartAgent(absl::StrCat("127.0.0.1:", transport::testing::UnusedPort()),
             DnsOptions());
  // From the cache: at once, not after a wait (10 s, then SERVFAIL).
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THAT(Ask("orders.service.kess").Answers("A"),
              ElementsAre("127.0.1.1"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(9));
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
  dist_->Set(CacheKey::Route("a"), TableJson("a", {"127.0.2.1:80"}));
  dist_->Set(CacheKey::Route("b"), TableJson("b", {"127.0.2.2:80"}));
  AgentDnsOptions o = DnsOptions();
  o.feed.max_subscriptions = 1;
  StartAgent(dist_->address(), o);
  EXPECT_THAT(Ask("a.service.kess").Answers("A"), ElementsAre("127.0.2.1"));
  DecodedReply r = Ask("b.service.kess");
  EXPECT_EQ(r.rcode, 2);
  EXPECT_FALSE(Subscribed("b"));
  EXPECT_EQ(CounterValue(registry_, "kess_agent_dns_subscriptions_total",
                         {{"result", "over_limit"}}),
            1);
  // Services subscribed otherwise (HTTP API, SDK) are served all the same.
  AppSubscribes("b");
  ASSERT_TRUE(WaitFor(
      [&] { return Ask("b.service.kess").Answers("A").size() == 1; }, kLong));
}

TEST_F(AgentDnsTest, UnparsableTableKeepsTheLastGoodOne) {
  dist_->Set(CacheKey::Route("c"), TableJson("c", {"127.0.3.1:80"}));
  StartAgent(dist_->address(), DnsOptions());
  EXPECT_THAT(Ask("c.service.kess").Answers("A"), ElementsAre("127.0.3.1"));
  dist_->Set(CacheKey::Route("c"), "{not json");
  ASSERT_TRUE(WaitFor(
      [&] {
        return CounterValue(registry_, "kess_agent_dns_bad_tables_total", {}) ==
               1;
      },
      kLong));
  EXPECT_THAT(Ask("c.service.kess").Answers("A"), ElementsAre("127.0.3.1"));
}

TEST(AgentDnsDisabledTest, NothingStarts) {
  AgentDns dns(AgentDnsOptions{});
  EXPECT_FALSE(dns.enabled());
  EXPECT_EQ(dns.OnAccepted(), nullptr);
  EXPECT_EQ(dns.OnUnsubscribed(), nullptr);
  EXPECT_TRUE(dns.Start(AgentLink{}).ok());
  EXPECT_EQ(dns.port(), 0);
}

}  // namespace
}  // namespace dns
}  // namespace agent
}  // namespace kess
