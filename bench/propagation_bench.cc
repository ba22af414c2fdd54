// bench/propagation_bench: write-to-file latency through the whole cache
// tier. Two DCs of real processes (tests/cluster/cache_tier_cluster.h: a
// ZooKeeper server and a mandator per DC, 2 real distributor processes per
// DC), N simulated agents spread over both DCs in child processes (copies
// of this binary, --role=client; bench/propagation_client.h), each writing
// every value it receives into its own file cache with the real
// model/file_cache writer. For each N (--agents on --tmpfs_dir, and
// --disk_agents on --disk_dir), --changes single changes are PUT through
// the main leader's HTTP API one at a time; per change and agent it
// measures HTTP ack -> the agent's file renamed in place (p50/p99/max per
// DC and overall), the distributors' CPU and RSS, and ZooKeeper packets
// received per change (mntr zk_packets_received) in each DC. A sample of
// --sdk_processes real C++ SDK processes (copies of this binary,
// --role=sdk; bench/propagation_sdk.h), each an sdk::ConfigClient on one
// sampled agent's cache dir, takes the same changes on to the application:
// HTTP ack -> the SDK's callback against HTTP ack -> that agent's file.
// --transports=plain,tls measures each N on a plaintext cluster and then
// on a TLS one (the simulated agents TLS clients of its CA) in one run.
// Prints Markdown tables. See README.md.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
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
#include "absl/strings/strip.h"
#include "bench/propagation_client.h"
#include "bench/propagation_sdk.h"
#include "bench/revision_observer.h"
#include "bench/transport_bench_util.h"
#include "common/http_client.h"
#include "common/init.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "model/file_cache/env.h"
#include "tests/cluster/cache_tier_cluster.h"
#include "tests/cluster/mandator_cluster.h"
#include "tests/load/load_util.h"

DEFINE_string(role, "driver",
              "driver (the benchmark), client or sdk (internal)");
DEFINE_string(mandator_binary, "", "path of //mandator");
DEFINE_string(distributor_binary, "", "path of //distributor:distributor");
DEFINE_string(agents, "100,1000,10000",
              "agent counts with caches on --tmpfs_dir");
DEFINE_string(disk_agents, "1000",
              "agent counts with caches on --disk_dir (\"\" = none)");
DEFINE_string(tmpfs_dir, "/dev/shm", "a tmpfs directory for the caches");
DEFINE_string(disk_dir, "/var/tmp", "a directory on a real disk");
DEFINE_int32(changes, 20, "single changes per agent count");
DEFINE_int32(value_bytes, 256, "bytes per value");
DEFINE_int32(agents_per_process, 2500, "simulated agents per child process");
DEFINE_int32(writer_threads, 2, "file-writing threads per child process");
DEFINE_int32(connect_batch, 500, "connects / subscribes in flight");
DEFINE_double(idle_seconds, 3, "idle window measuring background ZK packets");
DEFINE_int32(sdk_processes, 20,
             "real C++ SDK processes per row, each watching the key in one "
             "sampled agent's cache dir (0 = none)");
DEFINE_int32(sdk_wait_ms, 10000,
             "how long each change waits for the SDK processes' callbacks "
             "(after every agent wrote it)");
DEFINE_string(out_dir, "", "scratch directory (default: a new one in /tmp)");
// Client role only.
DEFINE_string(transports, "plain",
              "comma-separated: plain, tls; each a cluster of its own, "
              "measured one after the other in this run");
DEFINE_string(tls_ca, "", "client: the cluster's CA (TLS); empty: plaintext");
DEFINE_string(ports, "", "client: distributor ports dc1d1,dc1d2,dc2d1,dc2d2");
DEFINE_int32(first, 0, "client: global index of the first agent");
DEFINE_int32(connections, 0, "client: agents in this process");
DEFINE_string(token, "", "client: the distributors' auth token");
DEFINE_string(cache_root, "", "client: parent of the agents' cache dirs");
DEFINE_string(name, "0", "client, sdk: name of this process");
// SDK role only.
DEFINE_string(sdk_cache_dir, "", "sdk: the sampled agent's cache dir");

namespace kess {
namespace bench {

using load::CpuSecondsOf;
using load::NowNs;
using load::RaiseFdLimit;
using load::ReadProcStatusOf;

namespace {

constexpr int64_t kPhaseTimeoutMs = 600000;

std::string Ms(double us) { return absl::StrFormat("%.1f", us / 1000.0); }

std::vector<int> ParseList(const std::string& list) {
  std::vector<int> values;
  for (absl::string_view s : absl::StrSplit(list, ',', absl::SkipEmpty())) {
    int v = 0;
    if (absl::SimpleAtoi(s, &v) && v > 0) values.push_back(v);
  }
  return values;
}

std::string FsType(const std::string& dir) {
  std::ifstream mounts("/proc/mounts");
  std::string device, point, type, best_type = "?";
  size_t best = 0;
  std::string rest;
  while (mounts >> device >> point >> type) {
    std::getline(mounts, rest);
    const bool under =
        dir == point || point == "/" || absl::StartsWith(dir, point + "/");
    if (under && point.size() >= best) {
      best = point.size();
      best_type = type;
    }
  }
  return best_type;
}

// zk_packets_received of server 0 of `zk`; -1 if unknown.
int64_t PacketsReceived(const testing::ZkEnsemble& zk) {
  return zk.MntrValue(0, "zk_packets_received").value_or(-1);
}

struct Distributors {
  std::vector<pid_t> pids;
  double Cpu() const {
    double s = 0;
    for (pid_t p : pids) s += CpuSecondsOf(p);
    return s;
  }
  int64_t MaxRssKib() const {
    int64_t m = 0;
    for (pid_t p : pids) m = std::max(m, ReadProcStatusOf(p).rss_kib);
    return m;
  }
};

struct Row {
  int agents = 0;
  std::string medium;
  int processes = 0;
  int subscribed = 0;
  int failed = 0;
  double connect_s = 0;
  double connect_cpu_s = 0;  // the 4 distributors' CPU during "connect"
  std::vector<uint32_t> latency[3];  // dc1, dc2, all (microseconds)
  std::vector<uint32_t> from_sent;   // PUT sent -> file (all)
  std::vector<uint32_t> http;        // PUT sent -> ack, per change
  std::vector<uint32_t> last;        // per change, the slowest agent
  int64_t negative = 0;              // file before the ack arrived
  int64_t missing = 0;
  int64_t write_errors = 0;
  double cpu_per_change_ms = 0;
  int64_t rss_idle_kib = 0, rss_kib = 0;
  double packets[2] = {0, 0};       // per change, main / slave
  double idle_packets[2] = {0, 0};  // background per change-interval
  // Where the time goes (RevisionObserver on each DC's ZooKeeper), us.
  std::vector<uint32_t> to_commit;        // PUT sent -> main commit, per change
  std::vector<uint32_t> commit_to_ack;    // main commit -> HTTP ack
  std::vector<uint32_t> replication;      // main commit -> slave commit
  std::vector<uint32_t> dc1_from_commit;  // per file: main commit ->
  std::vector<uint32_t> dc2_from_slave_commit;  // slave commit -> file
  std::vector<uint32_t> dc2_from_main_commit;   // main commit -> file
  int64_t unobserved = 0;  // changes whose commit a watch did not reveal
  // The sample of real SDK processes (bench/propagation_sdk.h), per DC of
  // the sampled agent (dc1, dc2, all), us: HTTP ack -> the agent's file,
  // ack -> the SDK's callback, file -> callback.
  int sdk_processes = 0;
  int sdk_inotify = 0;  // of them holding an inotify instance
  std::vector<uint32_t> sdk_file[3];
  std::vector<uint32_t> sdk_callback[3];
  std::vector<uint32_t> sdk_hop[3];
  int64_t sdk_missing[3] = {0, 0, 0};  // (process, change): no callback
  int64_t sdk_negative = 0;            // callbacks before the ack arrived
  int64_t sdk_before_file = 0;         // callbacks before the writer returned
};

// The agents the SDK processes sit on: `count` (at most `agents`) spread
// evenly over the agents, process s on an agent g with g % 4 == s % 4, so
// that the sample covers both DCs and all 4 distributors (agent g is in DC
// g % 2 on distributor (g / 2) % 2, propagation_client.h). Distinct.
std::vector<int> SampleAgents(int agents, int count) {
  count = std::min(count, agents);
  std::vector<int> sample;
  std::set<int> used;
  for (int s = 0; s < count; ++s) {
    int g = static_cast<int>(int64_t{s} * agents / count);
    g = g - g % 4 + s % 4;
    while (g >= agents) g -= 4;
    while (g >= 0 && g < agents && used.count(g) != 0) g += 4;
    if (g < 0 || g >= agents) continue;
    used.insert(g);
    sample.push_back(g);
  }
  return sample;
}

// Reads a dump file of int64 records.
std::vector<int64_t> ReadRecords(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  std::vector<int64_t> r;
  for (int64_t v; in.read(reinterpret_cast<char*>(&v), sizeof(v));) {
    r.push_back(v);
  }
  return r;
}

// "p50 / p99 / max" in ms of microsecond samples (sorted).
std::string LatencyCell(const std::vector<uint32_t>& sorted_us) {
  return absl::StrCat(Ms(Percentile(sorted_us, 50)), " / ",
                      Ms(Percentile(sorted_us, 99)), " / ",
                      Ms(Percentile(sorted_us, 100)));
}

class Driver {
 public:
  int Run();

 private:
  absl::StatusOr<int64_t> Put(uint32_t seq);
  int Measure(int agents, const std::string& dir, const std::string& medium,
              Row* row);

  std::unique_ptr<testing::CacheTierCluster> cluster_;
  std::string leader_;
  std::string token_;
  std::vector<int> ports_;
  Distributors distributors_;
  std::string out_dir_;
  std::string tls_ca_;  // "" = plaintext
  uint32_t seq_ = 0;
  std::map<uint32_t, int64_t> ack_ns_;
  std::map<uint32_t, int64_t> sent_ns_;
  std::map<uint32_t, int64_t> revision_;
  std::unique_ptr<RevisionObserver> observers_[2];  // main, slave
};

absl::StatusOr<int64_t> Driver::Put(uint32_t seq) {
  std::string value = absl::StrCat(seq, " ");
  value.resize(std::max<size_t>(FLAGS_value_bytes, value.size()), 'v');
  for (int attempt = 0; attempt < 3; ++attempt) {
    sent_ns_[seq] = NowNs();
    absl::StatusOr<HttpReply> reply =
        HttpCall(leader_, "PUT", "/api/v1/configs/bench/hot",
                 testing::PutBody(value), absl::Seconds(20));
    const int64_t now = NowNs();
    if (reply.ok() && reply->status == 200) {
      ack_ns_[seq] = now;
      Poco::JSON::Object::Ptr body = testing::JsonBody(reply->body);
      if (!body) return absl::InternalError(reply->body);
      revision_[seq] = body->getValue<int64_t>("revision");
      return revision_[seq];
    }
    testing::MandatorProcess* leader =
        testing::WaitLeader(cluster_->dcs().main(), absl::Seconds(30));
    if (leader != nullptr) leader_ = leader->http_address();
  }
  return absl::UnavailableError("PUT failed 3 times");
}

int Driver::Measure(int agents, const std::string& dir,
                    const std::string& medium, Row* row) {
  row->agents = agents;
  row->medium = medium;
  const std::string cache_root =
      absl::StrCat(dir, "/propagation_bench.", getpid(), ".", agents);
  BENCH_CHECK_OK(file_cache::Env::Default()->CreateDirs(cache_root));
  std::vector<std::string> ports;
  for (int p : ports_) ports.push_back(std::to_string(p));
  std::vector<ChildProcess> children;
  for (int first = 0; first < agents; first += FLAGS_agents_per_process) {
    const int n = std::min(FLAGS_agents_per_process, agents - first);
    auto child = ChildProcess::Spawn(
        {"--role=client", "--ports=" + absl::StrJoin(ports, ","),
         absl::StrCat("--first=", first), absl::StrCat("--connections=", n),
         absl::StrCat("--connect_batch=", FLAGS_connect_batch),
         absl::StrCat("--writer_threads=", FLAGS_writer_threads),
         "--token=" + token_, "--cache_root=" + cache_root,
         "--out_dir=" + out_dir_, absl::StrCat("--name=", agents, "-", first),
         absl::StrCat("--value_bytes=", FLAGS_value_bytes),
         "--tls_ca=" + tls_ca_});
    BENCH_CHECK_OK(child.status());
    children.push_back(std::move(child).value());
  }
  row->processes = children.size();
  const int64_t connect_start = NowNs();
  const double connect_cpu0 = distributors_.Cpu();
  auto ready = AskAll(children, "connect", kPhaseTimeoutMs);
  BENCH_CHECK_OK(ready.status());
  row->connect_s = (NowNs() - connect_start) / 1e9;
  row->connect_cpu_s = distributors_.Cpu() - connect_cpu0;
  for (auto& a : *ready) {
    row->subscribed += std::stoi(a.at(1));
    row->failed += std::stoi(a.at(2));
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  row->rss_idle_kib = distributors_.MaxRssKib();

  // The sample of real SDK processes, each on one agent's cache dir (the
  // key's file appears there with the row's first change).
  const std::vector<int> sdk_agents =
      SampleAgents(agents, std::max(0, FLAGS_sdk_processes));
  std::vector<ChildProcess> sdks;
  for (size_t s = 0; s < sdk_agents.size(); ++s) {
    auto child = ChildProcess::Spawn(
        {"--role=sdk",
         absl::StrCat("--sdk_cache_dir=", cache_root, "/a", sdk_agents[s]),
         "--out_dir=" + out_dir_, absl::StrCat("--name=", agents, "-", s)});
    BENCH_CHECK_OK(child.status());
    sdks.push_back(std::move(child).value());
  }
  row->sdk_processes = sdks.size();
  if (!sdks.empty()) {
    auto sdk_ready = AskAll(sdks, "ready", kPhaseTimeoutMs);
    BENCH_CHECK_OK(sdk_ready.status());
    for (auto& a : *sdk_ready) {
      if (a.size() < 3 || a[0] != "ready") {
        LOG(ERROR) << "SDK process: " << absl::StrJoin(a, " ");
        return 1;
      }
      row->sdk_inotify += std::stoi(a[2]);
    }
  }

  // Background ZooKeeper traffic (mandators, distributors' polls).
  const int64_t idle_start = NowNs();
  const int64_t idle0[2] = {PacketsReceived(cluster_->dcs().main_zk()),
                            PacketsReceived(cluster_->dcs().slave_zk())};
  std::this_thread::sleep_for(
      std::chrono::milliseconds(int64_t(FLAGS_idle_seconds * 1000)));
  const double idle_s = (NowNs() - idle_start) / 1e9;
  const int64_t idle1[2] = {PacketsReceived(cluster_->dcs().main_zk()),
                            PacketsReceived(cluster_->dcs().slave_zk())};

  const int64_t rounds_start = NowNs();
  const double cpu0 = distributors_.Cpu();
  const int64_t zk0[2] = {idle1[0], idle1[1]};
  const uint32_t first_seq = seq_ + 1;
  for (int c = 0; c < FLAGS_changes; ++c) {
    const uint32_t seq = ++seq_;
    BENCH_CHECK_OK(Put(seq).status());
    auto got = AskAll(children, absl::StrCat("wait ", seq), kPhaseTimeoutMs);
    BENCH_CHECK_OK(got.status());
    int have = 0;
    for (auto& a : *got) have += std::stoi(a.at(2));
    row->missing += row->subscribed - have;
    if (!sdks.empty()) {  // each SDK answers within --sdk_wait_ms
      auto seen =
          AskAll(sdks, absl::StrCat("wait ", seq, " ", FLAGS_sdk_wait_ms),
                 int64_t{FLAGS_sdk_wait_ms} + 10000);
      BENCH_CHECK_OK(seen.status());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const double rounds_s = (NowNs() - rounds_start) / 1e9;
  row->cpu_per_change_ms = (distributors_.Cpu() - cpu0) * 1000 / FLAGS_changes;
  row->rss_kib = distributors_.MaxRssKib();
  const int64_t zk1[2] = {PacketsReceived(cluster_->dcs().main_zk()),
                          PacketsReceived(cluster_->dcs().slave_zk())};
  for (int d = 0; d < 2; ++d) {
    row->packets[d] = double(zk1[d] - zk0[d]) / FLAGS_changes;
    row->idle_packets[d] =
        double(idle1[d] - idle0[d]) / idle_s * rounds_s / FLAGS_changes;
  }

  auto dumps = AskAll(children, "dump", kPhaseTimeoutMs);
  BENCH_CHECK_OK(dumps.status());
  std::map<uint32_t, uint32_t> slowest;
  const std::set<int> sampled(sdk_agents.begin(), sdk_agents.end());
  std::map<std::pair<int, uint32_t>, int64_t> sampled_written;  // g, seq
  for (auto& a : *dumps) {
    const std::vector<int64_t> r = ReadRecords(a.at(1));
    for (size_t i = 0; i + 3 < r.size(); i += 4) {
      const uint32_t seq = static_cast<uint32_t>(r[i]);
      if (seq < first_seq || ack_ns_.count(seq) == 0) continue;
      const int agent = static_cast<int>(r[i + 3]);
      if (sampled.count(agent) != 0) {
        sampled_written.emplace(std::make_pair(agent, seq), r[i + 2]);
      }
      int64_t us = (r[i + 2] - ack_ns_[seq]) / 1000;
      if (us < 0) {
        ++row->negative;
        us = 0;
      }
      row->latency[r[i + 1] == 0 ? 0 : 1].push_back(us);
      row->latency[2].push_back(us);
      row->from_sent.push_back((r[i + 2] - sent_ns_[seq]) / 1000);
      slowest[seq] = std::max<uint32_t>(slowest[seq], us);
      const int64_t main_ns = observers_[0]->SeenNs(revision_[seq]);
      const int64_t slave_ns = observers_[1]->SeenNs(revision_[seq]);
      auto since = [&](int64_t from) {
        return static_cast<uint32_t>(std::max<int64_t>(0, r[i + 2] - from) /
                                     1000);
      };
      if (main_ns != 0 && r[i + 1] == 0) {
        row->dc1_from_commit.push_back(since(main_ns));
      }
      if (main_ns != 0 && r[i + 1] != 0) {
        row->dc2_from_main_commit.push_back(since(main_ns));
      }
      if (slave_ns != 0 && r[i + 1] != 0) {
        row->dc2_from_slave_commit.push_back(since(slave_ns));
      }
    }
  }
  for (auto& [seq, us] : slowest) {
    row->last.push_back(us);
    row->http.push_back((ack_ns_[seq] - sent_ns_[seq]) / 1000);
    const int64_t main_ns = observers_[0]->SeenNs(revision_[seq]);
    const int64_t slave_ns = observers_[1]->SeenNs(revision_[seq]);
    if (main_ns == 0 || slave_ns == 0) {
      ++row->unobserved;
      continue;
    }
    auto us_between = [](int64_t from, int64_t to) {
      return static_cast<uint32_t>(std::max<int64_t>(0, to - from) / 1000);
    };
    row->to_commit.push_back(us_between(sent_ns_[seq], main_ns));
    row->commit_to_ack.push_back(us_between(main_ns, ack_ns_[seq]));
    row->replication.push_back(us_between(main_ns, slave_ns));
  }
  for (auto* v : {&row->to_commit, &row->commit_to_ack, &row->replication,
                  &row->dc1_from_commit, &row->dc2_from_slave_commit,
                  &row->dc2_from_main_commit}) {
    std::sort(v->begin(), v->end());
  }
  for (auto& v : row->latency) std::sort(v.begin(), v.end());
  if (!sdks.empty()) {
    auto sdk_dumps = AskAll(sdks, "dump", kPhaseTimeoutMs);
    BENCH_CHECK_OK(sdk_dumps.status());
    for (size_t s = 0; s < sdks.size(); ++s) {
      const std::vector<std::string>& a = (*sdk_dumps)[s];
      if (a.size() < 2 || a[0] != "file") {
        LOG(ERROR) << "SDK process: " << absl::StrJoin(a, " ");
        return 1;
      }
      // seq -> when its first callback ran (quads: seq, revision, mono,
      // realtime).
      std::map<uint32_t, int64_t> callback_ns;
      const std::vector<int64_t> r = ReadRecords(a[1]);
      for (size_t i = 0; i + 3 < r.size(); i += 4) {
        callback_ns.emplace(static_cast<uint32_t>(r[i]), r[i + 2]);
      }
      const int g = sdk_agents[s];
      for (uint32_t seq = first_seq; seq <= seq_; ++seq) {
        if (ack_ns_.count(seq) == 0) continue;
        auto cb = callback_ns.find(seq);
        if (cb == callback_ns.end()) {
          ++row->sdk_missing[g % 2];
          ++row->sdk_missing[2];
          continue;
        }
        int64_t cb_us = (cb->second - ack_ns_[seq]) / 1000;
        if (cb_us < 0) {
          ++row->sdk_negative;
          cb_us = 0;
        }
        auto file = sampled_written.find({g, seq});
        for (int d : {g % 2, 2}) {
          row->sdk_callback[d].push_back(cb_us);
        }
        if (file == sampled_written.end()) continue;
        const int64_t file_us =
            std::max<int64_t>(0, (file->second - ack_ns_[seq]) / 1000);
        int64_t hop_us = (cb->second - file->second) / 1000;
        if (hop_us < 0) {
          ++row->sdk_before_file;
          hop_us = 0;
        }
        for (int d : {g % 2, 2}) {
          row->sdk_file[d].push_back(file_us);
          row->sdk_hop[d].push_back(hop_us);
        }
      }
    }
    for (int d = 0; d < 3; ++d) {
      for (auto* v :
           {&row->sdk_file[d], &row->sdk_callback[d], &row->sdk_hop[d]}) {
        std::sort(v->begin(), v->end());
      }
    }
    for (auto& child : sdks) (void)child.WriteLine("quit");
    sdks.clear();
  }
  std::sort(row->from_sent.begin(), row->from_sent.end());
  std::sort(row->http.begin(), row->http.end());
  std::sort(row->last.begin(), row->last.end());
  auto errors = AskAll(children, "errors", kPhaseTimeoutMs);
  BENCH_CHECK_OK(errors.status());
  for (auto& a : *errors) row->write_errors += std::stoll(a.at(1));
  for (auto& child : children) (void)child.WriteLine("quit");
  children.clear();
  RemoveScratchDir(cache_root);
  return 0;
}

int Driver::Run() {
  RaiseFdLimit();
  if (FLAGS_mandator_binary.empty() || FLAGS_distributor_binary.empty()) {
    LOG(ERROR) << "--mandator_binary and --distributor_binary are required";
    return 1;
  }
  out_dir_ = FLAGS_out_dir;
  if (out_dir_.empty()) {
    char templ[] = "/tmp/propagation_bench.XXXXXX";
    if (mkdtemp(templ) == nullptr) return 1;
    out_dir_ = templ;
  }
  std::vector<Row> rows;
  int status = 0;
  for (absl::string_view transport : absl::StrSplit(FLAGS_transports, ',')) {
    const bool tls = transport == "tls";
    if (!tls && transport != "plain") {
      LOG(ERROR) << "--transports: plain or tls, not " << transport;
      return 1;
    }
    const std::string label = tls ? ", TLS" : ", plaintext";
    ports_.clear();
    distributors_.pids.clear();
    testing::CacheTierClusterOptions options;
    options.dcs.base_dir = out_dir_;
    // TLS on every transport link (the simulated agents' too: a client
    // context trusting the cluster's CA), or the plain wire.
    options.dcs.tls = tls;
    options.dcs.mandators_per_dc = 1;
    options.dcs.mandator_binary = FLAGS_mandator_binary;
    options.distributor_binary = FLAGS_distributor_binary;
    options.distributors_per_dc = 2;
    options.agents_per_dc = 0;
    // Production intervals: the watch pushes, the poll only repairs.
    // Simulated agents all connect from 127.0.0.1: no per-address cap.
    options.distributor_flags = {"--poll_interval_ms=5000",
                                 "--max_connections_per_peer=0"};
    auto cluster = testing::CacheTierCluster::Start(options);
    BENCH_CHECK_OK(cluster.status());
    cluster_ = std::move(cluster).value();
    tls_ca_ = tls ? cluster_->dcs().tls().ca() : "";
    for (testing::CacheTierDc* dc : {&cluster_->main(), &cluster_->slave()}) {
      for (auto& d : dc->distributors) {
        ports_.push_back(d->port());
        distributors_.pids.push_back(d->pid());
      }
    }
    auto token = file_cache::Env::Default()->ReadFile(cluster_->token_file());
    BENCH_CHECK_OK(token.status());
    token_ = std::string(absl::StripTrailingAsciiWhitespace(*token));
    testing::MandatorProcess* leader =
        testing::WaitLeader(cluster_->dcs().main(), absl::Seconds(60));
    if (leader == nullptr) {
      LOG(ERROR) << "no main leader";
      return 1;
    }
    leader_ = leader->http_address();
    for (int d = 0; d < 2; ++d) {
      auto reader = d == 0 ? cluster_->dcs().ConnectMainReader()
                           : cluster_->dcs().ConnectSlaveReader();
      BENCH_CHECK_OK(reader.status());
      observers_[d] = std::make_unique<RevisionObserver>(
          std::move(reader).value(), cluster_->dcs().layout());
    }
    BENCH_CHECK_OK(Put(++seq_).status());  // the key exists before agents come

    for (int n : ParseList(FLAGS_agents)) {
      rows.emplace_back();
      const std::string medium = FsType(FLAGS_tmpfs_dir);
      if (Measure(n, FLAGS_tmpfs_dir,
                  medium + " (" + FLAGS_tmpfs_dir + ")" + label,
                  &rows.back()) != 0) {
        return 1;
      }
    }
    for (int n : ParseList(FLAGS_disk_agents)) {
      rows.emplace_back();
      const std::string medium = FsType(FLAGS_disk_dir);
      if (Measure(n, FLAGS_disk_dir,
                  medium + " (" + FLAGS_disk_dir + ")" + label,
                  &rows.back()) != 0) {
        return 1;
      }
    }
    for (auto& o : observers_) o.reset();
    cluster_.reset();
  }  // transports
  if (FLAGS_out_dir.empty()) RemoveScratchDir(out_dir_);

  std::ostringstream t;
  t << SetupTableHead("every process below shares them");
  t << "| DCs | main `dc1` and slave `dc2`, each: 1 ZooKeeper server (3.8, "
       "standalone), 1 `mandator`, 2 `distributor` processes (`-c opt`, "
       "--poll_interval_ms=5000) |\n";
  t << "| transport | " << FLAGS_transports
    << " (each a cluster of its own, one after the other in this run; TLS: "
       "`kessctl certs init`'s files, TLS 1.3, every simulated agent a TLS "
       "client trusting the cluster's CA, no client certificate) |\n";
  t << "| agents | simulated, " << FLAGS_agents_per_process
    << " per child process (one transport connection each, 1 event-loop "
       "thread + "
    << FLAGS_writer_threads
    << " writer threads per process); agent g in DC g % 2 on distributor "
       "(g / 2) % 2; each its own cache dir, written with the real "
       "`model/file_cache` writer (temp file, fsync, rename, fsync dir) |\n";
  t << "| changes | " << FLAGS_changes << " per row, one at a time: `PUT "
    << "/api/v1/configs/bench/hot` (" << FLAGS_value_bytes
    << " B) at the main leader, then wait until every agent wrote it"
    << (FLAGS_sdk_processes > 0
            ? absl::StrCat(" and every SDK process below had its callback "
                           "(at most ",
                           FLAGS_sdk_wait_ms, " ms)")
            : "")
    << ", 100 ms pause |\n";
  t << "| latency | HTTP answer to the benchmark's PUT -> the agent's writer "
       "returned "
       "(file renamed in place, directory fsynced); CLOCK_MONOTONIC across "
       "processes |\n";
  if (FLAGS_sdk_processes > 0) {
    t << "| SDK sample | " << FLAGS_sdk_processes
      << " real C++ SDK processes per row (fewer if the row has fewer "
         "agents; copies of the benchmark, `--role=sdk`), started once the "
         "agents subscribed: each an `sdk::ConfigClient` (agent_http_address "
         "\"\": the agent subscribed the key; default poll interval 1 s "
         "and inotify) watching `bench/hot` in one agent's cache dir, the "
         "agents spread evenly over the row, process s on an agent g with "
         "g % 4 = s % 4 (both DCs, all 4 distributors); callback time taken "
         "first thing in the callback, CLOCK_MONOTONIC |\n";
  }
  t << "\n| agents | cache on | processes | subscribed (failed) | "
       "dc1 p50 / p99 / max ms | dc2 p50 / p99 / max ms | all p50 / p99 / "
       "max ms | all from PUT sent p50 / p99 / max ms | PUT sent -> ack p50 / "
       "max ms | last agent per change p50 / max ms | distributor CPU per "
       "change (4 together) | distributor RSS (largest) idle / after | ZK "
       "packets per change main / slave (background) | missing | write "
       "errors |\n";
  t << "|---:|---|---:|---|---|---|---|---|---|---|---:|---|---|---:|---:|\n";
  for (const Row& r : rows) {
    t << "| " << WithCommas(r.agents) << " | " << r.medium << " | "
      << r.processes << " | " << WithCommas(r.subscribed) << " (" << r.failed
      << ") | " << LatencyCell(r.latency[0]) << " | "
      << LatencyCell(r.latency[1]) << " | " << LatencyCell(r.latency[2])
      << " | " << LatencyCell(r.from_sent) << " | "
      << Ms(Percentile(r.http, 50)) << " / " << Ms(Percentile(r.http, 100))
      << " | " << Ms(Percentile(r.last, 50)) << " / "
      << Ms(Percentile(r.last, 100)) << " | "
      << absl::StrFormat("%.1f ms", r.cpu_per_change_ms) << " | "
      << r.rss_idle_kib / 1024 << " / " << r.rss_kib / 1024 << " MiB | "
      << absl::StrFormat("%.1f / %.1f (%.1f / %.1f)", r.packets[0],
                         r.packets[1], r.idle_packets[0], r.idle_packets[1])
      << " | " << r.missing << " | " << r.write_errors << " |\n";
    if (r.missing != 0 || r.write_errors != 0 || r.failed != 0) status = 2;
  }
  t << "\nConnecting: every simulated agent connects (a full handshake "
       "with TLS: no session ticket yet) and subscribes, "
    << FLAGS_connect_batch
    << " in flight at a time; the 4 distributors' CPU (utime + stime) "
       "during it.\n\n";
  t << "| agents | cache on | connected and subscribed in | distributor CPU "
       "(4 together) | per agent |\n|---:|---|---:|---:|---:|\n";
  for (const Row& r : rows) {
    t << "| " << WithCommas(r.agents) << " | " << r.medium << " | "
      << absl::StrFormat("%.2f s", r.connect_s) << " | "
      << absl::StrFormat("%.2f s", r.connect_cpu_s) << " | "
      << absl::StrFormat(
             "%.0f us", r.agents > 0 ? r.connect_cpu_s * 1e6 / r.agents : 0)
      << " |\n";
  }
  t << "\nWhere the time goes: each DC's ZooKeeper commit of every change "
       "is timed by a watch on its `/kess/revision` "
       "(bench/revision_observer.h),"
       " so each hop is measured apart, p50 / p99 / max ms (per change for "
       "the first three columns, per file for the others).\n\n";
  t << "| agents | cache on | PUT sent -> main commit | main commit -> HTTP "
       "ack | main commit -> slave commit (replication) | main commit -> dc1 "
       "file | slave commit -> dc2 file | main commit -> dc2 file | changes "
       "not seen by the watch |\n";
  t << "|---:|---|---|---|---|---|---|---|---:|\n";
  for (const Row& r : rows) {
    t << "| " << WithCommas(r.agents) << " | " << r.medium << " | "
      << LatencyCell(r.to_commit) << " | " << LatencyCell(r.commit_to_ack)
      << " | " << LatencyCell(r.replication) << " | "
      << LatencyCell(r.dc1_from_commit) << " | "
      << LatencyCell(r.dc2_from_slave_commit) << " | "
      << LatencyCell(r.dc2_from_main_commit) << " | " << r.unobserved << " |\n";
  }
  int64_t negative = 0;
  for (const Row& r : rows) negative += r.negative;
  t << "\nZK packets per change: `zk_packets_received` of each DC's server "
       "(mntr) across the "
    << FLAGS_changes
    << " changes, divided by their number; in brackets the background "
       "rate (mandators' and distributors' sessions and polls, measured "
       "over "
    << FLAGS_idle_seconds
    << " s idle just before) over the same time; both include the "
       "benchmark's own revision watch (one read per change per DC). It "
       "does not grow with the number of agents: agents never reach "
       "ZooKeeper. "
    << "Latency is measured from the HTTP answer, as a writer sees it; the "
       "leader answers once the commit is in ZooKeeper, which fires the "
       "distributors' watch at the same moment, so with every core busy "
       "writing files the benchmark often reads its answer late: "
    << WithCommas(negative)
    << " file writes finished before it had (counted as 0 ms). The column "
       "from PUT sent is the upper bound that includes the HTTP write "
       "itself.\n";
  if (FLAGS_sdk_processes > 0) {
    t << "\nTo the application: for the sample of real C++ SDK processes, "
         "the same changes from the HTTP answer to the sampled agents' files "
         "(as above) and to the SDK's watch callback in the process on each "
         "of those agents' cache dirs, p50 / p99 / max ms; file -> callback "
         "per sampled agent and change. Target: callback p99 <= file p99 + "
         "5 ms.\n\n";
    t << "| agents | cache on | SDK processes (with inotify) | DC | ack -> "
         "file, sampled agents | ack -> SDK callback | file -> callback | "
         "callback p99 - file p99 | target: <= +5 ms | callbacks missing "
         "|\n";
    t << "|---:|---|---:|---|---|---|---|---:|---|---:|\n";
    for (const Row& r : rows) {
      const char* const dc_names[3] = {"dc1", "dc2", "all"};
      for (int d = 0; d < 3; ++d) {
        const bool measured =
            !r.sdk_file[d].empty() && !r.sdk_callback[d].empty();
        const double diff_us =
            Percentile(r.sdk_callback[d], 99) - Percentile(r.sdk_file[d], 99);
        t << "| " << WithCommas(r.agents) << " | " << r.medium << " | "
          << r.sdk_processes << " (" << r.sdk_inotify << ") | " << dc_names[d]
          << " | " << LatencyCell(r.sdk_file[d]) << " | "
          << LatencyCell(r.sdk_callback[d]) << " | "
          << LatencyCell(r.sdk_hop[d]) << " | "
          << (measured
                  ? absl::StrFormat("%+.1f ms",  // rounded first: no "-0.0"
                                    std::round(diff_us / 100.0) / 10.0 + 0.0)
                  : std::string("-"))
          << " | "
          << (!measured         ? "no samples"
              : diff_us <= 5000 ? "met"
                                : "MISSED")
          << " | " << r.sdk_missing[d] << " |\n";
      }
      if (r.sdk_missing[2] != 0) status = 2;
    }
    int64_t sdk_negative = 0, sdk_before_file = 0;
    for (const Row& r : rows) {
      sdk_negative += r.sdk_negative;
      sdk_before_file += r.sdk_before_file;
    }
    t << "\nA callback missing is a change some SDK process had no callback "
         "for within "
      << FLAGS_sdk_wait_ms
      << " ms (the poll backstop is 1 s). As above, the benchmark may read "
         "its HTTP answer late: "
      << WithCommas(sdk_negative)
      << " callbacks ran before it had (counted as 0 ms), and "
      << WithCommas(sdk_before_file)
      << " before the agent's writer returned (the file renamed in place, "
         "the directory fsync not done yet; counted as 0 ms).\n";
  }
  std::cout << t.str();
  return status;
}

}  // namespace
}  // namespace bench
}  // namespace kess

int main(int argc, char** argv) {
  kess::InitProcess(&argc, &argv,
                    "bench: write-to-file latency through the cache tier");
  if (FLAGS_role == "sdk") {
    kess::bench::PropagationSdkOptions options;
    options.cache_dir = FLAGS_sdk_cache_dir;
    options.out_dir = FLAGS_out_dir;
    options.name = FLAGS_name;
    if (options.cache_dir.empty() || options.out_dir.empty()) {
      LOG(ERROR) << "--sdk_cache_dir and --out_dir are required";
      return 1;
    }
    return kess::bench::RunPropagationSdk(options);
  }
  if (FLAGS_role == "client") {
    kess::bench::PropagationClientOptions options;
    for (absl::string_view p : absl::StrSplit(FLAGS_ports, ',')) {
      int port = 0;
      if (absl::SimpleAtoi(p, &port)) options.ports.push_back(port);
    }
    if (options.ports.size() != 4) {
      LOG(ERROR) << "--ports needs 4 ports";
      return 1;
    }
    options.first = FLAGS_first;
    options.connections = FLAGS_connections;
    options.connect_batch = FLAGS_connect_batch;
    options.writer_threads = FLAGS_writer_threads;
    options.token = FLAGS_token;
    options.cache_root = FLAGS_cache_root;
    options.out_dir = FLAGS_out_dir;
    options.name = FLAGS_name;
    options.tls_ca = FLAGS_tls_ca;
    return kess::bench::RunPropagationClient(options);
  }
  return kess::bench::Driver().Run();
}
