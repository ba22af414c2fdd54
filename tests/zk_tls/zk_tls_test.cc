// The ZooKeeper link over TLS (deploy/stunnel/), end to end: a real
// ZooKeeper server listening for clients on a TLS port only (the settings of
// deploy/stunnel/zoo-tls.cfg, through ZkEnsemble's TLS option), stunnel in
// client mode with the shipped deploy/stunnel/kess-zk-stunnel.conf (only its
// paths, ports and addresses replaced), certificates from
// tls::WriteClusterCerts (what `kessctl certs init --hosts=...` writes), and
// a real mandator, distributor and agent whose ZooKeeper is 127.0.0.1:<the
// stunnel port>. See README.md.
#include <zookeeper/zookeeper.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/http_client.h"
#include "common/testing/wait_for.h"
#include "common/tls/cert_gen.h"
#include "gtest/gtest.h"
#include "mandator/testing/test_util.h"
#include "model/file_cache/reader.h"
#include "tests/cluster/agent_host.h"
#include "tests/cluster/distributor_process.h"
#include "tests/cluster/mandator_cluster.h"
#include "tests/cluster/mandator_process.h"
#include "tests/harness/daemon_process.h"
#include "tests/harness/zk_ensemble.h"

namespace kess {
namespace testing {
namespace {

constexpr char kZkName[] = "zk-1.dc1.example";    // the server's certificate
constexpr char kHostName[] = "kess-1.dc1.example";  // the kess host's
constexpr absl::Duration kWait = absl::Seconds(60);  // "did not hang"

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  return static_cast<bool>(out);
}

std::string NewDir(const std::string& name) {
  std::string templ = TestTmpDir() + "/" + name + "-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  return mkdtemp(buf.data()) != nullptr ? std::string(buf.data()) : "";
}

// A cluster's certificates as `kessctl certs init --hosts=zk-1...,kess-1...`
// writes them, plus the ZooKeeper server's PEM keystore (its key, then its
// certificate: zoo-tls.cfg).
struct Certs {
  std::string dir;
  std::string ca;
  std::string zk_keystore;
  std::string host_cert;
  std::string host_key;
};

absl::StatusOr<Certs> MakeCerts(const std::string& cluster) {
  Certs certs;
  certs.dir = NewDir(cluster);
  tls::ClusterCertOptions options;
  options.dir = certs.dir + "/tls";
  options.cluster = cluster;
  options.hosts = {kZkName, kHostName};
  KESS_RETURN_IF_ERROR(tls::WriteClusterCerts(options).status());
  certs.ca = options.dir + "/ca.pem";
  certs.host_cert = absl::StrCat(options.dir, "/hosts/", kHostName, ".pem");
  certs.host_key = absl::StrCat(options.dir, "/hosts/", kHostName, ".key");
  const std::string zk = absl::StrCat(options.dir, "/hosts/", kZkName);
  certs.zk_keystore = certs.dir + "/zk-keystore.pem";
  KESS_RETURN_IF_ERROR(tls::WriteFileAtomically(
      certs.zk_keystore, ReadFile(zk + ".key") + ReadFile(zk + ".pem"),
      0600));
  return certs;
}

ZkTlsOptions ServerTls(const Certs& certs, bool plaintext_port = false) {
  ZkTlsOptions tls;
  tls.keystore_pem = certs.zk_keystore;
  tls.truststore_pem = certs.ca;
  tls.client_auth = true;
  tls.plaintext_port = plaintext_port;
  tls.ca_pem = certs.ca;
  tls.client_cert_pem = certs.host_cert;
  tls.client_key_pem = certs.host_key;
  return tls;
}

// What differs from the shipped configuration in a test's stunnel.
struct StunnelSetup {
  std::string ca;
  std::string cert;  // empty: present no client certificate
  std::string key;
  int zk_tls_port = 0;          // connect of [zk-1]
  std::string check_host = kZkName;
};

// stunnel in client mode, started by the test from the shipped
// deploy/stunnel/kess-zk-stunnel.conf, in a directory of its own; only its
// own pid is ever signalled (DaemonProcess).
class Stunnel {
 public:
  static absl::StatusOr<std::unique_ptr<Stunnel>> Start(
      const std::string& name, const StunnelSetup& setup) {
    auto s = std::unique_ptr<Stunnel>(new Stunnel());
    s->dir_ = NewDir("stunnel-" + name);
    KESS_ASSIGN_OR_RETURN(s->port_, PickFreePort());
    KESS_ASSIGN_OR_RETURN(int port2, PickFreePort());
    KESS_ASSIGN_OR_RETURN(int port3, PickFreePort());
    // zk-2 and zk-3 of the shipped file point at a port nobody listens on:
    // this test has one server and gives the clients only zk-1's port.
    KESS_ASSIGN_OR_RETURN(int closed, PickFreePort());
    std::string conf =
        ReadFile(Runfile("deploy/stunnel/kess-zk-stunnel.conf"));
    std::vector<std::pair<std::string, std::string>> edits = {
        // The test runs as one user: no privileges to drop.
        {"setuid = stunnel4\n", ""},
        {"setgid = stunnel4\n", ""},
        {"CAfile = /etc/stunnel/kess-zk/ca.pem", "CAfile = " + setup.ca},
        {"cert = /etc/stunnel/kess-zk/host.pem",
         setup.cert.empty() ? "" : "cert = " + setup.cert},
        {"key = /etc/stunnel/kess-zk/host.key",
         setup.key.empty() ? "" : "key = " + setup.key},
        {"accept = 127.0.0.1:2181", absl::StrCat("accept = 127.0.0.1:",
                                                  s->port_)},
        {"accept = 127.0.0.1:2182", absl::StrCat("accept = 127.0.0.1:", port2)},
        {"accept = 127.0.0.1:2183", absl::StrCat("accept = 127.0.0.1:", port3)},
        {"connect = zk-1.dc1.example:2281",
         absl::StrCat("connect = 127.0.0.1:", setup.zk_tls_port)},
        {"connect = zk-2.dc1.example:2281", absl::StrCat("connect = 127.0.0.1:",
                                                   closed)},
        {"connect = zk-3.dc1.example:2281", absl::StrCat("connect = 127.0.0.1:",
                                                   closed)},
        {"checkHost = zk-1.dc1.example", "checkHost = " + setup.check_host},
    };
    for (const auto& [from, to] : edits) {
      // The shipped file must still have each line this test replaces.
      const size_t at = conf.find(from);
      if (at == std::string::npos || conf.find(from, at + 1) !=
                                         std::string::npos) {
        return absl::FailedPreconditionError(
            "kess-zk-stunnel.conf: not exactly one '" + from + "'");
      }
      conf.replace(at, from.size(), to);
    }
    s->conf_ = s->dir_ + "/kess-zk-stunnel.conf";
    if (!WriteFile(s->conf_, conf)) {
      return absl::InternalError("cannot write " + s->conf_);
    }
    s->process_ = std::make_unique<DaemonProcess>("stunnel " + name,
                                                  s->dir_ + "/stunnel.log");
    KESS_RETURN_IF_ERROR(s->process_->Start({"stunnel", s->conf_}));
    // Its ports are bound once the configuration loaded.
    bool exited = false;
    const bool up = WaitFor(
        [&] {
          exited = s->process_->Exited();
          return exited ||
                 ReadFile(s->process_->log_path())
                         .find("Configuration successful") !=
                     std::string::npos;
        },
        absl::Seconds(10), absl::Milliseconds(20));
    if (!up || exited) {
      return absl::UnavailableError("stunnel did not start; see " +
                                    s->process_->log_path());
    }
    absl::SleepFor(absl::Milliseconds(100));  // listeners after the message
    return s;
  }

  ~Stunnel() { process_->Stop(absl::Seconds(5)); }

  // What the kess daemons get as --zk.
  std::string connect_string() const {
    return absl::StrCat("127.0.0.1:", port_);
  }
  int port() const { return port_; }
  std::string log() const { return ReadFile(process_->log_path()); }
  bool running() const { return process_->running(); }

 private:
  Stunnel() = default;
  std::string dir_;
  std::string conf_;
  int port_ = 0;
  std::unique_ptr<DaemonProcess> process_;
};

// A ZooKeeper C-client session (libzookeeper-mt, as in the daemons).
class ZkSession {
 public:
  explicit ZkSession(const std::string& hosts) {
    zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
    zh_ = zookeeper_init(hosts.c_str(), nullptr, 4000, nullptr, nullptr, 0);
  }
  ~ZkSession() {
    if (zh_ != nullptr) zookeeper_close(zh_);
  }
  bool WaitConnected(absl::Duration timeout) {
    return zh_ != nullptr &&
           WaitFor([&] { return zoo_state(zh_) == ZOO_CONNECTED_STATE; },
                   timeout);
  }
  zhandle_t* get() { return zh_; }

 private:
  zhandle_t* zh_ = nullptr;
};

std::string ValueIn(const AgentHost& agent, const std::string& ns,
                    const std::string& key) {
  file_cache::FileCacheReader reader(agent.cache_dir());
  auto entry = reader.Read(file_cache::CacheKey::Config(ns, key));
  return entry.ok() ? entry->value : entry.status().ToString();
}

class ZkTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto certs = MakeCerts("zk-tls-test");
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = *certs;
  }
  Certs certs_;
};

TEST_F(ZkTlsTest, DaemonsWorkThroughStunnelAndNothingElseGetsIn) {
  ZkEnsembleOptions zo;
  zo.name = "tls";
  zo.tls = ServerTls(certs_);
  auto zk = ZkEnsemble::Start(zo);
  ASSERT_TRUE(zk.ok()) << zk.status();
  const int tls_port = (*zk)->SecureClientPort(0);
  ASSERT_NE(tls_port, 0);
  EXPECT_EQ((*zk)->ClientPort(0), 0);  // no plaintext client port
  EXPECT_EQ((*zk)->ConnectString(), "");
  // The harness's own TLS client (CA + client certificate) is answered.
  auto ruok = (*zk)->FourLetterWord(0, "ruok");
  ASSERT_TRUE(ruok.ok()) << ruok.status();
  EXPECT_EQ(*ruok, "imok");

  // Plaintext to the TLS port: no answer, and no ZooKeeper session.
  auto plain = PlaintextFourLetterWord("127.0.0.1", tls_port, "ruok", 3000);
  EXPECT_FALSE(plain.ok() && plain->find("imok") != std::string::npos)
      << *plain;
  {
    ZkSession direct((*zk)->SecureConnectString());
    EXPECT_FALSE(direct.WaitConnected(absl::Seconds(3)));
  }

  // stunnel with the cluster's CA and the host's certificate.
  StunnelSetup good{certs_.ca, certs_.host_cert, certs_.host_key, tls_port};
  auto tunnel = Stunnel::Start("good", good);
  ASSERT_TRUE(tunnel.ok()) << tunnel.status();
  auto through = PlaintextFourLetterWord("127.0.0.1", (*tunnel)->port(),
                                         "ruok", 5000);
  ASSERT_TRUE(through.ok()) << through.status() << "\n" << (*tunnel)->log();
  EXPECT_EQ(*through, "imok");

  // Refused by stunnel: a CA that did not sign the server's certificate; a
  // server name the certificate does not have. Refused by ZooKeeper
  // (ssl.clientAuth=need): no client certificate. Each case: no answer to
  // a 4-letter word and no session, where the good tunnel gives both.
  auto other = MakeCerts("zk-tls-other-ca");
  ASSERT_TRUE(other.ok()) << other.status();
  struct Bad {
    std::string name;
    StunnelSetup setup;
  };
  std::vector<Bad> bad = {
      {"wrong-ca", {other->ca, certs_.host_cert, certs_.host_key, tls_port}},
      {"wrong-name",
       {certs_.ca, certs_.host_cert, certs_.host_key, tls_port,
        "zk-9.dc1.example"}},
      {"no-client-cert", {certs_.ca, "", "", tls_port}},
  };
  for (const Bad& b : bad) {
    SCOPED_TRACE(b.name);
    auto refused = Stunnel::Start(b.name, b.setup);
    ASSERT_TRUE(refused.ok()) << refused.status();
    auto reply = PlaintextFourLetterWord("127.0.0.1", (*refused)->port(),
                                         "ruok", 5000);
    EXPECT_FALSE(reply.ok() && reply->find("imok") != std::string::npos)
        << (*refused)->log();
    ZkSession session((*refused)->connect_string());
    EXPECT_FALSE(session.WaitConnected(absl::Seconds(3)))
        << (*refused)->log();
    if (b.name != "no-client-cert") {
      // stunnel itself rejected the server's certificate.
      EXPECT_NE((*refused)->log().find("Rejected by CERT"), std::string::npos)
          << (*refused)->log();
    }
  }
  {
    ZkSession session((*tunnel)->connect_string());
    EXPECT_TRUE(session.WaitConnected(absl::Seconds(10)));
  }

  // The kess daemons, whose only way to ZooKeeper is the tunnel.
  const std::string dir = NewDir("daemons");
  auto auth_file = WriteAuthFile(dir, mandator::testing::TestAuth());
  ASSERT_TRUE(auth_file.ok()) << auth_file.status();
  MandatorProcessOptions mo;
  mo.id = "m1";
  mo.datacenter = "dc1";
  mo.is_main = true;
  mo.zk = (*tunnel)->connect_string();
  mo.auth_file = *auth_file;
  auto mandator = MandatorProcess::Start(mo);
  ASSERT_TRUE(mandator.ok()) << mandator.status();
  MandatorList mandators;
  mandators.push_back(std::move(*mandator));
  ASSERT_NE(WaitLeader(mandators, kWait), nullptr);

  auto token = WriteTokenFile(dir, "zk-tls-test-token");
  ASSERT_TRUE(token.ok()) << token.status();
  DistributorProcessOptions d;
  d.id = "d1";
  d.datacenter = "dc1";
  d.zk = (*tunnel)->connect_string();
  d.zk_auth_file = *auth_file;
  d.auth_token_file = *token;
  auto distributor = DistributorProcess::Start(d);
  ASSERT_TRUE(distributor.ok()) << distributor.status();

  AgentHostOptions a;
  a.host_id = "h1";
  a.datacenter = "dc1";
  a.distributors = {(*distributor)->address()};
  a.mandators = {mandators[0]->address()};
  a.auth_token_file = *token;
  a.dir = dir + "/h1";
  auto agent = AgentHost::Start(a);
  ASSERT_TRUE(agent.ok()) << agent.status();
  ASSERT_TRUE((*agent)->Subscribe(ConfigSubscription({{"app", "color"}})).ok());

  for (const std::string value : {"blue", "green"}) {
    auto reply = HttpCall(mandators[0]->http_address(), "PUT",
                          "/api/v1/configs/app/color", PutBody(value),
                          absl::Seconds(20));
    ASSERT_TRUE(reply.ok()) << reply.status();
    ASSERT_EQ(reply->status, 200) << reply->body;
    EXPECT_TRUE(WaitFor(
        [&] { return ValueIn(**agent, "app", "color") == value; }, kWait))
        << ValueIn(**agent, "app", "color");
  }
  // The server has no other client port: the daemons' sessions (the
  // mandator's and the distributor's at least) are connections that
  // stunnel accepted and carried.
  auto cons = (*zk)->FourLetterWord(0, "cons");
  ASSERT_TRUE(cons.ok()) << cons.status();
  int sessions = 0;
  for (size_t at = cons->find("sid="); at != std::string::npos;
       at = cons->find("sid=", at + 1)) {
    ++sessions;
  }
  EXPECT_GE(sessions, 2) << *cons;
  int carried = 0;
  const std::string log = (*tunnel)->log();
  for (size_t at = log.find("Service [zk-1] accepted connection");
       at != std::string::npos;
       at = log.find("Service [zk-1] accepted connection", at + 1)) {
    ++carried;
  }
  EXPECT_GE(carried, sessions) << log;
  EXPECT_TRUE((*tunnel)->running());
}

// ---------------------------------------------------------------------------
// What the tunnel costs: round trips of a C client (libzookeeper-mt, as in
// the daemons) to the same server, directly on its plaintext port and
// through stunnel to its TLS port, interleaved in rounds in the same run.

struct Figures {
  std::vector<double> us;
  void Add(std::chrono::steady_clock::duration d) {
    us.push_back(
        std::chrono::duration_cast<std::chrono::nanoseconds>(d).count() /
        1000.0);
  }
  double Percentile(double p) {
    if (us.empty()) return 0;
    std::sort(us.begin(), us.end());
    return us[std::min(us.size() - 1, static_cast<size_t>(p * us.size()))];
  }
  double Mean() const {
    double sum = 0;
    for (double v : us) sum += v;
    return us.empty() ? 0 : sum / us.size();
  }
};

void Report(const std::string& op, const std::string& path, Figures& f) {
  std::printf(
      "ZK_TLS|op=%s|path=%s|n=%zu|mean_us=%.0f|p50_us=%.0f|p90_us=%.0f|"
      "p99_us=%.0f\n",
      op.c_str(), path.c_str(), f.us.size(), f.Mean(), f.Percentile(0.5),
      f.Percentile(0.9), f.Percentile(0.99));
}

TEST_F(ZkTlsTest, RoundTripLatencyDirectAndThroughStunnel) {
  ZkEnsembleOptions zo;
  zo.name = "latency";
  zo.tls = ServerTls(certs_, /*plaintext_port=*/true);
  auto zk = ZkEnsemble::Start(zo);
  ASSERT_TRUE(zk.ok()) << zk.status();
  auto tunnel = Stunnel::Start(
      "latency", {certs_.ca, certs_.host_cert, certs_.host_key,
                  (*zk)->SecureClientPort(0)});
  ASSERT_TRUE(tunnel.ok()) << tunnel.status();

  const std::vector<std::pair<std::string, std::string>> paths = {
      {"direct", (*zk)->ConnectString()},
      {"stunnel", (*tunnel)->connect_string()}};
  constexpr int kRounds = 5;
  constexpr int kGets = 1000;
  constexpr int kSets = 100;
  constexpr int kSessions = 10;
  Figures get[2], set[2], session[2];
  for (int round = 0; round < kRounds; ++round) {
    for (int p = 0; p < 2; ++p) {
      // A new session: TCP connect (+ TLS handshake) + ZooKeeper session.
      for (int i = 0; i < kSessions; ++i) {
        const auto start = std::chrono::steady_clock::now();
        ZkSession s(paths[p].second);
        ASSERT_TRUE(s.WaitConnected(absl::Seconds(10)));
        session[p].Add(std::chrono::steady_clock::now() - start);
      }
      ZkSession s(paths[p].second);
      ASSERT_TRUE(s.WaitConnected(absl::Seconds(10)));
      const std::string node = absl::StrCat("/latency-", paths[p].first);
      const std::string value(100, 'v');  // a small config value
      int rc = zoo_create(s.get(), node.c_str(), value.data(), value.size(),
                          &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);
      ASSERT_TRUE(rc == ZOK || rc == ZNODEEXISTS) << zerror(rc);
      for (int i = 0; i < kGets; ++i) {
        char buf[256];
        int len = sizeof(buf);
        const auto start = std::chrono::steady_clock::now();
        rc = zoo_get(s.get(), node.c_str(), 0, buf, &len, nullptr);
        get[p].Add(std::chrono::steady_clock::now() - start);
        ASSERT_EQ(rc, ZOK) << zerror(rc);
        ASSERT_EQ(len, static_cast<int>(value.size()));
      }
      for (int i = 0; i < kSets; ++i) {
        const auto start = std::chrono::steady_clock::now();
        rc = zoo_set(s.get(), node.c_str(), value.data(), value.size(), -1);
        set[p].Add(std::chrono::steady_clock::now() - start);
        ASSERT_EQ(rc, ZOK) << zerror(rc);
      }
    }
  }
  for (int p = 0; p < 2; ++p) {
    Report("get", paths[p].first, get[p]);
    Report("set", paths[p].first, set[p]);
    Report("session", paths[p].first, session[p]);
  }
}

}  // namespace
}  // namespace testing
}  // namespace kess
