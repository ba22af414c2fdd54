// bench/agent_footprint_bench: what one real `agent` (and one process using
// the SDK) costs on a host, idle and while configs change (its
// RSS and CPU idle and while applying 100 changes/s; target idle RSS <=
// 20 MB). Real processes on 127.0.0.1 through the tests' helpers: one
// ZooKeeper server (tests/harness/zk_ensemble.h), one main `mandator`
// (tests/cluster/mandator_process.h), one `distributor`
// (distributor_process.h) and ONE `agent` with production intervals
// (agent_host.h) subscribed to --keys keys and --routes route names; then
// bench/agent_footprint_sdk (ConfigClient watching the same keys,
// Discovery watching a few services) as a separate process. For each of
// the two it measures RSS (VmRSS, sampled every 500 ms) and CPU% (utime +
// stime from /proc/<pid>/stat over the phase): idle for --idle_seconds,
// then while --rate changes/s (over the keys; values alternately
// --small_bytes and --large_bytes) are PUT through the mandator's HTTP API
// by --writers threads for --load_seconds. Finally the agent's memory by
// kind (/proc/<pid>/smaps_rollup) and its largest mappings (smaps). Prints
// a Markdown table. See README.md.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/transport_bench_util.h"
#include "common/http_client.h"
#include "common/init.h"
#include "common/testing/wait_for.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "mandator/testing/test_util.h"
#include "tests/cluster/agent_host.h"
#include "tests/cluster/distributor_process.h"
#include "tests/cluster/mandator_cluster.h"
#include "tests/cluster/mandator_process.h"
#include "tests/harness/daemon_process.h"
#include "tests/harness/zk_ensemble.h"
#include "tests/load/load_util.h"

DEFINE_string(mandator_binary, "", "path of //mandator");
DEFINE_string(distributor_binary, "", "path of //distributor:distributor");
DEFINE_string(agent_binary, "", "path of //agent");
DEFINE_string(sdk_binary, "", "path of //bench:agent_footprint_sdk");
DEFINE_int32(keys, 100, "config keys the agent and the SDK process watch");
DEFINE_int32(routes, 10, "route names the agent is subscribed to");
DEFINE_int32(services, 5, "services the SDK process's Discovery watches");
DEFINE_double(idle_seconds, 10, "idle phase");
DEFINE_double(load_seconds, 20, "phase with --rate changes/s");
DEFINE_double(rate, 100, "changes per second in the load phase");
DEFINE_int32(writers, 4, "HTTP writer threads sharing --rate");
DEFINE_int32(small_bytes, 256, "value size of even changes");
DEFINE_int32(large_bytes, 4096, "value size of odd changes");
DEFINE_double(target_mib, 20, "the agent's idle RSS target (bench/README.md)");
DEFINE_string(out_dir, "", "scratch directory (default: a new one in /tmp)");

namespace kess {
namespace bench {

using ::kess::testing::WaitFor;
using load::CpuSecondsOf;
using load::NowNs;
using load::ProcStatus;
using load::ReadProcStatusOf;

namespace {

constexpr char kNs[] = "fp";

std::string Key(int i) { return absl::StrFormat("k%03d", i); }

// RSS max over samples and CPU% of one process over one phase.
struct Phase {
  int64_t rss_first_kib = 0, rss_max_kib = 0, rss_last_kib = 0;
  int threads = 0;
  double cpu_percent = 0;
};

// Samples `pids` every 500 ms for `seconds`.
std::vector<Phase> MeasurePhase(const std::vector<pid_t>& pids,
                                double seconds) {
  std::vector<Phase> phases(pids.size());
  std::vector<double> cpu0;
  for (pid_t p : pids) cpu0.push_back(CpuSecondsOf(p));
  const int64_t start = NowNs();
  const int64_t end = start + int64_t(seconds * 1e9);
  bool first = true;
  while (true) {
    for (size_t i = 0; i < pids.size(); ++i) {
      const ProcStatus s = ReadProcStatusOf(pids[i]);
      if (first) phases[i].rss_first_kib = s.rss_kib;
      phases[i].rss_max_kib = std::max(phases[i].rss_max_kib, s.rss_kib);
      phases[i].rss_last_kib = s.rss_kib;
      phases[i].threads = std::max(phases[i].threads, s.threads);
    }
    first = false;
    const int64_t now = NowNs();
    if (now >= end) break;
    std::this_thread::sleep_for(std::chrono::nanoseconds(
        std::min<int64_t>(500000000, end - now)));
  }
  const double wall = (NowNs() - start) / 1e9;
  for (size_t i = 0; i < pids.size(); ++i) {
    phases[i].cpu_percent = (CpuSecondsOf(pids[i]) - cpu0[i]) / wall * 100;
  }
  return phases;
}

// "Rss: 1234 kB" lines of /proc/<pid>/smaps_rollup, in kB.
std::vector<std::pair<std::string, int64_t>> SmapsRollup(pid_t pid) {
  std::vector<std::pair<std::string, int64_t>> out;
  std::ifstream in(absl::StrCat("/proc/", pid, "/smaps_rollup"));
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> w = absl::StrSplit(line, ' ', absl::SkipEmpty());
    int64_t kb = 0;
    if (w.size() == 3 && w[2] == "kB" && absl::SimpleAtoi(w[1], &kb)) {
      std::string name = w[0];
      if (!name.empty() && name.back() == ':') name.pop_back();
      out.emplace_back(name, kb);
    }
  }
  return out;
}

// Rss per mapped object (file path, [heap], [stack], anon) from
// /proc/<pid>/smaps, largest first.
std::vector<std::pair<std::string, int64_t>> RssByMapping(pid_t pid) {
  std::map<std::string, int64_t> by;
  std::ifstream in(absl::StrCat("/proc/", pid, "/smaps"));
  std::string line, current = "anon";
  while (std::getline(in, line)) {
    std::vector<std::string> w = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (w.empty()) continue;
    if (w[0].find('-') != std::string::npos && w.size() >= 5) {
      current = w.size() >= 6 ? w[5] : "anon (no name)";
      const size_t slash = current.rfind('/');
      if (slash != std::string::npos) current = current.substr(slash + 1);
    } else if (w[0] == "Rss:" && w.size() >= 2) {
      int64_t kb = 0;
      if (absl::SimpleAtoi(w[1], &kb)) by[current] += kb;
    }
  }
  std::vector<std::pair<std::string, int64_t>> out(by.begin(), by.end());
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.second > b.second; });
  return out;
}

std::string Mib(int64_t kib) { return absl::StrFormat("%.1f", kib / 1024.0); }

int Run() {
  for (const std::string* f :
       {&FLAGS_mandator_binary, &FLAGS_distributor_binary, &FLAGS_agent_binary,
        &FLAGS_sdk_binary}) {
    if (f->empty()) {
      LOG(ERROR) << "--mandator_binary, --distributor_binary, --agent_binary "
                    "and --sdk_binary are required";
      return 1;
    }
  }
  std::string dir = FLAGS_out_dir;
  if (dir.empty()) {
    char templ[] = "/tmp/agent_footprint_bench.XXXXXX";
    if (mkdtemp(templ) == nullptr) return 1;
    dir = templ;
  }
  auto zk = testing::ZkEnsemble::Start({.name = "fp", .base_dir = dir});
  BENCH_CHECK_OK(zk.status());
  auto auth = testing::WriteAuthFile(dir, mandator::testing::TestAuth());
  BENCH_CHECK_OK(auth.status());
  testing::MandatorProcessOptions mo;
  mo.binary = FLAGS_mandator_binary;
  mo.id = "m1";
  mo.datacenter = "dc1";
  mo.zk = (*zk)->ConnectString();
  mo.auth_file = *auth;
  mo.log_dir = dir;
  auto mandator = testing::MandatorProcess::Start(mo);
  BENCH_CHECK_OK(mandator.status());
  testing::MandatorList mandators;
  mandators.push_back(std::move(mandator).value());
  if (testing::WaitLeader(mandators, absl::Seconds(60)) == nullptr) {
    LOG(ERROR) << "the mandator did not become leader";
    return 1;
  }
  const std::string leader = mandators[0]->http_address();
  auto put = [&](int key, uint64_t seq) -> bool {
    std::string value = absl::StrCat(seq, " ");
    value.resize(seq % 2 == 0 ? FLAGS_small_bytes : FLAGS_large_bytes, 'v');
    auto reply = HttpCall(
        leader, "PUT", absl::StrCat("/api/v1/configs/", kNs, "/", Key(key)),
        testing::PutBody(value), absl::Seconds(20));
    return reply.ok() && reply->status == 200;
  };
  for (int k = 0; k < FLAGS_keys; ++k) {
    if (!put(k, k)) {
      LOG(ERROR) << "seeding " << Key(k) << " failed";
      return 1;
    }
  }

  auto token = testing::WriteTokenFile(dir, "footprint-token");
  BENCH_CHECK_OK(token.status());
  testing::DistributorProcessOptions dopt;
  dopt.binary = FLAGS_distributor_binary;
  dopt.id = "d1";
  dopt.datacenter = "dc1";
  dopt.zk = (*zk)->ConnectString();
  dopt.zk_auth_file = *auth;
  dopt.auth_token_file = *token;
  dopt.poll_interval = absl::Seconds(5);  // production-like: the watch pushes
  dopt.log_dir = dir;
  auto distributor = testing::DistributorProcess::Start(dopt);
  BENCH_CHECK_OK(distributor.status());

  testing::AgentHostOptions ao;
  ao.binary = FLAGS_agent_binary;
  ao.host_id = "h1";
  ao.datacenter = "dc1";
  ao.distributors = {(*distributor)->address()};
  ao.mandators = {mandators[0]->address()};
  ao.auth_token_file = *token;
  ao.dir = dir + "/h1";
  ao.flags = {};  // the agent's production intervals
  auto agent = testing::AgentHost::Start(ao);
  BENCH_CHECK_OK(agent.status());
  std::vector<std::pair<std::string, std::string>> keys;
  for (int k = 0; k < FLAGS_keys; ++k) keys.emplace_back(kNs, Key(k));
  BENCH_CHECK_OK((*agent)->Subscribe(testing::ConfigSubscription(keys)));
  if (FLAGS_routes > 0) {
    std::string routes = "{\"routes\":[";
    for (int r = 0; r < FLAGS_routes; ++r) {
      absl::StrAppend(&routes, r ? "," : "", "\"svc",
                      absl::StrFormat("%02d", r), "\"");
    }
    BENCH_CHECK_OK((*agent)->Subscribe(routes + "]}"));
  }

  // The SDK process.
  const std::string sdk_log = dir + "/sdk.log";
  testing::DaemonProcess sdk("the SDK process", sdk_log);
  BENCH_CHECK_OK(sdk.Start(
      {FLAGS_sdk_binary, "--cache_dir=" + (*agent)->cache_dir(),
       "--agent_http=" + (*agent)->http_address(),
       absl::StrCat("--keys=", FLAGS_keys),
       absl::StrCat("--services=", FLAGS_services), "--logtostderr"}));
  const pid_t sdk_pid = sdk.pid();
  int sdk_seen = -1;
  WaitFor(
      [&] {
        std::ifstream in(sdk_log);
        std::string line;
        while (std::getline(in, line)) {
          if (absl::StartsWith(line, "ready ")) {
            return absl::SimpleAtoi(line.substr(6), &sdk_seen);
          }
        }
        return false;
      },
      absl::Seconds(60));
  if (sdk_seen < 0) {
    LOG(ERROR) << "the SDK process did not get ready; see " << sdk_log;
    sdk.Kill();
    return 1;
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));

  // kess_agent_updates_applied_total (and write errors) from its /metrics;
  // `absent` if it has no such sample (counters with labels appear only
  // once counted), -1 if it did not answer.
  auto agent_metric = [&](const std::string& name, double absent) -> double {
    auto reply = (*agent)->Call("GET", "/metrics");
    if (!reply.ok() || reply->status != 200) return -1;
    return testing::MetricValue(reply->body, name).value_or(absent);
  };
  const std::vector<pid_t> pids = {(*agent)->pid(), sdk_pid};
  const std::vector<Phase> idle = MeasurePhase(pids, FLAGS_idle_seconds);

  const double applied0 = agent_metric("kess_agent_updates_applied_total", -1);
  std::atomic<bool> stop{false};
  std::atomic<int64_t> done{0}, failed{0};
  std::vector<std::thread> writers;
  const int64_t load_start = NowNs();
  for (int w = 0; w < FLAGS_writers; ++w) {
    writers.emplace_back([&, w] {
      const double interval_ns = 1e9 * FLAGS_writers / FLAGS_rate;
      for (int64_t i = 0; !stop.load(); ++i) {
        const int64_t due =
            load_start + int64_t(interval_ns * (i + double(w) / FLAGS_writers));
        const int64_t now = NowNs();
        if (due > now) {
          std::this_thread::sleep_for(std::chrono::nanoseconds(due - now));
        }
        if (stop.load()) break;
        const uint64_t seq = uint64_t(i) * FLAGS_writers + w;
        (put(int(seq % FLAGS_keys), seq) ? done : failed).fetch_add(1);
      }
    });
  }
  const std::vector<Phase> load = MeasurePhase(pids, FLAGS_load_seconds);
  stop = true;
  for (auto& t : writers) t.join();
  const double load_wall = (NowNs() - load_start) / 1e9;
  std::this_thread::sleep_for(std::chrono::seconds(1));  // the last pushes
  const double applied =
      agent_metric("kess_agent_updates_applied_total", -1) - applied0;
  const double write_errors =
      agent_metric("kess_agent_cache_write_errors_total", 0);
  const auto rollup = SmapsRollup((*agent)->pid());
  const auto mappings = RssByMapping((*agent)->pid());
  const auto sdk_mappings = RssByMapping(sdk_pid);
  sdk.Kill();
  agent->reset();
  distributor->reset();
  mandators.clear();
  zk->reset();
  if (FLAGS_out_dir.empty()) RemoveScratchDir(dir);

  std::ostringstream t;
  t << SetupTableHead(
      "shared with the processes below and with other users' builds, so CPU "
      "figures are noisy");
  t << "| cluster | 1 ZooKeeper server (standalone), 1 main `mandator`, 1 "
       "`distributor` (--poll_interval_ms=5000), all `-c opt` |\n";
  t << "| agent | one real `agent` (`-c opt`, production intervals: pull "
       "30 s, heartbeats 5 s), cache on "
    << dir.substr(0, dir.find('/', 1)) << ", subscribed to " << FLAGS_keys
    << " config keys and " << FLAGS_routes
    << " route names (no instances registered: empty subscriptions) |\n";
  t << "| SDK process | `bench/agent_footprint_sdk`: one `sdk::ConfigClient` "
       "watching the same "
    << FLAGS_keys << " keys (" << sdk_seen
    << " had their first callback), one `sdk::Discovery` watching "
    << FLAGS_services << " services; default poll interval 1 s |\n";
  t << "| phases | idle " << FLAGS_idle_seconds << " s, then "
    << FLAGS_load_seconds << " s of " << FLAGS_rate
    << " changes/s asked (PUT at the mandator, " << FLAGS_writers
    << " threads, round robin over the keys, values alternately "
    << FLAGS_small_bytes << " B and " << FLAGS_large_bytes << " B): "
    << absl::StrFormat("%.1f", done.load() / load_wall)
    << " changes/s committed, " << failed.load()
    << " failed; the agent applied "
    << absl::StrFormat("%.0f", applied) << " updates (its "
    << "`kess_agent_updates_applied_total`; a push may carry several "
       "changes), cache write errors "
    << absl::StrFormat("%.0f", write_errors) << " |\n";
  t << "| measured | RSS = VmRSS (/proc/<pid>/status) sampled every 500 ms; "
       "CPU% = utime + stime (/proc/<pid>/stat) over the phase / wall time "
       "(100 % = one core) |\n";
  t << "\n| process | phase | RSS at start / max / end MiB | CPU % | threads "
       "|\n|---|---|---|---:|---:|\n";
  const char* names[2] = {"agent", "SDK process"};
  for (int p = 0; p < 2; ++p) {
    for (int ph = 0; ph < 2; ++ph) {
      const Phase& x = ph == 0 ? idle[p] : load[p];
      t << "| " << names[p] << " | "
        << (ph == 0 ? "idle" : absl::StrFormat("%.0f changes/s", FLAGS_rate))
        << " | " << Mib(x.rss_first_kib) << " / " << Mib(x.rss_max_kib)
        << " / " << Mib(x.rss_last_kib) << " | "
        << absl::StrFormat("%.1f", x.cpu_percent) << " | " << x.threads
        << " |\n";
    }
  }
  const bool met = idle[0].rss_max_kib <= FLAGS_target_mib * 1024;
  t << "\nTarget: agent idle RSS <= " << FLAGS_target_mib
    << " MB: **" << (met ? "met" : "missed") << "** (max "
    << Mib(idle[0].rss_max_kib) << " MiB idle).\n";
  t << "\nAgent memory by kind after the load phase (smaps_rollup, MiB): ";
  std::vector<std::string> kinds;
  for (const auto& [k, kb] : rollup) {
    if (k == "Rss" || k == "Pss" || k == "Shared_Clean" ||
        k == "Private_Clean" || k == "Private_Dirty" || k == "Anonymous") {
      kinds.push_back(absl::StrCat(k, " ", Mib(kb)));
    }
  }
  t << absl::StrJoin(kinds, ", ") << ".\n";
  auto top = [&](const std::vector<std::pair<std::string, int64_t>>& m) {
    std::vector<std::string> parts;
    for (size_t i = 0; i < m.size() && i < 6; ++i) {
      parts.push_back(absl::StrCat("`", m[i].first, "` ", Mib(m[i].second)));
    }
    return absl::StrJoin(parts, ", ");
  };
  t << "\nLargest RSS by mapping (smaps, MiB), agent: " << top(mappings)
    << "; SDK process: " << top(sdk_mappings) << ".\n";
  std::cout << t.str();
  return failed.load() == 0 && sdk_seen == FLAGS_keys && applied > 0 &&
                 write_errors == 0
             ? 0
             : 2;
}

}  // namespace
}  // namespace bench
}  // namespace kess

int main(int argc, char** argv) {
  kess::InitProcess(&argc, &argv, "bench: agent and SDK footprint");
  return kess::bench::Run();
}
