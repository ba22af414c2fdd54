// bench/zk_watch_bench: the baseline kess is compared with (in
// "Propagation, side by side"). N clients watch one node directly in ONE
// real ZooKeeper server (tests/harness ZkEnsemble, standalone): one session
// each (the ZK C client, libzookeeper_mt), a data watch re-armed after every
// event by reading the node again (zoo_awget), as a real client does. A
// writer session sets the node --changes times, one at a time; per change
// and watcher it measures the set's ack -> the watcher's read of the new
// data completed, as p50/p99/max, plus the server's CPU per change and RSS
// (/proc of its pid) and its packets received per change (mntr).
//
// Sessions live in child processes (copies of this binary, --role=client),
// --sessions_per_process each, opened in batches of --connect_batch.
// libzookeeper_mt makes 2 threads per handle and pid_max is 32,768, so a
// client stops opening sessions (and says so) when the machine's thread
// count would come within --thread_margin of pid_max, instead of starving
// every other process on the host of pids. Prints a Markdown table.
#include <unistd.h>
#include <zookeeper/zookeeper.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "bench/transport_bench_util.h"
#include "common/init.h"
#include "common/testing/wait_for.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "tests/harness/zk_ensemble.h"
#include "tests/load/load_util.h"

DEFINE_string(role, "driver", "driver (the benchmark) or client (internal)");
DEFINE_string(watchers, "100,1000,10000", "watcher counts, one row each");
DEFINE_int32(changes, 20, "changes per row");
DEFINE_int32(value_bytes, 256, "bytes per value");
DEFINE_int32(sessions_per_process, 2500, "ZK sessions per child process");
DEFINE_int32(connect_batch, 250, "sessions opened at once per process");
DEFINE_int32(session_timeout_ms, 30000, "requested session timeout");
DEFINE_int32(thread_margin, 2500,
             "stop opening sessions when the host's thread count would come "
             "this close to pid_max");
DEFINE_string(out_dir, "", "scratch directory (default: a new one in /tmp)");
// Client role only.
DEFINE_string(zk, "", "client: ZooKeeper connect string");
DEFINE_int32(sessions, 0, "client: sessions in this process");
DEFINE_string(name, "0", "client: name of this process");
DEFINE_int32(seq_base, 0, "client: the first change's sequence number");

namespace kess {
namespace bench {

using ::kess::testing::WaitFor;
using load::CpuSecondsOf;
using load::NowNs;
using load::RaiseFdLimit;
using load::ReadProcStatusOf;
using load::ServeLineCommands;

namespace {

constexpr char kPath[] = "/zk_watch_bench";
constexpr int64_t kPhaseTimeoutMs = 600000;

std::string Ms(double us) { return absl::StrFormat("%.1f", us / 1000.0); }

// Leading decimal number of a value ("17 xxxx..." -> 17).
int ParseSeq(const char* data, int len) {
  int seq = 0;
  for (int i = 0; i < len && data[i] >= '0' && data[i] <= '9'; ++i) {
    seq = seq * 10 + (data[i] - '0');
  }
  return seq;
}

std::string Value(int seq) {
  std::string v = absl::StrCat(seq, " ");
  v.resize(std::max<size_t>(v.size(), FLAGS_value_bytes), 'x');
  return v;
}

// Threads on the host (4th field of /proc/loadavg: running/total).
int HostThreads() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c, d;
  in >> a >> b >> c >> d;
  int total = 0;
  auto slash = d.find('/');
  if (slash != std::string::npos) absl::SimpleAtoi(d.substr(slash + 1), &total);
  return total;
}

int PidMax() {
  std::ifstream in("/proc/sys/kernel/pid_max");
  int v = 32768;
  in >> v;
  return v;
}

// ---- client role ----

struct Session {
  zhandle_t* zh = nullptr;
  std::atomic<bool> connected{false};
  std::atomic<int> seq{-1};  // newest value read
  std::vector<int64_t>* times = nullptr;  // [seq] -> ns the read completed
};

void OnData(int rc, const char* value, int len, const struct Stat*,
            const void* ctx);

void OnWatch(zhandle_t* zh, int type, int state, const char*, void* ctx) {
  auto* s = static_cast<Session*>(ctx);
  if (type == ZOO_SESSION_EVENT) {
    if (state == ZOO_CONNECTED_STATE) s->connected = true;
    return;
  }
  if (type == ZOO_CHANGED_EVENT) {
    // Read the new data and re-arm the watch in one call.
    zoo_awget(zh, kPath, OnWatch, s, OnData, s);
  }
}

void OnData(int rc, const char* value, int len, const struct Stat*,
            const void* ctx) {
  auto* s = static_cast<Session*>(const_cast<void*>(ctx));
  if (rc != ZOK || value == nullptr) return;
  const int64_t now = NowNs();
  const int seq = ParseSeq(value, len);
  const int i = seq - FLAGS_seq_base;
  if (i >= 0 && i < static_cast<int>(s->times->size()) && (*s->times)[i] == 0) {
    (*s->times)[i] = now;
  }
  int old = s->seq.load();
  while (seq > old && !s->seq.compare_exchange_weak(old, seq)) {
  }
}

int RunClient() {
  RaiseFdLimit();
  zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
  const int n = FLAGS_sessions;
  std::vector<std::unique_ptr<Session>> sessions;
  std::vector<std::vector<int64_t>> times(n);
  std::string limit_reason = "-";
  int failed = 0;
  auto connect = [&]() {
    const int pid_max = PidMax();
    for (int first = 0; first < n && limit_reason == "-";
         first += FLAGS_connect_batch) {
      const int batch = std::min(FLAGS_connect_batch, n - first);
      const int threads = HostThreads();
      if (threads + 2 * batch > pid_max - FLAGS_thread_margin) {
        limit_reason = absl::StrCat("host threads ", threads, " + ",
                                    2 * batch, " > pid_max ", pid_max, " - ",
                                    FLAGS_thread_margin);
        break;
      }
      const size_t begin = sessions.size();
      for (int i = 0; i < batch; ++i) {
        auto s = std::make_unique<Session>();
        const int index = first + i;
        times[index].assign(FLAGS_changes + 2, 0);
        s->times = &times[index];
        s->zh = zookeeper_init(FLAGS_zk.c_str(), OnWatch,
                               FLAGS_session_timeout_ms, nullptr, s.get(), 0);
        if (s->zh == nullptr) {
          limit_reason = absl::StrCat("zookeeper_init: ", strerror(errno));
          break;
        }
        sessions.push_back(std::move(s));
      }
      WaitFor(
          [&] {
            for (size_t i = begin; i < sessions.size(); ++i) {
              if (!sessions[i]->connected) return false;
            }
            return true;
          },
          absl::Seconds(60));
      for (size_t i = begin; i < sessions.size(); ++i) {
        Session* s = sessions[i].get();
        if (!s->connected) {
          ++failed;
          continue;
        }
        zoo_awget(s->zh, kPath, OnWatch, s, OnData, s);
      }
      WaitFor(
          [&] {
            for (size_t i = begin; i < sessions.size(); ++i) {
              if (sessions[i]->connected && sessions[i]->seq < 0) return false;
            }
            return true;
          },
          absl::Seconds(60));
    }
    int watching = 0;
    for (auto& s : sessions) watching += s->seq >= 0 ? 1 : 0;
    return absl::StrCat("ready ", watching, " ", n - watching, " ",
                        absl::StrReplaceAll(limit_reason, {{" ", "_"}}));
  };
  ServeLineCommands([&](const std::string& command, std::istream& in) {
    if (command == "connect") return connect();
    if (command == "wait") {
      int seq = 0;
      in >> seq;
      auto count = [&] {
        int have = 0;
        for (auto& s : sessions) have += s->seq >= seq ? 1 : 0;
        return have;
      };
      int watching = 0;
      for (auto& s : sessions) watching += s->seq >= 0 ? 1 : 0;
      WaitFor([&] { return count() >= watching; }, absl::Seconds(30));
      return absl::StrCat("have ", seq, " ", count());
    }
    if (command == "dump") {
      // seq ns pairs, binary int64, one file per process.
      const std::string path =
          absl::StrCat(FLAGS_out_dir, "/times.", FLAGS_name);
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      for (auto& s : sessions) {
        for (size_t i = 0; i < s->times->size(); ++i) {
          int64_t rec[2] = {static_cast<int64_t>(i + FLAGS_seq_base),
                            (*s->times)[i]};
          if (rec[1] != 0) out.write(reinterpret_cast<char*>(rec), sizeof(rec));
        }
      }
      return absl::StrCat("dumped ", path);
    }
    return std::string();
  });
  // Close sessions in a few threads: each close waits for the server.
  std::atomic<size_t> next{0};
  std::vector<std::thread> closers;
  for (int t = 0; t < 8; ++t) {
    closers.emplace_back([&] {
      for (size_t i; (i = next++) < sessions.size();) {
        zookeeper_close(sessions[i]->zh);
      }
    });
  }
  for (auto& t : closers) t.join();
  return 0;
}

// ---- driver ----

struct Row {
  int watchers = 0;
  int processes = 0;
  int watching = 0;
  int failed = 0;
  std::string limit = "-";
  double connect_s = 0;
  std::vector<uint32_t> latency;  // us
  std::vector<uint32_t> from_sent;  // us, from the zoo_set call
  std::vector<uint32_t> last;     // slowest watcher per change, us
  std::vector<uint32_t> set_ack;  // zoo_set call, us
  int64_t missing = 0;
  int64_t negative = 0;
  double cpu_per_change_ms = 0;
  double cpu_busy = 0;  // server CPU seconds / wall seconds during changes
  int64_t rss_idle_kib = 0;
  int64_t rss_kib = 0;
  double packets_per_change = 0;
  int host_threads = 0;
};

int64_t PacketsReceived(const testing::ZkEnsemble& zk) {
  return zk.MntrValue(0, "zk_packets_received").value_or(0);
}

class Driver {
 public:
  int Run();

 private:
  int Measure(int watchers, Row* row);

  std::unique_ptr<testing::ZkEnsemble> zk_;
  zhandle_t* writer_ = nullptr;
  pid_t server_pid_ = -1;
  std::string out_dir_;
  int seq_ = 0;
};

int Driver::Measure(int watchers, Row* row) {
  row->watchers = watchers;
  std::vector<ChildProcess> children;
  for (int first = 0; first < watchers; first += FLAGS_sessions_per_process) {
    const int n = std::min(FLAGS_sessions_per_process, watchers - first);
    auto child = ChildProcess::Spawn(
        {"--role=client", "--zk=" + zk_->ConnectString(),
         absl::StrCat("--sessions=", n),
         absl::StrCat("--changes=", FLAGS_changes),
         absl::StrCat("--seq_base=", seq_ + 1),
         absl::StrCat("--connect_batch=", FLAGS_connect_batch),
         absl::StrCat("--session_timeout_ms=", FLAGS_session_timeout_ms),
         absl::StrCat("--thread_margin=", FLAGS_thread_margin),
         "--out_dir=" + out_dir_, absl::StrCat("--name=", watchers, "-", first)});
    BENCH_CHECK_OK(child.status());
    children.push_back(std::move(child).value());
  }
  row->processes = children.size();
  // Processes connect one after another: the thread check of each sees
  // the threads of the ones before.
  const int64_t connect_start = NowNs();
  for (auto& child : children) {
    BENCH_CHECK_OK(child.WriteLine("connect"));
    auto line = child.ReadLine(kPhaseTimeoutMs);
    if (!line.ok()) {
      row->limit = absl::StrCat("client process died: ", line.status().message());
      break;
    }
    std::vector<std::string> w = absl::StrSplit(*line, ' ');
    if (w.size() < 4 || w[0] != "ready") {
      row->limit = "bad answer: " + *line;
      break;
    }
    row->watching += std::stoi(w[1]);
    row->failed += std::stoi(w[2]);
    if (w[3] != "-") {
      row->limit = absl::StrReplaceAll(w[3], {{"_", " "}});
      break;
    }
  }
  row->connect_s = (NowNs() - connect_start) / 1e9;
  row->host_threads = HostThreads();
  if (row->limit != "-") {
    // Keep only the processes that answered; the rest hold no sessions.
    LOG(WARNING) << "stopped opening sessions at " << row->watching << ": "
                 << row->limit;
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  row->rss_idle_kib = ReadProcStatusOf(server_pid_).rss_kib;

  std::vector<int64_t> ack_ns(seq_ + FLAGS_changes + 2, 0);
  std::vector<int64_t> sent_ns(ack_ns.size(), 0);
  const int first_seq = seq_ + 1;
  const int64_t p0 = PacketsReceived(*zk_);
  const double cpu0 = CpuSecondsOf(server_pid_);
  const int64_t t0 = NowNs();
  for (int c = 0; c < FLAGS_changes; ++c) {
    const int seq = ++seq_;
    const std::string v = Value(seq);
    const int64_t sent = NowNs();
    sent_ns[seq] = sent;
    const int rc = zoo_set(writer_, kPath, v.data(), v.size(), -1);
    ack_ns[seq] = NowNs();
    row->set_ack.push_back((ack_ns[seq] - sent) / 1000);
    if (rc != ZOK) {
      LOG(ERROR) << "zoo_set: " << zerror(rc);
      return 1;
    }
    int have = 0;
    for (auto& child : children) {
      if (!child.WriteLine(absl::StrCat("wait ", seq)).ok()) continue;
      auto line = child.ReadLine(kPhaseTimeoutMs);
      if (!line.ok()) continue;
      std::vector<std::string> w = absl::StrSplit(*line, ' ');
      if (w.size() == 3) have += std::stoi(w[2]);
    }
    row->missing += row->watching - have;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const double wall = (NowNs() - t0) / 1e9;
  const double cpu = CpuSecondsOf(server_pid_) - cpu0;
  row->cpu_per_change_ms = cpu * 1000 / FLAGS_changes;
  row->cpu_busy = cpu / wall;
  row->packets_per_change =
      double(PacketsReceived(*zk_) - p0) / FLAGS_changes;
  row->rss_kib = ReadProcStatusOf(server_pid_).rss_kib;

  std::vector<uint32_t> slowest(ack_ns.size(), 0);
  for (auto& child : children) {
    if (!child.WriteLine("dump").ok()) continue;
    auto line = child.ReadLine(kPhaseTimeoutMs);
    if (!line.ok()) continue;
    std::vector<std::string> w = absl::StrSplit(*line, ' ');
    if (w.size() != 2) continue;
    std::ifstream in(w[1], std::ios::binary);
    for (int64_t rec[2]; in.read(reinterpret_cast<char*>(rec), sizeof(rec));) {
      const int64_t seq = rec[0];
      if (seq < first_seq || seq >= static_cast<int64_t>(ack_ns.size()) ||
          ack_ns[seq] == 0) {
        continue;
      }
      int64_t us = (rec[1] - ack_ns[seq]) / 1000;
      if (us < 0) {
        ++row->negative;
        us = 0;
      }
      row->latency.push_back(us);
      row->from_sent.push_back((rec[1] - sent_ns[seq]) / 1000);
      slowest[seq] = std::max<uint32_t>(slowest[seq], us);
    }
  }
  for (int s = first_seq; s <= seq_; ++s) row->last.push_back(slowest[s]);
  std::sort(row->latency.begin(), row->latency.end());
  std::sort(row->from_sent.begin(), row->from_sent.end());
  std::sort(row->last.begin(), row->last.end());
  std::sort(row->set_ack.begin(), row->set_ack.end());
  for (auto& child : children) (void)child.WriteLine("quit");
  children.clear();  // waits for every session to be closed
  return 0;
}

int Driver::Run() {
  RaiseFdLimit();
  zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
  out_dir_ = FLAGS_out_dir;
  if (out_dir_.empty()) {
    char templ[] = "/tmp/zk_watch_bench.XXXXXX";
    if (mkdtemp(templ) == nullptr) return 1;
    out_dir_ = templ;
  }
  testing::ZkEnsembleOptions options;
  options.name = "zkwatch";
  options.base_dir = out_dir_;
  options.tick_ms = 2000;  // session timeouts up to 40 s: no expiry storms
  options.jvm_flags = {"-Xmx1g"};
  auto zk = testing::ZkEnsemble::Start(options);
  BENCH_CHECK_OK(zk.status());
  zk_ = std::move(zk).value();
  server_pid_ = zk_->ServerPid(0);
  if (server_pid_ < 0) LOG(WARNING) << "ZooKeeper's pid not found";

  std::atomic<bool> connected{false};
  writer_ = zookeeper_init(
      zk_->ConnectString().c_str(),
      [](zhandle_t*, int type, int state, const char*, void* ctx) {
        if (type == ZOO_SESSION_EVENT && state == ZOO_CONNECTED_STATE) {
          static_cast<std::atomic<bool>*>(ctx)->store(true);
        }
      },
      FLAGS_session_timeout_ms, nullptr, &connected, 0);
  if (writer_ == nullptr ||
      !WaitFor([&] { return connected.load(); }, absl::Seconds(30))) {
    LOG(ERROR) << "writer could not connect";
    return 1;
  }
  const std::string v0 = Value(0);
  int rc = zoo_create(writer_, kPath, v0.data(), v0.size(),
                      &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);
  if (rc != ZOK) {
    LOG(ERROR) << "zoo_create: " << zerror(rc);
    return 1;
  }

  std::vector<Row> rows;
  int status = 0;
  for (absl::string_view s : absl::StrSplit(FLAGS_watchers, ',', absl::SkipEmpty())) {
    int n = 0;
    if (!absl::SimpleAtoi(s, &n) || n <= 0) continue;
    Row row;
    if (Measure(n, &row) != 0) status = 2;
    rows.push_back(std::move(row));
    // Let the closed sessions' threads disappear before the next row.
    std::this_thread::sleep_for(std::chrono::seconds(2));
  }
  zookeeper_close(writer_);

  std::ostringstream t;
  t << SetupTableHead(
      "every process below shares them; a shared, busy machine: figures are "
      "noisy");
  t << "| server | 1 ZooKeeper server (3.8, standalone, tickTime 2000 ms, "
       "-Xmx1g, maxClientCnxns=0) on 127.0.0.1 |\n";
  t << "| watchers | one ZK C client session each (libzookeeper_mt: 2 "
       "threads per handle), "
    << FLAGS_sessions_per_process
    << " per child process, opened in batches of " << FLAGS_connect_batch
    << "; each keeps a data watch on one node, re-armed after every event "
       "by reading the node (zoo_awget) |\n";
  t << "| changes | " << FLAGS_changes << " per row, one at a time: zoo_set "
    << "of " << FLAGS_value_bytes
    << " B by a separate writer session, then wait until every watcher read "
       "it, 100 ms pause |\n";
  t << "| latency | zoo_set returned (the ack) -> the watcher's read of the "
       "new data completed; CLOCK_MONOTONIC across processes |\n";
  t << "\n| watchers | processes | watching (failed) | stopped because | "
       "connect s | p50 / p99 / max ms | from set sent p50 / p99 / max ms | last watcher per change p50 / max "
       "ms | set ack p50 / max ms | ZK CPU per change | ZK CPU busy | ZK RSS "
       "idle / after | ZK packets per change | host threads | missing |\n";
  t << "|---:|---:|---|---|---:|---|---|---|---|---:|---:|---|---:|---:|---:|\n";
  for (const Row& r : rows) {
    auto lat = [](const std::vector<uint32_t>& v) {
      return absl::StrCat(Ms(Percentile(v, 50)), " / ", Ms(Percentile(v, 99)),
                          " / ", Ms(Percentile(v, 100)));
    };
    t << "| " << WithCommas(r.watchers) << " | " << r.processes << " | "
      << WithCommas(r.watching) << " (" << r.failed << ") | " << r.limit
      << " | " << absl::StrFormat("%.1f", r.connect_s) << " | "
      << lat(r.latency) << " | " << lat(r.from_sent) << " | "
      << Ms(Percentile(r.last, 50)) << " / "
      << Ms(Percentile(r.last, 100)) << " | " << Ms(Percentile(r.set_ack, 50))
      << " / " << Ms(Percentile(r.set_ack, 100)) << " | "
      << absl::StrFormat("%.1f ms", r.cpu_per_change_ms) << " | "
      << absl::StrFormat("%.0f %%", r.cpu_busy * 100) << " | "
      << r.rss_idle_kib / 1024 << " / " << r.rss_kib / 1024 << " MiB | "
      << absl::StrFormat("%.0f", r.packets_per_change) << " | "
      << WithCommas(r.host_threads) << " | " << r.missing << " |\n";
    if (r.missing != 0 || r.failed != 0 || r.limit != "-") status = 2;
  }
  int64_t negative = 0;
  for (const Row& r : rows) negative += r.negative;
  t << "\nEvery watcher costs the server a read per change (packets per "
       "change grow with N: the event, then zoo_awget's read and re-arm). "
       "\"Stopped because\": a client process refuses to open more sessions "
       "when the host's threads would come within "
    << FLAGS_thread_margin
    << " of pid_max (2 threads per handle; exhausting pids would break every "
       "other process on the host), and a row whose sessions all connect "
       "says \"-\". ZK CPU busy is the server's CPU seconds per wall second "
       "during the changes (200 % = both cores). Reads that completed "
       "before the writer saw its ack were counted as 0 ms: "
    << WithCommas(negative) << ".\n";
  std::cout << t.str();
  return status;
}

}  // namespace
}  // namespace bench
}  // namespace kess

int main(int argc, char** argv) {
  kess::InitProcess(&argc, &argv,
                    "bench: N clients watching one ZooKeeper node directly");
  if (FLAGS_role == "client") return kess::bench::RunClient();
  return kess::bench::Driver().Run();
}
