// bench/config_write_bench: config writes through the main DC leader's HTTP
// API and main -> slave replication lag, end to end with real processes.
//
// Two DCs on this host (tests/cluster/two_dc_cluster.h): each one ZooKeeper
// server and 3 mandator processes. For each value size, two phases of
// --seconds each, with --clients threads PUTting to the main leader (one
// HTTP connection per request, as kessctl does):
//   distinct: each client writes its own keys (--keys in all, cycled), so
//             no two concurrent writes share a key;
//   same key: every client writes one hot key, so the leader's WriteQueue
//             coalesces concurrent puts into one commit.
// A watcher polls the slave ZooKeeper's /kess/revision every 0.5 ms and
// notes when each revision became visible there; the lag of a write is
// that time minus the time its HTTP answer arrived (0 if the slave was
// faster than the answer). The same lag as ZooKeeper saw it: creation time
// of the change record in the main ZK -> in the slave ZK (same host clock,
// 1 ms resolution), which no client scheduling delay distorts. CPU: how
// busy the host was, and the cores used by the two leaders and by this
// process (the clients). Prints a Markdown table. See README.md.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "bench/transport_bench_util.h"
#include "common/http_client.h"
#include "common/init.h"
#include "common/testing/wait_for.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "tests/cluster/mandator_cluster.h"
#include "tests/cluster/two_dc_cluster.h"
#include "tests/load/load_util.h"
#include "zk_schema/revision_log.h"

DEFINE_string(mandator_binary, "",
              "the mandator daemon (bench/run_config_write_bench.sh passes "
              "the -c opt build)");
DEFINE_int32(clients, 8, "concurrent HTTP clients");
DEFINE_double(seconds, 5, "length of each phase");
DEFINE_string(value_bytes, "256,65536", "value sizes (comma-separated)");
DEFINE_int32(keys, 256,
             "distinct keys per distinct-key phase (cycled; bounded so that "
             "both test ZooKeepers keep their data in a 384 MB heap)");
DEFINE_int32(max_writes_per_second, 100000,
             "the mandators' --max_writes_per_second (production default "
             "2000); high, to measure what the write path itself sustains");
DEFINE_string(base_dir, "", "ZooKeeper data and logs (default: /tmp)");

namespace kess {
namespace bench {

using load::CpuSecondsOf;

namespace {

using testing::MandatorProcess;

// When each revision became visible in the slave DC's ZooKeeper.
class RevisionWatcher {
 public:
  explicit RevisionWatcher(std::unique_ptr<zk::ZkClient> slave)
      : slave_(std::move(slave)), thread_([this] { Run(); }) {}
  ~RevisionWatcher() {
    stop_ = true;
    thread_.join();
  }

  int64_t revision() const {
    absl::MutexLock lock(&mu_);
    return steps_.empty() ? 0 : steps_.back().first;
  }
  // When `revision` was first seen; InfiniteFuture if not yet.
  absl::Time SeenAt(int64_t revision) const {
    absl::MutexLock lock(&mu_);
    auto it = std::lower_bound(steps_.begin(), steps_.end(), revision,
                               [](const std::pair<int64_t, absl::Time>& s,
                                  int64_t r) { return s.first < r; });
    return it == steps_.end() ? absl::InfiniteFuture() : it->second;
  }

 private:
  void Run() {
    const zk::Layout layout = zk::Layout::Create("/kess").value();
    while (!stop_) {
      auto read = zk::ReadRevision(*slave_, layout);
      const absl::Time now = absl::Now();
      if (read.ok()) {
        const int64_t r = read->first.revision();
        absl::MutexLock lock(&mu_);
        if (steps_.empty() || r > steps_.back().first)
          steps_.push_back({r, now});
      }
      absl::SleepFor(absl::Microseconds(500));
    }
  }

  std::unique_ptr<zk::ZkClient> slave_;
  std::atomic<bool> stop_{false};
  mutable absl::Mutex mu_;
  // (revision, first seen), ascending: every revision up to `revision` was
  // visible from that time on.
  std::vector<std::pair<int64_t, absl::Time>> steps_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

struct Ack {
  int64_t revision;
  absl::Time at;
  uint32_t latency_us;
  bool coalesced;
};

// Busy and total jiffies of the host so far (/proc/stat).
std::pair<double, double> HostJiffies() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  in >> cpu;
  double total = 0;
  double idle = 0;
  double v = 0;
  for (int i = 0; i < 8 && in >> v; ++i) {
    total += v;
    if (i == 3 || i == 4) idle += v;  // idle, iowait
  }
  return {total - idle, total};
}

// CPU use over a phase: host busy share; cores used by some processes.
class CpuMeter {
 public:
  explicit CpuMeter(std::vector<pid_t> pids) : pids_(std::move(pids)) {
    host_ = HostJiffies();
    for (pid_t pid : pids_) seconds_.push_back(CpuSecondsOf(pid));
    start_ = absl::Now();
  }
  // "72% | 0.61 / 0.20 / 0.35": host busy, then cores per pid.
  std::string Format() const {
    const auto host = HostJiffies();
    const double wall = absl::ToDoubleSeconds(absl::Now() - start_);
    std::string out = absl::StrFormat(
        "%.0f%% | ", 100.0 * (host.first - host_.first) /
                         std::max(1.0, host.second - host_.second));
    for (size_t i = 0; i < pids_.size(); ++i) {
      absl::StrAppendFormat(&out, "%s%.2f", i == 0 ? "" : " / ",
                            (CpuSecondsOf(pids_[i]) - seconds_[i]) / wall);
    }
    return out;
  }

 private:
  std::vector<pid_t> pids_;
  std::pair<double, double> host_;
  std::vector<double> seconds_;
  absl::Time start_;
};

struct Phase {
  std::string mode;  // "distinct" or "same key"
  size_t value_bytes = 0;
  double seconds = 0;
  int64_t commits = 0;  // revisions the main DC moved by
  int64_t errors = 0;   // non-200 answers or no answer
  std::string first_error;
  std::vector<Ack> acks;
  std::string cpu;  // CpuMeter::Format()
};

std::string Value(size_t size, int client, int64_t n) {
  std::string v = absl::StrCat(client, "-", n, "-");
  v.resize(std::max(size, v.size()), static_cast<char>('a' + n % 26));
  v.resize(size);
  return v;
}

Phase RunPhase(const std::string& leader, bool same_key, size_t value_bytes,
               zk::ZkClient& main_zk, const std::vector<pid_t>& cpu_pids) {
  Phase phase;
  phase.mode = same_key ? "same key" : "distinct";
  phase.value_bytes = value_bytes;
  const zk::Layout layout = zk::Layout::Create("/kess").value();
  const int64_t before = zk::ReadRevision(main_zk, layout)->first.revision();
  const int keys_per_client = std::max(1, FLAGS_keys / FLAGS_clients);
  const std::string ns = absl::StrCat("bench", value_bytes);
  absl::Mutex mu;
  const CpuMeter cpu(cpu_pids);
  const absl::Time start = absl::Now();
  const absl::Time end = start + absl::Seconds(FLAGS_seconds);
  std::vector<std::thread> clients;
  for (int c = 0; c < FLAGS_clients; ++c) {
    clients.emplace_back([&, c] {
      std::vector<Ack> acks;
      int64_t errors = 0;
      std::string first_error;
      for (int64_t n = 0; absl::Now() < end; ++n) {
        const std::string key =
            same_key ? "hot" : absl::StrCat("c", c, "-k", n % keys_per_client);
        const std::string body = testing::PutBody(Value(value_bytes, c, n));
        const absl::Time sent = absl::Now();
        auto reply = HttpCall(leader, "PUT",
                              absl::StrCat("/api/v1/configs/", ns, "/", key),
                              body, absl::Seconds(30));
        const absl::Time at = absl::Now();
        Poco::JSON::Object::Ptr ack;
        if (reply.ok() && reply->status == 200) {
          ack = testing::JsonBody(reply->body);
        }
        if (!ack) {
          if (++errors == 1) {
            first_error = reply.ok() ? absl::StrCat(reply->status, " ",
                                                    reply->body.substr(0, 200))
                                     : reply.status().ToString();
          }
          continue;
        }
        acks.push_back(
            {ack->getValue<int64_t>("revision"), at,
             static_cast<uint32_t>(absl::ToInt64Microseconds(at - sent)),
             ack->optValue<bool>("coalesced", false)});
      }
      absl::MutexLock lock(&mu);
      phase.acks.insert(phase.acks.end(), acks.begin(), acks.end());
      phase.errors += errors;
      if (phase.first_error.empty()) phase.first_error = first_error;
    });
  }
  for (std::thread& t : clients) t.join();
  phase.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  phase.cpu = cpu.Format();
  phase.commits = zk::ReadRevision(main_zk, layout)->first.revision() - before;
  return phase;
}

std::string Ms(double us) { return absl::StrFormat("%.1f", us / 1000.0); }

std::string Size(size_t bytes) {
  return bytes >= 1024 ? absl::StrCat(bytes / 1024, " KiB")
                       : absl::StrCat(bytes, " B");
}

// Change record creation, main ZK -> slave ZK, of every revision `p`
// acknowledged, in microseconds (1 ms resolution); sorted.
std::vector<uint32_t> CommitLags(const Phase& p, zk::ZkClient& main_zk,
                                 zk::ZkClient& slave_zk) {
  const zk::Layout layout = zk::Layout::Create("/kess").value();
  std::set<int64_t> revisions;
  for (const Ack& a : p.acks) revisions.insert(a.revision);
  std::vector<uint32_t> lags;
  for (int64_t r : revisions) {
    auto m = main_zk.Get(layout.ChangelogPath(r));
    auto s = slave_zk.Get(layout.ChangelogPath(r));
    if (!m.ok() || !s.ok()) continue;
    lags.push_back(static_cast<uint32_t>(
        1000 * std::max<int64_t>(0, s->stat.ctime_ms - m->stat.ctime_ms)));
  }
  std::sort(lags.begin(), lags.end());
  return lags;
}

// One table row; false if some write never reached the slave DC.
bool Row(const Phase& p, const RevisionWatcher& watcher,
         const std::vector<uint32_t>& commit_lags) {
  std::vector<uint32_t> latency;
  std::vector<uint32_t> lag;
  int64_t coalesced = 0;
  int64_t missing = 0;
  for (const Ack& a : p.acks) {
    latency.push_back(a.latency_us);
    if (a.coalesced) ++coalesced;
    const absl::Time seen = watcher.SeenAt(a.revision);
    if (seen == absl::InfiniteFuture()) {
      ++missing;
      continue;
    }
    lag.push_back(static_cast<uint32_t>(
        std::max<int64_t>(0, absl::ToInt64Microseconds(seen - a.at))));
  }
  std::sort(latency.begin(), latency.end());
  std::sort(lag.begin(), lag.end());
  const double n = static_cast<double>(p.acks.size());
  std::printf(
      "| %s | %s | %s | %s | %.0f%% | %s / %s | %s / %s / %s | %s / %s | %s | "
      "%s |\n",
      Size(p.value_bytes).c_str(), p.mode.c_str(),
      WithCommas(static_cast<int64_t>(n / p.seconds)).c_str(),
      WithCommas(static_cast<int64_t>(p.commits / p.seconds)).c_str(),
      n > 0 ? 100.0 * coalesced / n : 0.0, Ms(Percentile(latency, 0.5)).c_str(),
      Ms(Percentile(latency, 0.99)).c_str(), Ms(Percentile(lag, 0.5)).c_str(),
      Ms(Percentile(lag, 0.99)).c_str(),
      Ms(lag.empty() ? 0 : lag.back()).c_str(),
      Ms(Percentile(commit_lags, 0.5)).c_str(),
      Ms(Percentile(commit_lags, 0.99)).c_str(), p.cpu.c_str(),
      missing == 0 && p.errors == 0
          ? "0"
          : absl::StrCat(p.errors, " errors, ", missing, " not replicated")
                .c_str());
  if (!p.first_error.empty()) LOG(WARNING) << "first error: " << p.first_error;
  return missing == 0;
}

int Main() {
  std::vector<size_t> sizes;
  for (absl::string_view s : absl::StrSplit(FLAGS_value_bytes, ',')) {
    size_t v = 0;
    if (!absl::SimpleAtoi(s, &v) || v == 0) {
      LOG(ERROR) << "bad --value_bytes: " << FLAGS_value_bytes;
      return 1;
    }
    sizes.push_back(v);
  }
  if (FLAGS_mandator_binary.empty() || FLAGS_clients < 1) {
    LOG(ERROR) << "--mandator_binary is required; --clients >= 1";
    return 1;
  }
  testing::TwoDcClusterOptions options;
  options.mandator_binary = FLAGS_mandator_binary;
  options.base_dir = FLAGS_base_dir.empty() ? "/tmp" : FLAGS_base_dir;
  options.extra_flags = {
      absl::StrCat("--max_writes_per_second=", FLAGS_max_writes_per_second),
      "--history_limit=2"};
  auto cluster = testing::TwoDcCluster::Start(options);
  BENCH_CHECK_OK(cluster.status());
  MandatorProcess* leader =
      testing::WaitLeader((*cluster)->main(), absl::Seconds(60));
  if (leader == nullptr ||
      testing::WaitLeader((*cluster)->slave(), absl::Seconds(60)) == nullptr) {
    LOG(ERROR) << "no leader in one of the DCs; logs in " << (*cluster)->dir();
    return 1;
  }
  auto main_zk = (*cluster)->ConnectMainReader();
  auto slave_zk = (*cluster)->ConnectSlaveReader();
  BENCH_CHECK_OK(main_zk.status());
  BENCH_CHECK_OK(slave_zk.status());
  auto slave_reader = (*cluster)->ConnectSlaveReader();
  BENCH_CHECK_OK(slave_reader.status());
  RevisionWatcher watcher(*std::move(slave_zk));
  MandatorProcess* slave_leader =
      testing::WaitLeader((*cluster)->slave(), absl::Seconds(60));
  const std::vector<pid_t> cpu_pids = {
      leader->pid(), slave_leader != nullptr ? slave_leader->pid() : 0,
      getpid()};

  std::printf(
      "Setup: 2 DCs on one host with %ld cores, each 1 ZooKeeper server "
      "(3.8, standalone) + 3 mandator processes; %d HTTP clients (threads of "
      "this process) PUT to the "
      "main leader, one connection per request; %.0f s per phase; leader "
      "--max_writes_per_second=%d, --history_limit=2. Lag: HTTP answer -> "
      "revision visible in the slave ZooKeeper (polled every 0.5 ms).\n\n",
      sysconf(_SC_NPROCESSORS_ONLN), FLAGS_clients, FLAGS_seconds,
      FLAGS_max_writes_per_second);
  std::printf(
      "| value | keys | acked writes/s | commits/s | coalesced | "
      "HTTP p50 / p99 ms | lag ack -> slave p50 / p99 / max ms | "
      "lag commit -> slave commit p50 / p99 ms | host CPU busy | cores: "
      "main leader / slave leader / clients | errors |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|\n");
  std::fflush(stdout);
  bool ok = true;
  const zk::Layout layout = (*cluster)->layout();
  for (size_t size : sizes) {
    for (bool same_key : {false, true}) {
      Phase phase =
          RunPhase(leader->http_address(), same_key, size, **main_zk, cpu_pids);
      // Let the slave catch up before looking up when revisions arrived.
      const int64_t target =
          zk::ReadRevision(**main_zk, layout)->first.revision();
      ::kess::testing::WaitFor([&] { return watcher.revision() >= target; },
                               absl::Seconds(60));
      ok = Row(phase, watcher, CommitLags(phase, **main_zk, **slave_reader)) &&
           phase.errors == 0 && ok;
      std::fflush(stdout);
    }
  }
  const std::string dir = (*cluster)->dir();
  cluster->reset();
  std::filesystem::remove_all(dir);  // hundreds of MB of ZooKeeper logs
  return ok ? 0 : 2;
}

}  // namespace
}  // namespace bench
}  // namespace kess

int main(int argc, char** argv) {
  kess::InitProcess(&argc, &argv, "config write and replication benchmark");
  return kess::bench::Main();
}
