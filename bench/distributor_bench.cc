// bench/distributor_bench: the distributor's fan-out. A real ZooKeeper with
// --keys keys of --value_bytes (plus 10 hot keys), ONE distributor process
// (the real //distributor:distributor binary), and --connections agent
// connections in child processes (copies of this binary, --role=client),
// each subscribed to the hot keys and --random_keys seeded keys. Measures
// the distributor's load time, RSS and CPU, the time for one change to
// reach every subscriber (p50/p99/max per delivery and per round), and
// sustained pushes per second. Prints a Markdown table. See README.md.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/distributor_bench_client.h"
#include "bench/transport_bench_util.h"
#include "common/init.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "mandator/core/config_store.h"
#include "tests/harness/daemon_process.h"
#include "tests/harness/zk_ensemble.h"
#include "tests/load/load_util.h"
#include "zk_schema/codec.h"
#include "zk_schema/layout.h"
#include "zk_schema/revision_log.h"
#include "zk_schema/skeleton.h"
#include "zk_schema/zk_client.h"

DEFINE_string(role, "driver", "driver (the benchmark) or client (internal)");
DEFINE_string(distributor_binary, "", "path of //distributor:distributor");
DEFINE_int32(connections, 10000, "agent connections in total");
DEFINE_int32(client_processes, 2, "processes sharing --connections");
DEFINE_int32(connect_batch, 500, "connects / subscribes in flight per process");
DEFINE_int32(namespaces, 100, "seeded namespaces");
DEFINE_int32(keys_per_namespace, 1000, "seeded keys per namespace");
DEFINE_int32(value_bytes, 1024, "bytes per seeded (and hot) value");
DEFINE_int32(hot_keys, 10, "keys every agent subscribes to");
DEFINE_int32(random_keys, 10, "seeded keys each agent subscribes to");
DEFINE_int32(rounds, 20, "single changes timed until every agent has them");
DEFINE_double(sustain_seconds, 10, "length of the back-to-back change phase");
DEFINE_int32(server_loops, 2, "distributor transport loops");
DEFINE_string(out_dir, "", "scratch directory (default: a new one in /tmp)");
// Client role only.
DEFINE_int32(port, 0, "client role: distributor port");
DEFINE_string(name, "0", "client role: name of this client process");

namespace kess {
namespace bench {

using load::CpuSecondsOf;
using load::NowNs;
using load::ProcStatus;
using load::RaiseFdLimit;
using load::ReadProcStatusOf;

namespace {

constexpr int64_t kPhaseTimeoutMs = 300000;

std::string Ms(double us) { return absl::StrFormat("%.1f ms", us / 1000.0); }

// Writes every seeded record, many per multi, at one revision with no
// change records; the summary's oldest_retained goes above it, so any
// follower that held an older revision resyncs fully. Only for a tree
// nobody follows yet.
absl::StatusOr<int64_t> Seed(zk::ZkApi& zk, const zk::Layout& layout) {
  KESS_ASSIGN_OR_RETURN(auto current, zk::ReadRevision(zk, layout));
  const int64_t revision = current.first.revision() + 1;
  const zk::Meta meta = zk::MakeMeta("bench", "distributor_bench");
  const std::string value(FLAGS_value_bytes, 'v');
  zk::MultiOps ops;
  size_t estimate = 0;
  for (int n = 0; n < FLAGS_namespaces; ++n) {
    const std::string ns = absl::StrCat("ns", n);
    zk::NamespaceInfo info;
    info.set_namespace_name(ns);
    KESS_ASSIGN_OR_RETURN(std::string ns_path, layout.NamespacePath(ns));
    KESS_RETURN_IF_ERROR(zk.Create(ns_path, zk::Encode(info)).status());
    for (int k = 0; k < FLAGS_keys_per_namespace; ++k) {
      const std::string key = absl::StrCat("k", k);
      KESS_ASSIGN_OR_RETURN(std::string path, layout.ConfigPath(ns, key));
      zk::ConfigRecord record;
      record.set_namespace_name(ns);
      record.set_key(key);
      record.set_revision(revision);
      record.set_version(1);
      *record.mutable_value() = zk::MakeInlineValue(value);
      record.set_content_type("text/plain");
      *record.mutable_meta() = meta;
      std::string data = zk::Encode(record);
      const size_t bytes = zk::EstimateCreateBytes(path, data.size(), {});
      if (estimate + bytes > zk::kMaxRequestBytes / 2) {
        KESS_RETURN_IF_ERROR(zk.Multi(ops).status());
        ops = zk::MultiOps();
        estimate = 0;
      }
      estimate += bytes;
      ops.Create(path, std::move(data));
    }
  }
  if (!ops.empty()) KESS_RETURN_IF_ERROR(zk.Multi(ops).status());
  zk::RevisionSummary next = current.first;
  next.set_revision(revision);
  next.set_oldest_retained(revision + 1);
  next.set_last_kind(zk::CONFIG_PUT);
  next.set_last_target(layout.ConfigsDir());
  *next.mutable_meta() = meta;
  KESS_RETURN_IF_ERROR(
      zk.Set(layout.RevisionPath(), zk::Encode(next), current.second).status());
  return revision;
}

std::string HotValue(uint32_t seq) {
  std::string value = absl::StrCat(seq, " ", NowNs(), " ");
  if (value.size() < size_t(FLAGS_value_bytes)) {
    value.resize(FLAGS_value_bytes, 'h');
  }
  return value;
}

int RunDriver() {
  RaiseFdLimit();
  if (FLAGS_distributor_binary.empty()) {
    LOG(ERROR) << "--distributor_binary is required";
    return 1;
  }
  std::string out_dir = FLAGS_out_dir;
  if (out_dir.empty()) {
    char templ[] = "/tmp/distributor_bench.XXXXXX";
    if (mkdtemp(templ) == nullptr) return 1;
    out_dir = templ;
  }
  const int64_t total_keys =
      int64_t{FLAGS_namespaces} * FLAGS_keys_per_namespace;

  // 1. ZooKeeper with the data set.
  testing::ZkEnsembleOptions zk_options;
  zk_options.name = "bench";
  zk_options.base_dir = out_dir;
  zk_options.jvm_flags = testing::ZkEnsembleOptions::JvmFlags(2048);
  auto ensemble = testing::ZkEnsemble::Start(zk_options);
  BENCH_CHECK_OK(ensemble.status());
  zk::ZkClientOptions client_options;
  client_options.connect_string = (*ensemble)->ConnectString();
  auto writer = zk::ZkClient::Create(client_options);
  BENCH_CHECK_OK(writer.status());
  zk::Layout layout;
  BENCH_CHECK_OK(zk::EnsureSkeleton(**writer, layout, zk::SchemaInfo(), 10000));
  const int64_t seed_start = NowNs();
  BENCH_CHECK_OK(Seed(**writer, layout).status());
  const double seed_s = (NowNs() - seed_start) / 1e9;
  mandator::core::ConfigStore::Options store_options{layout};
  store_options.writer_id = "bench";
  auto store =
      mandator::core::ConfigStore::Create(writer->get(), store_options);
  BENCH_CHECK_OK(store.status());
  auto put = [&](int hot, const std::string& value) {
    mandator::core::PutRequest request;
    request.ns = "hot";
    request.key = absl::StrCat("h", hot);
    request.value = value;
    request.author = "bench";
    return (*store)->Put(request).status();
  };
  for (int h = 0; h < FLAGS_hot_keys; ++h) {
    BENCH_CHECK_OK(put(h, HotValue(0)));
  }
  LOG(INFO) << "seeded " << total_keys << " keys in " << seed_s << " s";

  // 2. The distributor: loaded when it registers its member node.
  const int64_t load_start = NowNs();
  testing::DaemonProcess daemon("distributor bench-d1",
                                out_dir + "/distributor.log");
  BENCH_CHECK_OK(daemon.Start(
      {FLAGS_distributor_binary, "--id=bench-d1", "--dc=bench",
       // the bench's clients measure the plaintext wire (TLS figures:
       // bench/tls_bench.cc)
       "--insecure_plaintext",
       "--zk=" + (*ensemble)->ConnectString(), "--port=0", "--http_port=0",
       absl::StrCat("--server_loops=", FLAGS_server_loops),
       "--heartbeat_timeout_ms=120000", "--poll_interval_ms=5000"}));
  const std::string member_path =
      *layout.MemberPath(zk::DISTRIBUTOR, "bench-d1");
  zk::MemberInfo member;
  for (int i = 0; i < 3000; ++i) {
    absl::StatusOr<zk::GetResult> node = (*writer)->Get(member_path);
    if (node.ok() && member.ParseFromString(node->data)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (member.address().empty()) {
    LOG(ERROR) << "distributor did not register; see " << out_dir
               << "/distributor.log";
    return 1;
  }
  const double load_s = (NowNs() - load_start) / 1e9;
  const pid_t pid = daemon.pid();
  const int port =
      std::stoi(member.address().substr(member.address().rfind(':') + 1));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const ProcStatus loaded = ReadProcStatusOf(pid);
  const double load_cpu = CpuSecondsOf(pid);

  // 3. Agents.
  const int per_process = FLAGS_connections / FLAGS_client_processes;
  std::vector<ChildProcess> children;
  for (int i = 0; i < FLAGS_client_processes; ++i) {
    auto child = ChildProcess::Spawn(
        {"--role=client", absl::StrCat("--port=", port),
         absl::StrCat("--connections=", per_process),
         absl::StrCat("--connect_batch=", FLAGS_connect_batch),
         absl::StrCat("--hot_keys=", FLAGS_hot_keys),
         absl::StrCat("--random_keys=", FLAGS_random_keys),
         absl::StrCat("--namespaces=", FLAGS_namespaces),
         absl::StrCat("--keys_per_namespace=", FLAGS_keys_per_namespace),
         "--out_dir=" + out_dir, absl::StrCat("--name=", i)});
    BENCH_CHECK_OK(child.status());
    children.push_back(std::move(child).value());
  }
  const int64_t connect_start = NowNs();
  auto ready = AskAll(children, "connect", kPhaseTimeoutMs);
  BENCH_CHECK_OK(ready.status());
  const double connect_s = (NowNs() - connect_start) / 1e9;
  int subscribed = 0, failed = 0;
  int64_t answer_bytes = 0;
  for (auto& a : *ready) {
    subscribed += std::stoi(a.at(1));
    failed += std::stoi(a.at(2));
    answer_bytes += std::stoll(a.at(4));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const ProcStatus with_agents = ReadProcStatusOf(pid);
  const double cpu_after_subscribe = CpuSecondsOf(pid);
  LOG(INFO) << subscribed << " agents subscribed (" << failed << " failed)";

  // 4. One change at a time, until every agent has it.
  uint32_t seq = 0;
  std::vector<double> round_ms;
  int64_t missing = 0;
  const double cpu_before_rounds = CpuSecondsOf(pid);
  for (int r = 0; r < FLAGS_rounds; ++r) {
    ++seq;
    const int64_t start = NowNs();
    BENCH_CHECK_OK(put(0, HotValue(seq)));
    auto got = AskAll(children, absl::StrCat("wait ", seq), kPhaseTimeoutMs);
    BENCH_CHECK_OK(got.status());
    round_ms.push_back((NowNs() - start) / 1e6);
    for (auto& a : *got) missing += per_process - std::stoll(a.at(2));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const double cpu_per_round =
      (CpuSecondsOf(pid) - cpu_before_rounds) / FLAGS_rounds;
  auto dumps = AskAll(children, "dump", kPhaseTimeoutMs);
  BENCH_CHECK_OK(dumps.status());
  std::vector<uint32_t> deliveries;
  std::vector<uint32_t> round_max(seq + 1, 0);
  for (auto& a : *dumps) {
    std::ifstream in(a.at(1), std::ios::binary);
    std::vector<uint32_t> pairs;
    for (uint32_t v; in.read(reinterpret_cast<char*>(&v), sizeof(v));) {
      pairs.push_back(v);
    }
    for (size_t i = 0; i + 1 < pairs.size(); i += 2) {
      deliveries.push_back(pairs[i + 1]);
      if (pairs[i] <= seq) {
        round_max[pairs[i]] = std::max(round_max[pairs[i]], pairs[i + 1]);
      }
    }
  }
  std::sort(deliveries.begin(), deliveries.end());
  std::vector<uint32_t> rounds(round_max.begin() + 1, round_max.end());
  std::sort(rounds.begin(), rounds.end());

  // 5. Back-to-back changes over all hot keys.
  auto before = AskAll(children, "count", kPhaseTimeoutMs);
  BENCH_CHECK_OK(before.status());
  int64_t frames0 = 0, resources0 = 0;
  for (auto& a : *before) {
    frames0 += std::stoll(a.at(1));
    resources0 += std::stoll(a.at(2));
  }
  const double cpu0 = CpuSecondsOf(pid);
  const int64_t sustain_start = NowNs();
  int64_t commits = 0;
  while ((NowNs() - sustain_start) / 1e9 < FLAGS_sustain_seconds) {
    ++seq;
    BENCH_CHECK_OK(put(seq % FLAGS_hot_keys, HotValue(seq)));
    ++commits;
  }
  const double sustain_s = (NowNs() - sustain_start) / 1e9;
  std::this_thread::sleep_for(std::chrono::seconds(3));  // drain
  const double sustain_cpu = CpuSecondsOf(pid) - cpu0;
  const double drained_s = (NowNs() - sustain_start) / 1e9;
  auto after = AskAll(children, "count", kPhaseTimeoutMs);
  BENCH_CHECK_OK(after.status());
  int64_t frames1 = 0, resources1 = 0;
  for (auto& a : *after) {
    frames1 += std::stoll(a.at(1));
    resources1 += std::stoll(a.at(2));
  }
  const ProcStatus final_status = ReadProcStatusOf(pid);
  const int64_t frames = frames1 - frames0;
  const int64_t resources = resources1 - resources0;

  for (auto& child : children) (void)child.WriteLine("quit");
  children.clear();
  daemon.Stop();
  (*ensemble)->Stop();
  if (FLAGS_out_dir.empty()) RemoveScratchDir(out_dir);

  std::ostringstream t;
  t << SetupTableHead("ZooKeeper, distributor, agents and writer share them");
  t << "| ZooKeeper | 1 standalone server (3.8, -Xmx2g) on loopback |\n";
  t << "| data set | " << WithCommas(total_keys) << " configs of "
    << FLAGS_value_bytes << " B (" << FLAGS_namespaces << " namespaces x "
    << WithCommas(FLAGS_keys_per_namespace) << "), plus " << FLAGS_hot_keys
    << " hot keys of " << FLAGS_value_bytes << " B |\n";
  t << "| distributor | the `//distributor:distributor` binary (`-c opt`), "
    << FLAGS_server_loops << " transport loops, default send queue |\n";
  t << "| agents | " << WithCommas(per_process * FLAGS_client_processes)
    << " connections in " << FLAGS_client_processes
    << " processes (1 event-loop thread each); each subscribes to the "
    << FLAGS_hot_keys << " hot keys + " << FLAGS_random_keys
    << " random seeded keys |\n";
  t << "| changes | written through mandator's ConfigStore (the leader's "
       "commit path) |\n";
  t << "\n| figure | value |\n|---|---|\n";
  t << "| seeding ZooKeeper (multi creates) | "
    << absl::StrFormat("%.1f s", seed_s) << " |\n";
  t << "| distributor start to loaded and registered | "
    << absl::StrFormat("%.1f s (CPU %.1f s)", load_s, load_cpu) << " |\n";
  t << "| distributor RSS, data loaded, no agents | " << loaded.rss_kib / 1024
    << " MiB |\n";
  t << "| agents subscribed | " << WithCommas(subscribed) << " (" << failed
    << " failed) in " << absl::StrFormat("%.1f s", connect_s) << "; answers "
    << answer_bytes / (1 << 20) << " MiB |\n";
  t << "| distributor RSS with the agents | " << with_agents.rss_kib / 1024
    << " MiB (peak " << final_status.peak_rss_kib / 1024 << " MiB); threads "
    << with_agents.threads << " |\n";
  t << "| distributor CPU, connect + subscribe phase | "
    << absl::StrFormat("%.1f s", cpu_after_subscribe - load_cpu) << " |\n";
  t << "| one change to every agent, per delivery (commit start to receipt; "
    << FLAGS_rounds << " rounds x " << WithCommas(subscribed)
    << ") p50 / p99 / max | " << Ms(Percentile(deliveries, 50)) << " / "
    << Ms(Percentile(deliveries, 99)) << " / "
    << Ms(Percentile(deliveries, 100)) << " |\n";
  t << "| one change until the last agent has it (per round) p50 / p99 / max "
       "| "
    << Ms(Percentile(rounds, 50)) << " / " << Ms(Percentile(rounds, 99))
    << " / " << Ms(Percentile(rounds, 100)) << " |\n";
  t << "| distributor CPU per round (one change to all agents) | "
    << absl::StrFormat("%.0f ms", cpu_per_round * 1000) << " |\n";
  t << "| deliveries missing after the rounds | " << missing << " |\n";
  t << "| back-to-back changes for " << absl::StrFormat("%.0f s", sustain_s)
    << " | " << WithCommas(commits) << " commits ("
    << absl::StrFormat("%.0f", commits / sustain_s) << "/s, over "
    << FLAGS_hot_keys << " hot keys) |\n";
  t << "| pushes delivered (kess.Update frames) | " << WithCommas(frames)
    << ", " << WithCommas(static_cast<int64_t>(frames / drained_s))
    << "/s; resources in them " << WithCommas(resources) << ", "
    << WithCommas(static_cast<int64_t>(resources / drained_s))
    << "/s (incl. 3 s drain). Changes that arrive while a push is under "
       "way are coalesced: each key's newest version is sent once |\n";
  t << "| distributor CPU in that phase | "
    << absl::StrFormat("%.1f s of %.1f s wall (%.0f%% of one core)",
                       sustain_cpu, drained_s, 100 * sustain_cpu / drained_s)
    << " |\n";
  std::cout << t.str();
  return (failed == 0 && missing == 0) ? 0 : 2;
}

}  // namespace
}  // namespace bench
}  // namespace kess

int main(int argc, char** argv) {
  kess::InitProcess(&argc, &argv,
                    "distributor_bench: one distributor, 10,000 agents, "
                    "100,000 keys");
  if (FLAGS_role == "client") {
    kess::bench::DistributorBenchClientOptions options;
    options.port = FLAGS_port;
    options.connections = FLAGS_connections;
    options.connect_batch = FLAGS_connect_batch;
    options.hot_keys = FLAGS_hot_keys;
    options.random_keys = FLAGS_random_keys;
    options.namespaces = FLAGS_namespaces;
    options.keys_per_namespace = FLAGS_keys_per_namespace;
    options.out_dir = FLAGS_out_dir;
    options.name = FLAGS_name;
    return kess::bench::RunDistributorBenchClient(options);
  }
  return kess::bench::RunDriver();
}
