// bench/attack_bench: what a connection flood and frame bombs cost the
// agents of the attacked distributor. One DC (tests/cluster: ZooKeeper, a
// mandator, one distributor), TLS on every transport link as the test
// clusters run it; `--agents` simulated TLS agents (tests/load/
// simulated_agents.h, one event loop in this process) subscribed to
// bench/hot. Config writes are put at the mandator one after the other;
// each write is timed from the PUT being sent, and from its commit in
// ZooKeeper (a watch on /kess/revision), to its push arriving at each
// agent. Three phases, run `--rounds` times in turn so that load from
// outside falls on each alike, `--writes` writes each in all:
//
//   1. baseline: no attack;
//   2. flood: `--flood_connections` TCP connections from 20 loopback
//      addresses (127.0.0.10..29), held open: a third send nothing, a
//      third the first bytes of a TLS ClientHello and then nothing, a third
//      a plaintext kess.Subscribe frame (refused by the TLS handshake at
//      once). Every connection the distributor closes is opened again (at
//      most `--flood_reopen_per_second`), so the flood stays at its size
//      for the whole phase;
//   3. frame bombs: a wave of `--bombers` (50) bombs every
//      `--bomb_wave_ms` (1 s): one thread per bomb, from 10 loopback
//      addresses (127.0.0.40..49), each a full TLS handshake, then a
//      kess.Subscribe without a token whose payload is empty repeated
//      `Known` sub-messages: half the wave a frame just under the
//      untrusted limit (64 KiB, ~32,600 elements; `--bombs_per_connection`
//      of them back to back), half one of 16 MB (8 million); then it reads
//      the answer until the close (at most 0.5 s) and closes.
//      --bomb_wave_ms=0: every thread goes again at once (as fast as the
//      handshakes allow).
//
// The distributor runs with --max_connections_per_peer=0, because the
// simulated agents all come from 127.0.0.1; the flood is therefore
// admitted in full, as it would be from 16 or more addresses under the
// default limit of 64 per address. The first-frame deadline and the
// untrusted frame limit are the distributor's defaults (10 s, 64 KiB).
//
// Per phase: the agents' propagation p50/p99/max and their ratio to the
// baseline, writes missed (not at every agent within 20 s), the
// distributor's CPU (/proc) and RSS (VmRSS at the end, VmHWM), and the
// distributor's counters for refused and closed connections
// (kess_transport_refused_total, kess_transport_disconnects_total by
// reason, kess_transport_tls_handshake_failures_total). Prints Markdown
// tables; the target, p99 within 2x of the baseline, is read off as met or
// MISSED. Exit 2 if a write was missed or the agents did not connect.
//
//   bench/run_attack_bench.sh --agents=300 --writes=300
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/init.h"
#include "common/testing/wait_for.h"
#include "common/tls/tls_context.h"
#include "common/transport/event_loop.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "model/protocol/distribution.pb.h"
#include "tests/cluster/cache_tier_cluster.h"
#include "tests/load/load_util.h"
#include "tests/load/simulated_agents.h"
#include "tests/security/abuse_client.h"
#include "bench/revision_observer.h"
#include "zk_schema/layout.h"

DEFINE_string(mandator_binary, "", "path of //mandator");
DEFINE_string(distributor_binary, "", "path of //distributor:distributor");
DEFINE_int32(agents, 300, "simulated TLS agents subscribed to bench/hot");
DEFINE_int32(writes, 300, "config writes per phase (over all rounds)");
DEFINE_int32(rounds, 3, "times the three phases are run in turn");
DEFINE_int32(write_pause_ms, 50, "pause after each write reached every agent");
DEFINE_int32(flood_connections, 1000, "connections the flood holds open");
DEFINE_int32(flood_reopen_per_second, 500,
             "at most this many flood connections re-opened per second");
DEFINE_int32(bombers, 50, "frame-bomb threads");
DEFINE_int32(bomb_wave_ms, 1000,
             "every this many ms, each bomber opens one connection and sends "
             "its bomb (a wave of --bombers bombs); 0: each bomber goes "
             "again as soon as its last connection is closed");
DEFINE_int32(bombs_per_connection, 1,
             "64 KiB bombs sent back to back on one connection (the 16 MB "
             "one is closed on its length: one per connection)");
DEFINE_string(distributor_flags, "",
              "extra flags of the distributor, comma-separated (e.g. "
              "--untrusted_max_requests=0 for the run without that limit)");
DEFINE_int32(settle_ms, 3000,
             "after an attack started, before the phase's writes");

namespace kess {
namespace bench {
namespace {

constexpr absl::Duration kBound = absl::Seconds(20);
constexpr size_t kUntrustedLimit = 64 * 1024;

// ---- the agents' side: when each agent received each revision ----

class Receipts {
 public:
  explicit Receipts(int agents) : agents_(agents) {}

  // Loop thread.
  void OnPush(int agent, const std::string& payload) {
    const int64_t now = load::NowNs();
    protocol::UpdatePush push;
    if (!push.ParseFromString(payload)) return;
    for (const protocol::Resource& r : push.updates()) {
      if (r.key().namespace_name() != "bench" || r.key().key() != "hot") {
        continue;
      }
      absl::MutexLock lock(&mu_);
      std::vector<int64_t>& at = received_[r.revision()];
      if (at.empty()) at.assign(agents_, 0);
      if (at[agent] == 0) {
        at[agent] = now;
        ++count_[r.revision()];
      }
    }
  }

  // Waits until every agent received `revision` (or kBound); the latencies
  // from `sent_ns` in ms of those that did.
  std::vector<double> Await(int64_t revision, int64_t sent_ns) {
    const absl::Time deadline = absl::Now() + kBound;
    absl::MutexLock lock(&mu_);
    auto all = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      auto it = count_.find(revision);
      return it != count_.end() && it->second >= agents_;
    };
    while (!all() && absl::Now() < deadline) {
      mu_.AwaitWithDeadline(absl::Condition(&all), deadline);
    }
    std::vector<double> out;
    auto it = received_.find(revision);
    if (it == received_.end()) return out;
    for (int64_t at : it->second) {
      if (at != 0) out.push_back((at - sent_ns) / 1e6);
    }
    received_.erase(it);
    count_.erase(revision);
    return out;
  }

 private:
  const int agents_;
  absl::Mutex mu_;
  std::map<int64_t, std::vector<int64_t>> received_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, int> count_ ABSL_GUARDED_BY(mu_);
};

// ---- raw sockets from a chosen loopback address ----

int ConnectFrom(const std::string& from, int port, absl::Duration timeout) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{};
  tv.tv_sec = absl::ToInt64Seconds(timeout);
  tv.tv_usec = absl::ToInt64Microseconds(timeout) % 1000000;
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in local{};
  local.sin_family = AF_INET;
  inet_pton(AF_INET, from.c_str(), &local.sin_addr);
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0 ||
      connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof(remote)) !=
          0) {
    close(fd);
    return -1;
  }
  return fd;
}

void SendAll(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent,
                           MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

// ---- phase 2: the flood ----

class Flood {
 public:
  struct Stats {
    int64_t opened = 0, closed_by_server = 0, connect_failures = 0;
    int held_min = 0, held_max = 0;
  };

  explicit Flood(int port) : port_(port), thread_([this] { Run(); }) {}
  ~Flood() { Stop(); }

  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  Stats stats() const {
    absl::MutexLock lock(&mu_);
    return stats_;
  }
  // Restarts the held_min/held_max window (the phase's writes).
  void ResetWindow() {
    absl::MutexLock lock(&mu_);
    stats_.held_min = stats_.held_max = held_;
  }

 private:
  int Open(int index) {
    const std::string from = absl::StrCat("127.0.0.", 10 + index % 20);
    const int fd = ConnectFrom(from, port_, absl::Seconds(1));
    if (fd < 0) return -1;
    switch (index % 3) {
      case 0:  // nothing
        break;
      case 1:  // a TLS record header and the start of a ClientHello
        SendAll(fd, std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc", 9));
        break;
      case 2:  // a plaintext kess frame
        SendAll(fd, testing::FrameBytes("kess.Subscribe", ""));
        break;
    }
    return fd;
  }

  void Run() {
    const int n = FLAGS_flood_connections;
    std::vector<int> fds(n, -1);
    std::vector<pollfd> polls(n);
    absl::Time window_start = absl::Now();
    int reopened_in_window = 0;
    while (!stop_) {
      // (Re)open what is closed, within the rate.
      for (int i = 0; i < n && !stop_; ++i) {
        if (fds[i] >= 0) continue;
        if (absl::Now() - window_start >= absl::Seconds(1)) {
          window_start = absl::Now();
          reopened_in_window = 0;
        }
        if (reopened_in_window >= FLAGS_flood_reopen_per_second) break;
        ++reopened_in_window;
        fds[i] = Open(i);
        absl::MutexLock lock(&mu_);
        if (fds[i] < 0) {
          ++stats_.connect_failures;
        } else {
          ++stats_.opened;
        }
      }
      int held = 0;
      for (int i = 0; i < n; ++i) {
        polls[i] = {fds[i], POLLIN, 0};
        held += fds[i] >= 0;
      }
      held_ = held;
      {
        absl::MutexLock lock(&mu_);
        stats_.held_min = std::min(stats_.held_min, held);
        stats_.held_max = std::max(stats_.held_max, held);
      }
      if (poll(polls.data(), n, 20) <= 0) continue;
      for (int i = 0; i < n; ++i) {
        if (fds[i] < 0 || polls[i].revents == 0) continue;
        char buf[4096];
        const ssize_t r = recv(fds[i], buf, sizeof(buf), MSG_DONTWAIT);
        if (r > 0 || (r < 0 && (errno == EAGAIN || errno == EINTR))) continue;
        close(fds[i]);
        fds[i] = -1;
        absl::MutexLock lock(&mu_);
        ++stats_.closed_by_server;
      }
    }
    for (int fd : fds) {
      if (fd >= 0) close(fd);
    }
    held_ = 0;
  }

  const int port_;
  std::atomic<bool> stop_{false};
  std::atomic<int> held_{0};
  mutable absl::Mutex mu_;
  Stats stats_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;  // last
};

// ---- phase 3: frame bombs over TLS ----

class Bombs {
 public:
  struct Stats {
    int64_t handshakes = 0, handshake_failures = 0, small_bombs = 0,
            large_bombs = 0, closed = 0, not_closed = 0;
  };

  Bombs(int port, int threads) : port_(port) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
    // Full handshakes every time: an attacker need not resume.
    SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx_, SSL_OP_NO_TICKET);
    small_ = testing::FrameBytes(
        "kess.Subscribe",
        testing::EmptySubmessages(4, (kUntrustedLimit - 256) / 2));
    large_ = testing::FrameBytes("kess.Subscribe",
                                 testing::EmptySubmessages(4, 8000000));
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, t] { Run(t); });
    }
  }
  ~Bombs() {
    Stop();
    SSL_CTX_free(ctx_);
  }
  void Stop() {
    stop_ = true;
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  Stats stats() const {
    absl::MutexLock lock(&mu_);
    return stats_;
  }
  void ResetStats() {
    absl::MutexLock lock(&mu_);
    stats_ = Stats();
  }

 private:
  void Run(int t) {
    const std::string from = absl::StrCat("127.0.0.", 40 + t % 10);
    const absl::Duration wave = absl::Milliseconds(FLAGS_bomb_wave_ms);
    int64_t bombs = 0;  // this thread's, so that it alternates the kinds
    for (int64_t round = 0; !stop_; ++round) {
      if (wave > absl::ZeroDuration()) {
        // The next wave's start (a wave this bomber missed is skipped).
        round = std::max(round, static_cast<int64_t>(absl::Ceil(
                                    absl::Now() - start_, wave) / wave));
        const absl::Time at = start_ + round * wave;
        while (!stop_ && absl::Now() < at) {
          absl::SleepFor(std::min(absl::Milliseconds(20), at - absl::Now()));
        }
        if (stop_) break;
      }
      const int fd = ConnectFrom(from, port_, absl::Seconds(5));
      if (fd < 0) {
        absl::MutexLock lock(&mu_);
        ++stats_.handshake_failures;
        absl::SleepFor(absl::Milliseconds(50));
        continue;
      }
      SSL* ssl = SSL_new(ctx_);
      SSL_set_fd(ssl, fd);
      if (SSL_connect(ssl) != 1) {
        ERR_clear_error();
        SSL_free(ssl);
        close(fd);
        absl::MutexLock lock(&mu_);
        ++stats_.handshake_failures;
        continue;
      }
      const bool large = (t + bombs++) % 2 == 1;
      const std::string& bomb = large ? large_ : small_;
      int64_t sent_bombs = 0;
      for (int b = 0; b < (large ? 1 : FLAGS_bombs_per_connection) && !stop_;
           ++b) {
        size_t sent = 0;
        while (sent < bomb.size() && !stop_) {
          const int n = SSL_write(
              ssl, bomb.data() + sent,
              static_cast<int>(std::min<size_t>(bomb.size() - sent, 1 << 20)));
          if (n <= 0) break;
          sent += static_cast<size_t>(n);
        }
        if (sent < bomb.size()) break;
        ++sent_bombs;
      }
      // Read the answer until the server closes, at most 0.5 s; then close
      // and go again (a parsed request without a token is answered and the
      // connection kept until the trust deadline: the attacker does not
      // wait for it).
      char buf[4096];
      bool closed = false;
      const absl::Time deadline = absl::Now() + absl::Milliseconds(500);
      timeval poll_read{0, 100 * 1000};  // each read waits 100 ms at most
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &poll_read, sizeof(poll_read));
      while (absl::Now() < deadline && !stop_) {
        const int n = SSL_read(ssl, buf, sizeof(buf));
        if (n > 0) continue;
        const int err = SSL_get_error(ssl, n);
        if (err == SSL_ERROR_WANT_READ && errno == EAGAIN) continue;
        closed = true;
        break;
      }
      ERR_clear_error();
      SSL_free(ssl);
      close(fd);
      VLOG(1) << "bomber " << t << " round " << round
              << (large ? " large" : " small") << " sent " << sent_bombs
              << (closed ? " closed by the distributor" : " left open");
      absl::MutexLock lock(&mu_);
      ++stats_.handshakes;
      (large ? stats_.large_bombs : stats_.small_bombs) +=
          large ? 1 : sent_bombs;
      ++(closed ? stats_.closed : stats_.not_closed);
    }
  }

  const int port_;
  SSL_CTX* ctx_ = nullptr;
  std::string small_, large_;
  const absl::Time start_ = absl::Now();
  std::atomic<bool> stop_{false};
  mutable absl::Mutex mu_;
  Stats stats_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
};

// ---- the distributor's counters ----

// Every sample of `name` in a Prometheus text, by its label string.
std::map<std::string, double> Samples(const std::string& text,
                                      const std::string& name) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) != 0) continue;
    const char next = line.size() > name.size() ? line[name.size()] : '\0';
    if (next != '{' && next != ' ') continue;
    const size_t space = line.rfind(' ');
    double v = 0;
    if (!absl::SimpleAtod(line.substr(space + 1), &v)) continue;
    out[line.substr(name.size(), space - name.size())] += v;
  }
  return out;
}

double Sum(const std::map<std::string, double>& samples,
           const std::string& label = "") {
  double sum = 0;
  for (const auto& [labels, v] : samples) {
    if (label.empty() || labels.find(label) != std::string::npos) sum += v;
  }
  return sum;
}

struct Counters {
  double refused = 0, first_frame = 0, handshake_failed = 0, too_large = 0,
         over_budget = 0, tls_failures = 0, request_limit = 0;

  static Counters Read(testing::DistributorProcess& d) {
    const std::string text = d.Metrics();
    Counters c;
    c.refused = Sum(Samples(text, "kess_transport_refused_total"));
    const auto disc = Samples(text, "kess_transport_disconnects_total");
    c.first_frame = Sum(disc, "reason=\"first_frame_timeout\"");
    c.handshake_failed = Sum(disc, "reason=\"tls_handshake_failed\"");
    c.too_large = Sum(disc, "reason=\"untrusted_frame_too_large\"");
    c.over_budget = Sum(disc, "reason=\"payload_over_budget\"");
    c.request_limit = Sum(disc, "reason=\"untrusted_request_limit\"");
    c.tls_failures = Sum(
        Samples(text, "kess_transport_tls_handshake_failures_total"),
        "role=\"server\"");
    return c;
  }
  Counters Minus(const Counters& o) const {
    Counters d;
    d.refused = refused - o.refused;
    d.first_frame = first_frame - o.first_frame;
    d.handshake_failed = handshake_failed - o.handshake_failed;
    d.too_large = too_large - o.too_large;
    d.over_budget = over_budget - o.over_budget;
    d.tls_failures = tls_failures - o.tls_failures;
    d.request_limit = request_limit - o.request_limit;
    return d;
  }
};

// ---- one phase ----

struct Phase {
  std::string name;
  std::string attack;  // what the attacker did during the writes
  int writes = 0, missed = 0, failed_puts = 0;
  std::vector<double> samples;         // PUT sent -> agent received, ms
  std::vector<double> commit_samples;  // ZooKeeper commit -> received, ms
  std::vector<double> put_samples;     // PUT sent -> ZooKeeper commit, ms
  double seconds = 0, cpu_s = 0, bench_cpu_s = 0;
  int64_t rss_kib = 0, hwm_kib = 0;
  Counters counters;
};

Phase RunWrites(const std::string& name, int writes,
                testing::CacheTierCluster& cluster,
                testing::DistributorProcess& d, Receipts& receipts,
                const RevisionObserver& commits, int* sequence) {
  Phase p;
  p.name = name;
  const Counters before = Counters::Read(d);
  const double cpu0 = load::CpuSecondsOf(d.pid());
  const double bench_cpu0 = load::CpuSecondsOf(getpid());
  const absl::Time start = absl::Now();
  for (int w = 0; w < writes; ++w) {
    const int64_t sent = load::NowNs();
    absl::StatusOr<int64_t> rev =
        cluster.Put("bench", "hot", absl::StrCat(++*sequence));
    if (!rev.ok()) {
      ++p.failed_puts;
      LOG(WARNING) << name << ": put failed: " << rev.status();
      absl::SleepFor(absl::Milliseconds(200));
      continue;
    }
    std::vector<double> got = receipts.Await(*rev, sent);
    ++p.writes;
    if (static_cast<int>(got.size()) < FLAGS_agents) ++p.missed;
    p.samples.insert(p.samples.end(), got.begin(), got.end());
    // The same receipts from the commit (the distributor's part).
    const int64_t committed = commits.SeenNs(*rev);
    if (committed != 0) {
      const double offset = (committed - sent) / 1e6;
      p.put_samples.push_back(offset);
      for (double ms : got) p.commit_samples.push_back(ms - offset);
    }
    absl::SleepFor(absl::Milliseconds(FLAGS_write_pause_ms));
  }
  p.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  p.cpu_s = load::CpuSecondsOf(d.pid()) - cpu0;
  p.bench_cpu_s = load::CpuSecondsOf(getpid()) - bench_cpu0;
  const load::ProcStatus status = load::ReadProcStatusOf(d.pid());
  p.rss_kib = status.rss_kib;
  p.hwm_kib = status.peak_rss_kib;
  p.counters = Counters::Read(d).Minus(before);
  LOG(INFO) << name << ": " << p.writes << " writes, p99 "
            << testing::Percentile(p.samples, 99) << " ms";
  return p;
}

// Adds one round of a phase to its total (RSS: the latest).
void Merge(const Phase& round, Phase* total) {
  total->writes += round.writes;
  total->missed += round.missed;
  total->failed_puts += round.failed_puts;
  for (auto [from, to] :
       {std::pair{&round.samples, &total->samples},
        std::pair{&round.commit_samples, &total->commit_samples},
        std::pair{&round.put_samples, &total->put_samples}}) {
    to->insert(to->end(), from->begin(), from->end());
  }
  total->seconds += round.seconds;
  total->cpu_s += round.cpu_s;
  total->bench_cpu_s += round.bench_cpu_s;
  total->rss_kib = round.rss_kib;
  total->hwm_kib = round.hwm_kib;
  const Counters& c = round.counters;
  Counters& t = total->counters;
  t.refused += c.refused;
  t.first_frame += c.first_frame;
  t.handshake_failed += c.handshake_failed;
  t.too_large += c.too_large;
  t.over_budget += c.over_budget;
  t.tls_failures += c.tls_failures;
  t.request_limit += c.request_limit;
}

int Run() {
  load::RaiseFdLimit();
  signal(SIGPIPE, SIG_IGN);  // writes to connections the distributor closed
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
  options.distributor_flags = {"--max_connections_per_peer=0"};
  for (absl::string_view flag :
       absl::StrSplit(FLAGS_distributor_flags, ',', absl::SkipEmpty())) {
    options.distributor_flags.emplace_back(flag);
  }
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
  std::string token;
  {
    std::ifstream in((*cluster)->token_file());
    std::getline(in, token);
  }
  auto observer_zk = (*cluster)->dcs().ConnectMainReader();
  if (!observer_zk.ok()) {
    LOG(ERROR) << observer_zk.status();
    return 1;
  }
  RevisionObserver commits(*std::move(observer_zk),
                           *zk::Layout::Create("/kess"));
  int sequence = 0;
  if (absl::StatusOr<int64_t> rev = (*cluster)->Put("bench", "hot", "0");
      !rev.ok()) {
    LOG(ERROR) << "first put: " << rev.status();
    return 1;
  }

  auto loop = transport::EventLoop::Create("bench-agents");
  if (!loop.ok()) return 1;
  Receipts receipts(FLAGS_agents);
  load::SimulatedAgents::Options o;
  o.connections = FLAGS_agents;
  o.connect_batch = 100;
  const int port = d.port();
  o.port = [port](int) { return port; };
  o.tls = *tls;
  auto agents = std::make_unique<load::SimulatedAgents>(
      loop->get(), o, [&receipts](int i, const std::string& payload) {
        receipts.OnPush(i, payload);
      });
  const int connected = agents->Connect();
  int64_t answer_bytes = 0;
  const int subscribed = agents->Subscribe(
      [&](int i) {
        protocol::SubscribeRequest request;
        request.set_host_id(absl::StrCat("sim-", i));
        request.set_auth_token(token);
        protocol::ResourceKey* key = request.add_keys()->mutable_key();
        key->set_namespace_name("bench");
        key->set_key("hot");
        return request.SerializeAsString();
      },
      &answer_bytes);
  if (connected != FLAGS_agents || subscribed != FLAGS_agents) {
    LOG(ERROR) << connected << " agents connected, " << subscribed
               << " subscribed, of " << FLAGS_agents;
    return 2;
  }

  // The three phases, `--rounds` times in turn (baseline, flood, bombs,
  // baseline, ...), each round with writes/rounds writes per phase, so that
  // load from outside the benchmark falls on every phase alike.
  std::vector<Phase> phases(3);
  phases[0].name = "baseline";
  phases[1].name = absl::StrCat(FLAGS_flood_connections, "-connection flood");
  phases[2].name =
      FLAGS_bomb_wave_ms > 0
          ? absl::StrCat(FLAGS_bombers, " frame bombs every ",
                         FLAGS_bomb_wave_ms, " ms")
          : absl::StrCat(FLAGS_bombers, " frame bombers, continuous");
  Flood::Stats flood_total;
  int held_min = FLAGS_flood_connections, held_max = 0;
  Bombs::Stats bombs_total;
  const int writes = std::max(1, FLAGS_writes / std::max(1, FLAGS_rounds));
  for (int round = 0; round < FLAGS_rounds; ++round) {
    Merge(RunWrites(phases[0].name, writes, **cluster, d, receipts, commits,
                    &sequence),
          &phases[0]);
    {
      Flood flood(port);
      // Every connection opened once (the plaintext third is closed at once
      // and opened again, so the number held stays below the total).
      testing::WaitFor(
          [&] { return flood.stats().opened >= FLAGS_flood_connections; },
          absl::Seconds(20));
      absl::SleepFor(absl::Milliseconds(FLAGS_settle_ms));
      flood.ResetWindow();
      const Flood::Stats before = flood.stats();
      Merge(RunWrites(phases[1].name, writes, **cluster, d, receipts, commits,
                      &sequence),
            &phases[1]);
      const Flood::Stats after = flood.stats();
      flood_total.opened += after.opened - before.opened;
      flood_total.closed_by_server +=
          after.closed_by_server - before.closed_by_server;
      flood_total.connect_failures +=
          after.connect_failures - before.connect_failures;
      held_min = std::min(held_min, after.held_min);
      held_max = std::max(held_max, after.held_max);
    }
    {
      Bombs bombs(port, FLAGS_bombers);
      absl::SleepFor(absl::Milliseconds(FLAGS_settle_ms));
      bombs.ResetStats();
      Merge(RunWrites(phases[2].name, writes, **cluster, d, receipts, commits,
                      &sequence),
            &phases[2]);
      const Bombs::Stats s = bombs.stats();
      bombs_total.handshakes += s.handshakes;
      bombs_total.handshake_failures += s.handshake_failures;
      bombs_total.small_bombs += s.small_bombs;
      bombs_total.large_bombs += s.large_bombs;
      bombs_total.closed += s.closed;
      bombs_total.not_closed += s.not_closed;
    }
  }
  phases[0].attack = "none";
  phases[1].attack = absl::StrCat(
      "held ", held_min, "..", held_max, " open; ", flood_total.opened,
      " (re)opened, ", flood_total.closed_by_server,
      " closed by the distributor, ", flood_total.connect_failures,
      " connects failed");
  const Bombs::Stats& s = bombs_total;
  phases[2].attack = absl::StrCat(
      s.handshakes, " TLS handshakes, ", s.small_bombs, " bombs of 64 KiB, ",
      s.large_bombs, " of 16 MB; ", s.closed, " connections closed by the "
      "distributor within 0.5 s, ", s.not_closed,
      " not (closed by the bomber); ",
      s.handshake_failures, " connects/handshakes failed");
  agents.reset();

  printf("| setup | |\n|---|---|\n");
  printf("| cluster | 1 DC: 1 ZooKeeper server, 1 `mandator`, 1 "
         "`distributor` (`-c opt`, TLS 1.3 on every transport link, "
         "--max_connections_per_peer=0 because the agents share 127.0.0.1; "
         "first-frame deadline 10 s and untrusted frame limit 64 KiB as "
         "shipped)%s%s |\n",
         FLAGS_distributor_flags.empty() ? "" : "; also ",
         FLAGS_distributor_flags.c_str());
  printf("| agents | %d simulated TLS agents (transport clients on one "
         "event-loop thread in the benchmark process) subscribed to "
         "bench/hot |\n",
         FLAGS_agents);
  printf("| writes | %d per phase, one after the other (PUT at the mandator; "
         "the next %d ms after the last agent got the previous); the three "
         "phases run %d times in turn, %d writes each time; latency = PUT "
         "sent -> push received by the agent, and from the commit in "
         "ZooKeeper (a watch on /kess/revision) |\n",
         writes * FLAGS_rounds, FLAGS_write_pause_ms, FLAGS_rounds, writes);
  printf("| flood | %d connections from 127.0.0.10..29 held open: 1/3 send "
         "nothing, 1/3 a TLS record header and 4 bytes of a ClientHello, 1/3 "
         "a plaintext kess.Subscribe frame; whatever the distributor closes "
         "is re-opened (at most %d/s) |\n",
         FLAGS_flood_connections, FLAGS_flood_reopen_per_second);
  printf("| frame bombs | %s %d bombs from 127.0.0.40..49, each: full "
         "TLS handshake, kess.Subscribe without a token of empty repeated "
         "`Known` (half the wave ~32,600 elements, just under 64 KiB, %d "
         "back to back; half 8 million, 16 MB), read the answer until the "
         "close (at most 0.5 s), close |\n",
         FLAGS_bomb_wave_ms > 0
             ? absl::StrCat("every ", FLAGS_bomb_wave_ms, " ms a wave of")
                   .c_str()
             : "continuously,",
         FLAGS_bombers, FLAGS_bombs_per_connection);
  printf("| machine | 2 cores shared by ZooKeeper, the mandator, the "
         "distributor, the agents' loop and the attacker, and by other "
         "engineers' work |\n\n");

  const double base_p50 = testing::Percentile(phases[0].samples, 50);
  const double base_p99 = testing::Percentile(phases[0].samples, 99);
  const double base_c99 = testing::Percentile(phases[0].commit_samples, 99);
  auto ratio = [](double v, double base) { return base > 0 ? v / base : 0; };
  printf("| phase | writes (missed) | write -> agent p50 | p99 | max | p50 / "
         "baseline | p99 / baseline | p99 <= 2x | commit -> agent p50 | p99 "
         "| p99 / baseline | p99 <= 2x |\n");
  printf("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|\n");
  int status = 0;
  for (const Phase& p : phases) {
    const double p50 = testing::Percentile(p.samples, 50);
    const double p99 = testing::Percentile(p.samples, 99);
    const double max = testing::Percentile(p.samples, 100);
    const double c50 = testing::Percentile(p.commit_samples, 50);
    const double c99 = testing::Percentile(p.commit_samples, 99);
    const double r99 = ratio(p99, base_p99);
    const double rc99 = ratio(c99, base_c99);
    const bool base = &p == &phases[0];
    printf("| %s | %d (%d) | %.1f ms | %.1f ms | %.1f ms | %.2f | %.2f | %s "
           "| %.1f ms | %.1f ms | %.2f | %s |\n",
           p.name.c_str(), p.writes, p.missed, p50, p99, max,
           ratio(p50, base_p50), r99,
           base ? "-" : (r99 <= 2.0 ? "met" : "MISSED"), c50, c99, rc99,
           base ? "-" : (rc99 <= 2.0 ? "met" : "MISSED"));
    if (p.missed > 0 || p.failed_puts > 0) status = 2;
  }
  printf("\n| phase | distributor CPU | RSS at the end | peak RSS since start "
         "(VmHWM) | PUT sent -> commit p50 / p99 | benchmark process CPU "
         "(agents + attacker) |\n");
  printf("|---|---:|---:|---:|---:|---:|\n");
  for (const Phase& p : phases) {
    printf("| %s | %.2f s in %.1f s (%.0f%% of a core) | %.1f MiB | %.1f MiB "
           "| %.1f / %.1f ms | %.0f%% of a core |\n",
           p.name.c_str(), p.cpu_s, p.seconds,
           p.seconds > 0 ? 100 * p.cpu_s / p.seconds : 0, p.rss_kib / 1024.0,
           p.hwm_kib / 1024.0, testing::Percentile(p.put_samples, 50),
           testing::Percentile(p.put_samples, 99),
           p.seconds > 0 ? 100 * p.bench_cpu_s / p.seconds : 0);
  }
  printf("\n| phase | refused at accept | closed: first_frame_timeout | "
         "tls_handshake_failed | untrusted_frame_too_large | "
         "payload_over_budget | untrusted_request_limit | TLS handshake "
         "failures (server) | the attacker saw |\n");
  printf("|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
  for (const Phase& p : phases) {
    const Counters& c = p.counters;
    printf("| %s | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %s |\n",
           p.name.c_str(), c.refused, c.first_frame, c.handshake_failed,
           c.too_large, c.over_budget, c.request_limit, c.tls_failures,
           p.attack.c_str());
  }
  return status;
}

}  // namespace
}  // namespace bench
}  // namespace kess

int main(int argc, char** argv) {
  kess::InitProcess(&argc, &argv,
                    "bench: a distributor's agents under a connection flood "
                    "and frame bombs");
  return kess::bench::Run();
}
