// The fault suite, faults of the daemons: kill -9, ZooKeeper session
// expiry, a stalled process and clock jumps, of mandators, distributors and
// agents; on one cache-tier cluster of real processes on 127.0.0.1 (two DCs,
// each ZooKeeper + 2 mandators + 2 distributors + 2 agents; the slave mandators
// reach their ZooKeeper through a ZkSessionProxy). Each scenario runs a write
// stream, injects its faults, lifts them, and runs the InvariantChecker —
// invariants of docs/design.md: every agent converges to the main DC (6), no
// cache file went backwards or was torn for a reader (7), no acknowledged write
// was lost (2).
//
// Each scenario prints one line "FAULTS|<scenario>|<faults>|<writes>|
// <files>|<reads>|<violations>" that scripts/faults.sh turns into the
// table of docs/reliability.md.
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/testing/wait_for.h"
#include "gtest/gtest.h"
#include "tests/cluster/cache_tier_cluster.h"
#include "tests/cluster/zk_session_proxy.h"
#include "tests/faults/fault_fixture.h"
#include "zk_schema/testing/real_zk.h"

namespace kess {
namespace testing {
namespace {

constexpr char kNs[] = "faults";

class DaemonFaultsTest : public CacheTierFaultTest {
 protected:
  static void SetUpTestSuite() {
    CacheTierClusterOptions options;
    options.dcs.mandators_per_dc = 2;
    options.dcs.proxy_slave_zk = true;
    options.distributors_per_dc = 2;
    options.agents_per_dc = 2;
    StartCluster(options, FaultKeys(kNs));
  }
};

// (1) kill -9 of a main-DC mandator follower, then the main mandator
// leader, a main-DC distributor and an agent, at random moments (fixed
// seed) during a write stream; each is restarted after a moment.
TEST_F(DaemonFaultsTest, Kill9LeaderDistributorAgentDuringWrites) {
  std::mt19937 rng(8);
  std::uniform_int_distribution<int> pause_ms(300, 1500);
  std::vector<std::string> faults;
  {
    AckedWriter writes(cluster_, checker_.get(), keys(), "kill9");
    absl::SleepFor(absl::Milliseconds(pause_ms(rng)));

    MandatorProcess* leader = WaitLeader(cluster_->dcs().main(), kPatience);
    ASSERT_NE(leader, nullptr);
    MandatorProcess* follower = nullptr;
    for (auto& m : cluster_->dcs().main()) {
      if (m.get() != leader) follower = m.get();
    }
    ASSERT_NE(follower, nullptr);
    follower->Kill();
    faults.push_back("kill -9 main follower");
    absl::SleepFor(absl::Milliseconds(pause_ms(rng)));
    ASSERT_TRUE(follower->Restart().ok());
    absl::SleepFor(absl::Milliseconds(pause_ms(rng)));

    leader->Kill();
    faults.push_back("kill -9 main leader");
    absl::SleepFor(absl::Milliseconds(pause_ms(rng)));

    DistributorProcess* d = cluster_->main().distributors[rng() % 2].get();
    d->Kill();
    faults.push_back("kill -9 distributor");
    absl::SleepFor(absl::Milliseconds(pause_ms(rng)));

    AgentHost* agent = cluster_->AllAgents()[rng() % 4];
    agent->Kill();
    faults.push_back("kill -9 agent");
    absl::SleepFor(absl::Milliseconds(pause_ms(rng)));

    // Lift the faults while writes go on.
    ASSERT_TRUE(agent->Restart().ok());
    ASSERT_TRUE(d->Restart().ok());
    ASSERT_TRUE(leader->Restart().ok());
    absl::SleepFor(absl::Seconds(1));
  }
  Finish("kill9_leader_distributor_agent", faults);
}

// (3) Forced ZooKeeper session expiry of the slave DC's mandator leader
// (through its ZkSessionProxy) during a write stream.
TEST_F(DaemonFaultsTest, SlaveLeaderSessionExpiryDuringWrites) {
  std::vector<std::string> faults;
  {
    AckedWriter writes(cluster_, checker_.get(), keys(), "expiry");
    absl::SleepFor(absl::Milliseconds(500));
    MandatorProcess* leader = WaitLeader(cluster_->dcs().slave(), kPatience);
    ASSERT_NE(leader, nullptr);
    auto creds = cluster_->dcs().SlaveSessionCredentials(*leader);
    ASSERT_TRUE(creds.ok()) << creds.status();
    absl::Status expired = zk::testing::ExpireSession(
        cluster_->dcs().slave_zk().ConnectString(), *creds);
    ASSERT_TRUE(expired.ok()) << expired;
    faults.push_back("ZK session expiry of the slave leader");
    absl::SleepFor(absl::Seconds(2));
  }
  Finish("zk_session_expiry_slave_leader", faults);
}

// (5) A stalled distributor (SIGSTOP) in each DC while writes go on, for
// 12 s: its agents fail over to the other one and stay there. A stopped
// process still completes TCP handshakes (the kernel's backlog), so an
// agent whose return probe only connected would go back every
// --return_interval_ms (3 s), time out there and reconnect again; the probe
// must get an answer. Per agent (its own counters): at most 2 reconnect
// attempts (the failover, and one spare) and 2 distributor switches — no
// flapping, no storm. SIGCONT lifts it.
TEST_F(DaemonFaultsTest, StalledDistributorAgentsFailOverWithoutStorm) {
  std::vector<std::string> faults;
  const std::vector<AgentHost*> agents = cluster_->AllAgents();
  auto counter = [](const AgentHost* a, const char* name) {
    return Metric(AgentMetrics(*a), name);
  };
  std::vector<double> switches_before, attempts_before;
  for (const AgentHost* a : agents) {
    switches_before.push_back(
        counter(a, "kess_agent_distributor_switches_total"));
    attempts_before.push_back(
        counter(a, "kess_agent_reconnect_attempts_total"));
  }
  std::vector<DistributorProcess*> stopped;
  {
    AckedWriter writes(cluster_, checker_.get(), keys(), "stall");
    for (CacheTierDc* dc : {&cluster_->main(), &cluster_->slave()}) {
      // The distributor that the DC's first agent uses.
      DistributorProcess* d = nullptr;
      // DistributorOf asks the agent over HTTP: polled slowly.
      WaitFor(
          [&] {
            d = dc->DistributorAt(DistributorOf(*dc->agents[0]));
            return d != nullptr;
          },
          kPatience, absl::Milliseconds(100));
      ASSERT_NE(d, nullptr) << dc->name;
      ASSERT_EQ(kill(d->pid(), SIGSTOP), 0);
      stopped.push_back(d);
      faults.push_back(absl::StrCat("SIGSTOP distributor (", dc->name, ")"));
    }
    absl::SleepFor(absl::Seconds(12));
    // Every agent is on a distributor that answers.
    for (const AgentHost* a : agents) {
      const std::string now = DistributorOf(*a);
      for (const DistributorProcess* d : stopped) {
        EXPECT_NE(now, d->address()) << a->host_id() << " on a stopped one";
      }
    }
    for (DistributorProcess* d : stopped) ASSERT_EQ(kill(d->pid(), SIGCONT), 0);
    absl::SleepFor(absl::Seconds(1));
  }
  double total_switches = 0, total_attempts = 0;
  for (size_t i = 0; i < agents.size(); ++i) {
    const double switches =
        counter(agents[i], "kess_agent_distributor_switches_total") -
        switches_before[i];
    const double attempts =
        counter(agents[i], "kess_agent_reconnect_attempts_total") -
        attempts_before[i];
    EXPECT_LE(switches, 2) << "flapping at " << agents[i]->host_id();
    EXPECT_LE(attempts, 2) << "flapping or a reconnect storm at "
                           << agents[i]->host_id();
    total_switches += switches;
    total_attempts += attempts;
  }
  faults.push_back(absl::StrCat(total_switches, " agent failovers"));
  faults.push_back(absl::StrCat(total_attempts, " reconnect attempts"));
  Finish("stalled_distributor", faults);
}

// (8) Clock jumps on an agent (libfaketime; wall clock only: a real
// monotonic clock never jumps): a host h9 in the main DC whose clock jumps
// 1 h back, then 2 h forward, while writes go on. Its cache must still
// converge and never go backwards. It stays in the main DC's agents.
TEST_F(DaemonFaultsTest, AgentClockJumpsDuringWrites) {
  if (!FaketimeWrapper::Installed()) GTEST_SKIP() << "faketime missing";
  const FaketimeWrapper clock(absl::StrCat(cluster_->dcs().dir(), "/faketime"),
                              "agent-h9", "agent/agent");
  ASSERT_NE(AddAgent(cluster_->main(), "h9", clock.path()), nullptr);

  std::vector<std::string> faults;
  {
    AckedWriter writes(cluster_, checker_.get(), keys(), "clock");
    absl::SleepFor(absl::Seconds(2));
    clock.SetOffset("-1h");
    faults.push_back("agent clock -1h");
    absl::SleepFor(absl::Seconds(4));
    clock.SetOffset("+2h");
    faults.push_back("agent clock +2h");
    absl::SleepFor(absl::Seconds(4));
    clock.SetOffset("+0");
    absl::SleepFor(absl::Seconds(2));
  }
  Finish("agent_clock_jumps", faults);
}

// (8) Clock jumps on a distributor: an extra main-DC distributor d8 under
// libfaketime, and an extra agent h12 whose only distributor it is. Its
// wall clock jumps 1 h back, then 2 h forward, while writes go on. The
// distributor's heartbeat timeouts run on the monotonic clock, so it must
// not drop its agent (h12 makes no reconnect attempt) and h12 keeps
// following the writes and converges.
TEST_F(DaemonFaultsTest, DistributorClockJumpsDuringWrites) {
  if (!FaketimeWrapper::Installed()) GTEST_SKIP() << "faketime missing";
  CacheTierDc& main = cluster_->main();
  const FaketimeWrapper clock(absl::StrCat(cluster_->dcs().dir(), "/faketime"),
                              "distributor-d8", "distributor/distributor");
  DistributorProcessOptions o;
  o.binary = clock.path();  // exec keeps the pid: only d8 is signalled
  o.id = "d8";
  o.datacenter = main.name;
  o.zk = cluster_->dcs().main_zk().ConnectString();
  o.zk_auth_file = cluster_->dcs().auth_file();
  o.auth_token_file = cluster_->token_file();
  o.tls_flags = cluster_->dcs().tls().Flags("distributor");
  o.log_dir = cluster_->dcs().logs_dir();
  auto d8 = DistributorProcess::Start(o);
  ASSERT_TRUE(d8.ok()) << d8.status();
  AgentHost* h12 = AddAgent(main, "h12", "", {(*d8)->address()});
  ASSERT_NE(h12, nullptr);
  const std::string k0 = keys()[0].second;

  std::vector<std::string> faults;
  double attempts = -1;
  {
    AckedWriter writes(cluster_, checker_.get(), keys(), "dclock");
    absl::SleepFor(absl::Seconds(2));
    const double attempts0 =
        Metric(AgentMetrics(*h12), "kess_agent_reconnect_attempts_total");
    const int64_t seen = CachedRevision(*h12, kNs, k0);
    clock.SetOffset("-1h");
    faults.push_back("distributor clock -1h");
    absl::SleepFor(absl::Seconds(4));
    clock.SetOffset("+2h");
    faults.push_back("distributor clock +2h");
    absl::SleepFor(absl::Seconds(4));
    attempts =
        Metric(AgentMetrics(*h12), "kess_agent_reconnect_attempts_total") -
        attempts0;
    EXPECT_EQ(attempts, 0) << "the distributor dropped its agent";
    EXPECT_EQ(DistributorOf(*h12), (*d8)->address());
    EXPECT_GT(CachedRevision(*h12, kNs, k0), seen)
        << "its agent stopped following the writes";
    clock.SetOffset("+0");
    absl::SleepFor(absl::Seconds(2));
  }
  faults.push_back(absl::StrCat(attempts, " reconnect attempts"));
  Finish("distributor_clock_jumps", faults);
  RemoveAgent(main, h12);  // it leaves with d8
}

// The ZooKeeper session id a daemon's /api/v1/status names ("0x..."); 0 if
// none.
int64_t StatusSessionId(Poco::JSON::Object::Ptr status) {
  if (!status) return 0;
  const std::string hex = status->optValue<std::string>("zk_session_id", "");
  uint64_t id = 0;
  if (hex.size() < 3 || !absl::SimpleHexAtoi(hex.substr(2), &id)) return 0;
  return static_cast<int64_t>(id);
}

// (3) A distributor's ZooKeeper session expires: an extra main-DC
// distributor d9 reaches ZooKeeper through a ZkSessionProxy, and an extra
// agent h7 has d9 as its only distributor. During a write stream the
// session is expired (a second handle with its credentials): d9 must make
// a new session, re-arm its watch, keep its process and its agent, and
// the writes after the expiry must reach h7 (invariant 6 of
// docs/design.md, checked in Finish, covers h7).
TEST_F(DaemonFaultsTest, DistributorSessionExpiry) {
  CacheTierDc& main = cluster_->main();
  ZkEnsemble& zk = cluster_->dcs().main_zk();
  auto proxy = ZkSessionProxy::Start(zk.ConnectString());
  ASSERT_TRUE(proxy.ok()) << proxy.status();
  DistributorProcessOptions o;
  o.id = "d9";
  o.datacenter = main.name;
  o.zk = (*proxy)->address();
  o.zk_auth_file = cluster_->dcs().auth_file();
  o.auth_token_file = cluster_->token_file();
  o.tls_flags = cluster_->dcs().tls().Flags("distributor");
  o.log_dir = cluster_->dcs().logs_dir();
  auto d9 = DistributorProcess::Start(o);
  ASSERT_TRUE(d9.ok()) << d9.status();
  const pid_t d9_pid = (*d9)->pid();
  AgentHost* h7 = AddAgent(main, "h7", "", {(*d9)->address()});
  ASSERT_NE(h7, nullptr);

  std::vector<std::string> faults;
  int64_t old_session = 0, new_session = 0;
  {
    AckedWriter writes(cluster_, checker_.get(), keys(), "dist-expiry");
    absl::SleepFor(absl::Seconds(1));
    old_session = StatusSessionId((*d9)->Status());
    ASSERT_NE(old_session, 0) << "d9's status names no ZooKeeper session";
    auto creds = (*proxy)->Credentials(old_session);
    ASSERT_TRUE(creds.ok()) << creds.status();
    absl::Status expired =
        zk::testing::ExpireSession(zk.ConnectString(), *creds);
    ASSERT_TRUE(expired.ok()) << expired;
    faults.push_back("ZK session expiry of a distributor");
    // A new session, not stale again, within "did not hang".
    const absl::Time deadline = absl::Now() + kConverge;
    while (absl::Now() < deadline) {
      Poco::JSON::Object::Ptr s = (*d9)->Status();
      new_session = StatusSessionId(s);
      if (new_session != 0 && new_session != old_session && s &&
          !s->getValue<bool>("stale")) {
        break;
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
    EXPECT_NE(new_session, old_session) << "no new session";
    EXPECT_EQ((*d9)->pid(), d9_pid);
    // Writes after the expiry: the writer goes on for 3 s more.
    absl::SleepFor(absl::Seconds(3));
  }
  EXPECT_EQ(DistributorOf(*h7), (*d9)->address());
  faults.push_back("new session; later writes reached its only agent");
  Finish("distributor_session_expiry", faults);
  RemoveAgent(main, h7);  // it leaves with d9
}

}  // namespace
}  // namespace testing
}  // namespace kess
