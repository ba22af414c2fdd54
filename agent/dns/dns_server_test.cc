// DnsServer over real loopback sockets: UDP and TCP answers, waiting for a
// service's first table (answered, NXDOMAIN, SERVFAIL at the deadline or
// when the request ends), the bounds (waiting queries, TCP connections,
// idle TCP deadline) and malformed input.
#include "agent/dns/dns_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "agent/dns/service_record.h"
#include "agent/dns/testing/dns_client.h"
#include "common/metrics.h"
#include "common/testing/wait_for.h"
#include "common/transport/testing/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "model/route_table.h"
#include "third_party/ldns_cxx.h"

namespace kess {
namespace agent {
namespace dns {
namespace {

using ::testing::ElementsAre;
using testing::BuildQuery;
using testing::DecodedReply;
using testing::DecodeReply;
using testing::TcpExchange;
using testing::UdpExchange;
using transport::testing::ConnectRaw;
using transport::testing::CounterValue;
using transport::testing::WaitForPeerClose;
using transport::testing::WriteAll;

constexpr absl::Duration kTimeout = absl::Seconds(10);

std::shared_ptr<const ServiceRecord> Record(const std::string& service,
                                            const std::string& address,
                                            int64_t revision = 1) {
  RouteTable t;
  t.service = service;
  t.revision = revision;
  RouteInstance i;
  i.id = "i1";
  i.host = "h1";
  i.address = address;
  i.datacenter = "dc1";
  t.instances.push_back(i);
  return std::make_shared<const ServiceRecord>(
      PrepareServiceRecord(t, EligibilityOptions{}));
}

class DnsServerTest : public ::testing::Test {
 protected:
  // A query waiting for a table waits 10 s unless a test says otherwise:
  // long enough on a loaded machine for the test to send the table.
  static DnsServerOptions Defaults() {
    DnsServerOptions o;
    o.table_wait = absl::Seconds(10);
    return o;
  }

  void Start(DnsServerOptions options = Defaults()) {
    options.responder.datacenter = "dc1";
    options.registry = &registry_;
    auto server = DnsServer::Start(options, [this](const std::string& s) {
      absl::MutexLock lock(&mu_);
      requests_.push_back(s);
    });
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(server).value();
    ASSERT_GT(server_->port(), 0);
  }

  std::vector<std::string> Requests() {
    absl::MutexLock lock(&mu_);
    return requests_;
  }

  DecodedReply Udp(const std::string& name, uint16_t type = LDNS_RR_TYPE_A) {
    auto wire = UdpExchange(server_->port(),
                            BuildQuery({.name = name, .type = type}), kTimeout);
    EXPECT_TRUE(wire.ok()) << wire.status();
    return wire.ok() ? DecodeReply(*wire) : DecodedReply{};
  }

  double Counter(const std::string& name, const metrics::Labels& labels = {}) {
    return CounterValue(registry_, name, labels);
  }

  metrics::Registry registry_;
  absl::Mutex mu_;
  std::vector<std::string> requests_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<DnsServer> server_;
};

TEST_F(DnsServerTest, AnswersOverUdpAndTcp) {
  Start();
  server_->Update(Record("payments", "127.0.0.1:8080"));
  ASSERT_TRUE(kess::testing::WaitFor(
      [&] { return Udp("payments.service.kess").Answers("A").size() == 1; },
      kTimeout));
  DecodedReply r = Udp("payments.service.kess");
  EXPECT_EQ(r.rcode, 0);
  EXPECT_THAT(r.Answers("A"), ElementsAre("127.0.0.1"));

  // Pipelined over one TCP connection, answered in order.
  auto answers = TcpExchange(
      server_->port(),
      {BuildQuery({.name = "payments.service.kess", .id = 1}),
       BuildQuery({.name = "payments.service.kess", .type = LDNS_RR_TYPE_SRV,
                   .id = 2}),
       BuildQuery({.name = "example.com", .id = 3})},
      kTimeout);
  ASSERT_TRUE(answers.ok()) << answers.status();
  ASSERT_EQ(answers->size(), 3u);
  EXPECT_EQ(DecodeReply((*answers)[0]).id, 1);
  EXPECT_THAT(DecodeReply((*answers)[0]).Answers("A"), ElementsAre("127.0.0.1"));
  EXPECT_THAT(DecodeReply((*answers)[1]).Answers("SRV"),
              ElementsAre("1 65535 8080 7f000001.addr.kess."));
  EXPECT_EQ(DecodeReply((*answers)[2]).rcode, 5);  // REFUSED

  // Newer versions replace older ones; older ones are ignored.
  server_->Update(Record("payments", "127.0.0.2:8080", 3));
  server_->Update(Record("payments", "127.0.0.9:8080", 2));
  ASSERT_TRUE(kess::testing::WaitFor(
      [&] {
        return Udp("payments.service.kess").Answers("A") ==
               std::vector<std::string>{"127.0.0.2"};
      },
      kTimeout));
  EXPECT_GE(Counter("kess_agent_dns_queries_total", {{"transport", "tcp"}}), 3);
  EXPECT_GE(Counter("kess_agent_dns_responses_total", {{"rcode", "REFUSED"}}),
            1);
  EXPECT_TRUE(Requests().empty());
}

TEST_F(DnsServerTest, AnswerCacheKeepsIdsAndTheWeightedOrder) {
  Start();
  RouteTable t;
  t.service = "pair";
  t.revision = 1;
  for (const char* address : {"127.0.0.1:80", "127.0.0.2:80"}) {
    RouteInstance in;
    in.id = address;
    in.host = "h";
    in.address = address;
    in.datacenter = "dc1";
    t.instances.push_back(in);
  }
  server_->Update(std::make_shared<const ServiceRecord>(
      PrepareServiceRecord(t, EligibilityOptions{})));
  ASSERT_TRUE(kess::testing::WaitFor(
      [&] { return Udp("pair.service.kess").Answers("A").size() == 2; },
      kTimeout));
  std::set<std::string> first;
  for (uint16_t id = 1; id <= 64; ++id) {
    auto wire = UdpExchange(
        server_->port(), BuildQuery({.name = "pair.service.kess", .id = id}),
        kTimeout);
    ASSERT_TRUE(wire.ok());
    DecodedReply r = DecodeReply(*wire);
    EXPECT_EQ(r.id, id);
    ASSERT_EQ(r.Answers("A").size(), 2u);
    first.insert(r.Answers("A")[0]);
  }
  EXPECT_GE(Counter("kess_agent_dns_cache_hits_total"), 40);
  // Still a random order: both come first (16 draws of equal weights).
  EXPECT_EQ(first.size(), 2u);
  // A deterministic answer is cached after one, with the asker's id.
  for (uint16_t id = 100; id < 110; ++id) {
    auto wire = UdpExchange(
        server_->port(),
        BuildQuery({.name = "nothing.here.kess", .id = id}), kTimeout);
    ASSERT_TRUE(wire.ok());
    EXPECT_EQ(DecodeReply(*wire).id, id);
    EXPECT_EQ(DecodeReply(*wire).rcode, 3);
  }
}

TEST_F(DnsServerTest, UnknownServiceWaitsForItsFirstTable) {
  Start();
  auto query = std::async(std::launch::async, [&] {
    return Udp("Orders.service.kess", LDNS_RR_TYPE_A);
  });
  ASSERT_TRUE(kess::testing::WaitFor([&] { return !Requests().empty(); },
                                     kTimeout));
  EXPECT_THAT(Requests(), ElementsAre("orders"));
  const auto start = std::chrono::steady_clock::now();
  server_->Update(Record("orders", "127.0.0.7:80"));
  DecodedReply r = query.get();
  // Answered by the table, not at the wait's end (10 s, then SERVFAIL).
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(9));
  EXPECT_EQ(r.rcode, 0);
  EXPECT_THAT(r.Answers("A"), ElementsAre("127.0.0.7"));
  EXPECT_EQ(Counter("kess_agent_dns_waits_total", {{"result", "answered"}}), 1);
  // Asked once.
  EXPECT_EQ(Requests().size(), 1u);
}

TEST_F(DnsServerTest, RequestEndingWithoutTableIsNxdomainOrServfail) {
  Start();
  // "Does not exist" (an absent record): NXDOMAIN now and later, without
  // asking again.
  auto query = std::async(std::launch::async,
                          [&] { return Udp("nothing.service.kess"); });
  ASSERT_TRUE(kess::testing::WaitFor([&] { return Requests().size() == 1; },
                                     kTimeout));
  server_->Update(std::make_shared<const ServiceRecord>(
      AbsentServiceRecord("nothing", 0)));
  server_->RequestDone("nothing");
  EXPECT_EQ(query.get().rcode, 3);
  EXPECT_EQ(Udp("nothing.service.kess").rcode, 3);
  EXPECT_EQ(Requests().size(), 1u);

  // Not answered (distributor down): SERVFAIL at once, asked again next time.
  query = std::async(std::launch::async,
                     [&] { return Udp("later.service.kess"); });
  ASSERT_TRUE(kess::testing::WaitFor([&] { return Requests().size() == 2; },
                                     kTimeout));
  server_->RequestDone("later");
  EXPECT_EQ(query.get().rcode, 2);
  query = std::async(std::launch::async,
                     [&] { return Udp("later.service.kess"); });
  ASSERT_TRUE(kess::testing::WaitFor([&] { return Requests().size() == 3; },
                                     kTimeout));
  // A table sent before the request ends answers.
  server_->Update(Record("later", "127.0.0.8:80"));
  server_->RequestDone("later");
  EXPECT_THAT(query.get().Answers("A"), ElementsAre("127.0.0.8"));
  EXPECT_THAT(Udp("later.service.kess").Answers("A"), ElementsAre("127.0.0.8"));
}

TEST_F(DnsServerTest, RemovedServicesAreAskedForAgainAndUseIsReported) {
  Start();
  server_->Update(Record("payments", "127.0.0.1:8080"));
  ASSERT_TRUE(kess::testing::WaitFor(
      [&] { return Udp("payments.service.kess").Answers("A").size() == 1; },
      kTimeout));
  // Answered twice more, from the answer cache, and NXDOMAIN for another.
  Udp("PAYMENTS.service.kess");
  Udp("payments.service.kess");
  server_->Update(std::make_shared<const ServiceRecord>(
      AbsentServiceRecord("gone", 4)));
  ASSERT_TRUE(kess::testing::WaitFor(
      [&] { return Udp("gone.service.kess").rcode == 3; }, kTimeout));
  std::vector<std::string> used;
  ASSERT_TRUE(kess::testing::WaitFor(
      [&] {
        for (const std::string& s : server_->TakeUsed()) used.push_back(s);
        return !used.empty();
      },
      kTimeout));
  EXPECT_THAT(used, ElementsAre("payments"));  // not "gone": NXDOMAIN
  EXPECT_TRUE(server_->TakeUsed().empty());

  // Removed: the next query asks for the table again.
  server_->Remove("Payments");
  auto query = std::async(std::launch::async,
                          [&] { return Udp("payments.service.kess"); });
  // (A first query for "gone" may have been asked for too, before its
  // record arrived.)
  ASSERT_TRUE(kess::testing::WaitFor(
      [&] {
        const std::vector<std::string> r = Requests();
        return std::count(r.begin(), r.end(), "payments") == 1;
      },
      kTimeout));
  server_->Update(Record("payments", "127.0.0.2:8080", 9));
  server_->RequestDone("payments");
  EXPECT_THAT(query.get().Answers("A"), ElementsAre("127.0.0.2"));
}

TEST_F(DnsServerTest, WaitIsBounded) {
  DnsServerOptions o;
  o.table_wait = absl::Milliseconds(200);
  o.max_waiting_queries = 1;
  Start(o);
  const auto start = std::chrono::steady_clock::now();
  auto first = std::async(std::launch::async,
                          [&] { return Udp("slow.service.kess"); });
  ASSERT_TRUE(kess::testing::WaitFor([&] { return Requests().size() == 1; },
                                     kTimeout));
  // Room for one waiting query only: the second gets SERVFAIL at once.
  DecodedReply second = Udp("other.service.kess");
  EXPECT_EQ(second.rcode, 2);
  DecodedReply r = first.get();
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.rcode, 2);
  EXPECT_GE(waited, std::chrono::milliseconds(190));
  EXPECT_LT(waited, std::chrono::seconds(5));
  EXPECT_EQ(Counter("kess_agent_dns_waits_total", {{"result", "servfail"}}), 2);
}

TEST_F(DnsServerTest, WaitingTcpQueryIsAnswered) {
  Start();
  auto answers = std::async(std::launch::async, [&] {
    return TcpExchange(server_->port(),
                       {BuildQuery({.name = "tcpsvc.service.kess"})}, kTimeout);
  });
  ASSERT_TRUE(kess::testing::WaitFor([&] { return Requests().size() == 1; },
                                     kTimeout));
  server_->Update(Record("tcpsvc", "127.0.0.3:80"));
  auto got = answers.get();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_THAT(DecodeReply((*got)[0]).Answers("A"), ElementsAre("127.0.0.3"));
}

TEST_F(DnsServerTest, TruncatedOverUdpCompleteOverTcp) {
  Start();
  RouteTable t;
  t.service = "big";
  t.revision = 1;
  for (int i = 0; i < 60; ++i) {
    RouteInstance in;
    in.id = "i" + std::to_string(100 + i);
    in.host = "h";
    in.address = "127.0.1." + std::to_string(i + 1) + ":80";
    in.datacenter = "dc1";
    t.instances.push_back(in);
  }
  server_->Update(std::make_shared<const ServiceRecord>(
      PrepareServiceRecord(t, EligibilityOptions{})));
  ASSERT_TRUE(kess::testing::WaitFor(
      [&] { return Udp("big.service.kess").tc; }, kTimeout));
  auto answers = TcpExchange(server_->port(),
                             {BuildQuery({.name = "big.service.kess"})},
                             kTimeout);
  ASSERT_TRUE(answers.ok());
  DecodedReply r = DecodeReply((*answers)[0]);
  EXPECT_FALSE(r.tc);
  EXPECT_EQ(r.Answers("A").size(), 60u);
  EXPECT_GE(Counter("kess_agent_dns_truncated_total"), 1);
}

TEST_F(DnsServerTest, MalformedUdp) {
  Start();
  // Garbage with a header: FORMERR with the same id.
  std::string garbage("\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05zz",
                      15);
  auto wire = UdpExchange(server_->port(), garbage, kTimeout);
  ASSERT_TRUE(wire.ok());
  DecodedReply r = DecodeReply(*wire);
  EXPECT_EQ(r.rcode, 1);
  EXPECT_EQ(r.id, 0xabcd);
  // No header: no answer.
  wire = UdpExchange(server_->port(), "abc", absl::Milliseconds(300));
  EXPECT_FALSE(wire.ok());
  ASSERT_TRUE(kess::testing::WaitFor(
      [&] { return Counter("kess_agent_dns_dropped_total") >= 1; }, kTimeout));
  // Still serving.
  EXPECT_EQ(Udp("kess", LDNS_RR_TYPE_SOA).rcode, 0);
}

TEST_F(DnsServerTest, TcpBoundsAndDeadlines) {
  DnsServerOptions o;
  o.max_tcp_connections = 2;
  o.tcp_idle_timeout = absl::Milliseconds(300);
  Start(o);
  int a = ConnectRaw(server_->port());
  int b = ConnectRaw(server_->port());
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  ASSERT_TRUE(kess::testing::WaitFor(
      [&] {
        return registry_
                   .GetGauge("kess_agent_dns_tcp_connections", "")
                   ->Value() == 2;
      },
      kTimeout));
  // Over the limit: closed at once.
  int c = ConnectRaw(server_->port());
  ASSERT_GE(c, 0);
  EXPECT_TRUE(WaitForPeerClose(c, kTimeout));
  EXPECT_EQ(Counter("kess_agent_dns_tcp_rejected_total"), 1);
  close(c);
  // Half a message, then silence: closed after the idle deadline.
  ASSERT_TRUE(WriteAll(a, std::string("\x00\x20\x12", 3)));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(WaitForPeerClose(a, kTimeout));
  EXPECT_TRUE(WaitForPeerClose(b, kTimeout));
  EXPECT_GE(std::chrono::steady_clock::now() - start,
            std::chrono::milliseconds(150));
  close(a);
  close(b);
  // A zero-length message closes the connection.
  int d = ConnectRaw(server_->port());
  ASSERT_TRUE(WriteAll(d, std::string("\x00\x00", 2)));
  EXPECT_TRUE(WaitForPeerClose(d, kTimeout));
  close(d);
  // A client that goes away mid-message does not hurt the server.
  int e = ConnectRaw(server_->port());
  ASSERT_TRUE(WriteAll(e, std::string("\x01\x00\x12\x34", 4)));
  close(e);
  EXPECT_EQ(Udp("kess", LDNS_RR_TYPE_SOA).rcode, 0);
  auto answers = TcpExchange(server_->port(),
                             {BuildQuery({.name = "kess", .type = 6})},
                             kTimeout);
  ASSERT_TRUE(answers.ok()) << answers.status();
}

TEST_F(DnsServerTest, FixedPortAndPortInUse) {
  Start();
  DnsServerOptions o;
  o.port = server_->port();
  o.registry = &registry_;
  auto second = DnsServer::Start(o, [](const std::string&) {});
  EXPECT_FALSE(second.ok());
  o.port = 70000;
  EXPECT_FALSE(DnsServer::Start(o, [](const std::string&) {}).ok());
}

}  // namespace
}  // namespace dns
}  // namespace agent
}  // namespace kess
