// Issue #8's fault suite, first scenarios: one cache-tier cluster of real
// processes on 127.0.0.1 (two DCs, each ZooKeeper + 2 mandators +
// 2 distributors + 2 agents; the slave mandators reach their ZooKeeper
// through a ZkSessionProxy). Each scenario runs a write stream, injects its
// faults, lifts them, and runs the InvariantChecker: every agent converges
// to the main DC, no cache file went backwards or was torn for a reader, no
// acknowledged write was lost.
//
// Each scenario prints one line "FAULTS|<scenario>|<faults>|<writes>|
// <files>|<reads>|<violations>" that scripts/faults.sh turns into the
// table of docs/reliability.md.
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/cluster/cache_reader_loop.h"
#include "tests/cluster/cache_tier_cluster.h"
#include "tests/faults/invariant_checker.h"
#include "zk_schema/zk_test_util.h"

namespace kess {
namespace testing {
namespace {

// "Did not hang" bounds.
constexpr absl::Duration kConverge = absl::Seconds(60);
constexpr absl::Duration kPatience = absl::Seconds(30);
constexpr char kNs[] = "faults";

ConfigKeys Keys() {
  ConfigKeys keys;
  for (int i = 0; i < 4; ++i) keys.push_back({kNs, absl::StrCat("k", i)});
  return keys;
}

std::vector<std::string> CacheDirs(const std::vector<AgentHost*>& agents) {
  std::vector<std::string> dirs;
  for (const AgentHost* a : agents) dirs.push_back(a->cache_dir());
  return dirs;
}

std::string DistributorOf(const AgentHost& agent) {
  Poco::JSON::Object::Ptr status = agent.Status();
  if (!status || !status->has("connected") ||
      !status->getValue<bool>("connected")) {
    return "";
  }
  return status->getValue<std::string>("distributor");
}

// PUTs to the keys round robin until stopped; a failed PUT (leader gone,
// ZooKeeper busy) is not acknowledged and retried with the next value.
class Writer {
 public:
  Writer(CacheTierCluster* cluster, InvariantChecker* checker,
         const std::string& tag)
      : thread_([this, cluster, checker, tag] {
          const ConfigKeys keys = Keys();
          for (int i = 0; !stop_; ++i) {
            const auto& [ns, key] = keys[i % keys.size()];
            const std::string value = absl::StrCat(tag, "-", i);
            absl::StatusOr<int64_t> rev = cluster->Put(ns, key, value);
            if (rev.ok()) {
              checker->NoteAck(ns, key, *rev, value);
              absl::SleepFor(absl::Milliseconds(20));
            } else {
              ++failed_;
              absl::SleepFor(absl::Milliseconds(200));
            }
          }
        }) {}
  ~Writer() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int failed() const { return failed_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> failed_{0};
  std::thread thread_;
};

class FaultScenariosTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    CacheTierClusterOptions options;
    options.dcs.mandators_per_dc = 2;
    options.dcs.proxy_slave_zk = true;
    options.distributors_per_dc = 2;
    options.agents_per_dc = 2;
    auto cluster = CacheTierCluster::Start(options);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(cluster).value().release();
    const ConfigKeys keys = Keys();
    std::vector<std::pair<std::string, std::string>> subs(keys.begin(),
                                                          keys.end());
    for (AgentHost* a : cluster_->AllAgents()) {
      ASSERT_TRUE(a->Subscribe(ConfigSubscription(subs)).ok());
    }
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(cluster_, nullptr);
    checker_ = std::make_unique<InvariantChecker>(cluster_);
    reader_ =
        std::make_unique<CacheReaderLoop>(CacheDirs(cluster_->AllAgents()));
  }

  // Stops the reader, checks, prints the FAULTS| line, expects no violation.
  void Finish(const std::string& scenario,
              const std::vector<std::string>& faults) {
    reader_->Stop();
    InvariantResult r = checker_->Check(Keys(), reader_.get(), kConverge);
    std::printf("FAULTS|%s|%s|%lld|%lld|%lld|%lld\n", scenario.c_str(),
                absl::StrJoin(faults, ", ").c_str(),
                static_cast<long long>(r.writes_checked),
                static_cast<long long>(r.files_checked),
                static_cast<long long>(r.reads_checked),
                static_cast<long long>(r.violation_count));
    std::fflush(stdout);
    EXPECT_GT(r.writes_checked, 0);
    EXPECT_TRUE(r.ok()) << scenario << ": " << r.Describe();
  }

  static CacheTierCluster* cluster_;
  std::unique_ptr<InvariantChecker> checker_;
  std::unique_ptr<CacheReaderLoop> reader_;
};
CacheTierCluster* FaultScenariosTest::cluster_ = nullptr;

// (1) kill -9 of the main mandator leader, a main-DC distributor and an
// agent at random moments (fixed seed) during a write stream; each is
// restarted after a moment.
TEST_F(FaultScenariosTest, Kill9LeaderDistributorAgentDuringWrites) {
  std::mt19937 rng(8);
  std::uniform_int_distribution<int> pause_ms(300, 1500);
  std::vector<std::string> faults;
  {
    Writer writer(cluster_, checker_.get(), "kill9");
    absl::SleepFor(absl::Milliseconds(pause_ms(rng)));

    MandatorProcess* leader = WaitLeader(cluster_->dcs().main(), kPatience);
    ASSERT_NE(leader, nullptr);
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
TEST_F(FaultScenariosTest, SlaveLeaderSessionExpiryDuringWrites) {
  std::vector<std::string> faults;
  {
    Writer writer(cluster_, checker_.get(), "expiry");
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

// (5) A stalled distributor (SIGSTOP) in each DC while writes go on: its
// agents fail over to the other one; each agent switches a few times at
// most (no reconnect storm). SIGCONT lifts it.
TEST_F(FaultScenariosTest, StalledDistributorAgentsFailOverWithoutStorm) {
  std::vector<std::string> faults;
  const std::vector<AgentHost*> agents = cluster_->AllAgents();
  std::vector<DistributorProcess*> stopped;
  std::vector<int> switches(agents.size(), 0);
  {
    Writer writer(cluster_, checker_.get(), "stall");
    for (CacheTierDc* dc : {&cluster_->main(), &cluster_->slave()}) {
      // The distributor that the DC's first agent uses.
      DistributorProcess* d = nullptr;
      const absl::Time deadline = absl::Now() + kPatience;
      while (d == nullptr && absl::Now() < deadline) {
        d = dc->DistributorAt(DistributorOf(*dc->agents[0]));
        if (d == nullptr) absl::SleepFor(absl::Milliseconds(100));
      }
      ASSERT_NE(d, nullptr) << dc->name;
      ASSERT_EQ(kill(d->pid(), SIGSTOP), 0);
      stopped.push_back(d);
      faults.push_back(absl::StrCat("SIGSTOP distributor (", dc->name, ")"));
    }
    // 8 s stalled: watch which distributor each agent uses.
    std::vector<std::string> last(agents.size());
    for (size_t i = 0; i < agents.size(); ++i)
      last[i] = DistributorOf(*agents[i]);
    const absl::Time until = absl::Now() + absl::Seconds(8);
    while (absl::Now() < until) {
      for (size_t i = 0; i < agents.size(); ++i) {
        std::string now = DistributorOf(*agents[i]);
        if (!now.empty() && now != last[i]) {
          ++switches[i];
          last[i] = now;
        }
      }
      absl::SleepFor(absl::Milliseconds(200));
    }
    for (DistributorProcess* d : stopped) ASSERT_EQ(kill(d->pid(), SIGCONT), 0);
    absl::SleepFor(absl::Seconds(1));
  }
  int total = 0;
  for (size_t i = 0; i < agents.size(); ++i) {
    total += switches[i];
    EXPECT_LE(switches[i], 3) << "reconnect storm at " << agents[i]->host_id();
  }
  faults.push_back(absl::StrCat(total, " agent failovers"));
  Finish("stalled_distributor", faults);
}

// (8) Clock jumps on an agent (libfaketime, the clock read from a file the
// test rewrites; wall clock only: a real monotonic clock never jumps): a
// host h9 in the main DC whose clock jumps 1 h back, then
// 2 h forward, while writes go on. Its cache must still converge and never
// go backwards. Runs last: it adds h9 to the main DC's agents.
TEST_F(FaultScenariosTest, AgentClockJumpsDuringWrites) {
  const char* kLib = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";
  if (access(kLib, R_OK) != 0) GTEST_SKIP() << "faketime is not installed";
  const char* srcdir = std::getenv("TEST_SRCDIR");
  ASSERT_NE(srcdir, nullptr);
  const std::string dir = absl::StrCat(cluster_->dcs().dir(), "/faketime");
  ASSERT_EQ(system(absl::StrCat("mkdir -p ", dir).c_str()), 0);
  const std::string offset_file = dir + "/offset";
  auto set_offset = [&](const std::string& offset) {
    std::ofstream(offset_file, std::ios::trunc) << offset << "\n";
  };
  set_offset("+0");
  const std::string wrapper = dir + "/agent";
  {
    std::ofstream w(wrapper, std::ios::trunc);
    w << "#!/bin/sh\n"
      << "export LD_PRELOAD=" << kLib << "\n"
      << "export FAKETIME_TIMESTAMP_FILE=" << offset_file << "\n"
      << "export FAKETIME_CACHE_DURATION=1 FAKETIME_DONT_FAKE_MONOTONIC=1\n"
      << "exec " << srcdir << "/kess/agent/agent \"$@\"\n";
  }
  ASSERT_EQ(chmod(wrapper.c_str(), 0755), 0);

  CacheTierDc& dc = cluster_->main();
  AgentHostOptions o;
  o.host_id = "h9";
  o.binary = wrapper;  // exec keeps the pid: only h9 is ever signalled
  o.datacenter = dc.name;
  o.distributors = dc.DistributorAddresses();
  for (const auto& m : cluster_->dcs().main())
    o.mandators.push_back(m->address());
  o.auth_token_file = cluster_->token_file();
  o.dir = absl::StrCat(cluster_->dcs().dir(), "/", dc.name, "-h9");
  auto agent = AgentHost::Start(o);
  ASSERT_TRUE(agent.ok()) << agent.status();
  const ConfigKeys keys = Keys();
  std::vector<std::pair<std::string, std::string>> subs(keys.begin(),
                                                        keys.end());
  ASSERT_TRUE((*agent)->Subscribe(ConfigSubscription(subs)).ok());
  dc.agents.push_back(std::move(agent).value());
  reader_ = std::make_unique<CacheReaderLoop>(CacheDirs(cluster_->AllAgents()));

  std::vector<std::string> faults;
  {
    Writer writer(cluster_, checker_.get(), "clock");
    absl::SleepFor(absl::Seconds(2));
    set_offset("-1h");
    faults.push_back("agent clock -1h");
    absl::SleepFor(absl::Seconds(4));
    set_offset("+2h");
    faults.push_back("agent clock +2h");
    absl::SleepFor(absl::Seconds(4));
    set_offset("+0");
    absl::SleepFor(absl::Seconds(2));
  }
  Finish("agent_clock_jumps", faults);
}

}  // namespace
}  // namespace testing
}  // namespace kess
