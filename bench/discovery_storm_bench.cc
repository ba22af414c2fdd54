// bench/discovery_storm_bench: the registration storm end to
// end. Two DCs of real processes (tests/cluster/cache_tier_cluster.h: a
// ZooKeeper server, --mandators mandator processes, --distributors
// distributor processes and --agents real agent processes per DC; the main
// DC's mandators collect the slave DC's with --other_dcs), every agent
// subscribed to the route tables of all --services services. Then
// --instances instances register within --storm_ms, half of them in each
// DC, as raw kess.Register requests (one instance per request, to the 2
// mandators of its DC that the SDK's HRW order picks, as
// sdk::Registration does) from this process over one connection per
// mandator; kess.Heartbeat batches keep them alive afterwards.
//
// Measured: time from the last registration acknowledged to every instance
// being in every agent's route files (the agents' own write times from the
// cache files, so the polling interval does not count), per DC; and what
// it cost ZooKeeper: the main leader's kess_routes_writes_total, the
// revisions committed in each DC, and zk_packets_received (mntr) of each
// DC's server over the storm, with the idle background rate. Prints a
// Markdown table. See README.md.
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/transport_bench_util.h"
#include "model/file_cache/reader.h"
#include "common/init.h"
#include "model/protocol/discovery.pb.h"
#include "model/protocol/discovery_methods.h"
#include "common/rendezvous.h"
#include "model/route_table.h"
#include "common/transport/client.h"
#include "common/transport/event_loop.h"
#include "common/transport/socket_util.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "common/http_client.h"
#include "tests/cluster/cache_tier_cluster.h"
#include "tests/cluster/distributor_process.h"
#include "tests/cluster/mandator_cluster.h"
#include "zk_schema/revision_log.h"

DEFINE_string(mandator_binary, "", "path of //mandator");
DEFINE_string(distributor_binary, "", "path of //distributor:distributor");
DEFINE_string(agent_binary, "", "path of //agent");
DEFINE_int32(instances, 10000, "instances registering in the storm");
DEFINE_int32(services, 100, "services they belong to");
DEFINE_int32(storm_ms, 1000, "registrations spread over this long");
DEFINE_int32(mandators, 3, "mandator processes per DC");
DEFINE_int32(distributors, 2, "distributor processes per DC");
DEFINE_int32(agents, 3, "agent processes per DC, each subscribed to all");
DEFINE_int32(route_cycle_ms, 1000, "mandator --route_cycle_ms");
DEFINE_int32(route_window_ms, 1000, "mandator --route_window_ms");
DEFINE_int32(heartbeat_interval_ms, 5000, "instances' heartbeat interval");
DEFINE_double(idle_seconds, 3, "idle window measuring background ZK packets");
DEFINE_int32(timeout_s, 120, "give up waiting for the agents after this");
DEFINE_bool(keep_dir, false, "keep the scratch directory (logs, caches)");

namespace kess {
namespace bench {
namespace {

using testing::AgentHost;
using testing::CacheTierCluster;

std::string Ms(absl::Duration d) {
  return absl::StrFormat("%.0f ms", absl::ToDoubleMilliseconds(d));
}

// zk_packets_received of server 0 of `zk`; -1 if unknown.
int64_t PacketsReceived(const testing::ZkEnsemble& zk) {
  return zk.MntrValue(0, "zk_packets_received").value_or(-1);
}

int64_t Revision(zk::ZkClient& zk, const zk::Layout& layout) {
  auto summary = zk::ReadRevision(zk, layout);
  return summary.ok() ? summary->first.revision() : -1;
}

double LeaderRouteWrites(CacheTierCluster& cluster) {
  testing::MandatorProcess* leader =
      testing::WaitLeader(cluster.dcs().main(), absl::Seconds(30));
  if (leader == nullptr) return -1;
  auto reply =
      HttpCall(leader->http_address(), "GET", "/metrics", "");
  if (!reply.ok() || reply->status != 200) return -1;
  return testing::MetricValue(reply->body, "kess_routes_writes_total",
                              "result=\"ok\"")
      .value_or(0);
}

std::string ServiceName(int s) { return absl::StrFormat("storm-%03d", s); }

// Instance k: service k % services, DC (k / services) % 2, host one of its
// DC's agents.
struct Instance {
  protocol::InstanceInfo info;
  int dc = 0;                  // 0 = dc1 (main), 1 = dc2
  std::vector<int> mandators;  // indexes into the DC's mandators
};

std::vector<Instance> MakeInstances(
    const std::vector<std::string> addresses[2]) {
  std::vector<Instance> out;
  for (int k = 0; k < FLAGS_instances; ++k) {
    Instance i;
    i.dc = (k / FLAGS_services) % 2;
    const std::string dc = i.dc == 0 ? "dc1" : "dc2";
    i.info.set_service(ServiceName(k % FLAGS_services));
    i.info.set_id(absl::StrCat("i", k));
    i.info.set_host(absl::StrCat(dc, "-h", 1 + k % FLAGS_agents));
    i.info.set_address(absl::StrCat("10.", k / 65536 % 256, ".", k / 256 % 256,
                                    ".", k % 256, ":8080"));
    i.info.set_datacenter(dc);
    i.info.set_weight(100);
    i.info.set_health("up");
    const std::vector<std::string> order = RendezvousOrder(
        absl::StrCat(i.info.service(), "/", i.info.id()), addresses[i.dc]);
    for (int r = 0; r < 2 && r < static_cast<int>(order.size()); ++r) {
      for (size_t m = 0; m < addresses[i.dc].size(); ++m) {
        if (addresses[i.dc][m] == order[r]) i.mandators.push_back(m);
      }
    }
    out.push_back(std::move(i));
  }
  return out;
}

// When `agent` had every expected instance of every service: the newest
// write time (agent's wall clock, ms) of the files that completed it; -1
// while incomplete. `done` caches completed services between polls.
int64_t CompletedAt(const AgentHost& agent,
                    const std::map<std::string, size_t>& expected,
                    std::map<std::string, int64_t>* done) {
  file_cache::FileCacheReader reader(agent.cache_dir());
  int64_t newest = 0;
  bool complete = true;
  for (const auto& [service, count] : expected) {
    auto it = done->find(service);
    if (it == done->end()) {
      auto entry = reader.Read(file_cache::CacheKey::Route(service));
      if (!entry.ok() || entry->absent) {
        complete = false;
        continue;
      }
      auto table = RouteTableFromJson(entry->value);
      if (!table.ok() || table->instances.size() < count) {
        complete = false;
        continue;
      }
      it = done->emplace(service, entry->written_ms).first;
    }
    newest = std::max(newest, it->second);
  }
  return complete ? newest : -1;
}

int Run() {
  CHECK_GE(FLAGS_mandators, 2);
  char scratch[] = "/tmp/discovery_storm.XXXXXX";
  CHECK(mkdtemp(scratch) != nullptr);
  testing::CacheTierClusterOptions o;
  o.dcs.base_dir = scratch;
  // Plaintext: its own transport clients and the figures in RESULTS.md are
  // of the plain wire; what TLS costs is bench/tls_bench.cc's.
  o.dcs.tls = false;
  o.dcs.zk_servers = 1;
  o.dcs.mandators_per_dc = FLAGS_mandators;
  o.dcs.main_other_dcs = true;
  o.dcs.mandator_binary = FLAGS_mandator_binary;
  o.dcs.extra_flags = {
      absl::StrCat("--route_cycle_ms=", FLAGS_route_cycle_ms),
      absl::StrCat("--route_window_ms=", FLAGS_route_window_ms),
      absl::StrCat("--heartbeat_interval_ms=", FLAGS_heartbeat_interval_ms),
      "--max_writes_per_second=2000",
      // Simulated providers all connect from 127.0.0.1.
      "--transport_max_connections_per_peer=0"};
  o.distributors_per_dc = FLAGS_distributors;
  o.agents_per_dc = 0;
  o.distributor_binary = FLAGS_distributor_binary;
  o.agent_binary = FLAGS_agent_binary;
  auto started = CacheTierCluster::Start(o);
  CHECK(started.ok()) << started.status();
  CacheTierCluster& cluster = **started;
  std::vector<AgentHost*> agents[2];
  std::string subscription = "{\"routes\":[";
  for (int s = 0; s < FLAGS_services; ++s) {
    absl::StrAppend(&subscription, s == 0 ? "" : ",", "\"", ServiceName(s),
                    "\"");
  }
  subscription += "]}";
  for (int d = 0; d < 2; ++d) {
    testing::CacheTierDc& dc = d == 0 ? cluster.main() : cluster.slave();
    for (int a = 1; a <= FLAGS_agents; ++a) {
      auto agent = cluster.AddAgent(dc, absl::StrCat(dc.name, "-h", a));
      CHECK(agent.ok()) << agent.status();
      CHECK((*agent)->Subscribe(subscription).ok());
      agents[d].push_back(*agent);
    }
  }
  std::vector<std::string> addresses[2];
  for (int d = 0; d < 2; ++d) {
    for (const auto& m :
         d == 0 ? cluster.dcs().main() : cluster.dcs().slave()) {
      addresses[d].push_back(m->address());
    }
  }
  const std::vector<Instance> instances = MakeInstances(addresses);
  std::map<std::string, size_t> expected;
  for (const Instance& i : instances) ++expected[i.info.service()];

  auto loop = transport::EventLoop::Create("storm");
  CHECK(loop.ok());
  metrics::Registry registry;
  std::vector<std::unique_ptr<transport::Client>> clients[2];
  for (int d = 0; d < 2; ++d) {
    for (const std::string& address : addresses[d]) {
      transport::ClientOptions co;
      CHECK(transport::SplitHostPort(address, &co.host, &co.port).ok());
      co.registry = &registry;
      auto client = transport::Client::Create(loop->get(), co);
      CHECK(client.ok()) << client.status();
      CHECK((*client)->WaitConnected(absl::Seconds(5)).ok());
      clients[d].push_back(*std::move(client));
    }
  }
  auto main_zk = cluster.dcs().ConnectMainReader();
  auto slave_zk = cluster.dcs().ConnectSlaveReader();
  CHECK(main_zk.ok() && slave_zk.ok());
  const zk::Layout& layout = cluster.dcs().layout();

  // Settle, then the idle background of ZooKeeper packets.
  absl::SleepFor(absl::Seconds(3));
  const int64_t idle_packets[2] = {PacketsReceived(cluster.dcs().main_zk()),
                                   PacketsReceived(cluster.dcs().slave_zk())};
  absl::SleepFor(absl::Seconds(FLAGS_idle_seconds));
  double background[2];
  const int64_t packets_before[2] = {PacketsReceived(cluster.dcs().main_zk()),
                                     PacketsReceived(cluster.dcs().slave_zk())};
  for (int d = 0; d < 2; ++d) {
    background[d] = (packets_before[d] - idle_packets[d]) / FLAGS_idle_seconds;
  }
  const double writes_before = LeaderRouteWrites(cluster);
  const int64_t revision_before[2] = {Revision(**main_zk, layout),
                                      Revision(**slave_zk, layout)};

  // The storm.
  std::atomic<int> acked{0}, failed{0};
  std::atomic<int64_t> last_ack_us{0};
  const absl::Time start = absl::Now();
  for (size_t k = 0; k < instances.size(); ++k) {
    const absl::Time due =
        start + absl::Milliseconds(FLAGS_storm_ms) * k / instances.size();
    const absl::Duration wait = due - absl::Now();
    if (wait > absl::ZeroDuration()) absl::SleepFor(wait);
    const Instance& i = instances[k];
    protocol::RegisterRequest request;
    *request.add_instances() = i.info;
    const std::string payload = request.SerializeAsString();
    for (int m : i.mandators) {
      clients[i.dc][m]->Call(protocol::kRegisterMethod, payload,
                             absl::Seconds(30),
                             [&](absl::StatusOr<std::string> reply) {
                               (reply.ok() ? acked : failed)++;
                               last_ack_us = absl::ToUnixMicros(absl::Now());
                             });
    }
  }
  const absl::Duration sent = absl::Now() - start;
  const size_t calls = [&] {
    size_t n = 0;
    for (const Instance& i : instances) n += i.mandators.size();
    return n;
  }();
  while (acked + failed < static_cast<int>(calls) &&
         absl::Now() - start < absl::Seconds(60)) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  const absl::Time last_ack = absl::FromUnixMicros(last_ack_us.load());

  // Heartbeats from here on, so nothing goes stale however long it takes.
  std::atomic<bool> stop{false};
  std::thread heartbeats([&] {
    while (!stop) {
      for (int s = 0; s < FLAGS_heartbeat_interval_ms / 50 && !stop; ++s) {
        absl::SleepFor(absl::Milliseconds(50));
      }
      std::map<std::pair<int, int>, protocol::HeartbeatRequest> batches;
      for (const Instance& i : instances) {
        for (int m : i.mandators) {
          protocol::InstanceRef* ref = batches[{i.dc, m}].add_instances();
          ref->set_service(i.info.service());
          ref->set_id(i.info.id());
        }
      }
      for (auto& [target, request] : batches) {
        clients[target.first][target.second]->Call(
            protocol::kHeartbeatMethod, request.SerializeAsString(),
            absl::Seconds(30), [](absl::StatusOr<std::string>) {});
      }
    }
  });

  // Until every agent holds every instance.
  std::map<std::string, int64_t> done[2][16];
  int64_t completed_ms[2] = {-1, -1};
  int complete_agents = 0;
  const int total_agents = 2 * FLAGS_agents;
  CHECK_LE(FLAGS_agents, 16);
  while (absl::Now() - last_ack < absl::Seconds(FLAGS_timeout_s)) {
    complete_agents = 0;
    int64_t newest[2] = {0, 0};
    for (int d = 0; d < 2; ++d) {
      for (int a = 0; a < FLAGS_agents; ++a) {
        const int64_t at = CompletedAt(*agents[d][a], expected, &done[d][a]);
        if (at >= 0) {
          ++complete_agents;
          newest[d] = std::max(newest[d], at);
        }
      }
    }
    if (complete_agents == total_agents) {
      completed_ms[0] = newest[0];
      completed_ms[1] = newest[1];
      break;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  const bool all = complete_agents == total_agents;
  // Anything still waiting in a coalescing window goes out; then count.
  absl::SleepFor(absl::Milliseconds(FLAGS_route_window_ms +
                                    2 * FLAGS_route_cycle_ms + 1000));
  const absl::Duration counted_over = absl::Now() - start;
  const int64_t packets_after[2] = {PacketsReceived(cluster.dcs().main_zk()),
                                    PacketsReceived(cluster.dcs().slave_zk())};
  const double writes = LeaderRouteWrites(cluster) - writes_before;
  const int64_t revisions[2] = {
      Revision(**main_zk, layout) - revision_before[0],
      Revision(**slave_zk, layout) - revision_before[1]};
  stop = true;
  heartbeats.join();

  auto since_last_ack = [&](int64_t ms) {
    return ms < 0 ? std::string("not within the timeout")
                  : Ms(absl::FromUnixMillis(ms) - last_ack);
  };
  const int64_t both = std::max(completed_ms[0], completed_ms[1]);
  std::ostringstream t;
  t << SetupTableHead("every process below shares them");
  t << "| DCs | main `dc1` and slave `dc2`, each: 1 ZooKeeper server, "
    << FLAGS_mandators << " `mandator`, " << FLAGS_distributors
    << " `distributor` and " << FLAGS_agents
    << " `agent` processes; dc1's mandators collect dc2's (--other_dcs); "
       "--route_cycle_ms="
    << FLAGS_route_cycle_ms << " --route_window_ms=" << FLAGS_route_window_ms
    << " |\n";
  t << "| storm | " << FLAGS_instances << " instances of " << FLAGS_services
    << " services, half in each DC, as raw `kess.Register` requests (one "
       "instance each, to the 2 mandators of its DC that the SDK's HRW order "
       "picks) from one client process over one connection per mandator, "
       "paced evenly over "
    << FLAGS_storm_ms << " ms; every agent subscribed to all " << FLAGS_services
    << " route tables |\n\n";
  t << "| what | result |\n|---|---|\n";
  t << "| registrations sent | " << instances.size() << " in " << Ms(sent)
    << "; " << acked.load() << " acks, " << failed.load()
    << " errors; last ack " << Ms(last_ack - start) << " after the first |\n";
  t << "| last ack -> every instance in all " << FLAGS_agents
    << " dc1 agents' route files | " << since_last_ack(completed_ms[0])
    << " |\n";
  t << "| last ack -> every instance in all " << FLAGS_agents
    << " dc2 agents' route files | " << since_last_ack(completed_ms[1])
    << " |\n";
  t << "| **last ack -> every instance on every agent** | **"
    << (all ? since_last_ack(both) : "NOT within the timeout") << "** |\n";
  t << "| route-table writes by the main leader (kess_routes_writes_total) | "
    << static_cast<int64_t>(writes) << " (" << FLAGS_services
    << " services; without coalescing " << FLAGS_instances << ") |\n";
  t << "| revisions committed: dc1 / dc2 (replicated) | " << revisions[0]
    << " / " << revisions[1] << " |\n";
  for (int d = 0; d < 2; ++d) {
    t << "| ZooKeeper packets received, dc" << d + 1 << " (mntr), over "
      << Ms(counted_over) << " | " << packets_after[d] - packets_before[d]
      << " (idle background " << absl::StrFormat("%.0f", background[d])
      << "/s) |\n";
  }
  std::cout << t.str();
  clients[0].clear();
  clients[1].clear();
  loop->reset();
  started->reset();
  if (FLAGS_keep_dir) {
    std::cerr << "kept " << scratch << "\n";
  } else {
    std::filesystem::remove_all(scratch);
  }
  return all && failed == 0 ? 0 : 1;
}

}  // namespace
}  // namespace bench
}  // namespace kess

int main(int argc, char** argv) {
  kess::InitProcess(&argc, &argv, "discovery_storm_bench");
  return kess::bench::Run();
}
