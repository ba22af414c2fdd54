// bench/transport_bench: 10,000 concurrent connections to one transport
// Server. The server lives in this process; the clients live in child
// processes (a copy of this binary started with --role=client), because one
// process may hold only 20,000 fds. Prints a Markdown table. See README.md.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/transport_bench_util.h"
#include "common/init.h"
#include "common/metrics.h"
#include "common/transport/server.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "tests/load/load_util.h"
#include "tests/load/transport_load_client.h"

DEFINE_string(role, "server", "server (the benchmark) or client (internal)");
DEFINE_int32(connections, 10000, "total client connections");
DEFINE_int32(client_processes, 2, "client processes sharing --connections");
DEFINE_int32(connect_batch, 500, "connects in flight per client process");
DEFINE_int32(server_loops, 2, "server event-loop threads");
DEFINE_double(rpc_seconds, 10, "closed-loop request/response phase length");
DEFINE_int32(rpc_bytes, 64, "request and response payload bytes");
DEFINE_int32(serial_calls, 2000, "calls of the unloaded latency phase");
DEFINE_int32(push_rounds, 20, "broadcasts to all connections");
DEFINE_int32(push_bytes, 256, "push payload bytes");
DEFINE_string(out_dir, "", "scratch directory (default: a new one in /tmp)");
// Client role only.
DEFINE_int32(port, 0, "client role: server port");
DEFINE_string(name, "0", "client role: name of this client process");

namespace kess {
namespace bench {

using load::NowNs;
using load::ProcStatus;
using load::RaiseFdLimit;
using load::ReadProcStatus;

namespace {

constexpr int64_t kPhaseTimeoutMs = 180000;

std::vector<uint32_t> ReadRaw(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  std::vector<uint32_t> values(static_cast<size_t>(in.tellg()) /
                               sizeof(uint32_t));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(values.data()),
          values.size() * sizeof(uint32_t));
  return values;
}

std::string Ms(double us) { return absl::StrFormat("%.2f ms", us / 1000.0); }

int RunServer() {
  RaiseFdLimit();
  std::string out_dir = FLAGS_out_dir;
  if (out_dir.empty()) {
    char templ[] = "/tmp/transport_bench.XXXXXX";
    if (mkdtemp(templ) == nullptr) {
      PLOG(ERROR) << "mkdtemp";
      return 1;
    }
    out_dir = templ;
  }
  const ProcStatus before = ReadProcStatus();

  metrics::Registry registry;
  transport::ServerOptions options;
  options.registry = &registry;
  options.num_loops = FLAGS_server_loops;
  options.heartbeat_timeout = absl::Seconds(30);
  // Every simulated client is 127.0.0.1: no connection caps here.
  options.max_connections = 0;
  options.max_connections_per_peer = 0;
  transport::HandlerMap handlers;
  handlers["echo"] = [](transport::Request request,
                        transport::Responder responder) {
    responder.Respond(std::move(request.payload));
  };
  auto server = transport::Server::Create(options, std::move(handlers));
  BENCH_CHECK_OK(server.status());
  const ProcStatus idle = ReadProcStatus();

  const int per_process = FLAGS_connections / FLAGS_client_processes;
  std::vector<ChildProcess> children;
  for (int i = 0; i < FLAGS_client_processes; ++i) {
    auto child = ChildProcess::Spawn(
        {"--role=client", absl::StrCat("--port=", (*server)->port()),
         absl::StrCat("--connections=", per_process),
         absl::StrCat("--connect_batch=", FLAGS_connect_batch),
         "--out_dir=" + out_dir, absl::StrCat("--name=", i)});
    BENCH_CHECK_OK(child.status());
    children.push_back(std::move(child).value());
  }
  const int total = per_process * FLAGS_client_processes;

  // 1. Establish.
  const int64_t connect_start = NowNs();
  auto connected = AskAll(children, "connect", kPhaseTimeoutMs);
  BENCH_CHECK_OK(connected.status());
  int ok = 0, failed = 0;
  for (auto& a : *connected) {
    ok += std::stoi(a.at(1));
    failed += std::stoi(a.at(2));
  }
  for (int i = 0; i < 3000 && (*server)->connection_count() < size_t(ok); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const double connect_ms = (NowNs() - connect_start) / 1e6;
  const size_t server_connections = (*server)->connection_count();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const ProcStatus loaded = ReadProcStatus();
  LOG(INFO) << "connected " << ok << " (failed " << failed << ") in "
            << connect_ms << " ms; server sees " << server_connections;

  // 2. Closed-loop request/response.
  auto rpc =
      AskAll(children,
             absl::StrFormat("rpc %f %d", FLAGS_rpc_seconds, FLAGS_rpc_bytes),
             kPhaseTimeoutMs);
  BENCH_CHECK_OK(rpc.status());
  int64_t calls = 0, call_errors = 0, rpc_ms = 0;
  std::vector<uint32_t> rtt;
  for (auto& a : *rpc) {
    calls += std::stoll(a.at(1));
    call_errors += std::stoll(a.at(2));
    rpc_ms = std::max<int64_t>(rpc_ms, std::stoll(a.at(3)));
    std::vector<uint32_t> part = ReadRaw(a.at(4));
    rtt.insert(rtt.end(), part.begin(), part.end());
  }
  std::sort(rtt.begin(), rtt.end());
  const ProcStatus after_rpc = ReadProcStatus();

  // 3. Unloaded latency: one call at a time from the first client process.
  BENCH_CHECK_OK(children[0].WriteLine(
      absl::StrFormat("serial %d %d", FLAGS_serial_calls, FLAGS_rpc_bytes)));
  auto serial_line = children[0].ReadLine(kPhaseTimeoutMs);
  BENCH_CHECK_OK(serial_line.status());
  std::vector<uint32_t> serial;
  {
    std::istringstream in(*serial_line);
    std::string word, file;
    int64_t n, errors;
    in >> word >> n >> errors >> file;
    serial = ReadRaw(file);
    call_errors += errors;
  }
  std::sort(serial.begin(), serial.end());

  // 4. Push fan-out: one PUSH to every connection, repeated.
  int64_t push_missing = 0;
  for (int seq = 1; seq <= FLAGS_push_rounds; ++seq) {
    std::string payload = absl::StrCat(seq, " ", NowNs(), " ");
    if (payload.size() < size_t(FLAGS_push_bytes)) {
      payload.resize(FLAGS_push_bytes, 'p');
    }
    // The timestamp is taken before encoding: the figure includes it.
    BENCH_CHECK_OK((*server)->Broadcast("fanout", payload));
    auto got = AskAll(children, absl::StrCat("push ", seq), kPhaseTimeoutMs);
    BENCH_CHECK_OK(got.status());
    for (auto& a : *got) push_missing += per_process - std::stoll(a.at(2));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto dumps = AskAll(children, "push_dump", kPhaseTimeoutMs);
  BENCH_CHECK_OK(dumps.status());
  std::vector<uint32_t> deliveries;
  std::vector<uint32_t> round_max(FLAGS_push_rounds + 1, 0);
  for (auto& a : *dumps) {
    std::vector<uint32_t> pairs = ReadRaw(a.at(1));
    for (size_t i = 0; i + 1 < pairs.size(); i += 2) {
      deliveries.push_back(pairs[i + 1]);
      if (pairs[i] < round_max.size()) {
        round_max[pairs[i]] = std::max(round_max[pairs[i]], pairs[i + 1]);
      }
    }
  }
  std::sort(deliveries.begin(), deliveries.end());
  std::vector<uint32_t> rounds(round_max.begin() + 1, round_max.end());
  std::sort(rounds.begin(), rounds.end());

  for (auto& child : children) (void)child.WriteLine("quit");
  children.clear();
  server->reset();
  if (FLAGS_out_dir.empty()) RemoveScratchDir(out_dir);

  const double rps = calls / (rpc_ms / 1000.0);
  std::ostringstream t;
  t << SetupTableHead("server and clients share them");
  t << "| server | 1 process, " << FLAGS_server_loops
    << " event-loop threads, handler `echo` responds on the loop thread |\n";
  t << "| clients | " << FLAGS_client_processes << " processes x "
    << WithCommas(per_process) << " connections, 1 event-loop thread each; "
    << "connects in batches of " << FLAGS_connect_batch << " per process |\n";
  t << "| frames | request/response payload " << FLAGS_rpc_bytes
    << " B, push payload " << FLAGS_push_bytes
    << " B, plus the Frame envelope and 4-byte header |\n";
  t << "\n| figure | value |\n|---|---|\n";
  t << "| connections established | " << WithCommas(ok) << " of "
    << WithCommas(total) << " (" << failed << " failed; server counted "
    << WithCommas(server_connections) << ") |\n";
  t << "| time to establish all | " << absl::StrFormat("%.0f ms", connect_ms)
    << " |\n";
  t << "| server RSS | idle " << idle.rss_kib / 1024 << " MiB; with "
    << WithCommas(server_connections) << " connections "
    << loaded.rss_kib / 1024 << " MiB ("
    << absl::StrFormat("%.1f", (loaded.rss_kib - idle.rss_kib) /
                                   std::max<double>(1, server_connections))
    << " KiB per connection); after the RPC phase " << after_rpc.rss_kib / 1024
    << " MiB |\n";
  t << "| server threads | " << loaded.threads << " (main + "
    << FLAGS_server_loops << " loops; " << before.threads
    << " before the server started) |\n";
  t << "| round trips, closed loop (every connection 1 call in flight, "
    << FLAGS_rpc_seconds << " s) | " << WithCommas(calls) << " calls, "
    << WithCommas(static_cast<int64_t>(rps)) << " per second, " << call_errors
    << " errors |\n";
  t << "| RTT under that load p50 / p99 / max | " << Ms(Percentile(rtt, 50))
    << " / " << Ms(Percentile(rtt, 99)) << " / " << Ms(Percentile(rtt, 100))
    << " |\n";
  t << "| RTT unloaded (1 call at a time, " << serial.size()
    << " calls over the open connections) p50 / p99 | "
    << Ms(Percentile(serial, 50)) << " / " << Ms(Percentile(serial, 99))
    << " |\n";
  t << "| push fan-out, per delivery (Broadcast call to receipt; "
    << FLAGS_push_rounds << " rounds x " << WithCommas(total)
    << ") p50 / p99 / max | " << Ms(Percentile(deliveries, 50)) << " / "
    << Ms(Percentile(deliveries, 99)) << " / "
    << Ms(Percentile(deliveries, 100)) << " |\n";
  t << "| push fan-out, until the last connection got it (per round) p50 / "
       "p99 / max | "
    << Ms(Percentile(rounds, 50)) << " / " << Ms(Percentile(rounds, 99))
    << " / " << Ms(Percentile(rounds, 100)) << " |\n";
  t << "| pushes not delivered | " << push_missing << " |\n";
  std::cout << t.str();
  return (failed == 0 && push_missing == 0 && call_errors == 0) ? 0 : 2;
}

}  // namespace
}  // namespace bench
}  // namespace kess

int main(int argc, char** argv) {
  kess::InitProcess(&argc, &argv,
                    "transport_bench: 10,000 connections to one server");
  if (FLAGS_role == "client") {
    kess::load::TransportLoadClientOptions options;
    options.port = FLAGS_port;
    options.connections = FLAGS_connections;
    options.connect_batch = FLAGS_connect_batch;
    options.out_dir = FLAGS_out_dir;
    options.name = FLAGS_name;
    return kess::load::RunTransportLoadClient(options);
  }
  return kess::bench::RunServer();
}
