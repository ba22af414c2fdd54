// bench/fanout_bench: what the distributors' fan-out costs, apart from the
// rest of the box, against the kernel's floor measured in the same run.
// One DC of real processes (tests/cluster/cache_tier_cluster.h: a
// ZooKeeper server, a mandator, --distributors distributor processes and
// --real_agents real `agent` processes subscribed to the key), plus N
// simulated agents (bench/propagation_client.h, copies of this binary with
// --role=client, agent g on distributor g % D) that either only receive
// (mode "receive") or also write every value into their own file cache
// with the real model/file_cache writer (mode "durable"). --changes single
// changes are PUT at the leader one at a time. Per row:
//   - HTTP ack -> the distributors' last frame handed to its socket (their
//     /api/v1/status "last_fanout", CLOCK_MONOTONIC), and the fan-out's own
//     span (change applied -> last frame written);
//   - HTTP ack -> simulated agent received (its loop got the push), and
//     -> file durable (durable mode);
//   - HTTP ack -> the real agents' files (mtime, CLOCK_REALTIME);
//   - distributor CPU per delivery (all distributors, /proc, less their
//     background rate measured just before) and bytes per delivery (the
//     frame and TLS record of the measured payload);
//   - the floor (bench/fanout_floor.h, a --role=floor child): sendmsg of
//     the same bytes to the same number of loopback sockets, io_uring
//     sends of them, and AES-256-GCM sealing of them; the ratio of the
//     distributors' CPU per delivery to the floor (sendmsg, plus sealing
//     with TLS).
// Prints Markdown tables. See README.md.
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "bench/fanout_floor.h"
#include "bench/propagation_client.h"
#include "bench/transport_bench_util.h"
#include "common/http_client.h"
#include "common/transport/frame.pb.h"
#include "common/transport/frame_codec.h"
#include "common/init.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "model/file_cache/env.h"
#include "tests/cluster/cache_tier_cluster.h"
#include "tests/cluster/mandator_cluster.h"
#include "tests/load/load_util.h"

DEFINE_string(role, "driver", "driver (the benchmark), client or floor");
DEFINE_string(mandator_binary, "", "path of //mandator");
DEFINE_string(distributor_binary, "", "path of //distributor:distributor");
DEFINE_string(agent_binary, "", "path of //agent");
DEFINE_string(baseline_distributor_binary, "",
              "another distributor build: each transport is then measured "
              "with it first (rows marked \"baseline\"), then with "
              "--distributor_binary, each on a cluster of its own");
DEFINE_string(agents, "1000,10000", "simulated agent counts, one row each");
DEFINE_int32(distributors, 2, "distributor processes in the DC");
DEFINE_int32(real_agents, 50,
             "real agent processes, subscribed to the key beside the "
             "simulated ones (0 = none)");
DEFINE_string(modes, "receive,durable",
              "per agent count: receive (simulated agents only receive), "
              "durable (they also write and fsync their file caches)");
DEFINE_string(transports, "tls", "comma-separated: tls, plain");
DEFINE_int32(changes, 10, "single changes per row");
DEFINE_int32(value_bytes, 256, "bytes per value");
DEFINE_int32(agents_per_process, 2500, "simulated agents per child process");
DEFINE_int32(writer_threads, 2, "file-writing threads per child (durable)");
DEFINE_int32(connect_batch, 500, "connects / subscribes in flight");
DEFINE_string(tmpfs_dir, "/dev/shm", "where durable caches go");
DEFINE_double(idle_seconds, 3, "idle window for the background CPU rate");
DEFINE_int32(floor_rounds, 10, "floor: rounds of sends to every socket");
DEFINE_string(floor_methods, "sendmsg,io_uring,seal", "floor: methods");
DEFINE_int32(uring_batch, 256, "floor: io_uring sends per submission");
DEFINE_string(out_dir, "", "scratch directory (default: a new one in /tmp)");
// Client role (bench/propagation_client.h).
DEFINE_string(tls_ca, "", "client: the cluster's CA (TLS); empty: plaintext");
DEFINE_string(ports, "", "client: distributor ports");
DEFINE_int32(first, 0, "client: global index of the first agent");
DEFINE_int32(connections, 0, "client, floor: agents / sockets");
DEFINE_string(token, "", "client: the distributors' auth token");
DEFINE_string(cache_root, "", "client: parent of the agents' cache dirs");
DEFINE_bool(write_files, true, "client: write the file caches");
DEFINE_string(name, "0", "client: name of this process");
// Floor role.
DEFINE_int32(bytes, 300, "floor: bytes per send");

namespace kess {
namespace bench {

using load::CpuSecondsOf;
using load::NowNs;
using load::ReadProcStatusOf;

namespace {

constexpr int64_t kPhaseTimeoutMs = 600000;

std::vector<int> ParseList(const std::string& list) {
  std::vector<int> values;
  for (absl::string_view s : absl::StrSplit(list, ',', absl::SkipEmpty())) {
    int v = 0;
    if (absl::SimpleAtoi(s, &v) && v > 0) values.push_back(v);
  }
  return values;
}

int64_t RealtimeNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// Bytes one kess.Update frame of `payload_bytes` puts into a socket: the
// transport's frame (header and envelope), plus a TLS 1.3 record's 22
// bytes (header, content type, AES-GCM tag) when `tls`.
size_t SocketBytes(size_t payload_bytes, bool tls) {
  transport::Frame frame;
  frame.set_kind(transport::Frame::PUSH);
  frame.set_method("kess.Update");
  frame.set_payload(std::string(payload_bytes, 'p'));
  std::string encoded;
  if (!transport::AppendEncodedFrame(frame, size_t{1} << 30, &encoded).ok()) {
    return payload_bytes;
  }
  return encoded.size() + (tls ? 22 : 0);
}

// TCP sockets in TIME_WAIT on the host (/proc/net/sockstat "tw").
int64_t TimeWaitSockets() {
  std::ifstream in("/proc/net/sockstat");
  std::string word;
  while (in >> word) {
    if (word == "tw") {
      int64_t n = 0;
      in >> n;
      return n;
    }
  }
  return 0;
}

std::vector<int64_t> ReadRecords(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  std::vector<int64_t> r;
  for (int64_t v; in.read(reinterpret_cast<char*>(&v), sizeof(v));) {
    r.push_back(v);
  }
  return r;
}

std::string Ms(double us) { return absl::StrFormat("%.1f", us / 1000.0); }

std::string LatencyCell(std::vector<uint32_t> us) {
  if (us.empty()) return "-";
  std::sort(us.begin(), us.end());
  return absl::StrCat(Ms(Percentile(us, 50)), " / ", Ms(Percentile(us, 99)),
                      " / ", Ms(Percentile(us, 100)));
}

uint32_t ClampUs(int64_t ns) {
  return static_cast<uint32_t>(std::max<int64_t>(0, ns) / 1000);
}

struct Row {
  std::string transport;
  std::string label;  // ", baseline" for --baseline_distributor_binary
  std::string mode;
  int agents = 0;
  int asked = 0;  // agents asked for, when more than the fd limit allows
  int subscribed = 0;
  int failed = 0;
  int real_agents = 0;
  // Per change (us): ack -> the last distributor's last frame written; the
  // distributors' fan-out span (applied -> written), the longest of them.
  std::vector<uint32_t> to_written;
  std::vector<uint32_t> span;
  // Per delivery (us).
  std::vector<uint32_t> received;
  std::vector<uint32_t> durable;
  std::vector<uint32_t> real;
  int64_t missing = 0;
  int64_t real_missing = 0;
  int64_t write_errors = 0;
  int64_t deliveries = 0;  // frames the distributors reported pushing
  double cpu_s = 0;        // distributors, changes phase, background removed
  double background_cpu_s = 0;
  double payload_bytes = 0;  // kess.Update payload bytes (last_fanout)
  size_t socket_bytes = 0;   // per delivery: frame (+ TLS record)
  double real_agent_cpu_ms = 0;  // per real agent per change
  int64_t rss_kib = 0;           // largest distributor
  std::vector<FloorResult> floor;
  int floor_sockets = 0;
  std::string floor_error;
  double phase_s = 0;
};

class Driver {
 public:
  int Run();

 private:
  absl::StatusOr<int64_t> Put(uint32_t seq);
  int Measure(int agents, bool durable, Row* row);
  // Waits until every distributor's last fan-out is at `revision` or
  // newer; adds their figures to `row`.
  void CollectFanout(int64_t revision, int64_t ack_ns, Row* row);
  void RunFloor(int sockets, size_t bytes, Row* row);
  // Before a row: see Measure.
  void WaitQuiet(int agents);
  double DistributorCpu() const;

  std::unique_ptr<testing::CacheTierCluster> cluster_;
  std::string leader_;
  std::string token_;
  std::string tls_ca_;
  std::string out_dir_;
  uint32_t seq_ = 0;
  int64_t fd_limit_ = 0;
  std::map<uint32_t, int64_t> ack_ns_, ack_real_ns_, revision_;
};

double Driver::DistributorCpu() const {
  double s = 0;
  for (auto& d : cluster_->main().distributors) s += CpuSecondsOf(d->pid());
  return s;
}

absl::StatusOr<int64_t> Driver::Put(uint32_t seq) {
  std::string value = absl::StrCat(seq, " ");
  value.resize(std::max<size_t>(FLAGS_value_bytes, value.size()), 'v');
  for (int attempt = 0; attempt < 3; ++attempt) {
    absl::StatusOr<HttpReply> reply =
        HttpCall(leader_, "PUT", "/api/v1/configs/bench/hot",
                 testing::PutBody(value), absl::Seconds(20));
    const int64_t now = NowNs();
    const int64_t now_real = RealtimeNs();
    if (reply.ok() && reply->status == 200) {
      ack_ns_[seq] = now;
      ack_real_ns_[seq] = now_real;
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

void Driver::CollectFanout(int64_t revision, int64_t ack_ns, Row* row) {
  int64_t last_written = 0;
  int64_t longest_span = 0;
  for (auto& d : cluster_->main().distributors) {
    const int64_t deadline = NowNs() + 10 * int64_t{1000000000};
    while (NowNs() < deadline) {
      Poco::JSON::Object::Ptr status = d->Status();
      Poco::JSON::Object::Ptr fanout =
          status ? status->getObject("last_fanout") : nullptr;
      if (fanout && fanout->getValue<int64_t>("revision") >= revision) {
        const int64_t written =
            fanout->getValue<int64_t>("written_monotonic_ns");
        const int64_t started =
            fanout->getValue<int64_t>("started_monotonic_ns");
        last_written = std::max(last_written, written);
        longest_span = std::max(longest_span, written - started);
        row->deliveries += fanout->getValue<int64_t>("deliveries");
        row->payload_bytes += fanout->getValue<int64_t>("bytes");
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  row->to_written.push_back(ClampUs(last_written - ack_ns));
  row->span.push_back(ClampUs(longest_span));
}

void Driver::WaitQuiet(int agents) {
  const int64_t deadline = NowNs() + int64_t{120} * 1000000000;
  auto connected = [&] {
    int64_t n = 0;
    for (auto& d : cluster_->main().distributors) {
      Poco::JSON::Object::Ptr status = d->Status();
      n += status ? status->getValue<int64_t>("connected_agents") : 0;
    }
    return n;
  };
  while (NowNs() < deadline && connected() > FLAGS_real_agents) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (agents / std::max(1, FLAGS_distributors) < 5000) return;
  while (NowNs() < deadline && TimeWaitSockets() > 1000) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

void Driver::RunFloor(int sockets, size_t bytes, Row* row) {
  auto child = ChildProcess::Spawn(
      {"--role=floor", absl::StrCat("--connections=", sockets),
       absl::StrCat("--bytes=", bytes),
       absl::StrCat("--floor_rounds=", FLAGS_floor_rounds),
       "--floor_methods=" + FLAGS_floor_methods,
       absl::StrCat("--uring_batch=", FLAGS_uring_batch)});
  if (!child.ok()) {
    row->floor_error = std::string(child.status().message());
    return;
  }
  absl::StatusOr<std::string> line = child->ReadLine(kPhaseTimeoutMs);
  if (!line.ok()) {
    row->floor_error = std::string(line.status().message());
    return;
  }
  std::vector<std::string> words = absl::StrSplit(*line, ' ');
  if (words.empty() || words[0] != "floor") {
    row->floor_error = *line;
    return;
  }
  for (size_t i = 1; i + 3 < words.size(); i += 4) {
    FloorResult r;
    r.method = words[i];
    (void)absl::SimpleAtod(words[i + 1], &r.cpu_us_per_send);
    (void)absl::SimpleAtod(words[i + 2], &r.wall_ms_per_round);
    (void)absl::SimpleAtoi(words[i + 3], &r.short_sends);
    row->floor.push_back(r);
  }
}

int Driver::Measure(int agents, bool durable, Row* row) {
  // A distributor holds at most its fd limit in connections (less a few
  // hundred for ZooKeeper, HTTP and logs): more agents than the
  // distributors can hold are not started, and the row says so.
  const int64_t capacity =
      int64_t{FLAGS_distributors} * (fd_limit_ - 300) - FLAGS_real_agents;
  if (agents > capacity) {
    row->asked = agents;
    agents = static_cast<int>(capacity);
  }
  row->agents = agents;
  row->mode = durable ? "durable" : "receive";
  // The previous row's connections must be gone from the distributors
  // (their fds count against the limit), and its TIME_WAIT sockets must
  // not hold the ephemeral ports tens of thousands of new connects to the
  // same two ports need (both bounded).
  WaitQuiet(agents);
  const std::string cache_root =
      absl::StrCat(FLAGS_tmpfs_dir, "/fanout_bench.", getpid(), ".", agents);
  if (durable) {
    BENCH_CHECK_OK(file_cache::Env::Default()->CreateDirs(cache_root));
  }
  std::vector<std::string> ports;
  for (auto& d : cluster_->main().distributors) {
    ports.push_back(std::to_string(d->port()));
  }
  std::vector<ChildProcess> children;
  for (int first = 0; first < agents; first += FLAGS_agents_per_process) {
    const int n = std::min(FLAGS_agents_per_process, agents - first);
    auto child = ChildProcess::Spawn(
        {"--role=client", "--ports=" + absl::StrJoin(ports, ","),
         absl::StrCat("--first=", first), absl::StrCat("--connections=", n),
         absl::StrCat("--connect_batch=", FLAGS_connect_batch),
         absl::StrCat("--writer_threads=", FLAGS_writer_threads),
         absl::StrCat("--write_files=", durable ? "true" : "false"),
         "--token=" + token_, "--cache_root=" + cache_root,
         "--out_dir=" + out_dir_,
         absl::StrCat("--name=", row->transport, "-", row->mode, "-", agents,
                      "-", first),
         "--tls_ca=" + tls_ca_});
    BENCH_CHECK_OK(child.status());
    children.push_back(std::move(child).value());
  }
  auto ready = AskAll(children, "connect", kPhaseTimeoutMs);
  BENCH_CHECK_OK(ready.status());
  for (auto& a : *ready) {
    row->subscribed += std::stoi(a.at(1));
    row->failed += std::stoi(a.at(2));
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));

  // The distributors' background (heartbeats of every connection, polls).
  const int64_t idle_start = NowNs();
  const double idle_cpu0 = DistributorCpu();
  std::this_thread::sleep_for(
      std::chrono::milliseconds(int64_t(FLAGS_idle_seconds * 1000)));
  const double idle_s = (NowNs() - idle_start) / 1e9;
  const double idle_rate = (DistributorCpu() - idle_cpu0) / idle_s;

  std::vector<testing::AgentHost*> real = cluster_->AllAgents();
  row->real_agents = real.size();
  auto real_cpu = [&] {
    double s = 0;
    for (auto* a : real) s += CpuSecondsOf(a->pid());
    return s;
  };
  const int64_t phase_start = NowNs();
  const double cpu0 = DistributorCpu();
  const double real_cpu0 = real_cpu();
  const uint32_t first_seq = seq_ + 1;
  for (int c = 0; c < FLAGS_changes; ++c) {
    const uint32_t seq = ++seq_;
    absl::StatusOr<int64_t> revision = Put(seq);
    BENCH_CHECK_OK(revision.status());
    auto got = AskAll(children, absl::StrCat("wait ", seq), kPhaseTimeoutMs);
    BENCH_CHECK_OK(got.status());
    int have = 0;
    for (auto& a : *got) have += std::stoi(a.at(2));
    row->missing += row->subscribed - have;
    // The real agents' files: revision checked, then their mtime.
    for (testing::AgentHost* a : real) {
      const bool cached = testing::WaitCached({a}, "bench", "hot", *revision,
                                              absl::Seconds(30));
      struct stat st;
      const std::string file =
          a->cache_dir() + "/configs/bench/hot.json";
      if (!cached || stat(file.c_str(), &st) != 0) {
        ++row->real_missing;
        continue;
      }
      const int64_t mtime =
          int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
      row->real.push_back(ClampUs(mtime - ack_real_ns_[seq]));
    }
    CollectFanout(*revision, ack_ns_[seq], row);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  row->phase_s = (NowNs() - phase_start) / 1e9;
  row->background_cpu_s = idle_rate * row->phase_s;
  row->cpu_s = DistributorCpu() - cpu0 - row->background_cpu_s;
  if (!real.empty()) {
    row->real_agent_cpu_ms =
        (real_cpu() - real_cpu0) * 1000 / (real.size() * FLAGS_changes);
  }
  for (auto& d : cluster_->main().distributors) {
    row->rss_kib = std::max(row->rss_kib, ReadProcStatusOf(d->pid()).rss_kib);
  }

  auto collect = [&](const char* command, std::vector<uint32_t>* into) {
    auto dumps = AskAll(children, command, kPhaseTimeoutMs);
    if (!dumps.ok()) return dumps.status();
    for (auto& a : *dumps) {
      const std::vector<int64_t> r = ReadRecords(a.at(1));
      for (size_t i = 0; i + 3 < r.size(); i += 4) {
        const uint32_t seq = static_cast<uint32_t>(r[i]);
        if (seq < first_seq || ack_ns_.count(seq) == 0) continue;
        into->push_back(ClampUs(r[i + 2] - ack_ns_[seq]));
      }
    }
    return absl::OkStatus();
  };
  BENCH_CHECK_OK(collect("received", &row->received));
  if (durable) {
    BENCH_CHECK_OK(collect("dump", &row->durable));
    auto errors = AskAll(children, "errors", kPhaseTimeoutMs);
    BENCH_CHECK_OK(errors.status());
    for (auto& a : *errors) row->write_errors += std::stoll(a.at(1));
  }
  for (auto& child : children) (void)child.WriteLine("quit");
  children.clear();
  if (durable) RemoveScratchDir(cache_root);

  // The floor: the same bytes to as many sockets, in this run.
  const int64_t deliveries = std::max<int64_t>(1, row->deliveries);
  row->socket_bytes = SocketBytes(
      static_cast<size_t>(row->payload_bytes / deliveries), !tls_ca_.empty());
  // As many sockets as deliveries per change, within one process's fds.
  row->floor_sockets = static_cast<int>(std::min<int64_t>(
      deliveries / std::max(1, FLAGS_changes), fd_limit_ - 512));
  RunFloor(row->floor_sockets, row->socket_bytes, row);
  return 0;
}

int Driver::Run() {
  load::RaiseFdLimit();
  if (FLAGS_mandator_binary.empty() || FLAGS_distributor_binary.empty() ||
      (FLAGS_real_agents > 0 && FLAGS_agent_binary.empty())) {
    LOG(ERROR) << "--mandator_binary, --distributor_binary and (with real "
                  "agents) --agent_binary are required";
    return 1;
  }
  {
    // 25,000 connections per distributor need more than the usual hard
    // limit; a process with CAP_SYS_RESOURCE may raise it (the daemons
    // inherit it). The table names the limit in force.
    rlimit limit;
    getrlimit(RLIMIT_NOFILE, &limit);
    const rlim_t want = 262144;
    if (limit.rlim_max < want) {
      rlimit raised{want, want};
      if (setrlimit(RLIMIT_NOFILE, &raised) != 0) {
        LOG(WARNING) << "fd limit stays " << limit.rlim_max
                     << " (no CAP_SYS_RESOURCE)";
      }
    }
    getrlimit(RLIMIT_NOFILE, &limit);
    fd_limit_ = static_cast<int64_t>(limit.rlim_cur);
  }
  out_dir_ = FLAGS_out_dir;
  if (out_dir_.empty()) {
    char templ[] = "/tmp/fanout_bench.XXXXXX";
    if (mkdtemp(templ) == nullptr) return 1;
    out_dir_ = templ;
  }
  std::vector<Row> rows;
  std::vector<std::pair<std::string, std::string>> builds;  // binary, label
  if (!FLAGS_baseline_distributor_binary.empty()) {
    builds.emplace_back(FLAGS_baseline_distributor_binary, ", baseline");
  }
  builds.emplace_back(FLAGS_distributor_binary, "");
  for (absl::string_view transport : absl::StrSplit(FLAGS_transports, ',')) {
   for (const auto& [distributor_binary, build_label] : builds) {
    const bool tls = transport == "tls";
    if (!tls && transport != "plain") {
      LOG(ERROR) << "--transports: tls or plain, not " << transport;
      return 1;
    }
    testing::CacheTierClusterOptions options;
    options.dcs.base_dir = out_dir_;
    options.dcs.tls = tls;
    options.dcs.slave_dcs = 0;
    options.dcs.mandators_per_dc = 1;
    options.dcs.mandator_binary = FLAGS_mandator_binary;
    options.distributor_binary = distributor_binary;
    options.agent_binary = FLAGS_agent_binary;
    options.distributors_per_dc = FLAGS_distributors;
    options.agents_per_dc = FLAGS_real_agents;
    options.agent_test_intervals = false;  // production intervals
    // Simulated agents all connect from 127.0.0.1: no per-address cap.
    // A child process connects all its agents before it subscribes them,
    // which takes longer than the first-frame and trust deadlines at
    // tens of thousands of TLS agents (real agents subscribe at once).
    options.distributor_flags = {"--poll_interval_ms=5000",
                                 "--max_connections_per_peer=0",
                                 "--first_frame_timeout_ms=300000",
                                 "--trust_timeout_ms=300000"};
    auto cluster = testing::CacheTierCluster::Start(options);
    BENCH_CHECK_OK(cluster.status());
    cluster_ = std::move(cluster).value();
    tls_ca_ = tls ? cluster_->dcs().tls().ca() : "";
    auto token = file_cache::Env::Default()->ReadFile(cluster_->token_file());
    BENCH_CHECK_OK(token.status());
    token_ = std::string(absl::StripTrailingAsciiWhitespace(*token));
    testing::MandatorProcess* leader =
        testing::WaitLeader(cluster_->dcs().main(), absl::Seconds(60));
    if (leader == nullptr) {
      LOG(ERROR) << "no leader";
      return 1;
    }
    leader_ = leader->http_address();
    absl::StatusOr<int64_t> first = Put(++seq_);  // the key exists
    BENCH_CHECK_OK(first.status());
    for (testing::AgentHost* a : cluster_->AllAgents()) {
      BENCH_CHECK_OK(a->Subscribe(testing::ConfigSubscription({{"bench", "hot"}})));
    }
    if (!testing::WaitCached(cluster_->AllAgents(), "bench", "hot", *first,
                             absl::Seconds(60))) {
      LOG(ERROR) << "the real agents did not cache the key";
      return 1;
    }
    for (int n : ParseList(FLAGS_agents)) {
      for (absl::string_view mode : absl::StrSplit(FLAGS_modes, ',')) {
        rows.emplace_back();
        rows.back().transport = tls ? "TLS" : "plaintext";
        rows.back().label = build_label;
        if (Measure(n, mode == "durable", &rows.back()) != 0) return 1;
      }
    }
    cluster_.reset();
   }  // builds
  }
  if (FLAGS_out_dir.empty()) RemoveScratchDir(out_dir_);

  int status = 0;
  std::ostringstream t;
  t << SetupTableHead("every process below shares them");
  t << "| DC | 1 ZooKeeper server (3.8, standalone), 1 `mandator`, "
    << FLAGS_distributors
    << " `distributor` processes (`-c opt`, 2 loops each, "
       "--poll_interval_ms=5000), "
    << FLAGS_real_agents
    << " real `agent` processes (production intervals, spread over the "
       "distributors by the agents' own choice) subscribed to the key |\n";
  t << "| agents | simulated, " << FLAGS_agents_per_process
    << " per child process (one transport connection each, 1 event-loop "
       "thread), agent g on distributor g % "
    << FLAGS_distributors
    << "; receive: the push's arrival on the loop is stamped, nothing "
       "written; durable: also written with the real `model/file_cache` "
       "writer on "
    << FLAGS_writer_threads << " threads (temp file, fsync, rename, fsync "
    << "dir) into " << FLAGS_tmpfs_dir << " |\n";
  t << "| changes | " << FLAGS_changes << " per row, one at a time: `PUT "
    << "/api/v1/configs/bench/hot` (" << FLAGS_value_bytes
    << " B), then wait until every simulated agent has it and every real "
       "agent's file holds it, 100 ms pause |\n";
  t << "| fd limit | " << fd_limit_
    << " per process (the hard limit here; raising it needs "
       "CAP_SYS_RESOURCE): a distributor holds at most that many "
       "connections, the floor that many sockets |\n";
  t << "| floor | a child process with as many loopback TCP sockets as "
       "deliveries per change (at most the fd limit less 512; a forked "
       "drain process reads them), "
    << FLAGS_floor_rounds
    << " rounds of: the row's bytes per delivery to every socket; the "
       "sending process's CPU per send (CLOCK_PROCESS_CPUTIME_ID); io_uring: "
    << FLAGS_uring_batch
    << " IORING_OP_SEND per io_uring_enter; seal: AES-256-GCM of the same "
       "bytes, no socket |\n";
  t << "\n| transport | agents (+ real) | mode | subscribed (failed) | ack -> "
       "distributors' last frame written p50 / max ms | fan-out span "
       "(applied -> written) p50 / max ms | ack -> received p50 / p99 / "
       "max ms | ack -> file durable p50 / p99 / max ms | real agents: "
       "ack -> file p50 / p99 / max ms | missing (real) | write errors |\n";
  t << "|---|---:|---|---|---|---|---|---|---|---|---:|\n";
  std::string capped;
  auto two = [](std::vector<uint32_t> v) {
    if (v.empty()) return std::string("-");
    std::sort(v.begin(), v.end());
    return absl::StrCat(Ms(Percentile(v, 50)), " / ", Ms(Percentile(v, 100)));
  };
  for (const Row& r : rows) {
    t << "| " << r.transport << r.label << " | " << WithCommas(r.agents)
      << " (+" << r.real_agents << ") | " << r.mode << " | "
      << WithCommas(r.subscribed) << " (" << r.failed << ") | "
      << two(r.to_written) << " | " << two(r.span) << " | "
      << LatencyCell(r.received) << " | " << LatencyCell(r.durable) << " | "
      << LatencyCell(r.real) << " | " << r.missing << " (" << r.real_missing
      << ") | " << r.write_errors << " |\n";
    if (r.asked > 0) {
      capped = absl::StrCat(capped, "\n", WithCommas(r.asked),
                            " agents were asked for; ", WithCommas(r.agents),
                            " fit: each distributor holds at most ", fd_limit_,
                            " - 300 connections (its fd limit) with ",
                            FLAGS_distributors, " distributors and ",
                            FLAGS_real_agents, " real agents.\n");
    }
    if (r.missing != 0 || r.real_missing != 0 || r.write_errors != 0 ||
        r.failed != 0) {
      status = 2;
    }
  }
  t << capped;
  t << "\nCost per delivery, distributors against the floor of the same "
       "run (same bytes, same number of sockets):\n\n";
  t << "| transport | agents (+ real) | mode | deliveries | distributor CPU "
       "per delivery (all, background removed) | background CPU in the "
       "phase | socket bytes per delivery (payload) | floor sockets | "
       "floor: sendmsg per send | floor: io_uring per send | floor: "
       "AES-256-GCM seal | kess / floor | real agent CPU per change | "
       "distributor RSS (largest) |\n";
  t << "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const Row& r : rows) {
    const double deliveries = std::max<int64_t>(1, r.deliveries);
    const double kess_us = r.cpu_s * 1e6 / deliveries;
    double send = 0, uring = 0, seal = 0;
    for (const FloorResult& f : r.floor) {
      if (f.method == "sendmsg") send = f.cpu_us_per_send;
      if (f.method == "io_uring") uring = f.cpu_us_per_send;
      if (f.method == "seal") seal = f.cpu_us_per_send;
    }
    const double floor = send + (r.transport == "TLS" ? seal : 0);
    auto us = [](double v) {
      return v > 0 ? absl::StrFormat("%.2f us", v) : std::string("-");
    };
    t << "| " << r.transport << r.label << " | " << WithCommas(r.agents)
      << " (+" << r.real_agents << ") | " << r.mode << " | "
      << WithCommas(r.deliveries) << " | " << us(kess_us) << " | "
      << absl::StrFormat("%.2f s", r.background_cpu_s) << " | "
      << absl::StrFormat("%d (%.0f)", r.socket_bytes,
                         r.payload_bytes / deliveries)
      << " | " << WithCommas(r.floor_sockets) << " | "
      << (r.floor_error.empty() ? us(send) : r.floor_error) << " | "
      << us(uring) << " | " << us(seal) << " | "
      << (floor > 0 ? absl::StrFormat("%.1f x", kess_us / floor)
                    : std::string("-"))
      << " | "
      << (r.real_agents > 0 ? absl::StrFormat("%.2f ms", r.real_agent_cpu_ms)
                            : std::string("-"))
      << " | " << r.rss_kib / 1024 << " MiB |\n";
  }
  t << "\nDistributor CPU per delivery: the distributors' utime + stime "
       "(/proc) over the changes phase, less their background rate (every "
       "connection's heartbeats, polls) measured over "
    << FLAGS_idle_seconds
    << " s just before, divided by the frames they reported pushing "
       "(/api/v1/status last_fanout). Socket bytes: one kess.Update frame "
       "of the measured payload (the transport's header and envelope) plus, "
       "with TLS, a TLS 1.3 record's 22 bytes; the floor sends exactly "
       "that. kess / floor: "
       "distributor CPU per delivery over the floor's sendmsg per send "
       "(plus the AES-GCM seal with TLS). On loopback the receiving "
       "side's TCP work runs in the sender's system call, for the floor as "
       "for the distributors. Real agent CPU: the real agents' utime + "
       "stime over the phase per agent per change (heartbeats included).\n";
  std::cout << t.str();
  return status;
}

}  // namespace
}  // namespace bench
}  // namespace kess

int main(int argc, char** argv) {
  kess::InitProcess(&argc, &argv,
                    "bench: the distributors' fan-out against the floor");
  if (FLAGS_role == "floor") {
    kess::bench::FloorOptions options;
    options.connections = FLAGS_connections;
    options.bytes = FLAGS_bytes;
    options.rounds = FLAGS_floor_rounds;
    options.uring_batch = FLAGS_uring_batch;
    options.methods = absl::StrSplit(FLAGS_floor_methods, ',',
                                     absl::SkipEmpty());
    return kess::bench::RunFloorProcess(options);
  }
  if (FLAGS_role == "client") {
    kess::bench::PropagationClientOptions options;
    for (absl::string_view p : absl::StrSplit(FLAGS_ports, ',')) {
      int port = 0;
      if (absl::SimpleAtoi(p, &port)) options.ports.push_back(port);
    }
    if (options.ports.empty()) {
      LOG(ERROR) << "--ports needs at least one port";
      return 1;
    }
    options.round_robin_ports = true;
    options.write_files = FLAGS_write_files;
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
