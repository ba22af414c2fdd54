// Issue #8's fault suite, third binary: the scenarios the first two left
// out, on one cache-tier cluster of real processes on 127.0.0.1 (two DCs,
// each ZooKeeper + 1 mandator + 2 distributors + 3 agents). Each scenario
// runs a write stream, injects its faults, lifts them, and runs the
// InvariantChecker (every agent converges to the main DC, no cache file
// went backwards or was torn for a reader, no acknowledged write was lost).
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
#include <sstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "agent/distributor_order.h"
#include "bench/simulated_agents.h"
#include "common/protocol/distribution.pb.h"
#include "common/transport/event_loop.h"
#include "gtest/gtest.h"
#include "tests/cluster/cache_reader_loop.h"
#include "tests/cluster/cache_tier_cluster.h"
#include "tests/cluster/zk_session_proxy.h"
#include "tests/faults/invariant_checker.h"
#include "zk_schema/zk_test_util.h"

namespace kess {
namespace testing {
namespace {

// "Did not hang" bounds.
constexpr absl::Duration kConverge = absl::Seconds(60);
constexpr char kNs[] = "faults";

ConfigKeys Keys() {
  ConfigKeys keys;
  for (int i = 0; i < 4; ++i) keys.push_back({kNs, absl::StrCat("k", i)});
  return keys;
}

std::string SubscriptionBody() {
  const ConfigKeys keys = Keys();
  return ConfigSubscription(
      std::vector<std::pair<std::string, std::string>>(keys.begin(),
                                                       keys.end()));
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

std::string AgentMetrics(const AgentHost& agent) {
  absl::StatusOr<mandator::HttpReply> r = agent.Call("GET", "/metrics");
  return r.ok() && r->status == 200 ? r->body : "";
}

double Metric(const std::string& text, const std::string& name,
              const std::string& labels = "") {
  absl::StatusOr<double> v = MetricValue(text, name, labels);
  return v.ok() ? *v : -1;
}

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

// PUTs to the keys round robin until stopped; a failed PUT is not
// acknowledged and retried with the next value.
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
              absl::SleepFor(absl::Milliseconds(200));
            }
          }
        }) {}
  ~Writer() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class FaultScenariosExtraTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    CacheTierClusterOptions options;
    options.dcs.mandators_per_dc = 1;
    options.distributors_per_dc = 2;
    options.agents_per_dc = 3;
    auto cluster = CacheTierCluster::Start(options);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(cluster).value().release();
    for (AgentHost* a : cluster_->AllAgents()) {
      ASSERT_TRUE(a->Subscribe(SubscriptionBody()).ok());
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

  // Starts one more agent in `dc` whose binary is `binary` (a wrapper that
  // execs the agent, so the pid stays the agent's), subscribes it, adds it
  // to the DC and restarts the reader loop over every agent.
  AgentHost* AddWrappedAgent(CacheTierDc& dc, const std::string& host_id,
                             const std::string& binary,
                             std::vector<std::string> distributors = {}) {
    AgentHostOptions o;
    o.host_id = host_id;
    o.binary = binary;
    o.datacenter = dc.name;
    o.distributors = distributors.empty() ? dc.DistributorAddresses()
                                          : std::move(distributors);
    for (const auto& m : cluster_->dcs().main())
      o.mandators.push_back(m->address());
    o.auth_token_file = cluster_->token_file();
    o.dir = absl::StrCat(cluster_->dcs().dir(), "/", dc.name, "-", host_id);
    auto agent = AgentHost::Start(o);
    EXPECT_TRUE(agent.ok()) << agent.status();
    if (!agent.ok()) return nullptr;
    EXPECT_TRUE((*agent)->Subscribe(SubscriptionBody()).ok());
    AgentHost* raw = agent->get();
    dc.agents.push_back(std::move(agent).value());
    reader_->Stop();
    reader_ =
        std::make_unique<CacheReaderLoop>(CacheDirs(cluster_->AllAgents()));
    return raw;
  }

  static CacheTierCluster* cluster_;
  std::unique_ptr<InvariantChecker> checker_;
  std::unique_ptr<CacheReaderLoop> reader_;
};
CacheTierCluster* FaultScenariosExtraTest::cluster_ = nullptr;

// (7) Disk faults on one agent: an extra main-DC agent runs under fiu-run
// (Debian fiu-utils); its fsync(2) fails with EIO (fiu-ctrl) for 5 s while
// writes go on, then works again. While it fails, the agent's old cache
// files stay intact (the reader loop sees no torn or backwards file; the
// cached revision does not move) and the errors are counted; once healed
// the agent converges with everyone else.
TEST_F(FaultScenariosExtraTest, AgentFsyncEioThenHealed) {
  const char* kFiuRun = "/usr/bin/fiu-run";
  if (access(kFiuRun, X_OK) != 0) {
    GTEST_SKIP() << "fiu-run missing: run scripts/setup.sh (fiu-utils)";
  }
  const char* srcdir = std::getenv("TEST_SRCDIR");
  ASSERT_NE(srcdir, nullptr);
  const std::string dir = absl::StrCat(cluster_->dcs().dir(), "/fiu");
  ASSERT_EQ(system(absl::StrCat("mkdir -p ", dir).c_str()), 0);
  const std::string fifo = dir + "/ctrl";
  const std::string wrapper = dir + "/agent";
  {
    std::ofstream w(wrapper, std::ios::trunc);
    w << "#!/bin/sh\nexec " << kFiuRun << " -x -f " << fifo << " " << srcdir
      << "/kess/agent/agent \"$@\"\n";
  }
  ASSERT_EQ(chmod(wrapper.c_str(), 0755), 0);
  AgentHost* agent = AddWrappedAgent(cluster_->main(), "h8", wrapper);
  ASSERT_NE(agent, nullptr);
  auto fiu_ctrl = [&](const std::string& command) {
    return system(absl::StrCat("fiu-ctrl -f ", fifo, " -c '", command, "' ",
                               agent->pid())
                      .c_str());
  };
  const std::string k0 = Keys()[0].second;

  std::vector<std::string> faults;
  int64_t eio_errors = 0;
  {
    Writer writer(cluster_, checker_.get(), "fsync");
    // h8 has cached something before the fault.
    const absl::Time deadline = absl::Now() + kConverge;
    while (CachedRevision(*agent, kNs, k0) == 0 && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(100));
    }
    const int64_t before = CachedRevision(*agent, kNs, k0);
    ASSERT_GT(before, 0);
    ASSERT_EQ(fiu_ctrl("enable name=posix/io/sync/fsync,failinfo=5"), 0);
    faults.push_back("fsync EIO on one agent (5 s)");
    // Give a write already past its fsync time to land, then the file must
    // hold still while everyone else moves on.
    absl::SleepFor(absl::Milliseconds(500));
    const int64_t frozen = CachedRevision(*agent, kNs, k0);
    EXPECT_GE(frozen, before);
    absl::SleepFor(absl::Milliseconds(4500));
    EXPECT_EQ(CachedRevision(*agent, kNs, k0), frozen)
        << "a cache file changed while fsync failed";
    EXPECT_GT(CachedRevision(*cluster_->main().agents[0], kNs, k0), frozen)
        << "the other agents did not move on (no writes?)";
    absl::StatusOr<double> errors =
        MetricValue(AgentMetrics(*agent), "kess_agent_cache_write_errors_total",
                    "errno=\"EIO\"");
    ASSERT_TRUE(errors.ok()) << errors.status();
    eio_errors = static_cast<int64_t>(*errors);
    EXPECT_GT(eio_errors, 0);
    absl::StatusOr<mandator::HttpReply> health = agent->Call("GET", "/healthz");
    ASSERT_TRUE(health.ok());
    EXPECT_EQ(health->status, 503) << health->body;
    ASSERT_EQ(fiu_ctrl("disable name=posix/io/sync/fsync"), 0);
    absl::SleepFor(absl::Seconds(2));
  }
  faults.push_back(absl::StrCat(eio_errors, " write errors counted"));
  Finish("agent_fsync_eio", faults);
}

// (6) Restart of all agents at once: the cluster's 6 real agents are
// killed (-9) together while 300 simulated agents (bench/simulated_agents.h,
// one transport client each, the main DC's distributor chosen by the
// agents' own rendezvous order) drop their connections; then all come back
// at once. Agents never reach ZooKeeper, so its packet rate must not move
// beyond the background (distributor polls, mandator heartbeats); the
// connections spread over both main-DC distributors again (each >= 25 %);
// no reconnect storm (reconnect attempts per agent and subscribe requests
// per distributor bounded).
TEST_F(FaultScenariosExtraTest, AllAgentsRestartedAtOnceWithSimulatedAgents) {
  constexpr int kSims = 300;
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
  auto start_sims = [&]() -> std::unique_ptr<bench::SimulatedAgents> {
    bench::SimulatedAgents::Options o;
    o.connections = kSims;
    o.connect_batch = 50;
    o.heartbeat_interval_ms = 1000;
    o.heartbeat_timeout_ms = 10000;
    o.call_timeout_ms = 20000;
    o.port = [&](int i) {
      return main
          .DistributorAt(
              agent::DistributorOrder(absl::StrCat("sim-", i), addrs)[0])
          ->port();
    };
    auto sims = std::make_unique<bench::SimulatedAgents>(
        loop->get(), o, [](int, const std::string&) {});
    EXPECT_EQ(sims->Connect(), kSims);
    int64_t bytes = 0;
    const int subscribed = sims->Subscribe(
        [&](int i) {
          protocol::SubscribeRequest request;
          request.set_host_id(absl::StrCat("sim-", i));
          request.set_auth_token(token);
          for (const auto& [ns, key] : Keys()) {
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

  std::unique_ptr<bench::SimulatedAgents> sims = start_sims();
  ASSERT_TRUE(wait_connected());
  std::vector<std::string> faults;
  const std::vector<AgentHost*> agents = cluster_->AllAgents();
  int64_t quiet_packets = 0, fault_packets = 0;
  absl::Duration quiet_window, fault_window;
  std::vector<double> subs_before;
  {
    Writer writer(cluster_, checker_.get(), "restart-all-before");
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
  {
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
  }
  // ZooKeeper: the reconnects add nothing beyond background noise (306
  // clients reaching ZooKeeper would add >= 306 packets).
  const double quiet_rate = quiet_packets / absl::ToDoubleSeconds(quiet_window);
  const double fault_rate = fault_packets / absl::ToDoubleSeconds(fault_window);
  std::printf("zk packets: quiet %lld in %s (%.1f/s), restart %lld in %s "
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
  std::printf("subscribe requests after restart: %.0f (main DC), agent "
              "reconnect attempts: %.0f\n",
              new_subs, attempts);
  faults.push_back(absl::StrCat("zk packets ", fault_packets, " vs ",
                                static_cast<int64_t>(quiet_rate *
                                    absl::ToDoubleSeconds(fault_window)),
                                " background"));
  faults.push_back(absl::StrCat("spread ", absl::StrJoin(share, "/"),
                                " over 2 distributors"));
  {
    Writer writer(cluster_, checker_.get(), "restart-all-after");
    absl::SleepFor(absl::Seconds(2));
  }
  sims.reset();
  Finish("restart_all_agents", faults);
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
// the writes after the expiry must reach h7 (invariant 1 covers h7).
TEST_F(FaultScenariosExtraTest, DistributorSessionExpiry) {
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
  o.log_dir = cluster_->dcs().dir();
  auto d9 = DistributorProcess::Start(o);
  ASSERT_TRUE(d9.ok()) << d9.status();
  const pid_t d9_pid = (*d9)->pid();
  AgentHost* h7 = AddWrappedAgent(main, "h7", "", {(*d9)->address()});
  ASSERT_NE(h7, nullptr);

  std::vector<std::string> faults;
  int64_t old_session = 0, new_session = 0;
  {
    Writer writer(cluster_, checker_.get(), "dist-expiry");
    absl::SleepFor(absl::Seconds(1));
    old_session = StatusSessionId((*d9)->Status());
    ASSERT_NE(old_session, 0) << "d9's status names no ZooKeeper session";
    auto creds = (*proxy)->Credentials(old_session);
    ASSERT_TRUE(creds.ok()) << creds.status();
    absl::Status expired = zk::testing::ExpireSession(zk.ConnectString(), *creds);
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
  // h7 leaves with d9.
  reader_->Stop();
  ASSERT_EQ(main.agents.back().get(), h7);
  main.agents.pop_back();
}

// (4) One agent partitioned from its distributor: an extra main-DC agent
// reaches its preferred distributor through a TCP proxy (ZkSessionProxy
// forwards any byte stream) and the other directly. The proxy's link is cut
// for 6 s during a write stream: the agent fails over to the other
// distributor, keeps serving its cache and converges; after the heal it
// may return to its preferred one.
TEST_F(FaultScenariosExtraTest, AgentCutFromItsDistributorByProxy) {
  CacheTierDc& main = cluster_->main();
  // A host id and a distributor pairing for which the proxied address ranks
  // first in the agent's own rendezvous order.
  std::unique_ptr<ZkSessionProxy> proxy;
  std::string host_id;
  std::vector<std::string> distributors;
  for (int i = 0; i < 20 && host_id.empty(); ++i) {
    for (size_t behind = 0; behind < 2 && host_id.empty(); ++behind) {
      auto p = ZkSessionProxy::Start(main.distributors[behind]->address());
      ASSERT_TRUE(p.ok()) << p.status();
      const std::string other = main.distributors[1 - behind]->address();
      const std::string id = absl::StrCat("h6-", i);
      if (agent::DistributorOrder(id, {(*p)->address(), other})[0] ==
          (*p)->address()) {
        proxy = std::move(p).value();
        host_id = id;
        distributors = {proxy->address(), other};
      }
    }
  }
  ASSERT_FALSE(host_id.empty());
  AgentHost* agent = AddWrappedAgent(main, host_id, "", distributors);
  ASSERT_NE(agent, nullptr);
  auto wait_distributor = [&](const std::string& address) {
    const absl::Time deadline = absl::Now() + kConverge;
    while (absl::Now() < deadline) {
      if (DistributorOf(*agent) == address) return true;
      absl::SleepFor(absl::Milliseconds(100));
    }
    return false;
  };
  ASSERT_TRUE(wait_distributor(distributors[0]))
      << "the agent never used the proxied distributor";

  std::vector<std::string> faults;
  {
    Writer writer(cluster_, checker_.get(), "agent-cut");
    absl::SleepFor(absl::Seconds(1));
    proxy->SetCut(true);
    faults.push_back("one agent cut from its distributor by a proxy for 6 s");
    const absl::Time cut_at = absl::Now();
    EXPECT_TRUE(wait_distributor(distributors[1])) << "no failover";
    const absl::Duration failover = absl::Now() - cut_at;
    faults.push_back(absl::StrCat("failover in ",
                                  absl::ToInt64Milliseconds(failover), " ms"));
    // Serving while cut: its HTTP API answers and its cache follows the
    // writes through the other distributor.
    const std::string k0 = Keys()[0].second;
    const int64_t seen = CachedRevision(*agent, kNs, k0);
    absl::SleepFor(absl::Seconds(6) - failover);
    EXPECT_NE(agent->Status(), nullptr);
    EXPECT_GT(CachedRevision(*agent, kNs, k0), seen)
        << "the cut agent's cache did not follow the writes";
    proxy->SetCut(false);
    absl::SleepFor(absl::Seconds(2));
  }
  Finish("agent_cut_from_distributor", faults);
  reader_->Stop();
  ASSERT_EQ(main.agents.back().get(), agent);
  main.agents.pop_back();
}

}  // namespace
}  // namespace testing
}  // namespace kess
