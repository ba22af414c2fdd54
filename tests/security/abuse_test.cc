// The abuse suite: one real cluster (ZooKeeper, a mandator, 2 distributors
// and 2 agents in each of 2 DCs, an admin secret), and while a writer keeps
// putting config values that every agent must receive, attacks that
// anyone who reaches a port can make before authenticating. Each attack
// must fail (refused or closed, and counted in the daemon's /metrics), the
// attacked daemon's memory must stay bounded (/proc/<pid>/status), and the
// writes must keep reaching every agent. See README.md.
//
// Every attack comes from a loopback address of its own (127.0.0.2 ...),
// so that per-address limits hit the attacker and not the cluster's own
// traffic, which runs on 127.0.0.1.
//
// Lines starting "SECURITY|" are the figures (docs/design.md section 7).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "Poco/JSON/Object.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/http_client.h"
#include "common/metrics.h"
#include "gtest/gtest.h"
#include "model/file_cache/format.h"
#include "model/file_cache/reader.h"
#include "tests/cluster/cache_tier_cluster.h"
#include "tests/cluster/mandator_cluster.h"
#include "tests/security/abuse_client.h"
#include "tests/security/propagation_writer.h"

namespace kess {
namespace testing {
namespace {

constexpr char kNs[] = "sec";
constexpr int kStreamKeys = 4;
// Every acknowledged write must be in every agent's cache within this.
constexpr absl::Duration kPropagationBound = absl::Seconds(20);
// The attacked daemon's memory may not rise more than this over its RSS
// before the attack (peak) / stay more than kRssSlack above it (after).
constexpr int64_t kPeakSlackKib = 64 * 1024;
constexpr int64_t kRssSlackKib = 32 * 1024;

std::string StreamKeyName(int i) { return absl::StrCat("p", i % kStreamKeys); }

double Mib(int64_t kib) { return static_cast<double>(kib) / 1024.0; }

std::string TmpDir() {
  const char* dir = getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

// One sample of a daemon's /metrics; 0 if absent (a counter never
// incremented is not rendered).
double Sample(const std::string& metrics, const std::string& name,
              const std::string& labels) {
  absl::StatusOr<double> v = MetricValue(metrics, name, labels);
  return v.ok() ? *v : 0;
}

std::string MandatorMetrics(const MandatorProcess& m) {
  absl::StatusOr<HttpReply> r =
      HttpCall(m.http_address(), "GET", "/metrics", "", absl::Seconds(10));
  return r.ok() && r->status == 200 ? r->body : "";
}

std::string AgentMetricsText(const AgentHost& a) {
  absl::StatusOr<HttpReply> r = a.Call("GET", "/metrics");
  return r.ok() && r->status == 200 ? r->body : "";
}

// The slow-client attacks on an HTTP port (common/http/event_http_server.h
// behind the mandator's API and the distributor's status port): `sockets`
// connections, spread round-robin over the addresses `from`, each sending
// `opening` (an incomplete request) and then `drip` every second. While
// they drip, /healthz (and, at a mandator, a config PUT at the leader)
// must answer within a bound; every admitted socket must be closed at the
// deadline (`deadline` after accept, or after `opening` for a body);
// connections over the per-address cap (64) are refused at accept; both
// counted in the target's /metrics.
struct SlowTarget {
  std::string name;
  std::string http_address;
  pid_t pid = 0;
  std::function<std::string()> metrics;
  bool probe_put = false;
  std::string opening;
  std::string drip;
  absl::Duration deadline;
  std::string reason;  // kess_http_bad_requests_total{reason}
};

class AbuseTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    RaiseOpenFileLimit();
    CacheTierClusterOptions o;
    o.dcs.mandators_per_dc = 1;
    o.dcs.admin_secret = true;
    // Plaintext: the attacks below are raw sockets writing frames byte by
    // byte, which a TLS port refuses before any frame (not_tls); the same
    // limits over TLS are common/transport:tls_test's.
    o.dcs.tls = false;
    o.distributors_per_dc = 2;
    o.agents_per_dc = 2;
    auto cluster = CacheTierCluster::Start(o);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = cluster->release();
    std::ifstream in(cluster_->dcs().admin_password_file());
    std::stringstream secret;
    secret << in.rdbuf();
    secret_ = new std::string(absl::StripAsciiWhitespace(secret.str()));
    ASSERT_FALSE(secret_->empty());
    std::vector<std::pair<std::string, std::string>> keys;
    for (int i = 0; i < kStreamKeys; ++i) keys.emplace_back(kNs, StreamKeyName(i));
    keys.emplace_back(kNs, "victim");
    for (AgentHost* a : cluster_->AllAgents()) {
      ASSERT_TRUE(a->Subscribe(ConfigSubscription(keys)).ok()) << a->host_id();
    }
    // The quiet phase: the same writer with no attack.
    Writer quiet;
    absl::SleepFor(absl::Seconds(6));
    quiet.Stop();
    ASSERT_GT(quiet.writes(), 0) << "no write reached the agents";
    quiet_p50_ = quiet.p50();
    quiet_p99_ = quiet.p99();
    printf("SECURITY|quiet|writes=%d|p50_ms=%.0f|p99_ms=%.0f\n",
           quiet.writes(), quiet_p50_, quiet_p99_);
    fflush(stdout);
  }

  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
    delete secret_;
    secret_ = nullptr;
  }

  static MandatorProcess* Leader() {
    return WaitLeader(cluster_->dcs().main(), absl::Seconds(20));
  }

  // One PUT with the admin Bearer token at the main DC's leader, retried on
  // 503/504 or no answer until `deadline`; the committed revision.
  static absl::StatusOr<int64_t> Put(const std::string& key,
                                     const std::string& value,
                                     absl::Duration deadline,
                                     absl::Duration call_timeout) {
    const absl::Time end = absl::Now() + deadline;
    absl::Status last = absl::UnavailableError("no leader");
    do {
      MandatorProcess* leader =
          FindLeader(cluster_->dcs().main());
      if (leader == nullptr) {
        absl::SleepFor(absl::Milliseconds(100));
        continue;
      }
      absl::StatusOr<HttpReply> reply = HttpCall(
          leader->http_address(), "PUT",
          absl::StrCat("/api/v1/configs/", kNs, "/", key), PutBody(value),
          call_timeout, {{"Authorization", "Bearer " + *secret_}});
      if (reply.ok() && reply->status == 200) {
        Poco::JSON::Object::Ptr body = JsonBody(reply->body);
        if (!body) return absl::InternalError("PUT answer: " + reply->body);
        return body->getValue<int64_t>("revision");
      }
      if (reply.ok() && reply->status != 503 && reply->status != 504) {
        return absl::InternalError(
            absl::StrCat("PUT: HTTP ", reply->status, ": ", reply->body));
      }
      last = reply.ok() ? absl::UnavailableError(reply->body) : reply.status();
      absl::SleepFor(absl::Milliseconds(100));
    } while (absl::Now() < end);
    return last;
  }

  // The writer every attack runs beside: the cluster's agents must receive
  // each of its writes (made with Put) within kPropagationBound.
  class Writer : public PropagationWriter {
   public:
    Writer() : PropagationWriter(WriterOptions()) {}

   private:
    static Options WriterOptions() {
      Options o;
      o.ns = kNs;
      o.key_name = StreamKeyName;
      o.put = [](const std::string& key, int i) {
        return Put(key, absl::StrCat("v", i), absl::Seconds(5),
                   absl::Seconds(5));
      };
      o.agents = cluster_->AllAgents();
      o.bound = kPropagationBound;
      return o;
    }
  };

  // Stops `w`, prints its figures beside the quiet phase's and, unless
  // `require_writes` is false, expects writes that all reached every agent.
  static void Report(const std::string& attack, Writer& w,
                     bool require_writes = true) {
    w.Stop();
    printf("SECURITY|propagation|%s|writes=%d|failed_puts=%d|misses=%d|"
           "p50_ms=%.0f|p99_ms=%.0f|quiet_p50_ms=%.0f|quiet_p99_ms=%.0f\n",
           attack.c_str(), w.writes(), w.failed_puts(), w.misses(), w.p50(),
           w.p99(), quiet_p50_, quiet_p99_);
    fflush(stdout);
    EXPECT_EQ(w.misses(), 0) << attack << ": " << w.first_miss();
    if (require_writes) {
      EXPECT_GT(w.writes(), 0) << attack;
    }
  }

  struct BombTarget {
    std::string name;     // "distributor", "scheduler"
    pid_t pid = 0;
    std::string address;  // transport
    std::string method;   // a method whose request has a repeated message
    int field = 0;        // ... at this field number
    size_t untrusted_limit = 0;  // frame bytes before authentication
    std::function<std::string()> metrics;
  };

  // `connections` sockets from `from`, at once: each sends a 16 MB frame
  // of 8 million empty sub-messages, then (new sockets) a frame of empty
  // sub-messages just under the target's limit before authentication.
  static void Bomb(const BombTarget& t, int connections,
                   const std::string& from) {
    const std::string big =
        FrameBytes(t.method, EmptySubmessages(t.field, 8000000));
    const std::string small = FrameBytes(
        t.method, EmptySubmessages(t.field, (t.untrusted_limit - 256) / 2));
    ASSERT_LE(small.size() - 4, t.untrusted_limit);
    const std::string labels_big =
        "role=\"server\",reason=\"untrusted_frame_too_large\"";
    const std::string labels_budget =
        "role=\"server\",reason=\"payload_over_budget\"";
    const std::string before_text = t.metrics();
    const double big_before =
        Sample(before_text, "kess_transport_disconnects_total", labels_big);
    const double budget_before =
        Sample(before_text, "kess_transport_disconnects_total", labels_budget);
    absl::StatusOr<MemoryUse> before = ReadMemoryUse(t.pid);
    ASSERT_TRUE(before.ok()) << before.status();

    std::atomic<int> big_closed{0}, small_closed{0}, small_answered{0};
    std::atomic<int64_t> max_hwm{0};
    std::vector<std::thread> threads;
    const std::string* payloads[2] = {&big, &small};
    for (int round = 0; round < 2; ++round) {
      threads.clear();
      for (int c = 0; c < connections; ++c) {
        threads.emplace_back([&, round] {
          absl::StatusOr<AbuseSocket> s =
              AbuseSocket::Connect(from, t.address, absl::Seconds(5));
          if (!s.ok()) return;
          s->Send(*payloads[round], absl::Seconds(20));
          // A small bomb the target parses is answered (no token) and the
          // connection stays until the trust deadline: 5 s is enough to
          // tell.
          std::string received;
          const bool closed = s->WaitClosed(
              round == 0 ? absl::Seconds(15) : absl::Seconds(5), &received);
          if (round == 0 && closed) ++big_closed;
          if (round == 1 && closed) ++small_closed;
          if (round == 1 && !received.empty()) ++small_answered;
        });
      }
      // The peak while the bombs are in flight (VmHWM keeps it anyway).
      for (int i = 0; i < 10; ++i) {
        absl::StatusOr<MemoryUse> m = ReadMemoryUse(t.pid);
        if (m.ok() && m->hwm_kib > max_hwm) max_hwm = m->hwm_kib;
        absl::SleepFor(absl::Milliseconds(50));
      }
      for (std::thread& th : threads) th.join();
    }
    absl::SleepFor(absl::Seconds(1));
    absl::StatusOr<MemoryUse> after = ReadMemoryUse(t.pid);
    ASSERT_TRUE(after.ok()) << after.status();
    const std::string after_text = t.metrics();
    const double big_refused =
        Sample(after_text, "kess_transport_disconnects_total", labels_big) -
        big_before;
    const double budget_refused =
        Sample(after_text, "kess_transport_disconnects_total", labels_budget) -
        budget_before;
    printf("SECURITY|frame_bomb|%s|connections=%d|rss_before_mib=%.1f|"
           "peak_hwm_mib=%.1f|rss_after_mib=%.1f|big_closed=%d|"
           "untrusted_frame_too_large=%.0f|small_closed=%d|small_answered=%d|"
           "payload_over_budget=%.0f\n",
           t.name.c_str(), connections, Mib(before->rss_kib),
           Mib(after->hwm_kib), Mib(after->rss_kib), big_closed.load(),
           big_refused, small_closed.load(), small_answered.load(),
           budget_refused);
    fflush(stdout);
    // The 16 MB frames are refused on their length, before their body.
    EXPECT_EQ(big_closed, connections) << t.name;
    EXPECT_GE(big_refused, connections) << t.name;
    // Memory stays bounded: the peak of the whole run so far may be from
    // start-up; what matters is that the bombs did not raise it much.
    EXPECT_LE(after->hwm_kib,
              std::max(before->hwm_kib, before->rss_kib + kPeakSlackKib))
        << t.name << ": peak " << Mib(after->hwm_kib) << " MiB, RSS before "
        << Mib(before->rss_kib) << " MiB";
    EXPECT_LE(after->rss_kib, before->rss_kib + kRssSlackKib) << t.name;
  }

  // SlowTarget's attack with `sockets` connections spread over `from`.
  static void SlowClients(const SlowTarget& t, int sockets,
                          const std::vector<std::string>& from) {
    constexpr int kPerAddressCap = 64;  // --http_max_connections_per_address
    const std::string before = t.metrics();
    const std::string reason_labels =
        absl::StrCat("reason=\"", t.reason, "\"");
    const double cut_before =
        Sample(before, "kess_http_bad_requests_total", reason_labels);
    const double refused_before =
        Sample(before, "kess_http_connections_refused_total",
               "reason=\"per_address\"");
    absl::StatusOr<MemoryUse> mem_before = ReadMemoryUse(t.pid);
    ASSERT_TRUE(mem_before.ok()) << mem_before.status();

    struct Slow {
      AbuseSocket socket;
      absl::Time opened;
      absl::Time closed = absl::InfiniteFuture();
      std::string received;
    };
    std::vector<Slow> slow(static_cast<size_t>(sockets));
    for (int i = 0; i < sockets; ++i) {
      const std::string& address = from[static_cast<size_t>(i) % from.size()];
      absl::StatusOr<AbuseSocket> s =
          AbuseSocket::Connect(address, t.http_address, absl::Seconds(5));
      ASSERT_TRUE(s.ok()) << address << ": " << s.status();
      slow[i].socket = *std::move(s);
      slow[i].opened = absl::Now();
      slow[i].socket.Send(t.opening, absl::Milliseconds(200));
    }
    // Drip every second until every socket is closed (or 2 x the deadline).
    const absl::Time start = absl::Now();
    std::atomic<int> open_count{sockets};
    std::thread drip([&] {
      for (int tick = 0; tick < 120; ++tick) {
        int open = 0;
        for (Slow& s : slow) {
          if (s.closed != absl::InfiniteFuture()) continue;
          if (s.socket.WaitClosed(absl::ZeroDuration(), &s.received)) {
            s.closed = absl::Now();
            continue;
          }
          s.socket.Send(t.drip, absl::Milliseconds(20));
          ++open;
        }
        open_count = open;
        if (open == 0 || absl::Now() - start > 2 * t.deadline + absl::Seconds(5)) {
          break;
        }
        absl::SleepFor(absl::Seconds(1));
      }
    });
    // The probes, from 127.0.0.1, while the sockets drip.
    absl::SleepFor(absl::Seconds(3));
    double health_ms = 0;
    int health_status = 0;
    std::string health_error;
    for (int i = 0; i < 3; ++i) {
      const absl::Time t0 = absl::Now();
      absl::StatusOr<HttpReply> h =
          HttpCall(t.http_address, "GET", "/healthz", "", absl::Seconds(5));
      health_ms = std::max(health_ms, absl::ToDoubleMilliseconds(absl::Now() - t0));
      if (!h.ok()) {
        health_error = h.status().ToString();
        health_status = 0;
        break;
      }
      health_status = h->status;
      absl::SleepFor(absl::Milliseconds(500));
    }
    double put_ms = 0;
    std::string put_result = "not_tried";
    if (t.probe_put) {
      const absl::Time t1 = absl::Now();
      absl::StatusOr<int64_t> put = Put("slowloris", absl::StrCat("during-", sockets),
                                        absl::ZeroDuration(), absl::Seconds(5));
      put_ms = absl::ToDoubleMilliseconds(absl::Now() - t1);
      put_result = put.ok() ? "ok" : put.status().ToString();
    }
    const int open_during_probes = open_count;
    drip.join();

    // Refused at accept: closed at once with a 503 (or reset). Admitted: cut
    // at the deadline, answered 408.
    int refused = 0, cut = 0, cut_early = 0, cut_late = 0, never_closed = 0;
    double first_cut_s = 1e9, last_cut_s = 0;
    for (Slow& s : slow) {
      if (s.closed == absl::InfiniteFuture()) {
        ++never_closed;
        continue;
      }
      const double after_s = absl::ToDoubleSeconds(s.closed - s.opened);
      if (absl::StartsWith(s.received, "HTTP/1.1 503") ||
          (s.received.empty() && after_s < 2.5)) {
        ++refused;
        continue;
      }
      ++cut;
      first_cut_s = std::min(first_cut_s, after_s);
      last_cut_s = std::max(last_cut_s, after_s);
      // The drip checks once a second: up to a second late, plus the
      // time to connect the others.
      if (after_s < absl::ToDoubleSeconds(t.deadline) - 0.5) ++cut_early;
      if (after_s > absl::ToDoubleSeconds(t.deadline) + 4) ++cut_late;
    }
    slow.clear();
    const std::string after = t.metrics();
    const double cut_counted =
        Sample(after, "kess_http_bad_requests_total", reason_labels) -
        cut_before;
    const double refused_counted =
        Sample(after, "kess_http_connections_refused_total",
               "reason=\"per_address\"") -
        refused_before;
    absl::StatusOr<MemoryUse> mem_after = ReadMemoryUse(t.pid);
    ASSERT_TRUE(mem_after.ok()) << mem_after.status();
    printf("SECURITY|%s|%s|sockets=%d|addresses=%zu|open_during_probes=%d|"
           "healthz=%d|healthz_max_ms=%.0f|put=%s|put_ms=%.0f|"
           "refused_at_accept=%d|per_address_counted=%.0f|cut=%d|"
           "%s_counted=%.0f|first_cut_s=%.1f|last_cut_s=%.1f|"
           "never_closed=%d|rss_before_mib=%.1f|rss_after_mib=%.1f\n",
           t.reason == "body_timeout" ? "slow_body" : "slowloris",
           t.name.c_str(), sockets, from.size(), open_during_probes,
           health_status, health_ms, put_result.c_str(), put_ms, refused,
           refused_counted, cut, t.reason.c_str(), cut_counted,
           cut > 0 ? first_cut_s : 0.0, last_cut_s, never_closed,
           Mib(mem_before->rss_kib), Mib(mem_after->rss_kib));
    fflush(stdout);

    EXPECT_EQ(health_status, 200) << t.name << ": " << health_error;
    EXPECT_LT(health_ms, 2000) << t.name;
    if (t.probe_put) {
      EXPECT_EQ(put_result, "ok") << t.name;
      EXPECT_LT(put_ms, 5000) << t.name;
    }
    EXPECT_EQ(never_closed, 0) << t.name;
    EXPECT_EQ(cut_early, 0) << t.name;
    EXPECT_EQ(cut_late, 0) << t.name;
    // What the per-address cap admits.
    int expected_admitted = 0;
    for (size_t a = 0; a < from.size(); ++a) {
      const int on_address =
          sockets / static_cast<int>(from.size()) +
          (static_cast<int>(a) < sockets % static_cast<int>(from.size()) ? 1
                                                                         : 0);
      expected_admitted += std::min(on_address, kPerAddressCap);
    }
    EXPECT_EQ(cut, expected_admitted) << t.name;
    EXPECT_EQ(refused, sockets - expected_admitted) << t.name;
    EXPECT_GE(cut_counted, cut) << t.name;
    EXPECT_GE(refused_counted, refused) << t.name;
    EXPECT_LE(mem_after->rss_kib, mem_before->rss_kib + kRssSlackKib)
        << t.name;
  }

  static CacheTierCluster* cluster_;
  static std::string* secret_;
  static double quiet_p50_, quiet_p99_;
};

CacheTierCluster* AbuseTest::cluster_ = nullptr;
std::string* AbuseTest::secret_ = nullptr;
double AbuseTest::quiet_p50_ = 0;
double AbuseTest::quiet_p99_ = 0;

TEST_F(AbuseTest, FrameBombAgainstADistributor) {
  DistributorProcess* d = cluster_->main().distributors[0].get();
  BombTarget t;
  t.name = "distributor";
  t.pid = d->pid();
  t.address = d->address();
  t.method = "kess.Subscribe";  // SubscribeRequest.keys = 4 (Known)
  t.field = 4;
  t.untrusted_limit = 64 << 10;  // --untrusted_max_frame_bytes
  t.metrics = [d] { return d->Metrics(); };
  Writer w;
  Bomb(t, 4, "127.0.0.2");
  Bomb(t, 20, "127.0.0.2");
  Report("frame_bomb_distributor", w);
  // Under 64 KiB a frame holds at most ~32,000 empty Known messages, under
  // the distributor's element budget (2 x --max_keys_per_connection): it
  // is parsed (a few MB at most) and refused for its missing token.
}

TEST_F(AbuseTest, FrameBombAgainstAMandatorsScheduler) {
  MandatorProcess* m = Leader();
  ASSERT_NE(m, nullptr);
  BombTarget t;
  t.name = "scheduler";
  t.pid = m->pid();
  t.address = m->address();
  // The scheduler has no kess.Subscribe; its Register takes a repeated
  // InstanceInfo (field 1). 1 MiB holds ~524,000 of them, over its budget
  // (32 elements per batch entry: --max_batch x 32 + 1024).
  t.method = "kess.Register";
  t.field = 1;
  t.untrusted_limit = 1 << 20;
  t.metrics = [m] { return MandatorMetrics(*m); };
  Writer w;
  Bomb(t, 4, "127.0.0.2");
  Bomb(t, 20, "127.0.0.2");
  Report("frame_bomb_scheduler", w);
  const std::string text = MandatorMetrics(*m);
  EXPECT_GE(Sample(text, "kess_transport_disconnects_total",
                   "role=\"server\",reason=\"payload_over_budget\""),
            24);
}

TEST_F(AbuseTest, ConnectionFloodAndIdleConnections) {
  DistributorProcess* d = cluster_->main().distributors[1].get();
  const std::string before = d->Metrics();
  const double refused_before =
      Sample(before, "kess_transport_refused_total",
             "role=\"server\",reason=\"peer_connection_limit\"");
  const double idle_before =
      Sample(before, "kess_transport_disconnects_total",
             "role=\"server\",reason=\"first_frame_timeout\"");
  absl::StatusOr<MemoryUse> mem_before = ReadMemoryUse(d->pid());
  ASSERT_TRUE(mem_before.ok());
  Writer w;
  constexpr int kFlood = 1000;
  std::vector<AbuseSocket> sockets;
  int connect_errors = 0;
  const absl::Time start = absl::Now();
  for (int i = 0; i < kFlood; ++i) {
    absl::StatusOr<AbuseSocket> s =
        AbuseSocket::Connect("127.0.0.3", d->address(), absl::Seconds(5));
    if (s.ok()) {
      sockets.push_back(*std::move(s));
    } else {
      ++connect_errors;
    }
  }
  // Another address is not locked out by the flood.
  absl::StatusOr<AbuseSocket> other =
      AbuseSocket::Connect("127.0.0.4", d->address(), absl::Seconds(5));
  ASSERT_TRUE(other.ok()) << other.status();
  absl::SleepFor(absl::Seconds(2));
  EXPECT_FALSE(other->WaitClosed(absl::Milliseconds(100)))
      << "a connection from another address was closed at once";
  int closed_at_once = 0;
  std::vector<AbuseSocket*> open;
  for (AbuseSocket& s : sockets) {
    if (s.WaitClosed(absl::ZeroDuration())) {
      ++closed_at_once;
    } else {
      open.push_back(&s);
    }
  }
  const double refused = Sample(d->Metrics(), "kess_transport_refused_total",
                                "role=\"server\",reason=\"peer_connection_limit\"") -
                         refused_before;
  // The ones admitted never send a frame: closed at the first-frame
  // deadline (10 s).
  int idle_closed = 0;
  for (AbuseSocket* s : open) {
    if (s->WaitClosed(absl::Seconds(20) - (absl::Now() - start))) ++idle_closed;
  }
  const bool other_closed = other->WaitClosed(absl::Seconds(15));
  const double idle = Sample(d->Metrics(), "kess_transport_disconnects_total",
                             "role=\"server\",reason=\"first_frame_timeout\"") -
                      idle_before;
  absl::StatusOr<MemoryUse> mem_after = ReadMemoryUse(d->pid());
  ASSERT_TRUE(mem_after.ok());
  printf("SECURITY|connection_flood|distributor|connections=%d|"
         "connect_errors=%d|closed_at_accept=%d|peer_connection_limit=%.0f|"
         "admitted=%zu|closed_idle=%d|first_frame_timeout=%.0f|"
         "rss_before_mib=%.1f|peak_hwm_mib=%.1f|rss_after_mib=%.1f\n",
         kFlood, connect_errors, closed_at_once, refused, open.size(),
         idle_closed, idle, Mib(mem_before->rss_kib), Mib(mem_after->hwm_kib),
         Mib(mem_after->rss_kib));
  fflush(stdout);
  sockets.clear();
  Report("connection_flood", w);
  EXPECT_LE(open.size(), 64u);  // --max_connections_per_peer
  EXPECT_GE(refused, kFlood - connect_errors - 64);
  EXPECT_EQ(idle_closed, static_cast<int>(open.size()));
  EXPECT_TRUE(other_closed);
  EXPECT_GE(idle, static_cast<double>(open.size()) + 1);
  EXPECT_LE(mem_after->rss_kib, mem_before->rss_kib + kRssSlackKib);
}

SlowTarget MandatorHeaders(MandatorProcess* m) {
  SlowTarget t;
  t.name = "mandator_http";
  t.http_address = m->http_address();
  t.pid = m->pid();
  t.metrics = [m] { return MandatorMetrics(*m); };
  t.probe_put = true;
  t.opening = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
  t.drip = "X-Slow-0: a\r\n";
  t.deadline = absl::Seconds(10);  // --http_header_timeout_ms
  t.reason = "read_timeout";
  return t;
}

TEST_F(AbuseTest, SlowlorisOnTheMandatorsHttpApi) {
  MandatorProcess* m = Leader();
  ASSERT_NE(m, nullptr);
  Writer w;
  // 20, then 200 sockets from one address (64 admitted, the rest refused
  // at accept), then 200 from five addresses (40 each: all admitted).
  SlowClients(MandatorHeaders(m), 20, {"127.0.0.5"});
  SlowClients(MandatorHeaders(m), 200, {"127.0.0.5"});
  SlowClients(MandatorHeaders(m), 200,
              {"127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14",
               "127.0.0.15"});
  Report("slowloris", w);
}

TEST_F(AbuseTest, SlowBodyOnTheMandatorsLogin) {
  MandatorProcess* m = Leader();
  ASSERT_NE(m, nullptr);
  Writer w;
  // POST /ui/login needs no credential (it checks the password in its
  // body): complete headers, then the body a byte a second.
  SlowTarget t = MandatorHeaders(m);
  t.opening = absl::StrCat("POST /ui/login HTTP/1.1\r\nHost: ",
                           m->http_address(), "\r\nOrigin: http://",
                           m->http_address(),
                           "\r\nContent-Type: application/json\r\n"
                           "Content-Length: 4000\r\n\r\n{");
  t.drip = " ";
  t.deadline = absl::Seconds(30);  // --http_body_timeout_ms
  t.reason = "body_timeout";
  SlowClients(t, 20, {"127.0.0.16", "127.0.0.17"});
  Report("slow_body", w);
  // A slow body to a route that needs authentication is refused on its
  // headers, before a byte of its body.
  absl::StatusOr<AbuseSocket> s =
      AbuseSocket::Connect("127.0.0.18", m->http_address(), absl::Seconds(5));
  ASSERT_TRUE(s.ok()) << s.status();
  const absl::Time start = absl::Now();
  s->Send(absl::StrCat("PUT /api/v1/configs/", kNs, "/victim HTTP/1.1\r\n"
                       "Host: x\r\nContent-Length: 100000\r\n\r\n"),
          absl::Seconds(1));
  std::string answer;
  EXPECT_TRUE(s->WaitClosed(absl::Seconds(5), &answer));
  EXPECT_TRUE(absl::StartsWith(answer, "HTTP/1.1 401")) << answer;
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

TEST_F(AbuseTest, SlowlorisOnADistributorsStatusPort) {
  DistributorProcess* d = cluster_->main().distributors[0].get();
  SlowTarget t;
  t.name = "distributor_http";
  t.http_address = d->http_address();
  t.pid = d->pid();
  t.metrics = [d] { return d->Metrics(); };
  t.opening = "GET /api/v1/status HTTP/1.1\r\nHost: x\r\n";
  t.drip = "X-Slow-0: a\r\n";
  t.deadline = absl::Seconds(10);  // --http_header_timeout_ms
  t.reason = "read_timeout";
  Writer w;
  SlowClients(t, 200, {"127.0.0.19"});
  Report("slowloris_distributor", w);
}

TEST_F(AbuseTest, OversizedLoginBodyIsRefusedAtOnce) {
  MandatorProcess* m = Leader();
  ASSERT_NE(m, nullptr);
  absl::StatusOr<MemoryUse> before = ReadMemoryUse(m->pid());
  ASSERT_TRUE(before.ok());
  Writer w;
  absl::StatusOr<AbuseSocket> s =
      AbuseSocket::Connect("127.0.0.6", m->http_address(), absl::Seconds(5));
  ASSERT_TRUE(s.ok()) << s.status();
  const absl::Time start = absl::Now();
  s->Send(absl::StrCat("POST /ui/login HTTP/1.1\r\nHost: ", m->http_address(),
                       "\r\nOrigin: http://", m->http_address(),
                       "\r\nContent-Type: application/json\r\n"
                       "Content-Length: ",
                       24 << 20, "\r\n\r\n{\"user\":\"admin\",\"password\":\""),
          absl::Seconds(2));
  std::string answer;
  while (answer.find("\r\n\r\n") == std::string::npos &&
         absl::Now() - start < absl::Seconds(5)) {
    answer += s->Receive(absl::Milliseconds(200), 4096);
  }
  const double ms = absl::ToDoubleMilliseconds(absl::Now() - start);
  absl::StatusOr<MemoryUse> after = ReadMemoryUse(m->pid());
  ASSERT_TRUE(after.ok());
  const std::string status_line = answer.substr(0, answer.find("\r\n"));
  printf("SECURITY|login_body|declared_mib=24|answer=%s|ms=%.0f|"
         "rss_before_mib=%.1f|rss_after_mib=%.1f\n",
         status_line.c_str(), ms, Mib(before->rss_kib), Mib(after->rss_kib));
  fflush(stdout);
  EXPECT_TRUE(absl::StartsWith(status_line, "HTTP/1.1 413")) << answer;
  EXPECT_LT(ms, 3000);
  EXPECT_LE(after->rss_kib, before->rss_kib + kRssSlackKib);
  // Refused in a few milliseconds: there may be no write during it.
  Report("login_body", w, /*require_writes=*/false);
}

TEST_F(AbuseTest, LoginAndBearerGuessingIsThrottledPerAddress) {
  MandatorProcess* m = Leader();
  ASSERT_NE(m, nullptr);
  const std::string before = MandatorMetrics(*m);
  Writer w;
  const std::string to = m->http_address();
  const std::vector<std::pair<std::string, std::string>> browser = {
      {"Origin", "http://" + to}, {"Content-Type", "application/json"}};
  auto login = [&](const std::string& from, const std::string& password) {
    return HttpFrom(from, to, "POST", "/ui/login", browser,
                    absl::StrCat("{\"user\":\"admin\",\"password\":\"",
                                 password, "\"}"),
                    absl::Seconds(10));
  };
  // Five wrong passwords, then 429 with Retry-After, even for the right one.
  std::vector<int> codes;
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<RawHttpReply> r = login("127.0.0.7", absl::StrCat("guess", i));
    ASSERT_TRUE(r.ok()) << r.status();
    codes.push_back(r->status);
    EXPECT_EQ(r->status, 401) << i;
  }
  absl::StatusOr<RawHttpReply> throttled = login("127.0.0.7", *secret_);
  ASSERT_TRUE(throttled.ok()) << throttled.status();
  EXPECT_EQ(throttled->status, 429);
  EXPECT_FALSE(throttled->Header("retry-after").empty());
  // Never a global lockout: another address logs in at once.
  absl::StatusOr<RawHttpReply> other = login("127.0.0.8", *secret_);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(other->status, 200) << other->body;

  // Bearer guesses against the API.
  auto api = [&](const std::string& from, const std::string& token) {
    return HttpFrom(from, to, "GET", "/api/v1/configs",
                    {{"Authorization", "Bearer " + token}}, "",
                    absl::Seconds(10));
  };
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<RawHttpReply> r = api("127.0.0.9", absl::StrCat("guess-", i));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 401) << i;
  }
  absl::StatusOr<RawHttpReply> bearer_throttled = api("127.0.0.9", *secret_);
  ASSERT_TRUE(bearer_throttled.ok());
  EXPECT_EQ(bearer_throttled->status, 429);
  absl::StatusOr<RawHttpReply> bearer_other = api("127.0.0.10", *secret_);
  ASSERT_TRUE(bearer_other.ok());
  EXPECT_EQ(bearer_other->status, 200);
  // One more try per second.
  absl::SleepFor(absl::Milliseconds(1200));
  absl::StatusOr<RawHttpReply> later = login("127.0.0.7", *secret_);
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(later->status, 200) << later->body;

  const std::string after = MandatorMetrics(*m);
  const double login_throttled =
      Sample(after, "kess_http_auth_throttled_total", "kind=\"login\"") -
      Sample(before, "kess_http_auth_throttled_total", "kind=\"login\"");
  const double bearer_throttled_count =
      Sample(after, "kess_http_auth_throttled_total", "kind=\"bearer\"") -
      Sample(before, "kess_http_auth_throttled_total", "kind=\"bearer\"");
  printf("SECURITY|auth_throttle|login_throttled=%.0f|bearer_throttled=%.0f|"
         "retry_after=%s\n",
         login_throttled, bearer_throttled_count,
         throttled->Header("retry-after").c_str());
  fflush(stdout);
  EXPECT_GE(login_throttled, 1);
  EXPECT_GE(bearer_throttled_count, 1);
  // The writer (Bearer from 127.0.0.1) was never throttled.
  Report("auth_guessing", w);
  EXPECT_EQ(w.failed_puts(), 0);
}

TEST_F(AbuseTest, SymlinkPlantedInACacheDirIsNotFollowed) {
  AgentHost* agent = cluster_->main().agents[0].get();
  Writer w;
  // A file outside the cache that would parse as a cache file: a copy of a
  // real one.
  const std::string outside = TmpDir() + "/outside";
  mkdir(outside.c_str(), 0700);
  const std::string real = absl::StrCat(
      agent->cache_dir(), "/",
      file_cache::RelativePath(file_cache::CacheKey::Config(kNs, "p0")));
  {
    std::ifstream in(real, std::ios::binary);
    std::ofstream out(outside + "/secret.json", std::ios::binary);
    out << in.rdbuf();
  }
  const std::string planted = absl::StrCat(
      agent->cache_dir(), "/",
      file_cache::RelativePath(file_cache::CacheKey::Config(kNs, "planted")));
  ASSERT_EQ(symlink((outside + "/secret.json").c_str(), planted.c_str()), 0)
      << planted;
  const std::string metrics_before = AgentMetricsText(*agent);
  const double refused_before = Sample(
      metrics_before, "kess_file_cache_refused_total", "reason=\"symlink\"");

  // The SDK's reader refuses it (FailedPrecondition), counted in this
  // process.
  file_cache::FileCacheReader reader(agent->cache_dir());
  absl::StatusOr<file_cache::CacheEntry> read =
      reader.Read(file_cache::CacheKey::Config(kNs, "planted"));
  EXPECT_EQ(read.status().code(), absl::StatusCode::kFailedPrecondition)
      << read.status();
  EXPECT_TRUE(reader.Read(file_cache::CacheKey::Config(kNs, "p0")).ok());
  const std::string own =
      metrics::Registry::Default().RenderText();
  EXPECT_GE(Sample(own, "kess_file_cache_refused_total", "reason=\"symlink\""),
            1);
  // The agent's API does not serve it either, and counts it.
  absl::StatusOr<HttpReply> served =
      agent->Call("GET", absl::StrCat("/v1/configs/", kNs, "/planted"));
  ASSERT_TRUE(served.ok()) << served.status();
  EXPECT_NE(served->status, 200) << served->body;
  const double refused_agent =
      Sample(AgentMetricsText(*agent), "kess_file_cache_refused_total",
             "reason=\"symlink\"") -
      refused_before;
  EXPECT_GE(refused_agent, 1);

  // A link planted as the file of a subscribed key: the agent's next
  // version replaces the link (rename), never writes through it.
  const std::string victim = absl::StrCat(
      agent->cache_dir(), "/",
      file_cache::RelativePath(file_cache::CacheKey::Config(kNs, "victim")));
  { std::ofstream(outside + "/victim.txt") << "precious"; }
  unlink(victim.c_str());
  ASSERT_EQ(symlink((outside + "/victim.txt").c_str(), victim.c_str()), 0);
  absl::StatusOr<int64_t> rev =
      Put("victim", "new-version", absl::Seconds(30), absl::Seconds(10));
  ASSERT_TRUE(rev.ok()) << rev.status();
  EXPECT_TRUE(WaitCached({agent}, kNs, "victim", *rev, kPropagationBound));
  struct stat st;
  ASSERT_EQ(lstat(victim.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode)) << "the planted link is still there";
  std::ifstream in(outside + "/victim.txt");
  std::string content((std::istreambuf_iterator<char>(in)),
                      std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "precious");
  printf("SECURITY|symlink|sdk_reader=%s|agent_api=%d|agent_refused=%.0f|"
         "victim_replaced=%s|outside_intact=%s\n",
         read.status().ToString().c_str(), served->status, refused_agent,
         S_ISREG(st.st_mode) ? "yes" : "no",
         content == "precious" ? "yes" : "no");
  fflush(stdout);
  unlink(planted.c_str());
  Report("symlink", w);
}

}  // namespace
}  // namespace testing
}  // namespace kess
