// bench/route_delta_bench: what one instance's change costs to deliver, as
// a route delta and as the whole table, in the same run
// (docs/route-table.md, "Deltas").
//
// A real ZooKeeper; route tables of --sizes instances written by the
// leader's own RouteStore (with the delta in each change record); TWO real
// distributor processes following it: one with --route_deltas (builds the
// version from the change records' deltas, pushes deltas to agents that ask
// for them), one with --route_deltas=false (reads every changed table from
// ZooKeeper and pushes it whole: kess before deltas). --agents simulated
// agents per distributor (one process, tests/load/simulated_agents.h)
// subscribe to every service, those of the first asking for deltas.
//
// Per size, --rounds times: one instance's weight changes; every agent of
// both distributors has the new revision before the next round. Measured
// per delivery (one resource to one agent): payload bytes pushed, and the
// distributor's CPU (its threads' time on a CPU over the round, from
// /proc/<pid>/task/*/sched: the ZooKeeper reads, the table's build and the
// fan-out included). Then, in this process, what a host spends on one delivery:
// the agent applying the delta (parse it, splice the instances, CRC-32) or
// checking a whole table (CRC-32), and the SDK parsing the file it writes (the
// same whole table either way). Prints Markdown tables. See README.md.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "bench/transport_bench_util.h"
#include "common/init.h"
#include "common/value_encoding.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "mandator/routes/route_store.h"
#include "model/file_cache/reader.h"
#include "model/file_cache/writer.h"
#include "model/protocol/distribution.pb.h"
#include "model/route_delta.h"
#include "model/route_table.h"
#include "tests/harness/daemon_process.h"
#include "tests/harness/zk_ensemble.h"
#include "tests/load/load_util.h"
#include "tests/load/simulated_agents.h"
#include "zk_schema/codec.h"
#include "zk_schema/layout.h"
#include "zk_schema/skeleton.h"
#include "zk_schema/zk_client.h"

DEFINE_string(distributor_binary, "", "path of //distributor:distributor");
DEFINE_string(sizes, "100,2000,20000", "instances per service");
DEFINE_int32(agents, 100, "simulated agents per distributor");
DEFINE_int32(rounds, 3, "one-instance changes per service");
DEFINE_int32(parse_reps, 20, "repetitions of each host-side measurement");
DEFINE_string(out_dir, "", "logs (default: a new /tmp/route_delta_bench.*)");

namespace kess {
namespace bench {
namespace {

using load::CpuSecondsOf;
using load::NowNs;

std::string Service(int size) { return absl::StrCat("svc", size); }

RouteTable MakeTable(int size) {
  RouteTable t;
  t.service = Service(size);
  for (int i = 0; i < size; ++i) {
    RouteInstance in;
    in.id = absl::StrCat(t.service, "-i", 100000 + i);
    in.host = absl::StrCat("host-", i % 500);
    in.address = absl::StrCat("127.0.", i / 250 % 250, ".", i % 250 + 1, ":",
                              8000 + i % 1000);
    in.datacenter = i % 2 ? "dc1" : "dc2";
    in.weight = 100;
    in.metadata = {{"version", "1.4.2"}, {"zone", absl::StrCat("z", i % 3)}};
    in.registered_ms = 1795314842000 + i;
    t.instances.push_back(std::move(in));
  }
  return t;
}

struct Distributor {
  std::unique_ptr<testing::DaemonProcess> daemon;
  int port = 0;
};

Distributor StartDistributor(const std::string& id, bool deltas,
                             const std::string& zk, const std::string& dir,
                             zk::ZkApi& reader, const zk::Layout& layout) {
  Distributor d;
  d.daemon = std::make_unique<testing::DaemonProcess>("distributor " + id,
                                                      dir + "/" + id + ".log");
  const absl::Status started = d.daemon->Start(
      {FLAGS_distributor_binary, "--id=" + id, "--dc=bench",
       "--insecure_plaintext",  // the simulated agents are plain
       "--zk=" + zk, "--port=0", "--http_port=0",
       absl::StrCat("--route_deltas=", deltas ? "true" : "false"),
       "--heartbeat_timeout_ms=120000", "--poll_interval_ms=5000",
       // every simulated agent connects from 127.0.0.1
       "--max_connections_per_peer=0"});
  CHECK(started.ok()) << started;
  const std::string member_path = *layout.MemberPath(zk::DISTRIBUTOR, id);
  zk::MemberInfo member;
  for (int i = 0; i < 3000; ++i) {
    absl::StatusOr<zk::GetResult> node = reader.Get(member_path);
    if (node.ok() && member.ParseFromString(node->data)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(!member.address().empty()) << id << " did not register; see " << dir;
  d.port = std::stoi(member.address().substr(member.address().rfind(':') + 1));
  return d;
}

// What the agents of one distributor received.
struct Received {
  std::atomic<int64_t> bytes{0};
  std::atomic<int64_t> deliveries{0};
  std::atomic<int64_t> delta_deliveries{0};
};

double MsSince(int64_t start_ns) { return (NowNs() - start_ns) / 1e6; }

// CPU time of every thread of `pid` in seconds, from
// /proc/<pid>/task/*/sched (se.sum_exec_runtime, ms with ns precision),
// which is far finer than utime + stime (clock ticks of 10 ms): a change
// delivered to 100 agents takes well under one tick. utime + stime when
// the kernel does not provide it.
double CpuNsSecondsOf(pid_t pid) {
  const std::string dir = absl::StrCat("/proc/", pid, "/task");
  double total_ms = 0;
  bool found = false;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    std::ifstream in(entry.path() / "sched");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("se.sum_exec_runtime", 0) != 0) continue;
      const size_t colon = line.find(':');
      double ms = 0;
      if (colon != std::string::npos &&
          absl::SimpleAtod(absl::StripAsciiWhitespace(line.substr(colon + 1)),
                           &ms)) {
        total_ms += ms;
        found = true;
      }
      break;
    }
  }
  return found ? total_ms / 1e3 : CpuSecondsOf(pid);
}

int Run() {
  std::vector<int> sizes;
  for (absl::string_view s : absl::StrSplit(FLAGS_sizes, ',')) {
    int n = 0;
    CHECK(absl::SimpleAtoi(s, &n) && n > 0) << "bad --sizes " << FLAGS_sizes;
    sizes.push_back(n);
  }
  std::string out_dir = FLAGS_out_dir;
  if (out_dir.empty()) {
    char templ[] = "/tmp/route_delta_bench.XXXXXX";
    CHECK(mkdtemp(templ) != nullptr);
    out_dir = templ;
  }

  // 1. ZooKeeper and the tables, written as the leader writes them.
  testing::ZkEnsembleOptions zk_options;
  zk_options.name = "bench";
  zk_options.base_dir = out_dir;
  zk_options.jvm_flags = testing::ZkEnsembleOptions::JvmFlags(1024);
  auto ensemble = testing::ZkEnsemble::Start(zk_options);
  BENCH_CHECK_OK(ensemble.status());
  zk::ZkClientOptions client_options;
  client_options.connect_string = (*ensemble)->ConnectString();
  auto writer = zk::ZkClient::Create(client_options);
  BENCH_CHECK_OK(writer.status());
  zk::Layout layout;
  BENCH_CHECK_OK(zk::EnsureSkeleton(**writer, layout, zk::SchemaInfo(), 10000));
  mandator::routes::RouteStore store(writer->get(), {layout, {}, "bench"});
  std::map<int, RouteTable> published;
  for (int size : sizes) {
    RouteTable table = MakeTable(size);
    absl::StatusOr<int64_t> revision = store.Put(table, "");
    BENCH_CHECK_OK(revision.status());
    table.revision = *revision;
    published[size] = std::move(table);
  }

  // 2. The two distributors.
  Distributor with_deltas = StartDistributor(
      "d-delta", true, (*ensemble)->ConnectString(), out_dir, **writer, layout);
  Distributor whole =
      StartDistributor("d-whole", false, (*ensemble)->ConnectString(), out_dir,
                       **writer, layout);

  // 3. The agents: [0, agents) at d-delta asking for deltas, the rest at
  // d-whole. latest[i][s]: the newest revision of service s agent i has.
  const int n = FLAGS_agents;
  std::vector<std::vector<std::atomic<int64_t>>> latest(2 * n);
  for (auto& row : latest) {
    row = std::vector<std::atomic<int64_t>>(sizes.size());
  }
  std::map<std::string, size_t> service_index;
  for (size_t s = 0; s < sizes.size(); ++s) {
    service_index[Service(sizes[s])] = s;
  }
  Received received[2];
  auto loop = transport::EventLoop::Create("agents");
  BENCH_CHECK_OK(loop.status());
  load::SimulatedAgents::Options agent_options;
  agent_options.connections = 2 * n;
  agent_options.port = [&](int i) {
    return i < n ? with_deltas.port : whole.port;
  };
  load::SimulatedAgents agents(
      loop->get(), agent_options, [&](int i, const std::string& payload) {
        protocol::UpdatePush push;
        if (!push.ParseFromString(payload)) return;
        Received& r = received[i < n ? 0 : 1];
        r.bytes += payload.size();
        for (const protocol::Resource& resource : push.updates()) {
          ++r.deliveries;
          if (!resource.route_delta().empty()) ++r.delta_deliveries;
          auto s = service_index.find(resource.key().service());
          if (s == service_index.end()) continue;
          std::atomic<int64_t>& at = latest[i][s->second];
          at = std::max(at.load(), resource.revision());
        }
      });
  CHECK_EQ(agents.Connect(), 2 * n);
  int64_t answer_bytes = 0;
  const int subscribed = agents.Subscribe(
      [&](int i) {
        protocol::SubscribeRequest request;
        request.set_host_id(absl::StrCat("h", i));
        request.set_route_deltas(i < n);
        for (int size : sizes) {
          protocol::Known* k = request.add_keys();
          k->mutable_key()->set_type(protocol::ResourceKey::ROUTE);
          k->mutable_key()->set_service(Service(size));
        }
        return request.SerializeAsString();
      },
      &answer_bytes);
  CHECK_EQ(subscribed, 2 * n);
  for (int i = 0; i < 2 * n; ++i) {
    for (size_t s = 0; s < sizes.size(); ++s) {
      latest[i][s] = published[sizes[s]].revision;
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));

  // 4. The rounds.
  struct Figures {
    double bytes[2] = {0, 0};
    double cpu_s[2] = {0, 0};
    double deliveries[2] = {0, 0};
    double delta_deliveries = 0;
    double round_ms = 0;
    size_t table_bytes = 0;
    size_t delta_bytes = 0;
  };
  std::map<int, Figures> figures;
  const pid_t pids[2] = {with_deltas.daemon->pid(), whole.daemon->pid()};
  for (size_t s = 0; s < sizes.size(); ++s) {
    const int size = sizes[s];
    Figures& f = figures[size];
    for (int r = 0; r < FLAGS_rounds; ++r) {
      RouteTable next = published[size];
      RouteInstance& changed = next.instances[(r * 7919) % size];
      changed.weight = changed.weight % 100 + 1;
      const int64_t bytes0[2] = {received[0].bytes, received[1].bytes};
      const int64_t del0[2] = {received[0].deliveries, received[1].deliveries};
      const int64_t delta0 = received[0].delta_deliveries;
      const double cpu0[2] = {CpuNsSecondsOf(pids[0]), CpuNsSecondsOf(pids[1])};
      const int64_t start = NowNs();
      absl::StatusOr<int64_t> revision = store.Put(next, "", &published[size]);
      BENCH_CHECK_OK(revision.status());
      next.revision = *revision;
      bool all = false;
      for (int wait = 0; wait < 120000 && !all; ++wait) {
        all = true;
        for (int i = 0; i < 2 * n && all; ++i) {
          all = latest[i][s] >= *revision;
        }
        if (!all) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      CHECK(all) << "revision " << *revision << " did not reach every agent";
      f.round_ms += MsSince(start);
      // Let the last sends and the follower's step finish before reading CPU.
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      for (int d = 0; d < 2; ++d) {
        f.bytes[d] += received[d].bytes - bytes0[d];
        f.deliveries[d] += received[d].deliveries - del0[d];
        f.cpu_s[d] += CpuNsSecondsOf(pids[d]) - cpu0[d];
      }
      f.delta_deliveries += received[0].delta_deliveries - delta0;
      f.table_bytes = RouteTableToJson(next).size();
      f.delta_bytes =
          RouteDeltaToJson(ComputeRouteDelta(published[size], next)).size();
      published[size] = std::move(next);
    }
  }

  // 5. What a host spends per delivery.
  struct HostFigures {
    double read_ms = 0;   // agent: read and verify the base's cache file
    double apply_ms = 0;  // agent: parse the delta, splice, CRC-32
    double check_ms = 0;  // agent: CRC-32 of a whole table
    double parse_ms = 0;  // SDK: parse the file's table
  };
  std::map<int, HostFigures> host;
  for (int size : sizes) {
    const RouteTable& base = published[size];
    RouteTable next = base;
    next.revision = base.revision + 1;
    next.instances[size / 2].weight = 3;
    const std::string base_json = RouteTableToJson(base);
    const std::string next_json = RouteTableToJson(next);
    const uint32_t crc = Crc32(next_json);
    const std::string delta_json =
        RouteDeltaToJson(ComputeRouteDelta(base, next));
    HostFigures& h = host[size];
    // The base as the agent holds it: its cache file.
    auto cache = file_cache::FileCacheWriter::Open({out_dir + "/cache"});
    BENCH_CHECK_OK(cache.status());
    file_cache::CacheEntry entry;
    entry.key = file_cache::CacheKey::Route(base.service);
    entry.revision = base.revision;
    entry.value = base_json;
    entry.content_type = "application/json";
    BENCH_CHECK_OK((*cache)->Write(entry).status());
    file_cache::FileCacheReader reader(out_dir + "/cache");
    for (int rep = 0; rep < FLAGS_parse_reps; ++rep) {
      int64_t t = NowNs();
      absl::StatusOr<file_cache::CacheEntry> held = reader.Read(entry.key);
      BENCH_CHECK_OK(held.status());
      CHECK_EQ(held->value, base_json);
      h.read_ms += MsSince(t);
      t = NowNs();
      absl::StatusOr<RouteDelta> delta = RouteDeltaFromJson(delta_json);
      BENCH_CHECK_OK(delta.status());
      absl::StatusOr<std::string> applied =
          ApplyRouteDeltaToJson(base_json, *delta, crc);
      BENCH_CHECK_OK(applied.status());
      h.apply_ms += MsSince(t);
      t = NowNs();
      CHECK_EQ(Crc32(next_json), crc);
      h.check_ms += MsSince(t);
      t = NowNs();
      absl::StatusOr<RouteTable> parsed = RouteTableFromJson(*applied);
      BENCH_CHECK_OK(parsed.status());
      h.parse_ms += MsSince(t);
    }
    h.read_ms /= FLAGS_parse_reps;
    h.apply_ms /= FLAGS_parse_reps;
    h.check_ms /= FLAGS_parse_reps;
    h.parse_ms /= FLAGS_parse_reps;
  }

  // 6. Tables.
  std::cout << "One instance's weight changes in a service of N instances; "
            << n << " agents on each of two distributor processes, the "
            << "first with deltas, the second with `--route_deltas=false` "
            << "(tables read and pushed whole), same ZooKeeper, same "
            << "changes; " << FLAGS_rounds << " rounds per size. A delivery "
            << "is one route table (or its delta) pushed to one agent; CPU "
            << "is the distributor process's (every thread's time on a CPU, "
            << "/proc/<pid>/task/*/sched) over the round divided by its "
            << "deliveries.\n\n";
  std::cout << "| instances | table | delta | bytes/delivery, delta | "
               "bytes/delivery, whole | ratio | distributor CPU/delivery, "
               "delta | distributor CPU/delivery, whole | ratio | "
               "deliveries as deltas |\n";
  std::cout << "|---|---|---|---|---|---|---|---|---|---|\n";
  for (int size : sizes) {
    const Figures& f = figures[size];
    const double bytes_delta = f.bytes[0] / std::max(1.0, f.deliveries[0]);
    const double bytes_whole = f.bytes[1] / std::max(1.0, f.deliveries[1]);
    const double cpu_delta = f.cpu_s[0] * 1e6 / std::max(1.0, f.deliveries[0]);
    const double cpu_whole = f.cpu_s[1] * 1e6 / std::max(1.0, f.deliveries[1]);
    std::cout << absl::StrFormat(
        "| %d | %d B | %d B | %.0f B | %.0f B | %.4f | %.1f µs | %.1f µs | "
        "%.3f | %.0f of %.0f |\n",
        size, f.table_bytes, f.delta_bytes, bytes_delta, bytes_whole,
        bytes_delta / std::max(1.0, bytes_whole), cpu_delta, cpu_whole,
        cpu_delta / std::max(1e-9, cpu_whole), f.delta_deliveries,
        f.deliveries[0]);
  }
  std::cout << "\nOn the host, per delivery (this process, averages of "
            << FLAGS_parse_reps << "): the agent with a delta parses it, "
            << "splices the text of the table it holds and checks the "
            << "CRC-32; it holds the tables it last wrote in memory (up to "
            << "32 MiB), a table beyond that is read back from its cache file "
            << "first; with the "
            << "whole table it checks the CRC-32; either way it writes the "
            << "whole table, and the SDK parses that file when it reloads.\n\n";
  std::cout << "| instances | agent: apply delta (table in memory) | "
               "agent: read the held file | agent: apply delta (table read "
               "from file) | agent: check whole table | SDK: parse the file "
               "|\n";
  std::cout << "|---|---|---|---|---|---|\n";
  for (int size : sizes) {
    const HostFigures& h = host[size];
    std::cout << absl::StrFormat(
        "| %d | %.3f ms | %.3f ms | %.3f ms | %.3f ms | %.2f ms |\n", size,
        h.apply_ms, h.read_ms, h.read_ms + h.apply_ms, h.check_ms, h.parse_ms);
  }
  return 0;
}

}  // namespace
}  // namespace bench
}  // namespace kess

int main(int argc, char** argv) {
  kess::InitProcess(&argc, &argv,
                    "route_delta_bench: one-instance changes as route deltas "
                    "and as whole tables, same run");
  return kess::bench::Run();
}
