// Discovery, end to end with real processes in two DCs (discovery_cluster.h):
// bad input at a real mandator's heartbeat (transport) port. A well-behaved
// provider in each DC ("good-dc1", "good-dc2", sdk::Registration) is
// healthy in every agent's route file; then, at one mandator of each DC
// (the slave one holds good-dc2), a raw transport client sends
// registrations, heartbeats, deregistrations and host heartbeats with
// invalid names (`..`, `/`, NUL, 129 bytes), negative, zero and huge
// weights (aimed at the good instance, which they would otherwise
// replace), a foreign datacenter, a bad address, a bad health word, an
// oversized batch and unparsable payloads, and raw connections send
// malformed, oversized and zero-length frames. Each is refused (and the
// frames close only their own connection), counted in the mandator's
// /metrics (kess_scheduler_rejected_total{reason},
// kess_transport_disconnects_total{reason}), and nothing else changes: the
// attacking connection still works, the partial tables hold only the good
// instances and real hosts, the good providers stay registered, and the
// route files of every agent keep the same revision and content.
#include <climits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "model/protocol/discovery.pb.h"
#include "model/protocol/discovery_methods.h"
#include "model/protocol/distribution.pb.h"
#include "common/transport/client.h"
#include "common/transport/event_loop.h"
#include "common/transport/socket_util.h"
#include "common/transport/testing/test_util.h"
#include "gtest/gtest.h"
#include "tests/cluster/distributor_process.h"
#include "tests/cluster/mandator_cluster.h"
#include "tests/discovery/discovery_cluster.h"

namespace kess {
namespace {

using testing::DiscoveryCluster;
using testing::HasInstance;
using testing::MandatorProcess;
using testing::MetricValue;
using testing::WaitAllAgents;

constexpr absl::Duration kPatience = absl::Seconds(30);  // "did not hang"
constexpr absl::Duration kCall = absl::Seconds(10);

double Metric(const std::string& text, const std::string& name,
              const std::string& labels) {
  return MetricValue(text, name, labels).value_or(0);
}

protocol::InstanceInfo Info(const std::string& id, const std::string& dc) {
  protocol::InstanceInfo info;
  info.set_service("good");
  info.set_id(id);
  info.set_host(dc + "-h1");
  info.set_address("127.0.0.1:1");
  info.set_datacenter(dc);
  info.set_weight(100);
  info.set_health("up");
  return info;
}

class BadInputTest : public ::testing::Test {
 protected:
  absl::StatusOr<std::string> Call(transport::Client& client,
                                   const std::string& method,
                                   const google::protobuf::Message& request) {
    return client.CallSync(method, request.SerializeAsString(), kCall);
  }

  absl::Status Register(transport::Client& client,
                        const std::vector<protocol::InstanceInfo>& infos) {
    protocol::RegisterRequest request;
    for (const auto& info : infos) *request.add_instances() = info;
    return Call(client, protocol::kRegisterMethod, request).status();
  }

  // Sends every kind of bad request to `m` (of datacenter `dc`; `good_id`
  // is the good instance of that DC) and checks each is refused with the
  // right code. Returns the expected rejections by reason.
  std::map<std::string, int> Attack(transport::Client& client,
                                    const std::string& dc,
                                    const std::string& good_id) {
    std::map<std::string, int> expected;
    auto refused = [&](absl::Status s, const char* reason,
                       absl::StatusCode code =
                           absl::StatusCode::kInvalidArgument) {
      EXPECT_EQ(s.code(), code) << reason << ": " << s;
      ++expected[reason];
    };
    // Invalid names.
    protocol::InstanceInfo bad = Info("x", dc);
    bad.set_service("../etc");
    refused(Register(client, {bad}), "invalid_name");
    refused(Register(client, {Info("a/b", dc)}), "invalid_name");
    bad = Info("x", dc);
    bad.set_host(std::string("h\0st", 4));
    refused(Register(client, {bad}), "invalid_name");
    bad = Info("x", dc);
    bad.set_service(std::string(129, 's'));
    refused(Register(client, {bad}), "invalid_name");
    // Weights, aimed at the good instance.
    for (int weight : {-1, 0, 10001, INT_MAX, INT_MIN}) {
      bad = Info(good_id, dc);
      bad.set_weight(weight);
      refused(Register(client, {Info("other", dc), bad}), "invalid_weight");
    }
    // A foreign datacenter, a bad address, too many at once.
    refused(Register(client, {Info("x", dc == "dc1" ? "dc2" : "dc1")}),
            "wrong_datacenter", absl::StatusCode::kFailedPrecondition);
    bad = Info("x", dc);
    bad.set_address("no-port");
    refused(Register(client, {bad}), "invalid_instance");
    std::vector<protocol::InstanceInfo> many;
    for (int i = 0; i <= 10000; ++i) {
      many.push_back(Info(absl::StrCat("n", i), dc));
    }
    refused(Register(client, many), "too_many");
    // Heartbeats, deregistrations and host heartbeats.
    protocol::HeartbeatRequest hb;
    hb.add_instances()->set_service("good");
    hb.mutable_instances(0)->set_id("..");
    refused(Call(client, protocol::kHeartbeatMethod, hb).status(),
            "invalid_name");
    hb.mutable_instances(0)->set_id(good_id);
    hb.set_health("Not A Word");
    refused(Call(client, protocol::kHeartbeatMethod, hb).status(),
            "invalid_health");
    protocol::DeregisterRequest dereg;
    dereg.add_instances()->set_service("../good");
    dereg.mutable_instances(0)->set_id(good_id);
    refused(Call(client, protocol::kDeregisterMethod, dereg).status(),
            "invalid_name");
    protocol::HostHeartbeat host;
    host.set_host_id("../../etc");
    refused(Call(client, protocol::kHostHeartbeatMethod, host).status(),
            "invalid_name");
    // Unparsable payloads.
    for (const char* method :
         {protocol::kRegisterMethod, protocol::kHeartbeatMethod,
          protocol::kDeregisterMethod, protocol::kHostHeartbeatMethod,
          protocol::kGetPartialTableMethod}) {
      refused(client.CallSync(method, "\xff\xff\xff garbage", kCall).status(),
              "malformed");
    }
    return expected;
  }
};

TEST_F(BadInputTest, RefusedCountedAndNothingElseChanges) {
  // Plaintext: the raw connections below write frames byte by byte (over
  // TLS the same limits are common/transport:tls_test's).
  auto started = DiscoveryCluster::Start({.agents_per_dc = 1, .tls = false});
  ASSERT_TRUE(started.ok()) << started.status();
  DiscoveryCluster& cluster = **started;
  ASSERT_TRUE(cluster.SubscribeRoutes({"good"}).ok());
  auto good1 = cluster.Register("dc1", "good", "good-dc1");
  auto good2 = cluster.Register("dc2", "good", "good-dc2");
  ASSERT_TRUE(good1.ok() && good2.ok());
  const auto agents = cluster.AllAgents();
  for (const char* id : {"good-dc1", "good-dc2"}) {
    ASSERT_TRUE(WaitAllAgents(agents, "good", HasInstance(id), kPatience));
  }
  ASSERT_TRUE((*good2)->WaitRegistered(2, absl::Seconds(30)).ok());
  absl::SleepFor(absl::Seconds(1));  // any follow-up write has landed
  std::map<std::string, RouteTable> before;
  for (testing::AgentHost* a : agents) {
    auto table = testing::CachedRouteTable(*a, "good");
    ASSERT_TRUE(table.ok()) << table.status();
    before[a->host_id()] = *table;
  }

  // Targets: a slave mandator holding good-dc2, and the main leader.
  MandatorProcess* slave_target = nullptr;
  const std::string holder = (*good2)->state().registered.at(0);
  for (auto& m : cluster.dcs().slave()) {
    if (m->address() == holder) slave_target = m.get();
  }
  ASSERT_NE(slave_target, nullptr);
  MandatorProcess* main_target =
      testing::WaitLeader(cluster.dcs().main(), kPatience);
  ASSERT_NE(main_target, nullptr);

  auto loop = transport::EventLoop::Create("bad-input");
  ASSERT_TRUE(loop.ok());
  metrics::Registry registry;
  for (auto [m, dc, good_id] : {std::tuple{slave_target, "dc2", "good-dc2"},
                                std::tuple{main_target, "dc1", "good-dc1"}}) {
    SCOPED_TRACE(m->id());
    const std::string metrics_before = testing::MandatorMetrics(*m);
    ASSERT_FALSE(metrics_before.empty());
    transport::ClientOptions o;
    ASSERT_TRUE(transport::SplitHostPort(m->address(), &o.host, &o.port).ok());
    o.registry = &registry;
    auto client = transport::Client::Create(loop->get(), o);
    ASSERT_TRUE(client.ok()) << client.status();
    const std::map<std::string, int> expected = Attack(**client, dc, good_id);

    // Malformed frames on raw connections: each closes its own.
    const std::pair<std::string, std::string> frames[] = {
        {transport::testing::LengthHeader(16) + std::string(16, '\xff'),
         "malformed_frame"},
        // A raw connection has not sent a valid request yet: the lower
        // limit for untrusted peers applies (--transport_untrusted_*).
        {transport::testing::LengthHeader(0xffffffffu),
         "untrusted_frame_too_large"},
        {transport::testing::LengthHeader(0), "zero_length_frame"},
    };
    for (const auto& [bytes, reason] : frames) {
      const int fd = transport::testing::ConnectRaw(o.port);
      ASSERT_GE(fd, 0);
      ASSERT_TRUE(transport::testing::WriteAll(fd, bytes));
      EXPECT_TRUE(transport::testing::WaitForPeerClose(fd, kCall)) << reason;
      close(fd);
    }

    // Counted in its /metrics.
    const std::string metrics_after = testing::MandatorMetrics(*m);
    for (const auto& [reason, n] : expected) {
      const std::string labels = absl::StrCat("reason=\"", reason, "\"");
      EXPECT_EQ(
          Metric(metrics_after, "kess_scheduler_rejected_total", labels) -
              Metric(metrics_before, "kess_scheduler_rejected_total", labels),
          n)
          << reason;
    }
    for (const auto& [bytes, reason] : frames) {
      const std::string labels =
          absl::StrCat("role=\"server\",reason=\"", reason, "\"");
      EXPECT_GE(
          Metric(metrics_after, "kess_transport_disconnects_total", labels) -
              Metric(metrics_before, "kess_transport_disconnects_total",
                     labels),
          1)
          << reason;
    }

    // The same connection still works; the table holds only good things.
    protocol::PartialTableRequest request;
    request.set_requester_id("test");
    auto reply = Call(**client, protocol::kGetPartialTableMethod, request);
    ASSERT_TRUE(reply.ok()) << reply.status();
    protocol::PartialTable table;
    ASSERT_TRUE(table.ParseFromString(*reply));
    for (const auto& seen : table.instances()) {
      EXPECT_EQ(seen.info().service(), "good");
      EXPECT_TRUE(seen.info().id() == "good-dc1" ||
                  seen.info().id() == "good-dc2")
          << seen.info().id();
      EXPECT_EQ(seen.info().weight(), 100);
      EXPECT_EQ(seen.info().health(), "up");
    }
    for (const auto& h : table.hosts()) {
      EXPECT_TRUE(absl::StartsWith(h.host_id(), "dc")) << h.host_id();
    }
    if (m == slave_target) {
      ASSERT_EQ(table.instances_size(), 1);
      EXPECT_FALSE(table.instances(0).deregistered());
    }
  }

  // Nothing else disturbed: providers registered, route files unchanged
  // (a few more route cycles later), every mandator still up.
  absl::SleepFor(absl::Seconds(1));
  EXPECT_EQ((*good1)->state().registered.size(), 2u);
  EXPECT_EQ((*good2)->state().registered.size(), 2u);
  for (testing::AgentHost* a : agents) {
    auto table = testing::CachedRouteTable(*a, "good");
    ASSERT_TRUE(table.ok()) << table.status();
    EXPECT_EQ(*table, before[a->host_id()]) << a->host_id();
    EXPECT_EQ(table->instances.size(), 2u);
  }
  for (auto* dc : {&cluster.dcs().main(), &cluster.dcs().slave()}) {
    for (auto& m : *dc) {
      EXPECT_TRUE(m->running()) << m->id();
      EXPECT_FALSE(testing::MandatorMetrics(*m).empty()) << m->id();
    }
  }
}

}  // namespace
}  // namespace kess
