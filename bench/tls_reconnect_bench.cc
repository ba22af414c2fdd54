// bench/tls_reconnect_bench: N agents (re)connecting to one real
// distributor process at once over TLS. One DC (tests/cluster: ZooKeeper,
// a mandator, one distributor with --max_connections_per_peer=0), TLS on;
// the agents are simulated (tests/load/simulated_agents.h), N transport
// clients on one event loop in this process, every connect started at
// once; those that fail (accept queue full, connect timeout) are started
// again together until all are connected, as agents retry. Three storms,
// each timed from the first connect to the last connected (TLS handshake
// done), with the distributor's CPU (utime + stime from /proc) and its
// completed handshakes, full and resumed
// (kess_transport_tls_handshakes_total{role="server"}):
//   1. first connect: no client has a ticket: full handshakes;
//   2. reconnect to the running distributor: every client closed, N new
//      ones offer a session ticket: resumed handshakes;
//   3. the distributor restarted (stopped, started again on the same
//      ports, waited until it loaded its data) with the N agents
//      connected, then N new clients at once: the old process's tickets
//      are void, so every agent makes a full handshake (modelled with
//      resumption off: the simulated agents share one client context,
//      whose one new ticket real agents would not share).
// Prints Markdown tables.
//
//   bench/run_tls_reconnect_bench.sh --agents=10000
#include <sys/types.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/init.h"
#include "common/tls/tls_context.h"
#include "common/transport/event_loop.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "tests/cluster/cache_tier_cluster.h"
#include "tests/load/load_util.h"
#include "tests/load/simulated_agents.h"

DEFINE_string(mandator_binary, "", "path of //mandator");
DEFINE_string(distributor_binary, "", "path of //distributor:distributor");
DEFINE_int32(agents, 10000, "simulated TLS agents");

namespace kess {
namespace bench {
namespace {

struct Storm {
  std::string name;
  int connected = 0;
  int rounds = 0;
  int failed_attempts = 0;
  double seconds = 0;
  double cpu_s = 0;
  double full = 0, resumed = 0;
};

double Handshakes(testing::DistributorProcess& d, bool resumed) {
  absl::StatusOr<double> v = testing::MetricValue(
      d.Metrics(), "kess_transport_tls_handshakes_total",
      resumed ? "role=\"server\",resumed=\"true\""
              : "role=\"server\",resumed=\"false\"");
  return v.ok() ? *v : 0;
}

constexpr int kMaxRounds = 20;

// Starts FLAGS_agents clients at once; those whose connect failed (the
// kernel's accept queue or the connect timeout) are started again at once,
// as many rounds as needed (at most kMaxRounds), like agents retrying.
// Returns with every client in `*agents`.
Storm RunStorm(const std::string& name, testing::DistributorProcess& d,
               transport::EventLoop* loop,
               std::shared_ptr<tls::TlsContext> tls,
               std::vector<std::unique_ptr<load::SimulatedAgents>>* agents) {
  Storm s;
  s.name = name;
  const double full0 = Handshakes(d, false), resumed0 = Handshakes(d, true);
  const double cpu0 = load::CpuSecondsOf(d.pid());
  const int port = d.port();
  const absl::Time start = absl::Now();
  for (int round = 0; round < kMaxRounds && s.connected < FLAGS_agents;
       ++round) {
    load::SimulatedAgents::Options o;
    o.connections = FLAGS_agents - s.connected;
    o.connect_batch = o.connections;  // all at once
    o.port = [port](int) { return port; };
    o.tls = tls;
    o.heartbeat_interval = absl::Seconds(30);
    agents->push_back(std::make_unique<load::SimulatedAgents>(
        loop, o, [](int, const std::string&) {}));
    const int connected = agents->back()->Connect();
    s.failed_attempts += o.connections - connected;
    s.connected += connected;
    s.rounds = round + 1;
  }
  s.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  s.cpu_s = load::CpuSecondsOf(d.pid()) - cpu0;
  s.full = Handshakes(d, false) - full0;
  s.resumed = Handshakes(d, true) - resumed0;
  LOG(INFO) << name << ": " << s.connected << " connected in " << s.seconds
            << " s, " << s.rounds << " rounds";
  return s;
}

int Run() {
  load::RaiseFdLimit();
  if (FLAGS_mandator_binary.empty() || FLAGS_distributor_binary.empty()) {
    LOG(ERROR) << "--mandator_binary and --distributor_binary are required";
    return 1;
  }
  testing::CacheTierClusterOptions options;
  options.dcs.slave_dcs = 0;
  options.dcs.mandators_per_dc = 1;
  options.dcs.tls = true;
  options.dcs.mandator_binary = FLAGS_mandator_binary;
  options.distributor_binary = FLAGS_distributor_binary;
  options.distributors_per_dc = 1;
  options.agents_per_dc = 0;
  // All clients come from 127.0.0.1; they send no frame after the
  // handshake, so the first-frame deadline is set beyond the run.
  options.distributor_flags = {"--max_connections_per_peer=0",
                               "--first_frame_timeout_ms=600000"};
  auto cluster = testing::CacheTierCluster::Start(options);
  if (!cluster.ok()) {
    LOG(ERROR) << cluster.status();
    return 1;
  }
  testing::DistributorProcess& d = *(*cluster)->main().distributors[0];
  auto tls = (*cluster)->dcs().tls().ClientContext();
  if (!tls.ok()) {
    LOG(ERROR) << tls.status();
    return 1;
  }
  auto loop = transport::EventLoop::Create("bench-agents");
  if (!loop.ok()) return 1;

  // Full handshakes: a context without session resumption (a first
  // connect has no ticket; after a restart every agent's ticket is void,
  // and agents do not share one). Resumed: a context that kept a ticket
  // from one connection before the storm.
  tls::TlsOptions full_options;
  full_options.ca_file = (*cluster)->dcs().tls().ca();
  full_options.reload_interval = absl::ZeroDuration();
  full_options.session_resumption = false;
  auto full_tls = tls::TlsContext::Create(tls::TlsSide::kClient, full_options);
  if (!full_tls.ok()) {
    LOG(ERROR) << full_tls.status();
    return 1;
  }
  std::vector<std::unique_ptr<load::SimulatedAgents>> agents;
  Storm storms[3];
  storms[0] = RunStorm("first connect (full handshakes)", d, loop->get(),
                       *full_tls, &agents);
  agents.clear();  // every client closed
  {
    // One connection gets the ticket the storm's clients offer.
    std::vector<std::unique_ptr<load::SimulatedAgents>> primer;
    const int n = FLAGS_agents;
    FLAGS_agents = 1;
    RunStorm("prime the ticket", d, loop->get(), *tls, &primer);
    FLAGS_agents = n;
  }
  storms[1] = RunStorm("reconnect to the running distributor (resumed)", d,
                       loop->get(), *tls, &agents);
  const absl::Time restart_start = absl::Now();
  absl::Status restarted = d.Restart();
  if (!restarted.ok()) {
    LOG(ERROR) << restarted;
    return 1;
  }
  const double restart_s =
      absl::ToDoubleSeconds(absl::Now() - restart_start);
  agents.clear();  // their connections were closed by the restart
  storms[2] = RunStorm("after a distributor restart (full handshakes)", d,
                       loop->get(), *full_tls, &agents);
  agents.clear();

  printf("| setup | |\n|---|---|\n");
  printf("| cluster | 1 DC: 1 ZooKeeper server, 1 `mandator`, 1 `distributor` "
         "(`-c opt`, --max_connections_per_peer=0), TLS 1.3, ECDSA P-256 "
         "certificates of `kessctl certs init`'s code |\n");
  printf("| agents | %d simulated, transport clients on one event-loop "
         "thread in the benchmark process; storms 1 and 3 with session "
         "resumption off, storm 2 offering a ticket taken by one connection "
         "before it; all connects started at once; a client whose connect "
         "failed (accept queue full, 5 s connect timeout) is started again with the others that "
         "failed, at once, until all are connected (at most %d rounds); the "
         "same 2 cores as the distributor |\n",
         FLAGS_agents, kMaxRounds);
  printf("| restart | stop (SIGTERM) and start again on the same ports, "
         "waited until loaded: %.2f s, before storm 3 |\n\n",
         restart_s);
  printf("| storm | connected | rounds (failed connects) | first connect -> "
         "last connected | distributor CPU | per connected agent | full | "
         "resumed |\n");
  printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
  int status = 0;
  for (const Storm& s : storms) {
    printf("| %s | %d / %d | %d (%d) | %.2f s | %.2f s | %.0f us | %.0f | "
           "%.0f |\n",
           s.name.c_str(), s.connected, FLAGS_agents, s.rounds,
           s.failed_attempts, s.seconds, s.cpu_s,
           s.connected > 0 ? s.cpu_s * 1e6 / s.connected : 0, s.full,
           s.resumed);
    if (s.connected != FLAGS_agents) status = 2;
  }
  return status;
}

}  // namespace
}  // namespace bench
}  // namespace kess

int main(int argc, char** argv) {
  kess::InitProcess(&argc, &argv,
                    "bench: N TLS agents reconnecting to a distributor");
  return kess::bench::Run();
}
