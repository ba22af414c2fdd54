// The TLS abuse test: one real cluster with TLS on every transport link and
// mutual TLS at the distributors (ZooKeeper, one mandator, two
// distributors, two agents), and while a writer keeps putting config
// values that every agent must receive, attacks on TLS itself: plaintext
// and TLS 1.0/1.1 at the distributor and at the mandator's heartbeat port,
// client certificates from a wrong CA, none, or expired, an agent pointed
// at a fake distributor (wrong CA; right CA but expired), the distributor
// certificate rotated under load, a flood of handshakes never finished,
// and at the HTTPS ports (the mandator's API, a distributor's HTTP):
// plaintext HTTP, silent and slow TLS clients, and an HTTPS client sent to
// a fake mandator. Each attack must fail and be counted for what it is
// (kess_transport_tls_handshake_failures_total{cause},
// kess_transport_disconnects_total{reason}), and every acknowledged write
// must reach every agent within 20 s. See README.md.
//
// Attacks come from loopback addresses of their own (127.0.0.2 ...), the
// cluster's traffic runs on 127.0.0.1. Lines starting "TLS_ABUSE|" are the
// figures; the table at the end puts each attack beside the agents'
// delivery p50/p99 of the writes made during it.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/ssl.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/http_client.h"
#include "common/testing/wait_for.h"
#include "common/tls/cert_gen.h"
#include "gtest/gtest.h"
#include "tests/cluster/cache_tier_cluster.h"
#include "tests/security/abuse_client.h"
#include "tests/security/propagation_writer.h"
#include "tests/security/tls_probe.h"

namespace kess {
namespace testing {
namespace {

constexpr char kNs[] = "tls";
constexpr int kStreamKeys = 4;
constexpr absl::Duration kPropagationBound = absl::Seconds(20);
constexpr absl::Duration kLong = absl::Seconds(20);

std::string StreamKeyName(int i) { return absl::StrCat("p", i % kStreamKeys); }

std::string TmpDir() {
  const char* dir = getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

double Sample(const std::string& metrics, const std::string& name,
              const std::string& labels) {
  absl::StatusOr<double> v = MetricValue(metrics, name, labels);
  return v.ok() ? *v : 0;
}

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string AgentMetricsText(const AgentHost& a) {
  absl::StatusOr<HttpReply> r = a.Call("GET", "/metrics");
  return r.ok() && r->status == 200 ? r->body : "";
}

std::string MandatorMetricsText(const MandatorProcess& m) {
  absl::StatusOr<HttpReply> r =
      HttpCall(m.http_address(), "GET", "/metrics", "", absl::Seconds(10));
  return r.ok() && r->status == 200 ? r->body : "";
}

double HandshakeFailures(const std::string& metrics, const std::string& role,
                         const std::string& cause) {
  return Sample(metrics, "kess_transport_tls_handshake_failures_total",
                absl::StrCat("role=\"", role, "\",cause=\"", cause, "\""));
}

double ServerDisconnects(const std::string& metrics,
                         const std::string& reason) {
  return Sample(metrics, "kess_transport_disconnects_total",
                absl::StrCat("role=\"server\",reason=\"", reason, "\""));
}

// One row of the table printed at the end.
struct Row {
  std::string attack;
  std::string seen_as;
  int writes = 0;
  int misses = 0;
  double p50 = 0, p99 = 0;
};

class TlsAbuseTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    RaiseOpenFileLimit();
    CacheTierClusterOptions o;
    o.dcs.mandators_per_dc = 1;
    o.dcs.slave_dcs = 0;
    o.dcs.tls = true;
    // Mutual TLS between agents and distributors: the agents present their
    // certificate, the distributors require one of the cluster's CA.
    o.distributor_flags = {"--tls_client_auth"};
    o.agent_flags = {"--tls_client_auth"};
    o.distributors_per_dc = 2;
    o.agents_per_dc = 2;
    auto cluster = CacheTierCluster::Start(o);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = cluster->release();
    rows_ = new std::vector<Row>();
    std::vector<std::pair<std::string, std::string>> keys;
    for (int i = 0; i < kStreamKeys; ++i) {
      keys.emplace_back(kNs, StreamKeyName(i));
    }
    agents_ = new std::vector<AgentHost*>(cluster_->AllAgents());
    for (AgentHost* a : *agents_) {
      ASSERT_TRUE(a->Subscribe(ConfigSubscription(keys)).ok()) << a->host_id();
    }
    // The cluster's CA (its key signs the test's own certificates: expired
    // ones, the rotated distributor certificate) and a stranger CA.
    const ClusterTls& tls = cluster_->dcs().tls();
    absl::StatusOr<std::string> ca_key = ReadFileToString(tls.dir() + "/ca.key");
    absl::StatusOr<std::string> ca_pem = ReadFileToString(tls.ca());
    ASSERT_TRUE(ca_key.ok() && ca_pem.ok());
    cluster_ca_ = new tls::KeyAndCert{*ca_key, *ca_pem};
    absl::StatusOr<tls::KeyAndCert> stranger =
        tls::MakeCa("stranger CA", absl::Now() - absl::Hours(1),
                    absl::Now() + absl::Hours(24));
    ASSERT_TRUE(stranger.ok());
    stranger_ca_ = new tls::KeyAndCert(*stranger);

    Writer quiet;
    absl::SleepFor(absl::Seconds(6));
    quiet.Stop();
    ASSERT_GT(quiet.writes(), 0) << "no write reached the agents";
    Record({"quiet (no attack)", "-", quiet.writes(), quiet.misses(),
            quiet.p50(), quiet.p99()});
  }

  static void TearDownTestSuite() {
    printf("TLS_ABUSE|table\n");
    printf("| attack | seen as | writes | missed | p50 ms | p99 ms |\n");
    printf("|---|---|---|---|---|---|\n");
    if (rows_ != nullptr) {
      for (const Row& r : *rows_) {
        printf("| %s | %s | %d | %d | %.0f | %.0f |\n", r.attack.c_str(),
               r.seen_as.c_str(), r.writes, r.misses, r.p50, r.p99);
      }
    }
    fflush(stdout);
    delete cluster_;
    cluster_ = nullptr;
    delete rows_;
    rows_ = nullptr;
    delete agents_;
    agents_ = nullptr;
    delete cluster_ca_;
    cluster_ca_ = nullptr;
    delete stranger_ca_;
    stranger_ca_ = nullptr;
  }

  static void Record(const Row& row) {
    printf("TLS_ABUSE|%s|seen_as=%s|writes=%d|misses=%d|p50_ms=%.0f|"
           "p99_ms=%.0f\n",
           row.attack.c_str(), row.seen_as.c_str(), row.writes, row.misses,
           row.p50, row.p99);
    fflush(stdout);
    rows_->push_back(row);
  }

  // The writer every attack runs beside: the cluster's own agents (not the
  // ones a test adds) must receive each of its writes, made through the
  // leader, within kPropagationBound.
  class Writer : public PropagationWriter {
   public:
    Writer() : PropagationWriter(WriterOptions()) {}

   private:
    static Options WriterOptions() {
      Options o;
      o.ns = kNs;
      o.key_name = StreamKeyName;
      o.put = [](const std::string& key, int i) {
        return cluster_->Put(
            kNs, key,
            absl::StrCat("v", i, "-", absl::ToUnixMicros(absl::Now())));
      };
      o.agents = *agents_;
      o.bound = kPropagationBound;
      return o;
    }
  };

  // Ends an attack: stops the writer, requires every write delivered, and
  // records the row.
  static void Finish(Writer& writer, const std::string& attack,
                     const std::string& seen_as) {
    // At least a few writes during every attack.
    WaitFor([&] { return writer.writes() >= 3; }, absl::Seconds(30));
    writer.Stop();
    EXPECT_GE(writer.writes(), 3) << attack;
    EXPECT_EQ(writer.misses(), 0) << attack << ": writes not delivered";
    Record({attack, seen_as, writer.writes(), writer.misses(), writer.p50(),
            writer.p99()});
  }

  // Writes `name`.pem / .key into a directory of the test: a certificate
  // for localhost and 127.0.0.1 from `ca`, valid from `not_before` to
  // `not_after`; the path without extension.
  static std::string WriteCert(const std::string& name,
                               const tls::KeyAndCert& ca,
                               absl::Time not_before, absl::Time not_after) {
    tls::CertSpec spec;
    spec.common_name = name;
    spec.dns_names = {"localhost"};
    spec.ip_addresses = {"127.0.0.1", "::1"};
    spec.not_before = not_before;
    spec.not_after = not_after;
    absl::StatusOr<tls::KeyAndCert> kc = tls::IssueCert(ca, spec);
    EXPECT_TRUE(kc.ok()) << kc.status();
    if (!kc.ok()) return "";
    const std::string base = absl::StrCat(TmpDir(), "/", name);
    EXPECT_TRUE(tls::WriteFileAtomically(base + ".key", kc->key_pem, 0600).ok());
    EXPECT_TRUE(tls::WriteFileAtomically(base + ".pem", kc->cert_pem, 0644).ok());
    return base;
  }

  static DistributorProcess& D1() { return *cluster_->main().distributors[0]; }
  static MandatorProcess& M1() { return *cluster_->dcs().main()[0]; }

  static CacheTierCluster* cluster_;
  static std::vector<Row>* rows_;
  static std::vector<AgentHost*>* agents_;
  static tls::KeyAndCert* cluster_ca_;
  static tls::KeyAndCert* stranger_ca_;
};

CacheTierCluster* TlsAbuseTest::cluster_ = nullptr;
std::vector<Row>* TlsAbuseTest::rows_ = nullptr;
std::vector<AgentHost*>* TlsAbuseTest::agents_ = nullptr;
tls::KeyAndCert* TlsAbuseTest::cluster_ca_ = nullptr;
tls::KeyAndCert* TlsAbuseTest::stranger_ca_ = nullptr;

// Plaintext kess frames and TLS 1.0 / 1.1 ClientHellos, at a distributor
// and at the mandator's heartbeat (scheduler) port: closed before any
// frame, counted as not_tls and no_shared_protocol.
TEST_F(TlsAbuseTest, PlaintextAndOldTlsAreRefused) {
  Writer writer;
  struct Target {
    std::string name;
    std::string address;
    std::function<std::string()> metrics;
  };
  const std::vector<Target> targets = {
      {"distributor", D1().address(), [] { return D1().Metrics(); }},
      {"mandator heartbeat port", M1().address(),
       [] { return MandatorMetricsText(M1()); }}};
  for (const Target& t : targets) {
    SCOPED_TRACE(t.name);
    const std::string before = t.metrics();
    // Plaintext: a kess.Heartbeat / kess.Subscribe frame as an old or
    // misconfigured client sends it.
    constexpr int kPlain = 5;
    for (int i = 0; i < kPlain; ++i) {
      absl::StatusOr<AbuseSocket> s =
          AbuseSocket::Connect("127.0.0.2", t.address, absl::Seconds(5));
      ASSERT_TRUE(s.ok()) << s.status();
      s->Send(FrameBytes("kess.Subscribe", std::string(64, '\0')),
              absl::Seconds(5));
      std::string received;
      EXPECT_TRUE(s->WaitClosed(absl::Seconds(5), &received));
      // Nothing of kess comes back: at most a TLS alert record (0x15).
      EXPECT_TRUE(received.empty() || received[0] == 0x15)
          << "answered a plaintext frame: " << received.size() << " bytes";
    }
    // TLS 1.0 and TLS 1.1 (downgrade).
    for (int version : {TLS1_VERSION, TLS1_1_VERSION}) {
      TlsProbeResult r = TlsProbe({.from = "127.0.0.3",
                                   .to = t.address,
                                   .ca_file = cluster_->dcs().tls().ca(),
                                   .min_version = version,
                                   .max_version = version});
      EXPECT_TRUE(r.connected);
      EXPECT_FALSE(r.handshake_done) << "version " << version;
    }
    std::string after;
    EXPECT_TRUE(WaitFor(
        [&] {
          after = t.metrics();
          return HandshakeFailures(after, "server", "not_tls") -
                         HandshakeFailures(before, "server", "not_tls") >=
                     kPlain &&
                 HandshakeFailures(after, "server", "no_shared_protocol") -
                         HandshakeFailures(before, "server",
                                           "no_shared_protocol") >=
                     2;
        },
        kLong))
        << "not_tls "
        << HandshakeFailures(after, "server", "not_tls") -
               HandshakeFailures(before, "server", "not_tls")
        << ", no_shared_protocol "
        << HandshakeFailures(after, "server", "no_shared_protocol") -
               HandshakeFailures(before, "server", "no_shared_protocol");
    EXPECT_GE(ServerDisconnects(after, "tls_handshake_failed") -
                  ServerDisconnects(before, "tls_handshake_failed"),
              kPlain + 2);
    printf("TLS_ABUSE|counters|%s|not_tls=+%.0f|no_shared_protocol=+%.0f\n",
           t.name.c_str(),
           HandshakeFailures(after, "server", "not_tls") -
               HandshakeFailures(before, "server", "not_tls"),
           HandshakeFailures(after, "server", "no_shared_protocol") -
               HandshakeFailures(before, "server", "no_shared_protocol"));
  }
  Finish(writer, "plaintext frames, TLS 1.0/1.1 hello (distributor, mandator)",
         "not_tls, no_shared_protocol");
}

// Mutual TLS at the distributor: a client certificate from another CA, no
// certificate, and an expired certificate of the cluster's own CA are each
// refused, counted by cause; a valid one is accepted.
TEST_F(TlsAbuseTest, WrongCaMissingAndExpiredClientCertificates) {
  Writer writer;
  const ClusterTls& tls = cluster_->dcs().tls();
  const std::string stranger =
      WriteCert("stranger-client", *stranger_ca_, absl::Now() - absl::Hours(1),
                absl::Now() + absl::Hours(24));
  const std::string expired =
      WriteCert("expired-client", *cluster_ca_, absl::Now() - absl::Hours(48),
                absl::Now() - absl::Hours(1));
  ASSERT_FALSE(stranger.empty());
  ASSERT_FALSE(expired.empty());
  const std::string before = D1().Metrics();
  struct Case {
    std::string name, cert, cause;
  };
  const std::vector<Case> cases = {
      {"wrong CA", stranger, "untrusted_cert"},
      {"no certificate", "", "no_client_cert"},
      {"expired", expired, "cert_expired"}};
  for (const Case& c : cases) {
    TlsProbeOptions o{.from = "127.0.0.4", .to = D1().address(),
                      .ca_file = tls.ca()};
    if (!c.cert.empty()) {
      o.cert_file = c.cert + ".pem";
      o.key_file = c.cert + ".key";
    }
    TlsProbeResult r = TlsProbe(o);
    EXPECT_TRUE(r.connected) << c.name;
    // TLS 1.3: the client's side may complete; the server then refuses.
    EXPECT_TRUE(!r.handshake_done || r.refused_after_handshake)
        << c.name << " was admitted";
    std::string after;
    EXPECT_TRUE(WaitFor(
        [&] {
          after = D1().Metrics();
          return HandshakeFailures(after, "server", c.cause) -
                     HandshakeFailures(before, "server", c.cause) >=
                 1;
        },
        kLong))
        << c.name << ": no " << c.cause << " counted";
  }
  // The cluster's own client certificate: admitted (the distributor then
  // waits for a frame; the probe's read times out instead of a refusal).
  TlsProbeResult good = TlsProbe({.from = "127.0.0.4",
                                  .to = D1().address(),
                                  .ca_file = tls.ca(),
                                  .cert_file = tls.cert("agent"),
                                  .key_file = tls.key("agent"),
                                  .timeout = absl::Seconds(2)});
  EXPECT_TRUE(good.handshake_done && !good.refused_after_handshake)
      << "the cluster's own certificate was refused: " << good.error;
  Finish(writer, "client cert: wrong CA, none, expired (mutual TLS)",
         "untrusted_cert, no_client_cert, cert_expired");
}

// An agent pointed at a fake distributor: one with a certificate from
// another CA, one with an expired certificate of the cluster's CA. The
// agent refuses both (counted on its side), never caches anything from
// them, and the real agents keep receiving every write.
TEST_F(TlsAbuseTest, AgentRefusesAnImpersonatedDistributor) {
  Writer writer;
  const std::string stranger = WriteCert(
      "fake-distributor", *stranger_ca_, absl::Now() - absl::Hours(1),
      absl::Now() + absl::Hours(24));
  const std::string expired = WriteCert(
      "expired-distributor", *cluster_ca_, absl::Now() - absl::Hours(48),
      absl::Now() - absl::Hours(1));
  ASSERT_FALSE(stranger.empty());
  ASSERT_FALSE(expired.empty());
  struct Case {
    std::string host, cert, cause;
  };
  for (const Case& c : std::vector<Case>{{"fake1", stranger, "untrusted_cert"},
                                         {"fake2", expired, "cert_expired"}}) {
    SCOPED_TRACE(c.host);
    FakeTlsServer fake(c.cert + ".pem", c.cert + ".key");
    ASSERT_TRUE(fake.ok());
    absl::StatusOr<AgentHost*> agent =
        cluster_->AddAgent(cluster_->main(), c.host, "", {fake.address()});
    ASSERT_TRUE(agent.ok()) << agent.status();
    ASSERT_TRUE(
        (*agent)->Subscribe(ConfigSubscription({{kNs, StreamKeyName(0)}})).ok());
    std::string metrics;
    EXPECT_TRUE(WaitFor(
        [&] {
          metrics = AgentMetricsText(**agent);
          return HandshakeFailures(metrics, "client", c.cause) >= 2 &&
                 fake.connections() >= 2;
        },
        kLong))
        << "agent's " << c.cause << ": "
        << HandshakeFailures(metrics, "client", c.cause)
        << ", fake's connections: " << fake.connections();
    // Meanwhile the real agents have the key; this one has nothing.
    EXPECT_GT(CachedRevision(*cluster_->main().agents[0], kNs,
                             StreamKeyName(0)),
              0);
    EXPECT_EQ(CachedRevision(**agent, kNs, StreamKeyName(0)), 0)
        << "the agent cached data from a fake distributor";
    EXPECT_EQ(fake.handshakes_done(), 0)
        << "the agent completed a handshake with the fake distributor";
    printf("TLS_ABUSE|counters|agent at fake distributor (%s)|%s=%.0f|"
           "fake_connections=%d\n",
           c.cause.c_str(), c.cause.c_str(),
           HandshakeFailures(metrics, "client", c.cause), fake.connections());
    (*agent)->Stop();
  }
  Finish(writer, "fake distributor: wrong CA, expired cert",
         "agent: untrusted_cert, cert_expired");
}

// The distributors' certificate rotated under load: the files rewritten
// (a new key and certificate from the cluster's CA), SIGHUP. Existing
// agents keep every write; new connections get the new certificate
// (its serial); the reload is counted.
TEST_F(TlsAbuseTest, CertificateReloadDuringTraffic) {
  Writer writer;
  const ClusterTls& tls = cluster_->dcs().tls();
  const std::string probe_from = "127.0.0.5";
  absl::StatusOr<std::string> old_serial = CertSerial(tls.cert("distributor"));
  ASSERT_TRUE(old_serial.ok());
  TlsProbeOptions probe{.from = probe_from, .to = D1().address(),
                        .ca_file = tls.ca(),
                        .cert_file = tls.cert("agent"),
                        .key_file = tls.key("agent"),
                        .timeout = absl::Seconds(1)};
  TlsProbeResult first = TlsProbe(probe);
  ASSERT_TRUE(first.handshake_done) << first.error;
  EXPECT_EQ(first.peer_serial, *old_serial);
  const std::string before = D1().Metrics();
  // Traffic for a while, then the rotation in the middle of it.
  absl::SleepFor(absl::Seconds(2));
  tls::CertSpec spec;
  spec.common_name = "distributor (rotated)";
  spec.dns_names = {"localhost"};
  spec.ip_addresses = {"127.0.0.1", "::1"};
  absl::StatusOr<tls::KeyAndCert> rotated = tls::IssueCert(*cluster_ca_, spec);
  ASSERT_TRUE(rotated.ok());
  ASSERT_TRUE(tls::WriteFileAtomically(tls.key("distributor"),
                                       rotated->key_pem, 0600)
                  .ok());
  ASSERT_TRUE(tls::WriteFileAtomically(tls.cert("distributor"),
                                       rotated->cert_pem, 0644)
                  .ok());
  absl::StatusOr<std::string> new_serial = CertSerial(tls.cert("distributor"));
  ASSERT_TRUE(new_serial.ok());
  ASSERT_NE(*new_serial, *old_serial);
  for (auto& d : cluster_->main().distributors) {
    ASSERT_EQ(kill(d->pid(), SIGHUP), 0);
  }
  std::string served;
  EXPECT_TRUE(WaitFor(
      [&] {
        served = TlsProbe(probe).peer_serial;
        return served == *new_serial;
      },
      kLong, absl::Milliseconds(200)))
      << "served " << served << ", want " << *new_serial;
  const std::string after = D1().Metrics();
  EXPECT_GE(Sample(after, "kess_tls_reloads_total", "result=\"ok\"") -
                Sample(before, "kess_tls_reloads_total", "result=\"ok\""),
            1);
  // The agents' connections from before were not dropped by the reload.
  EXPECT_EQ(ServerDisconnects(after, "tls_handshake_failed") -
                ServerDisconnects(before, "tls_handshake_failed"),
            0);
  absl::SleepFor(absl::Seconds(3));  // traffic after the rotation
  printf("TLS_ABUSE|counters|reload|old_serial=%s|new_serial=%s|"
         "reloads_ok=+%.0f\n",
         old_serial->c_str(), new_serial->c_str(),
         Sample(after, "kess_tls_reloads_total", "result=\"ok\"") -
             Sample(before, "kess_tls_reloads_total", "result=\"ok\""));
  Finish(writer, "distributor cert rotated under load (SIGHUP)",
         "new serial served, kess_tls_reloads_total{ok}");
}

// A flood of connections that start a handshake (a TLS record header and
// a few bytes of a ClientHello) and never finish it: each is closed at the
// first-frame deadline (10 s after accept), counted as first_frame_timeout.
TEST_F(TlsAbuseTest, HandshakeFloodIsClosedAtTheFirstFrameDeadline) {
  Writer writer;
  constexpr int kSockets = 60;  // under the 64 per address
  const std::string before = D1().Metrics();
  // A handshake record header announcing 512 bytes, then 4 of them.
  const std::string partial_hello =
      std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc", 9);
  std::vector<AbuseSocket> sockets;
  const absl::Time start = absl::Now();
  for (int i = 0; i < kSockets; ++i) {
    absl::StatusOr<AbuseSocket> s =
        AbuseSocket::Connect("127.0.0.6", D1().address(), absl::Seconds(5));
    ASSERT_TRUE(s.ok()) << s.status();
    s->Send(partial_hello, absl::Seconds(2));
    sockets.push_back(std::move(*s));
  }
  int closed = 0;
  for (AbuseSocket& s : sockets) {
    if (s.WaitClosed(absl::Seconds(25) - (absl::Now() - start))) ++closed;
  }
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(closed, kSockets);
  EXPECT_GE(took, absl::Seconds(9)) << "closed before the deadline";
  std::string after;
  EXPECT_TRUE(WaitFor(
      [&] {
        after = D1().Metrics();
        return ServerDisconnects(after, "first_frame_timeout") -
                   ServerDisconnects(before, "first_frame_timeout") >=
               kSockets;
      },
      kLong));
  printf("TLS_ABUSE|counters|handshake flood|sockets=%d|closed=%d|"
         "after_s=%.1f|first_frame_timeout=+%.0f\n",
         kSockets, closed, absl::ToDoubleSeconds(took),
         ServerDisconnects(after, "first_frame_timeout") -
             ServerDisconnects(before, "first_frame_timeout"));
  Finish(writer, "handshake flood (60 unfinished handshakes)",
         "first_frame_timeout");
}

// ---- HTTPS (the mandator's API and UI, the distributor's HTTP) ----

// "host:port" of an http_address() ("https://host:port").
std::string HostPort(const std::string& http_address) {
  const size_t scheme = http_address.find("://");
  return scheme == std::string::npos ? http_address
                                     : http_address.substr(scheme + 3);
}

double HttpsFailures(const std::string& metrics, const std::string& cause) {
  return Sample(metrics, "kess_http_tls_handshake_failures_total",
                absl::StrCat("cause=\"", cause, "\""));
}

// A TLS client from `from` that completes the handshake (trusting the
// cluster's CA) on a blocking socket, then writes what it is given.
class TrickleClient {
 public:
  TrickleClient(const std::string& from, const std::string& to,
                const std::shared_ptr<tls::TlsContext>& tls) {
    absl::StatusOr<AbuseSocket> s =
        AbuseSocket::Connect(from, to, absl::Seconds(5));
    if (!s.ok()) return;
    fd_ = s->Release();
    const int flags = fcntl(fd_, F_GETFL);
    fcntl(fd_, F_SETFL, flags & ~O_NONBLOCK);
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    ssl_ = tls->NewSsl(fd_, "127.0.0.1");
    if (ssl_ != nullptr && SSL_connect(ssl_) != 1) {
      SSL_free(ssl_);
      ssl_ = nullptr;
    }
  }
  ~TrickleClient() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (fd_ >= 0) close(fd_);
  }
  bool ok() const { return ssl_ != nullptr; }
  // False once the server closed the connection.
  bool Write(const std::string& bytes) {
    if (ssl_ == nullptr || closed_) return false;
    closed_ = SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size())) <= 0;
    return !closed_;
  }
  // What the server sends until it closes (its 408), at most 5 s.
  std::string ReadToClose() {
    std::string in;
    char buffer[2048];
    int n;
    while (ssl_ != nullptr && (n = SSL_read(ssl_, buffer, sizeof(buffer))) > 0) {
      in.append(buffer, static_cast<size_t>(n));
    }
    closed_ = true;
    return in;
  }

 private:
  int fd_ = -1;
  SSL* ssl_ = nullptr;
  bool closed_ = false;
};

// HTTPS at the mandator's API and the distributor's HTTP port: plaintext
// HTTP requests (with a Bearer token) are answered only "use https://" in
// clear and closed, nothing reaching a route; connections that never
// start the handshake and clients that complete it and trickle their
// headers (slowloris over TLS) are cut at the header deadline (10 s);
// and HTTPS keeps serving the cluster meanwhile.
TEST_F(TlsAbuseTest, HttpsPortsRefusePlaintextAndSlowClients) {
  Writer writer;
  absl::StatusOr<std::shared_ptr<tls::TlsContext>> client_tls =
      cluster_->dcs().tls().ClientContext();
  ASSERT_TRUE(client_tls.ok()) << client_tls.status();
  struct Target {
    std::string name;
    std::string http_address;
    std::function<std::string()> metrics;
  };
  const std::vector<Target> targets = {
      {"mandator API", M1().http_address(),
       [] { return MandatorMetricsText(M1()); }},
      {"distributor HTTP", D1().http_address(), [] { return D1().Metrics(); }}};
  for (const Target& t : targets) {
    SCOPED_TRACE(t.name);
    ASSERT_TRUE(absl::StartsWith(t.http_address, "https://")) << t.http_address;
    const std::string to = HostPort(t.http_address);
    const std::string before = t.metrics();
    const absl::Time start = absl::Now();
    // Connections that never start a handshake, and TLS clients that
    // trickle a header byte every 500 ms: open beside the rest.
    constexpr int kSilent = 10, kTrickle = 10;
    std::vector<AbuseSocket> silent;
    for (int i = 0; i < kSilent; ++i) {
      absl::StatusOr<AbuseSocket> s =
          AbuseSocket::Connect("127.0.0.20", to, absl::Seconds(5));
      ASSERT_TRUE(s.ok()) << s.status();
      silent.push_back(std::move(*s));
    }
    std::vector<std::unique_ptr<TrickleClient>> tricklers;
    for (int i = 0; i < kTrickle; ++i) {
      tricklers.push_back(
          std::make_unique<TrickleClient>("127.0.0.21", to, *client_tls));
      ASSERT_TRUE(tricklers.back()->ok()) << "TLS handshake " << i;
    }
    // Plaintext HTTP with a token, as a client configured with http://.
    constexpr int kPlain = 5;
    for (int i = 0; i < kPlain; ++i) {
      absl::StatusOr<AbuseSocket> s =
          AbuseSocket::Connect("127.0.0.22", to, absl::Seconds(5));
      ASSERT_TRUE(s.ok()) << s.status();
      s->Send(absl::StrCat("GET /api/v1/status HTTP/1.1\r\nHost: ", to,
                           "\r\nAuthorization: Bearer leaked\r\n\r\n"),
              absl::Seconds(5));
      std::string received;
      EXPECT_TRUE(s->WaitClosed(absl::Seconds(5), &received));
      EXPECT_TRUE(absl::StartsWith(received, "HTTP/1.1 400") &&
                  absl::StrContains(received, "https://"))
          << "answered a plaintext request: " << received;
    }
    // HTTPS still serves while the slow ones hold their connections.
    absl::StatusOr<HttpReply> health =
        HttpCall(t.http_address, "GET", "/healthz", "", absl::Seconds(5));
    ASSERT_TRUE(health.ok()) << health.status();
    EXPECT_EQ(health->status, 200);
    // Trickle until the server closes each (bounded: 25 s).
    const std::string head = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " +
                             std::string(200, 'a');
    size_t open = tricklers.size();
    for (size_t i = 0; open > 0 && i < head.size() &&
                       absl::Now() - start < absl::Seconds(25);
         ++i) {
      open = 0;
      for (auto& c : tricklers) {
        if (c->Write(head.substr(i, 1))) ++open;
      }
      absl::SleepFor(absl::Milliseconds(500));
    }
    int answered_408 = 0;
    for (auto& c : tricklers) {
      if (absl::StrContains(c->ReadToClose(), "408")) ++answered_408;
    }
    int silent_closed = 0;
    for (AbuseSocket& s : silent) {
      if (s.WaitClosed(absl::Seconds(25) - (absl::Now() - start))) {
        ++silent_closed;
      }
    }
    const absl::Duration took = absl::Now() - start;
    EXPECT_EQ(silent_closed, kSilent);
    EXPECT_EQ(answered_408, kTrickle)
        << "slow TLS clients not answered 408 at the header deadline";
    EXPECT_GE(took, absl::Seconds(9)) << "closed before the deadline";
    EXPECT_LT(took, absl::Seconds(25));
    std::string after;
    EXPECT_TRUE(WaitFor(
        [&] {
          after = t.metrics();
          return HttpsFailures(after, "not_tls") -
                         HttpsFailures(before, "not_tls") >=
                     kPlain &&
                 HttpsFailures(after, "timeout") -
                         HttpsFailures(before, "timeout") >=
                     kSilent;
        },
        kLong))
        << "not_tls +"
        << HttpsFailures(after, "not_tls") - HttpsFailures(before, "not_tls")
        << ", timeout +"
        << HttpsFailures(after, "timeout") - HttpsFailures(before, "timeout");
    printf("TLS_ABUSE|counters|%s|not_tls=+%.0f|timeout=+%.0f|"
           "slow_tls_408=%d|cut_after_s=%.1f\n",
           t.name.c_str(),
           HttpsFailures(after, "not_tls") - HttpsFailures(before, "not_tls"),
           HttpsFailures(after, "timeout") - HttpsFailures(before, "timeout"),
           answered_408, absl::ToDoubleSeconds(took));
  }
  Finish(writer,
         "HTTPS ports: plaintext HTTP, silent and slow TLS clients "
         "(mandator, distributor)",
         "http not_tls, timeout, 408");
}

// A server of another CA posing as a mandator (a DNS or routing attack on
// kessctl, or on a follower forwarding a write): the HTTPS client refuses
// it during the handshake, before the request and its token are sent.
TEST_F(TlsAbuseTest, HttpsClientsRefuseAnImpersonatedMandator) {
  Writer writer;
  const std::string stranger = WriteCert(
      "fake-mandator", *stranger_ca_, absl::Now() - absl::Hours(1),
      absl::Now() + absl::Hours(24));
  ASSERT_FALSE(stranger.empty());
  FakeTlsServer fake(stranger + ".pem", stranger + ".key");
  ASSERT_TRUE(fake.ok());
  HttpFailure failure;
  HttpCallOptions options;
  options.headers = {{"Authorization", "Bearer admin-token"}};
  options.failure = &failure;
  options.timeout = absl::Seconds(5);
  absl::StatusOr<HttpReply> reply =
      HttpCall("https://" + fake.address(), "PUT", "/api/v1/configs/tls/x",
               "{\"value\":\"stolen\"}", options);
  ASSERT_FALSE(reply.ok());
  EXPECT_TRUE(absl::StrContains(reply.status().message(),
                                "certificate is not accepted"))
      << reply.status();
  EXPECT_FALSE(failure.sent);
  EXPECT_EQ(fake.handshakes_done(), 0);
  // The real leader meanwhile takes the same call.
  absl::StatusOr<HttpReply> real =
      HttpCall(M1().http_address(), "GET", "/healthz", "", absl::Seconds(5));
  ASSERT_TRUE(real.ok()) << real.status();
  printf("TLS_ABUSE|counters|https client at a fake mandator|refused=%s\n",
         failure.reason.c_str());
  Finish(writer, "HTTPS client at a fake mandator (another CA)",
         "untrusted server certificate, nothing sent");
}

}  // namespace
}  // namespace testing
}  // namespace kess
