// The fault suite, faults of ZooKeeper: ensemble faults
// (scenario 2) with the route-table invariant. One DiscoveryCluster of real
// processes on 127.0.0.1: two DCs, each a 3-server ZooKeeper ensemble,
// 2 mandators, 2 distributors and 2 agents, plus 4 providers
// (sdk/examples/demo_provider: services "cart" and "search", one per DC
// each) that stay alive on live hosts the whole time.
//
// Each scenario runs a config write stream, a CacheReaderLoop and a
// RouteSampler (every agent's route files and both DCs' route records,
// every 50 ms), injects its faults, lifts them, and runs the
// InvariantChecker — invariants of docs/design.md: agents converge to the
// main DC (6), no file went backwards or was torn (7), no acknowledged
// write lost (2), and no live instance was ever missing from a route table,
// so no service became empty (9).
//
// Each scenario prints "FAULTS|<scenario>|<faults>|<writes>|<files>|
// <reads>|<violations>|<route samples>" for scripts/faults.sh.
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "common/http_client.h"
#include "tests/cluster/cache_reader_loop.h"
#include "tests/cluster/mandator_cluster.h"
#include "tests/discovery/discovery_cluster.h"
#include "tests/faults/fault_fixture.h"
#include "zk_schema/chunked_value.h"

namespace kess {
namespace testing {
namespace {

constexpr char kNs[] = "faults2";
const std::vector<std::string>& Services() {
  static const auto* s = new std::vector<std::string>{"cart", "search"};
  return *s;
}

ConfigKeys Keys() { return FaultKeys(kNs, 3); }

// The index of the server of `zk` whose `srvr` says "Mode: leader"; -1.
int ZkLeader(const ZkEnsemble& zk) {
  for (int i = 0; i < zk.size(); ++i) {
    if (!zk.IsRunning(i)) continue;
    absl::StatusOr<std::string> srvr = zk.FourLetterWord(i, "srvr", 1000);
    if (srvr.ok() && absl::StrContains(*srvr, "Mode: leader")) return i;
  }
  return -1;
}

constexpr char kFaketimeLib[] =
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

// Where each mandator's fake clock offset is: <dir>/offset-<id>.
std::string FaketimeDir() {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/faketime");
}
void SetClockOffset(const std::string& mandator_id, const std::string& off) {
  // Written aside and renamed: libfaketime must never read it empty.
  const std::string path =
      absl::StrCat(FaketimeDir(), "/offset-", mandator_id);
  std::ofstream(path + ".new", std::ios::trunc) << off << "\n";
  EXPECT_EQ(std::rename((path + ".new").c_str(), path.c_str()), 0) << path;
}

// A wrapper that runs the mandator under libfaketime with the wall clock
// read from <dir>/offset-<its --id> ("+0" unless a test writes it;
// monotonic clocks stay real); "" (the plain binary) without faketime.
std::string FaketimeMandator() {
  if (access(kFaketimeLib, R_OK) != 0) return "";
  const char* srcdir = std::getenv("TEST_SRCDIR");
  if (srcdir == nullptr) return "";
  const std::string dir = FaketimeDir();
  if (system(absl::StrCat("mkdir -p ", dir).c_str()) != 0) return "";
  const std::string wrapper = dir + "/mandator";
  {
    std::ofstream w(wrapper, std::ios::trunc);
    w << "#!/bin/sh\n"
      << "id=x\n"
      << "for a in \"$@\"; do case \"$a\" in --id=*) id=\"${a#--id=}\";; "
         "esac; done\n"
      << "f=" << dir << "/offset-$id\n"
      << "[ -f \"$f\" ] || echo +0 > \"$f\"\n"
      << "export LD_PRELOAD=" << kFaketimeLib << "\n"
      << "export FAKETIME_TIMESTAMP_FILE=\"$f\"\n"
      << "export FAKETIME_CACHE_DURATION=1 FAKETIME_DONT_FAKE_MONOTONIC=1\n"
      << "exec " << srcdir << "/kess/mandator/mandator \"$@\"\n";
  }
  if (chmod(wrapper.c_str(), 0755) != 0) return "";
  return wrapper;
}

class ZooKeeperFaultsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    DiscoveryClusterOptions options;
    options.mandator_binary = FaketimeMandator();
    options.zk_servers = 3;
    options.mandators_per_dc = 2;
    options.distributors_per_dc = 2;
    options.agents_per_dc = 2;
    auto cluster = DiscoveryCluster::Start(options);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(cluster).value().release();

    // Configs and routes in one subscription per agent.
    std::string body = "{\"configs\":[";
    const ConfigKeys keys = Keys();
    for (size_t i = 0; i < keys.size(); ++i) {
      absl::StrAppend(&body, i == 0 ? "" : ",", "{\"namespace\":\"",
                      keys[i].first, "\",\"key\":\"", keys[i].second, "\"}");
    }
    absl::StrAppend(&body, "],\"routes\":[\"",
                    absl::StrJoin(Services(), "\",\""), "\"]}");
    for (AgentHost* a : cluster_->AllAgents()) {
      ASSERT_TRUE(a->Subscribe(body).ok());
    }

    expected_ = new std::map<std::string, std::set<std::string>>();
    providers_ = new std::vector<std::unique_ptr<ProviderProcess>>();
    int n = 0;
    for (const std::string& service : Services()) {
      for (const char* dc : {"dc1", "dc2"}) {
        ++n;
        ProviderProcessOptions p;
        p.service = service;
        p.id = absl::StrCat(service, "-", dc);
        p.host = absl::StrCat(dc, "-h", 1 + n % 2);
        p.datacenter = dc;
        p.mandators = cluster_->MandatorAddresses(dc);
        p.tls_flags = cluster_->dcs().tls().Flags("client");
        auto started = ProviderProcess::Start(p);
        ASSERT_TRUE(started.ok()) << started.status();
        providers_->push_back(std::move(started).value());
        (*expected_)[service].insert(p.id);
      }
    }
    for (const auto& [service, ids] : *expected_) {
      for (const std::string& id : ids) {
        ASSERT_TRUE(WaitAllAgents(cluster_->AllAgents(), service,
                                  HasInstance(id), kConverge))
            << service << "/" << id << " never healthy on every agent";
      }
    }
  }
  static void TearDownTestSuite() {
    delete providers_;  // before the mandators go
    providers_ = nullptr;
    delete cluster_;
    cluster_ = nullptr;
    delete expected_;
    expected_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(cluster_, nullptr);
    checker_ = std::make_unique<InvariantChecker>(&cluster_->tier());
    reader_ =
        std::make_unique<CacheReaderLoop>(CacheDirs(cluster_->AllAgents()));
    auto main_zk = cluster_->dcs().ConnectMainReader();
    auto slave_zk = cluster_->dcs().ConnectSlaveReader();
    ASSERT_TRUE(main_zk.ok()) << main_zk.status();
    ASSERT_TRUE(slave_zk.ok()) << slave_zk.status();
    sampler_ = std::make_unique<RouteSampler>(
        cluster_->AllAgents(), *std::move(main_zk), *std::move(slave_zk),
        cluster_->dcs().layout(), *expected_);
  }

  // Stops reader and sampler, checks, prints the FAULTS| line, expects no
  // violation.
  void Finish(const std::string& scenario,
              const std::vector<std::string>& faults) {
    reader_->Stop();
    // The routes must also be whole once everything settled.
    for (const auto& [service, ids] : *expected_) {
      for (const std::string& id : ids) {
        EXPECT_TRUE(WaitAllAgents(cluster_->AllAgents(), service,
                                  HasInstance(id), kConverge))
            << scenario << ": " << service << "/" << id
            << " not healthy on every agent afterwards";
      }
    }
    sampler_->Stop();
    InvariantResult r = checker_->Check(Keys(), reader_.get(), kConverge);
    InvariantChecker::AddRouteSamples(&r, sampler_->samples(),
                                      sampler_->unreadable(),
                                      sampler_->violation_count(),
                                      sampler_->violations());
    PrintFaultsLine(scenario, faults, r, /*with_routes=*/true);
    EXPECT_GT(r.writes_checked, 0);
    EXPECT_GT(r.route_samples_checked, 0);
    EXPECT_TRUE(r.ok()) << scenario << ": " << r.Describe();
  }

  static DiscoveryCluster* cluster_;
  static std::map<std::string, std::set<std::string>>* expected_;
  static std::vector<std::unique_ptr<ProviderProcess>>* providers_;
  std::unique_ptr<InvariantChecker> checker_;
  std::unique_ptr<CacheReaderLoop> reader_;
  std::unique_ptr<RouteSampler> sampler_;
};
DiscoveryCluster* ZooKeeperFaultsTest::cluster_ = nullptr;
std::map<std::string, std::set<std::string>>*
    ZooKeeperFaultsTest::expected_ = nullptr;
std::vector<std::unique_ptr<ProviderProcess>>*
    ZooKeeperFaultsTest::providers_ = nullptr;

// (2a) kill -9 of the main DC's ZooKeeper leader (srvr "Mode: leader")
// during writes; restarted after a few seconds.
TEST_F(ZooKeeperFaultsTest, MainZkLeaderKilled) {
  ZkEnsemble& zk = cluster_->dcs().main_zk();
  std::vector<std::string> faults;
  {
    AckedWriter writer(&cluster_->tier(), checker_.get(), Keys(), "zkleader",
                       absl::Milliseconds(50));
    absl::SleepFor(absl::Seconds(1));
    const int leader = ZkLeader(zk);
    ASSERT_GE(leader, 0) << "no server of dc1 says Mode: leader";
    ASSERT_EQ(kill(zk.ServerPid(leader), SIGKILL), 0);
    faults.push_back(absl::StrCat("kill -9 ZK leader (dc1 server ",
                                  leader + 1, ")"));
    absl::SleepFor(absl::Seconds(4));
    ASSERT_TRUE(zk.StopServer(leader).ok());  // reaps it
    absl::Status started = zk.StartServer(leader);
    ASSERT_TRUE(started.ok()) << started;
    absl::SleepFor(absl::Seconds(2));
  }
  Finish("zk_leader_killed", faults);
}

// (2b) The main DC's ensemble loses its quorum (one server stopped, one
// SIGSTOPped) for a while, then both come back. Writes are refused with a
// clear error meanwhile; nothing served is lost; all converges after.
TEST_F(ZooKeeperFaultsTest, MainZkQuorumLostAndRestored) {
  ZkEnsemble& zk = cluster_->dcs().main_zk();
  std::vector<std::string> faults;
  std::string refusal;
  {
    AckedWriter writer(&cluster_->tier(), checker_.get(), Keys(), "quorum",
                       absl::Milliseconds(50));
    absl::SleepFor(absl::Seconds(1));
    const int leader = ZkLeader(zk);
    const int stopped = leader >= 0 ? leader : 0;
    const int paused = (stopped + 1) % zk.size();
    ASSERT_TRUE(zk.StopServer(stopped).ok());
    ASSERT_TRUE(zk.PauseServer(paused).ok());
    faults.push_back("dc1 ZK quorum lost (1 stopped, 1 SIGSTOPped)");

    // A PUT to any main mandator must be refused with a clear error
    // (HTTP 503/504 and a body that says why), not hang or succeed.
    const int64_t reads_before = reader_->reads();
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    bool refused = false;
    while (!refused && absl::Now() < deadline) {
      for (auto& m : cluster_->dcs().main()) {
        absl::StatusOr<HttpReply> reply = HttpCall(
            m->http_address(), "PUT",
            absl::StrCat("/api/v1/configs/", kNs, "/probe"),
            PutBody("during-quorum-loss"), absl::Seconds(10));
        if (!reply.ok()) continue;
        EXPECT_NE(reply->status, 200)
            << "a write was accepted without a ZooKeeper quorum: "
            << reply->body;
        if ((reply->status == 503 || reply->status == 504 ||
             reply->status == 421) &&
            !reply->body.empty()) {
          refused = true;
          refusal = absl::StrCat("HTTP ", reply->status, " ", reply->body);
          break;
        }
      }
      if (!refused) absl::SleepFor(absl::Milliseconds(300));
    }
    EXPECT_TRUE(refused) << "no clear refusal of writes without quorum";
    std::printf("quorum loss: write refused with: %s\n", refusal.c_str());
    absl::SleepFor(absl::Seconds(5));  // past the 4 s session timeout
    EXPECT_GT(reader_->reads(), reads_before)
        << "agents' caches were not readable during the quorum loss";

    ASSERT_TRUE(zk.ResumeServer(paused).ok());
    absl::Status started = zk.StartServer(stopped);
    ASSERT_TRUE(started.ok()) << started;
    absl::SleepFor(absl::Seconds(2));
  }
  if (!refusal.empty()) faults.push_back("writes refused (HTTP 5xx)");
  Finish("zk_quorum_lost_restored", faults);
}

// (2c) The whole slave DC ensemble down (all 3 servers stopped) while the
// main DC takes writes, then back: the slave DC's agents keep serving
// their last data and catch up after.
TEST_F(ZooKeeperFaultsTest, SlaveZkEnsembleDownAndBack) {
  ZkEnsemble& zk = cluster_->dcs().slave_zk();
  std::vector<std::string> faults;
  {
    AckedWriter writer(&cluster_->tier(), checker_.get(), Keys(), "slavezk",
                       absl::Milliseconds(50));
    absl::SleepFor(absl::Seconds(1));
    for (int i = 0; i < zk.size(); ++i) ASSERT_TRUE(zk.StopServer(i).ok());
    faults.push_back("dc2 ZK ensemble down (3 of 3 stopped)");
    const int64_t reads_before = reader_->reads();
    absl::SleepFor(absl::Seconds(6));
    EXPECT_GT(reader_->reads(), reads_before);
    for (int i = 0; i < zk.size(); ++i) {
      absl::Status started = zk.StartServer(i);
      ASSERT_TRUE(started.ok()) << started;
    }
    absl::SleepFor(absl::Seconds(2));
  }
  Finish("zk_slave_ensemble_down", faults);
}

// (4) The slave DC's distributors cut from their ZooKeeper: every server
// of the slave ensemble SIGSTOPped (a hung ensemble: connections stay open,
// nothing answers) for 8 s while main takes writes. The distributors must
// report stale, the agents keep serving their last data; all converges
// after SIGCONT.
TEST_F(ZooKeeperFaultsTest, SlaveDistributorsCutFromZk) {
  ZkEnsemble& zk = cluster_->dcs().slave_zk();
  std::vector<std::string> faults;
  int stale_seen = 0;
  {
    AckedWriter writer(&cluster_->tier(), checker_.get(), Keys(), "hungzk",
                       absl::Milliseconds(50));
    absl::SleepFor(absl::Seconds(1));
    for (int i = 0; i < zk.size(); ++i) ASSERT_TRUE(zk.PauseServer(i).ok());
    faults.push_back("dc2 ZK ensemble hung (SIGSTOP 3 of 3)");
    const int64_t reads_before = reader_->reads();
    std::set<std::string> stale;
    const absl::Time until = absl::Now() + absl::Seconds(8);
    while (absl::Now() < until) {
      for (const auto& d : cluster_->tier().slave().distributors) {
        Poco::JSON::Object::Ptr st = d->Status();
        if (st && st->has("stale") && st->getValue<bool>("stale")) {
          stale.insert(d->id());
        }
      }
      absl::SleepFor(absl::Milliseconds(250));
    }
    stale_seen = static_cast<int>(stale.size());
    EXPECT_EQ(stale_seen, static_cast<int>(
                              cluster_->tier().slave().distributors.size()))
        << "distributors cut from ZooKeeper did not report stale";
    EXPECT_GT(reader_->reads(), reads_before);
    for (int i = 0; i < zk.size(); ++i) ASSERT_TRUE(zk.ResumeServer(i).ok());
    absl::SleepFor(absl::Seconds(2));
  }
  faults.push_back(absl::StrCat(stale_seen, " distributors reported stale"));
  Finish("distributors_cut_from_zk", faults);
}

// (9) Oversized values during writes: a 16 MiB + 1 byte PUT is refused
// before ZooKeeper with a clear 400, a 16 MiB PUT is accepted (chunked)
// and replicated, and neither causes a connection-loss loop: both DCs'
// leaders keep the same ZooKeeper session.
TEST_F(ZooKeeperFaultsTest, OversizedValues) {
  std::vector<std::string> faults;
  auto session_of = [](const MandatorProcess* m) -> std::string {
    if (m == nullptr) return "";
    Poco::JSON::Object::Ptr st = StatusOf(*m);
    return st && st->has("zk_session_id")
               ? st->getValue<std::string>("zk_session_id")
               : "";
  };
  {
    AckedWriter writer(&cluster_->tier(), checker_.get(), Keys(), "oversized",
                       absl::Milliseconds(50));
    MandatorProcess* leader = WaitLeader(cluster_->dcs().main(), kPatience);
    MandatorProcess* slave = WaitLeader(cluster_->dcs().slave(), kPatience);
    ASSERT_NE(leader, nullptr);
    ASSERT_NE(slave, nullptr);
    const std::string main_session = session_of(leader);
    const std::string slave_session = session_of(slave);
    ASSERT_FALSE(main_session.empty());

    const std::string uri = absl::StrCat("/api/v1/configs/", kNs, "/big");
    auto too_big = HttpCall(
        leader->http_address(), "PUT", uri,
        PutBody(std::string(zk::kMaxValueBytes + 1, 'b')), absl::Seconds(60));
    ASSERT_TRUE(too_big.ok()) << too_big.status();
    EXPECT_EQ(too_big->status, 400) << too_big->body;
    EXPECT_FALSE(too_big->body.empty());
    faults.push_back(absl::StrCat("PUT 16 MiB + 1 (HTTP ", too_big->status,
                                  ")"));
    auto max = HttpCall(
        leader->http_address(), "PUT", uri,
        PutBody(std::string(zk::kMaxValueBytes, 'm')), absl::Seconds(60));
    ASSERT_TRUE(max.ok()) << max.status();
    EXPECT_EQ(max->status, 200) << max->body;
    faults.push_back(absl::StrCat("PUT 16 MiB (HTTP ", max->status, ")"));
    absl::SleepFor(absl::Seconds(5));
    EXPECT_EQ(FindLeader(cluster_->dcs().main()), leader);
    EXPECT_EQ(session_of(leader), main_session)
        << "the main leader's ZooKeeper session changed";
    EXPECT_EQ(session_of(slave), slave_session)
        << "the slave leader's ZooKeeper session changed";
  }
  Finish("oversized_values", faults);
}

// (6) Wall-clock jumps on mandators (libfaketime; monotonic clocks stay
// real): the main leader (it builds the route table) +2 h, then -1 h; a
// slave mandator -1 h. Nothing may be removed because of it.
TEST_F(ZooKeeperFaultsTest, MandatorClockJumps) {
  if (FaketimeMandator().empty()) GTEST_SKIP() << "faketime not installed";
  std::vector<std::string> faults;
  {
    AckedWriter writer(&cluster_->tier(), checker_.get(), Keys(), "mclock",
                       absl::Milliseconds(50));
    MandatorProcess* leader = WaitLeader(cluster_->dcs().main(), kPatience);
    ASSERT_NE(leader, nullptr);
    const std::string slave_id = cluster_->dcs().slave()[0]->id();
    absl::SleepFor(absl::Seconds(1));
    SetClockOffset(leader->id(), "+2h");
    SetClockOffset(slave_id, "-1h");
    faults.push_back("main leader clock +2h");
    faults.push_back("slave mandator clock -1h");
    absl::SleepFor(absl::Seconds(5));
    SetClockOffset(leader->id(), "-1h");
    faults.push_back("main leader clock -1h");
    absl::SleepFor(absl::Seconds(5));
    SetClockOffset(leader->id(), "+0");
    SetClockOffset(slave_id, "+0");
    absl::SleepFor(absl::Seconds(2));
    const absl::Time stop_start = absl::Now();
    writer.Stop();
    std::printf("mandator clock jumps: longest PUT %lld ms, writer stop %s\n",
                static_cast<long long>(writer.max_put_ms()),
                absl::FormatDuration(absl::Now() - stop_start).c_str());
    // Before the write queue's token bucket ran on the monotonic clock, a
    // backward jump stalled writes for over a minute (docs/reliability.md).
    // A generous "did not stall" bound: one PUT, retries included.
    EXPECT_LT(writer.max_put_ms(), 30000) << "writes stalled after a jump";
    faults.push_back(absl::StrCat("longest PUT ", writer.max_put_ms(), " ms"));
  }
  // The periodic work of the jumped mandators still runs: an instance that
  // registers only now must reach every agent's route table (the leader's
  // route cycle and the schedulers' periods must not be stuck behind a
  // wait that was started while the clock was off).
  {
    ProviderProcessOptions p;
    p.service = Services()[0];
    p.id = absl::StrCat(p.service, "-after-jumps");
    p.host = "dc1-h1";
    p.datacenter = "dc1";
    p.mandators = cluster_->MandatorAddresses("dc1");
    p.tls_flags = cluster_->dcs().tls().Flags("client");
    auto late = ProviderProcess::Start(p);
    ASSERT_TRUE(late.ok()) << late.status();
    const absl::Time registered = absl::Now();
    const bool published = WaitAllAgents(cluster_->AllAgents(), p.service,
                                         HasInstance(p.id), kConverge);
    EXPECT_TRUE(published)
        << "an instance registered after the clock jumps was not published";
    if (published) {
      faults.push_back(absl::StrCat(
          "new instance published ",
          absl::ToInt64Milliseconds(absl::Now() - registered),
          " ms after registering"));
    }
  }
  const absl::Time finish_start = absl::Now();
  Finish("mandator_clock_jumps", faults);
  std::printf("mandator clock jumps: finish took %s\n",
              absl::FormatDuration(absl::Now() - finish_start).c_str());
}

}  // namespace
}  // namespace testing
}  // namespace kess
