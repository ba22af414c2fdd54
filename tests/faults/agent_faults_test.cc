// The fault suite, faults of the agents: disk faults under one agent and
// every agent restarted at once; on one cache-tier cluster of real
// processes on 127.0.0.1 (two DCs,
// each ZooKeeper + 1 mandator + 2 distributors + 3 agents). Each scenario
// runs a write stream, injects its faults, lifts them, and runs the
// InvariantChecker (invariants of docs/design.md: every agent converges to
// the main DC (6), no cache file went backwards or was torn for a reader
// (7), no acknowledged write was lost (2)).
//
// Each scenario prints one line "FAULTS|<scenario>|<faults>|<writes>|
// <files>|<reads>|<violations>" that scripts/faults.sh turns into the
// table of docs/reliability.md.
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "agent/distributor_order.h"
#include "common/testing/wait_for.h"
#include "common/transport/event_loop.h"
#include "gtest/gtest.h"
#include "model/protocol/distribution.pb.h"
#include "tests/cluster/cache_tier_cluster.h"
#include "tests/faults/fault_fixture.h"
#include "tests/harness/fiu_ctrl.h"
#include "tests/harness/run_command.h"
#include "tests/load/load_util.h"
#include "tests/load/simulated_agents.h"
#include "zk_schema/testing/real_zk.h"

namespace kess {
namespace testing {
namespace {

constexpr char kNs[] = "faults";

// zk_packets_received of both DCs' ZooKeeper (one server each).
int64_t ZkPackets(TwoDcCluster& dcs) {
  int64_t total = 0;
  for (ZkEnsemble* zk : {&dcs.main_zk(), &dcs.slave_zk()}) {
    absl::StatusOr<int64_t> v = zk->MntrValue(0, "zk_packets_received");
    EXPECT_TRUE(v.ok()) << v.status();
    if (v.ok()) total += *v;
  }
  return total;
}

class AgentFaultsTest : public CacheTierFaultTest {
 protected:
  static void SetUpTestSuite() {
    CacheTierClusterOptions options;
    options.dcs.mandators_per_dc = 1;
    options.distributors_per_dc = 2;
    options.agents_per_dc = 3;
    // The simulated agents all connect from 127.0.0.1.
    options.distributor_flags.push_back("--max_connections_per_peer=0");
    StartCluster(options, FaultKeys(kNs));
  }

  void RunAgentDiskFault(const std::string& host_id,
                         const std::string& fault_point, int error,
                         const std::string& error_name,
                         const std::string& scenario);
};

// Names of temp files (writes in progress, file_cache's ".<name>.tmp-...")
// under `dir`, recursively.
std::vector<std::string> TempFiles(const std::string& dir) {
  absl::StatusOr<CommandResult> find =
      RunCommand({"find", dir, "-name", ".*", "-type", "f"}, absl::Seconds(60));
  EXPECT_TRUE(find.ok()) << find.status();
  if (!find.ok()) return {};
  return absl::StrSplit(find->out, '\n', absl::SkipEmpty());
}

// (7) Disk faults on one agent: an extra main-DC agent runs under fiu-run
// (Debian fiu-utils), and fiu-ctrl makes every call of the libc function
// `fault_point` fail with errno `error` (`error_name`) for 5 s while writes
// go on, then heals it. While it fails, the agent's old cache files stay
// intact (the reader loop sees no torn or backwards file; the cached
// revision does not move), no temp file is left behind, the errors are
// counted and /healthz says 503; once healed the agent converges with
// everyone else (the invariant check in Finish).
void AgentFaultsTest::RunAgentDiskFault(const std::string& host_id,
                                        const std::string& fault_point,
                                        int error,
                                        const std::string& error_name,
                                        const std::string& scenario) {
  const char* kFiuRun = "/usr/bin/fiu-run";
  if (access(kFiuRun, X_OK) != 0) {
    GTEST_SKIP() << "fiu-run missing: run scripts/setup.sh (fiu-utils)";
  }
  const char* srcdir = std::getenv("TEST_SRCDIR");
  ASSERT_NE(srcdir, nullptr);
  const std::string dir = absl::StrCat(cluster_->dcs().dir(), "/fiu-", host_id);
  std::error_code mkdir_error;
  std::filesystem::create_directories(dir, mkdir_error);
  ASSERT_FALSE(mkdir_error) << dir << ": " << mkdir_error.message();
  const std::string fifo = dir + "/ctrl";
  const std::string wrapper = dir + "/agent";
  {
    std::ofstream w(wrapper, std::ios::trunc);
    w << "#!/bin/sh\nexec " << kFiuRun << " -x -f " << fifo << " " << srcdir
      << "/kess/agent/agent \"$@\"\n";
  }
  ASSERT_EQ(chmod(wrapper.c_str(), 0755), 0);
  AgentHost* agent = AddAgent(cluster_->main(), host_id, wrapper);
  ASSERT_NE(agent, nullptr);
  // It leaves with this scenario, whatever its outcome.
  absl::Cleanup remove_agent = [this, agent] {
    RemoveAgent(cluster_->main(), agent);
  };
  auto fiu_ctrl = [&](const std::string& command) {
    return FiuCtrl(fifo, agent->pid(), command);
  };
  const std::string k0 = keys()[0].second;

  std::vector<std::string> faults;
  int64_t errors = 0;
  {
    AckedWriter writes(cluster_, checker_.get(), keys(), scenario);
    // The agent has cached something before the fault.
    WaitFor([&] { return CachedRevision(*agent, kNs, k0) != 0; }, kConverge);
    const int64_t before = CachedRevision(*agent, kNs, k0);
    ASSERT_GT(before, 0);
    ASSERT_EQ(fiu_ctrl(absl::StrCat("enable name=", fault_point,
                                    ",failinfo=", error)),
              absl::OkStatus());
    faults.push_back(absl::StrCat(fault_point, " fails with ", error_name,
                                  " on one agent (5 s)"));
    // Give a write already past that call time to land, then the file must
    // hold still while everyone else moves on.
    absl::SleepFor(absl::Milliseconds(500));
    const int64_t frozen = CachedRevision(*agent, kNs, k0);
    EXPECT_GE(frozen, before);
    absl::SleepFor(absl::Milliseconds(4500));
    EXPECT_EQ(CachedRevision(*agent, kNs, k0), frozen)
        << "a cache file changed while " << fault_point << " failed";
    EXPECT_GT(CachedRevision(*cluster_->main().agents[0], kNs, k0), frozen)
        << "the other agents did not move on (no writes?)";
    absl::StatusOr<double> counted =
        MetricValue(AgentMetrics(*agent), "kess_agent_cache_write_errors_total",
                    absl::StrCat("errno=\"", error_name, "\""));
    ASSERT_TRUE(counted.ok()) << counted.status();
    errors = static_cast<int64_t>(*counted);
    EXPECT_GT(errors, 0);
    absl::StatusOr<HttpReply> health = agent->Call("GET", "/healthz");
    ASSERT_TRUE(health.ok());
    EXPECT_EQ(health->status, 503) << health->body;
    ASSERT_EQ(fiu_ctrl(absl::StrCat("disable name=", fault_point)),
              absl::OkStatus());
    absl::SleepFor(absl::Seconds(2));
  }
  // The failed writes removed their temp files (a write in flight has one
  // for a moment; a leaked one stays).
  std::vector<std::string> temps = TempFiles(agent->cache_dir());
  for (const absl::Time until = absl::Now() + absl::Seconds(10);
       !temps.empty() && absl::Now() < until;
       temps = TempFiles(agent->cache_dir())) {
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_TRUE(temps.empty()) << "left behind: " << absl::StrJoin(temps, " ");
  faults.push_back(absl::StrCat(errors, " write errors counted"));
  Finish(scenario, faults);
}

TEST_F(AgentFaultsTest, AgentFsyncEioThenHealed) {
  RunAgentDiskFault("h8", "posix/io/sync/fsync", EIO, "EIO", "agent_fsync_eio");
}

// A full disk: write(2) fails with ENOSPC. The agent's event loops wake
// through eventfd_write (not write), so only file writes fail.
TEST_F(AgentFaultsTest, AgentWriteEnospcThenHealed) {
  RunAgentDiskFault("h10", "posix/io/rw/write", ENOSPC, "ENOSPC",
                    "agent_write_enospc");
}

// A count from the environment (scripts/faults.sh --restart-agents /
// --simulated-agents pass them with --test_env), else `fallback`.
int EnvCount(const char* name, int fallback) {
  const char* v = std::getenv(name);
  int n = 0;
  return v != nullptr && absl::SimpleAtoi(v, &n) && n >= 0 ? n : fallback;
}

// (6) Restart of all agents at once: every real agent of both DCs — the
// cluster's, plus KESS_FAULTS_RESTART_AGENTS (default 20) more real agent
// processes in the main DC — is killed (-9) together while
// KESS_FAULTS_SIM_AGENTS (default 300) simulated agents
// (tests/load/simulated_agents.h, one transport client each, the main DC's
// distributor chosen by the agents' own rendezvous order) drop their
// connections; then all come back at once. Agents never reach ZooKeeper,
// so its packet rate must not move beyond the background (distributor
// polls, mandator heartbeats: invariant 8 of docs/design.md); the connections
// spread over both main-DC distributors again (each >= 25 %); no reconnect
// storm (reconnect attempts per agent and subscribe requests per distributor
// bounded); the main distributors' CPU over the restart is reported.
TEST_F(AgentFaultsTest, AllAgentsRestartedAtOnceWithSimulatedAgents) {
  const int kSims = EnvCount("KESS_FAULTS_SIM_AGENTS", 300);
  const int kExtraReal = EnvCount("KESS_FAULTS_RESTART_AGENTS", 20);
  std::vector<AgentHost*> extra;
  // The extra agents leave with this scenario, whatever its outcome.
  absl::Cleanup remove_extra = [this, &extra] {
    for (AgentHost* a : extra) RemoveAgent(cluster_->main(), a);
  };
  for (int i = 1; i <= kExtraReal; ++i) {
    absl::StatusOr<AgentHost*> a =
        cluster_->AddAgent(cluster_->main(), absl::StrCat("r", i));
    ASSERT_TRUE(a.ok()) << a.status();
    extra.push_back(*a);
    ASSERT_TRUE((*a)->Subscribe(SubscriptionBody(keys())).ok());
  }
  reader_->Stop();
  reader_ = std::make_unique<CacheReaderLoop>(CacheDirs(cluster_->AllAgents()));
  std::string token;
  {
    std::ifstream in(cluster_->token_file());
    std::stringstream ss;
    ss << in.rdbuf();
    token = std::string(absl::StripAsciiWhitespace(ss.str()));
  }
  CacheTierDc& main = cluster_->main();
  const std::vector<std::string> addrs = main.DistributorAddresses();
  auto loop = transport::EventLoop::Create("sim-agents");
  ASSERT_TRUE(loop.ok()) << loop.status();
  auto start_sims = [&]() -> std::unique_ptr<load::SimulatedAgents> {
    load::SimulatedAgents::Options o;
    o.connections = kSims;
    o.connect_batch = 50;
    o.heartbeat_interval = absl::Seconds(1);
    o.heartbeat_timeout = absl::Seconds(10);
    o.call_timeout = absl::Seconds(20);
    auto tls = cluster_->dcs().tls().ClientContext();
    EXPECT_TRUE(tls.ok()) << tls.status();
    if (tls.ok()) o.tls = *tls;
    o.port = [&](int i) {
      return main
          .DistributorAt(
              agent::DistributorOrder(absl::StrCat("sim-", i), addrs)[0])
          ->port();
    };
    auto sims = std::make_unique<load::SimulatedAgents>(
        loop->get(), o, [](int, const std::string&) {});
    EXPECT_EQ(sims->Connect(), kSims);
    int64_t bytes = 0;
    const int subscribed = sims->Subscribe(
        [&](int i) {
          protocol::SubscribeRequest request;
          request.set_host_id(absl::StrCat("sim-", i));
          request.set_auth_token(token);
          for (const auto& [ns, key] : keys()) {
            protocol::ResourceKey* k = request.add_keys()->mutable_key();
            k->set_namespace_name(ns);
            k->set_key(key);
          }
          return request.SerializeAsString();
        },
        &bytes);
    EXPECT_EQ(subscribed, kSims);
    return sims;
  };
  auto connected = [&](DistributorProcess* d) {
    return Metric(d->Metrics(), "kess_distributor_connected_agents");
  };
  auto subscribes = [&](DistributorProcess* d) {
    return Metric(d->Metrics(), "kess_distributor_subscribe_requests_total");
  };
  const int expected_main = kSims + static_cast<int>(main.agents.size());
  auto wait_connected = [&]() {
    const absl::Time deadline = absl::Now() + kConverge;
    while (absl::Now() < deadline) {
      double sum = 0;
      for (auto& d : main.distributors) sum += connected(d.get());
      if (sum >= expected_main) return true;
      absl::SleepFor(absl::Milliseconds(200));
    }
    for (auto& d : main.distributors)
      std::printf("%s: %.0f connected\n", d->id().c_str(), connected(d.get()));
    for (auto& a : main.agents)
      std::printf("%s: distributor '%s'\n", a->host_id().c_str(),
                  DistributorOf(*a).c_str());
    return false;
  };

  std::unique_ptr<load::SimulatedAgents> sims = start_sims();
  ASSERT_TRUE(wait_connected());
  std::vector<std::string> faults;
  const std::vector<AgentHost*> agents = cluster_->AllAgents();
  int64_t quiet_packets = 0, fault_packets = 0;
  absl::Duration quiet_window, fault_window;
  std::vector<double> subs_before;
  {
    AckedWriter writes(cluster_, checker_.get(), keys(), "restart-all-before");
    absl::SleepFor(absl::Seconds(2));
  }
  // Background ZooKeeper traffic, no writes, nothing restarting.
  {
    const absl::Time t0 = absl::Now();
    const int64_t p0 = ZkPackets(cluster_->dcs());
    absl::SleepFor(absl::Seconds(4));
    quiet_packets = ZkPackets(cluster_->dcs()) - p0;
    quiet_window = absl::Now() - t0;
  }
  for (auto& d : main.distributors) subs_before.push_back(subscribes(d.get()));
  double distributor_cpu = 0;  // seconds, both main-DC distributors
  {
    for (auto& d : main.distributors)
      distributor_cpu -= load::CpuSecondsOf(d->pid());
    const absl::Time t0 = absl::Now();
    const int64_t p0 = ZkPackets(cluster_->dcs());
    // Everything goes down together...
    std::vector<std::thread> killers;
    for (AgentHost* a : agents) killers.emplace_back([a] { a->Kill(); });
    sims.reset();
    for (std::thread& t : killers) t.join();
    faults.push_back(absl::StrCat("kill -9 all ", agents.size(), " agents"));
    faults.push_back(absl::StrCat(kSims, " simulated agents disconnected"));
    absl::SleepFor(absl::Seconds(1));
    // ... and comes back together.
    // Restarted from this thread: a child started by another thread would
    // get its PDEATHSIG when that thread ends. Each Restart returns as soon
    // as the agent serves HTTP (milliseconds), so they start together.
    for (AgentHost* a : agents) ASSERT_TRUE(a->Restart().ok()) << a->host_id();
    sims = start_sims();
    ASSERT_TRUE(wait_connected());
    fault_packets = ZkPackets(cluster_->dcs()) - p0;
    fault_window = absl::Now() - t0;
    for (auto& d : main.distributors)
      distributor_cpu += load::CpuSecondsOf(d->pid());
  }
  // ZooKeeper: the reconnects add nothing beyond background noise (306
  // clients reaching ZooKeeper would add >= 306 packets).
  const double quiet_rate = quiet_packets / absl::ToDoubleSeconds(quiet_window);
  const double fault_rate = fault_packets / absl::ToDoubleSeconds(fault_window);
  std::printf(
      "zk packets: quiet %lld in %s (%.1f/s), restart %lld in %s "
      "(%.1f/s)\n",
      static_cast<long long>(quiet_packets),
      absl::FormatDuration(quiet_window).c_str(), quiet_rate,
      static_cast<long long>(fault_packets),
      absl::FormatDuration(fault_window).c_str(), fault_rate);
  EXPECT_LE(fault_packets,
            quiet_rate * absl::ToDoubleSeconds(fault_window) * 1.5 + 100)
      << "agent reconnects reached ZooKeeper?";
  // Spread over both distributors again.
  double sum = 0;
  std::vector<double> share;
  for (auto& d : main.distributors) {
    share.push_back(connected(d.get()));
    sum += share.back();
  }
  for (size_t i = 0; i < share.size(); ++i) {
    std::printf("distributor %s: %.0f of %.0f connections\n",
                main.distributors[i]->id().c_str(), share[i], sum);
    EXPECT_GE(share[i], 0.25 * sum) << main.distributors[i]->id();
  }
  // No storm: subscribe requests and reconnect attempts bounded.
  double new_subs = 0;
  for (size_t i = 0; i < main.distributors.size(); ++i)
    new_subs += subscribes(main.distributors[i].get()) - subs_before[i];
  EXPECT_LE(new_subs, 2.0 * expected_main) << "subscribe storm";
  double attempts = 0;
  for (AgentHost* a : agents) {
    const double n =
        Metric(AgentMetrics(*a), "kess_agent_reconnect_attempts_total");
    EXPECT_LE(n, 3) << a->host_id();
    attempts += std::max(0.0, n);
  }
  std::printf(
      "subscribe requests after restart: %.0f (main DC), agent "
      "reconnect attempts: %.0f\n",
      new_subs, attempts);
  faults.push_back(absl::StrCat(
      "zk packets ", fault_packets, " vs ",
      static_cast<int64_t>(quiet_rate * absl::ToDoubleSeconds(fault_window)),
      " background"));
  faults.push_back(absl::StrCat("spread ", absl::StrJoin(share, "/"),
                                " over 2 distributors"));
  // The distributors' load: reported, not asserted (speed belongs to the
  // benchmarks); a storm would show here as seconds of CPU.
  std::printf("main distributors' CPU over the restart: %.0f ms in %s\n",
              distributor_cpu * 1000,
              absl::FormatDuration(fault_window).c_str());
  faults.push_back(absl::StrCat(
      "distributors' CPU ", static_cast<int64_t>(distributor_cpu * 1000),
      " ms over ", absl::ToInt64Milliseconds(fault_window), " ms"));
  {
    AckedWriter writes(cluster_, checker_.get(), keys(), "restart-all-after");
    absl::SleepFor(absl::Seconds(2));
  }
  sims.reset();
  Finish("restart_all_agents", faults);
}

}  // namespace
}  // namespace testing
}  // namespace kess
