// Route deltas end to end (docs/route-table.md, "Deltas"): two DCs of real
// processes (ZooKeeper, a mandator, a distributor and two agents per DC),
// large services registered through kess.Register and kept alive with
// kess.Heartbeat batches, weights changed through the main leader's
// override API.
//
//  - one weight change in a 2,000-instance service reaches every agent's
//    file in both DCs as a delta: the distributors push a small fraction of
//    the table per subscriber (their byte counters), build the version from
//    the change records' deltas (their delta counters, also in the slave
//    DC whose change log is replicated, and whose replicator builds the
//    chunked table from the delta instead of copying it), and every agent
//    applies it;
//  - an agent that was stopped for more revisions than a distributor keeps
//    deltas for gets the whole table when it comes back;
//  - a 20,000-instance service (a table of several MB, chunked in
//    ZooKeeper) works the same way.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/http_client.h"
#include "common/metrics.h"
#include "common/testing/wait_for.h"
#include "common/transport/client.h"
#include "common/transport/event_loop.h"
#include "common/transport/socket_util.h"
#include "glog/logging.h"
#include "gtest/gtest.h"
#include "model/file_cache/reader.h"
#include "model/protocol/discovery.pb.h"
#include "model/protocol/discovery_methods.h"
#include "model/route_table.h"
#include "tests/cluster/cache_tier_cluster.h"
#include "tests/cluster/distributor_process.h"
#include "tests/cluster/mandator_cluster.h"

namespace kess {
namespace {

using testing::AgentHost;
using testing::CacheTierCluster;
using testing::DistributorProcess;
using testing::MetricValue;
using testing::WaitFor;

constexpr absl::Duration kWait = absl::Seconds(120);

std::string InstanceId(const std::string& service, int k) {
  return absl::StrCat(service, "-i", 100000 + k);
}

// `count` instances of `service` in dc1, registered with the main DC's
// mandator over one connection and kept alive by a thread of their own.
class Fleet {
 public:
  Fleet(const std::string& mandator, std::string service, int count)
      : service_(std::move(service)), count_(count) {
    auto loop = transport::EventLoop::Create("fleet");
    EXPECT_TRUE(loop.ok()) << loop.status();
    loop_ = *std::move(loop);
    transport::ClientOptions co;
    EXPECT_TRUE(transport::SplitHostPort(mandator, &co.host, &co.port).ok());
    co.registry = &registry_;
    auto client = transport::Client::Create(loop_.get(), co);
    EXPECT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }
  ~Fleet() {
    stop_ = true;
    if (heartbeats_.joinable()) heartbeats_.join();
    client_.reset();
  }

  // Registers every instance (batches of 500); true once all were acked.
  bool Register() {
    if (!client_->WaitConnected(absl::Seconds(10)).ok()) return false;
    std::atomic<int> acked{0}, failed{0};
    int batches = 0;
    for (int k = 0; k < count_; k += 500) {
      protocol::RegisterRequest request;
      for (int i = k; i < k + 500 && i < count_; ++i) {
        protocol::InstanceInfo* info = request.add_instances();
        info->set_service(service_);
        info->set_id(InstanceId(service_, i));
        info->set_host(absl::StrCat("h", 1 + i % 2));
        info->set_address(absl::StrCat("127.0.", i / 250 % 250, ".",
                                       i % 250 + 1, ":", 8000 + i % 1000));
        info->set_datacenter("dc1");
        info->set_weight(100);
        info->set_health("up");
        (*info->mutable_metadata())["version"] = "1.4.2";
      }
      ++batches;
      client_->Call(protocol::kRegisterMethod, request.SerializeAsString(),
                    absl::Seconds(30), [&](absl::StatusOr<std::string> reply) {
                      (reply.ok() ? acked : failed)++;
                    });
    }
    const bool done =
        WaitFor([&] { return acked + failed == batches; }, absl::Seconds(60));
    if (!done || failed > 0) return false;
    heartbeats_ = std::thread([this] { Beat(); });
    return true;
  }

 private:
  void Beat() {
    protocol::HeartbeatRequest request;
    for (int i = 0; i < count_; ++i) {
      protocol::InstanceRef* ref = request.add_instances();
      ref->set_service(service_);
      ref->set_id(InstanceId(service_, i));
    }
    const std::string payload = request.SerializeAsString();
    // Bounded: the test ends long before (stop_).
    for (int round = 0; round < 3600 && !stop_; ++round) {
      client_->Call(protocol::kHeartbeatMethod, payload, absl::Seconds(10),
                    [](absl::StatusOr<std::string>) {});
      for (int s = 0; s < 20 && !stop_; ++s) {
        absl::SleepFor(absl::Milliseconds(50));
      }
    }
  }

  const std::string service_;
  const int count_;
  metrics::Registry registry_;
  std::unique_ptr<transport::EventLoop> loop_;
  std::unique_ptr<transport::Client> client_;
  std::atomic<bool> stop_{false};
  std::thread heartbeats_;
};

// The route table in `agent`'s file (verified read), or an empty table.
RouteTable TableIn(const AgentHost& agent, const std::string& service) {
  file_cache::FileCacheReader reader(agent.cache_dir());
  auto entry = reader.Read(file_cache::CacheKey::Route(service));
  if (!entry.ok() || entry->absent) return RouteTable();
  auto table = RouteTableFromJson(entry->value);
  return table.ok() ? *std::move(table) : RouteTable();
}

int WeightIn(const RouteTable& table, const std::string& id) {
  for (const RouteInstance& in : table.instances) {
    if (in.id == id) return in.weight;
  }
  return -1;
}

double Metric(const std::string& text, const std::string& name,
              const std::string& labels = "") {
  absl::StatusOr<double> v = MetricValue(text, name, labels);
  return v.ok() ? *v : 0;
}

double AgentMetric(const AgentHost& agent, const std::string& name,
                   const std::string& labels = "") {
  absl::StatusOr<HttpReply> reply = agent.Call("GET", "/metrics");
  if (!reply.ok() || reply->status != 200) return -1;
  return Metric(reply->body, name, labels);
}

class RouteDeltaTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    testing::CacheTierClusterOptions o;
    o.dcs.tls = false;  // the fleet's own transport client is plain
    o.dcs.mandators_per_dc = 1;
    o.dcs.main_other_dcs = true;
    o.dcs.extra_flags = {"--route_warmup_ms=2000",
                         "--transport_max_connections_per_peer=0"};
    o.distributors_per_dc = 1;
    o.agents_per_dc = 2;
    auto cluster = CacheTierCluster::Start(o);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(cluster).value().release();
  }
  static void TearDownTestSuite() {
    fleets_.clear();  // before the mandators go
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(cluster_, nullptr); }

  // A fleet that lives as long as the cluster: its instances keep beating
  // through the later tests, so no table changes behind their backs.
  static Fleet* StartFleet(const std::string& service, int count) {
    fleets_.push_back(std::make_unique<Fleet>(
        cluster_->dcs().main().front()->address(), service, count));
    return fleets_.back()->Register() ? fleets_.back().get() : nullptr;
  }

  // Every agent subscribes to `service`; waits until each holds `count`
  // instances.
  static void SubscribeAndWait(const std::string& service, size_t count) {
    const std::vector<AgentHost*> agents = cluster_->AllAgents();
    for (AgentHost* a : agents) {
      ASSERT_TRUE(
          a->Subscribe(absl::StrCat(R"({"routes":[")", service, R"("]})"))
              .ok());
    }
    for (AgentHost* a : agents) {
      ASSERT_TRUE(WaitFor(
          [&] { return TableIn(*a, service).instances.size() == count; }, kWait,
          absl::Milliseconds(200)))
          << a->host_id() << " holds " << TableIn(*a, service).instances.size()
          << " of " << count;
    }
  }

  // PUT .../override {"weight": weight} at the main leader.
  static void SetWeight(const std::string& service, const std::string& id,
                        int weight) {
    testing::MandatorProcess* leader =
        testing::WaitLeader(cluster_->dcs().main(), absl::Seconds(30));
    ASSERT_NE(leader, nullptr);
    absl::StatusOr<HttpReply> reply =
        HttpCall(leader->http_address(), "PUT",
                 absl::StrCat("/api/v1/services/", service, "/instances/", id,
                              "/override"),
                 absl::StrCat(R"({"weight":)", weight, "}"), absl::Seconds(20));
    ASSERT_TRUE(reply.ok()) << reply.status();
    ASSERT_EQ(reply->status, 200) << reply->body;
  }

  static bool WaitWeight(const std::vector<AgentHost*>& agents,
                         const std::string& service, const std::string& id,
                         int weight) {
    for (AgentHost* a : agents) {
      if (!WaitFor([&] { return WeightIn(TableIn(*a, service), id) == weight; },
                   kWait, absl::Milliseconds(100))) {
        ADD_FAILURE() << a->host_id() << ": weight of " << id << " is "
                      << WeightIn(TableIn(*a, service), id) << ", want "
                      << weight;
        return false;
      }
    }
    return true;
  }

  // A metric of the slave DC's leader (its replicator's).
  static double SlaveLeaderMetric(const std::string& name) {
    testing::MandatorProcess* leader =
        testing::WaitLeader(cluster_->dcs().slave(), absl::Seconds(30));
    if (leader == nullptr) return -1;
    absl::StatusOr<HttpReply> reply = HttpCall(
        leader->http_address(), "GET", "/metrics", "", absl::Seconds(10));
    if (!reply.ok() || reply->status != 200) return -1;
    return Metric(reply->body, name);
  }

  static std::vector<DistributorProcess*> Distributors() {
    std::vector<DistributorProcess*> all;
    for (int d = 0; d < cluster_->tier_dc_count(); ++d) {
      for (auto& p : cluster_->tier_dc(d).distributors) all.push_back(p.get());
    }
    return all;
  }
  static double SumOverDistributors(const std::string& name,
                                    const std::string& labels = "") {
    double sum = 0;
    for (DistributorProcess* d : Distributors()) {
      sum += Metric(d->Metrics(), name, labels);
    }
    return sum;
  }

  // One weight change in a service of `count` instances: every agent gets
  // it as a delta, and the bytes pushed per subscriber are a small fraction
  // of the table.
  static void OneWeightChangeIsADelta(const std::string& service, int count) {
    const std::vector<AgentHost*> agents = cluster_->AllAgents();
    const RouteTable before = TableIn(*agents[0], service);
    const size_t table_bytes = RouteTableToJson(before).size();
    const double bytes0 =
        SumOverDistributors("kess_distributor_push_bytes_total");
    const double deltas0 =
        SumOverDistributors("kess_distributor_route_delta_resources_total");
    const double built0 = SumOverDistributors(
        "kess_distributor_route_deltas_total", "result=\"applied\"");
    std::vector<double> applied0;
    for (AgentHost* a : agents) {
      applied0.push_back(
          AgentMetric(*a, "kess_agent_route_deltas_applied_total"));
    }
    const double replicated0 =
        SlaveLeaderMetric("kess_replication_route_deltas_total");
    const std::string id = InstanceId(service, count / 2);
    SetWeight(service, id, 7);
    ASSERT_TRUE(WaitWeight(agents, service, id, 7));
    // Settled: nothing else pushed meanwhile would change the figures.
    absl::SleepFor(absl::Milliseconds(500));
    const double pushed =
        SumOverDistributors("kess_distributor_push_bytes_total") - bytes0;
    const double per_subscriber = pushed / agents.size();
    LOG(INFO) << service << ": table " << table_bytes << " bytes, pushed "
              << per_subscriber << " bytes per subscriber";
    EXPECT_LT(per_subscriber * 50, table_bytes)
        << "pushed " << pushed << " bytes to " << agents.size()
        << " subscribers for a table of " << table_bytes;
    EXPECT_GE(
        SumOverDistributors("kess_distributor_route_delta_resources_total") -
            deltas0,
        agents.size());
    // Both DCs' distributors built the version from the deltas of their
    // change log (the slave DC's is replicated from main's).
    EXPECT_GE(SumOverDistributors("kess_distributor_route_deltas_total",
                                  "result=\"applied\"") -
                  built0,
              Distributors().size());
    EXPECT_EQ(SumOverDistributors("kess_distributor_route_deltas_total",
                                  "result=\"failed\""),
              0);
    // The slave DC's replicator built the (chunked) table from the delta
    // instead of copying it across.
    EXPECT_GT(SlaveLeaderMetric("kess_replication_route_deltas_total"),
              replicated0);
    for (size_t i = 0; i < agents.size(); ++i) {
      EXPECT_GT(
          AgentMetric(*agents[i], "kess_agent_route_deltas_applied_total"),
          applied0[i])
          << agents[i]->host_id();
      EXPECT_EQ(AgentMetric(*agents[i], "kess_agent_route_delta_failures_total",
                            "reason=\"crc_mismatch\""),
                0)
          << agents[i]->host_id();
      // The file is the whole table, as the leader wrote it.
      const RouteTable table = TableIn(*agents[i], service);
      EXPECT_EQ(table.instances.size(), static_cast<size_t>(count));
      EXPECT_EQ(table, TableIn(*agents[0], service));
    }
  }

  static CacheTierCluster* cluster_;
  static std::vector<std::unique_ptr<Fleet>> fleets_;
};
CacheTierCluster* RouteDeltaTest::cluster_ = nullptr;
std::vector<std::unique_ptr<Fleet>> RouteDeltaTest::fleets_;

TEST_F(RouteDeltaTest, AWeightChangeInTwoThousandInstancesIsADelta) {
  ASSERT_NE(StartFleet("big", 2000), nullptr);
  SubscribeAndWait("big", 2000);
  OneWeightChangeIsADelta("big", 2000);
}

TEST_F(RouteDeltaTest, AnAgentBackAfterManyRevisionsGetsTheWholeTable) {
  ASSERT_NE(StartFleet("offline", 300), nullptr);
  SubscribeAndWait("offline", 300);
  AgentHost* away = cluster_->main().agents[1].get();
  std::vector<AgentHost*> others;
  for (AgentHost* a : cluster_->AllAgents()) {
    if (a != away) others.push_back(a);
  }
  away->Stop();
  // More revisions of the table than a distributor keeps deltas from.
  const std::string id = InstanceId("offline", 5);
  for (int w = 1; w <= 12; ++w) {
    SetWeight("offline", id, w);
    ASSERT_TRUE(WaitWeight(others, "offline", id, w));
  }
  ASSERT_TRUE(away->Restart().ok());
  ASSERT_TRUE(WaitWeight({away}, "offline", id, 12));
  EXPECT_EQ(TableIn(*away, "offline"), TableIn(*others[0], "offline"));
  // Its restarted counters: the table came whole, with no delta refused.
  EXPECT_EQ(AgentMetric(*away, "kess_agent_route_deltas_applied_total"), 0);
  EXPECT_EQ(AgentMetric(*away, "kess_agent_route_delta_failures_total",
                        "reason=\"crc_mismatch\""),
            0);
  // And the next change reaches it as a delta again.
  SetWeight("offline", id, 40);
  ASSERT_TRUE(WaitWeight(cluster_->AllAgents(), "offline", id, 40));
  EXPECT_TRUE(WaitFor(
      [&] {
        return AgentMetric(*away, "kess_agent_route_deltas_applied_total") >= 1;
      },
      absl::Seconds(10)));
}

TEST_F(RouteDeltaTest, TwentyThousandInstancesWorkEndToEnd) {
  ASSERT_NE(StartFleet("huge", 20000), nullptr);
  SubscribeAndWait("huge", 20000);
  // Several MB: chunked in ZooKeeper, far beyond one znode.
  EXPECT_GT(
      RouteTableToJson(TableIn(*cluster_->main().agents[0], "huge")).size(),
      3u << 20);
  OneWeightChangeIsADelta("huge", 20000);
}

}  // namespace
}  // namespace kess
