// bench/replication_bench: main-DC -> slave-DC replication lag at a sustained
// commit rate. Two standalone ZooKeeper servers (one per DC) on this host;
// one writer commits config puts to main through ConfigStore (the main
// leader's own write path: record + history + revision CAS + change record
// in one multi); a Replicator in this process copies them into the slave
// ZK. A sampler reads Replicator::progress() every 0.2 ms; the lag of
// revision r is the time from the writer's acknowledgement of r to the
// first sample that shows the local revision at r or beyond. Prints a
// Markdown table. See README.md.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/init.h"
#include "common/metrics.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "mandator/core/config_store.h"
#include "mandator/replication/replicator.h"
#include "tests/harness/zk_ensemble.h"
#include "zk_schema/revision_log.h"
#include "zk_schema/skeleton.h"
#include "zk_schema/zk_client.h"

DEFINE_double(seconds, 10, "commit phase length per value size");
DEFINE_string(value_bytes, "256,16384,131072",
              "value sizes, one phase each (comma-separated)");
DEFINE_int32(keys, 1000, "distinct keys the writer cycles through (at most)");
DEFINE_int32(max_data_mib, 16,
             "caps keys so that keys x value bytes stays below this (main "
             "also keeps 3 history copies per key)");
DEFINE_int32(zk_heap_mib, 1024, "-Xmx of each ZooKeeper server");
DEFINE_double(rate, 0,
              "commits per second to aim at; 0 = as fast as the "
              "writer can (closed loop, one commit in flight)");
DEFINE_int32(poll_ms, 1000,
             "mandator::replication::Replicator::Options::poll_interval");
DEFINE_string(base_dir, "", "ZooKeeper data directories (default: /tmp/...)");

namespace kess {
namespace bench {
namespace {

using Clock = std::chrono::steady_clock;

struct PhaseResult {
  size_t value_bytes = 0;
  int keys = 0;
  int64_t commits = 0;
  int64_t failed = 0;
  double seconds = 0;
  std::vector<double> lag_ms;  // per revision
  int64_t not_replicated = 0;
  int64_t full_resyncs = 0;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(p / 100.0 * v.size());
  return v[std::min(rank, v.size() - 1)];
}

absl::StatusOr<std::unique_ptr<zk::ZkClient>> Connect(
    const testing::ZkEnsemble& zk) {
  zk::ZkClientOptions options;
  options.connect_string = zk.ConnectString();
  options.session_timeout = absl::Seconds(4);
  options.connect_timeout = absl::Seconds(30);
  return zk::ZkClient::Create(options);
}

absl::StatusOr<PhaseResult> RunPhase(zk::ZkApi* main_writer, zk::ZkApi* main,
                                     zk::ZkApi* local, size_t value_bytes,
                                     int phase) {
  PhaseResult result;
  result.value_bytes = value_bytes;
  result.keys = static_cast<int>(std::max<int64_t>(
      1, std::min<int64_t>(FLAGS_keys,
                           (int64_t{FLAGS_max_data_mib} << 20) / value_bytes)));
  KESS_ASSIGN_OR_RETURN(zk::Layout layout, zk::Layout::Create(absl::StrCat(
                                               "/bench", phase, "/kess")));
  zk::SchemaInfo info;
  info.set_datacenter("dc1");
  info.set_is_main(true);
  KESS_RETURN_IF_ERROR(zk::EnsureSkeleton(*main_writer, layout, info,
                                          zk::kDefaultChangelogRetention));
  info.set_datacenter("dc2");
  info.set_is_main(false);
  KESS_RETURN_IF_ERROR(
      zk::EnsureSkeleton(*local, layout, info, zk::kDefaultChangelogRetention));
  mandator::core::ConfigStore::Options store_options{layout, {}, 3, "bench"};
  KESS_ASSIGN_OR_RETURN(auto store, mandator::core::ConfigStore::Create(
                                        main_writer, store_options));
  metrics::Registry registry;
  mandator::replication::Replicator::Options options;
  options.datacenter = "dc2";
  options.layout = layout;
  options.poll_interval = absl::Milliseconds(FLAGS_poll_ms);
  options.registry = &registry;
  KESS_ASSIGN_OR_RETURN(
      auto replicator,
      mandator::replication::Replicator::Create(main, local, options));
  replicator->Start();

  // Sampler: when each revision first became visible locally.
  std::mutex mu;
  std::map<int64_t, Clock::time_point> seen;  // revision -> first seen
  std::atomic<bool> stop_sampler{false};
  std::thread sampler([&] {
    int64_t last = 0;
    while (!stop_sampler.load()) {
      const int64_t now_rev = replicator->progress().local_revision;
      if (now_rev > last) {
        const auto now = Clock::now();
        std::lock_guard<std::mutex> lock(mu);
        for (int64_t r = last + 1; r <= now_rev; ++r) seen[r] = now;
        last = now_rev;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });

  std::string value(value_bytes, 'x');
  std::map<int64_t, Clock::time_point> acked;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(FLAGS_seconds);
  int64_t last_revision = 0;
  for (int64_t i = 0; Clock::now() < end; ++i) {
    if (FLAGS_rate > 0) {
      std::this_thread::sleep_until(
          start + std::chrono::duration<double>(i / FLAGS_rate));
    }
    // Vary the value so that every put is a real change.
    const std::string stamp = absl::StrCat(i, ":");
    value.replace(0, std::min(stamp.size(), value.size()), stamp, 0,
                  std::min(stamp.size(), value.size()));
    mandator::core::PutRequest request{
        "bench", absl::StrCat("k", i % result.keys),
        value,   "application/octet-stream",
        {},      "bench",
        ""};
    absl::StatusOr<mandator::core::CommitResult> put = store->Put(request);
    if (!put.ok()) {
      ++result.failed;
      LOG_EVERY_N(WARNING, 100) << "put: " << put.status();
      continue;
    }
    acked[put->revision] = Clock::now();
    last_revision = put->revision;
    ++result.commits;
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  // Let replication finish (bounded).
  const auto deadline = Clock::now() + std::chrono::seconds(120);
  while (replicator->progress().local_revision < last_revision &&
         Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stop_sampler = true;
  sampler.join();
  replicator->Stop();
  result.full_resyncs = replicator->progress().full_resyncs;
  std::lock_guard<std::mutex> lock(mu);
  for (const auto& [revision, at] : acked) {
    auto it = seen.find(revision);
    if (it == seen.end()) {
      ++result.not_replicated;
      continue;
    }
    // Seen before the writer's ack arrived: count as 0.
    result.lag_ms.push_back(std::max(
        0.0,
        std::chrono::duration<double, std::milli>(it->second - at).count()));
  }
  return result;
}

int Main() {
  std::vector<size_t> sizes;
  for (absl::string_view s : absl::StrSplit(FLAGS_value_bytes, ',')) {
    size_t n = 0;
    if (!absl::SimpleAtoi(s, &n) || n == 0 || n > zk::kMaxValueBytes) {
      LOG(ERROR) << "bad --value_bytes entry " << s;
      return 1;
    }
    sizes.push_back(n);
  }
  // The harness's 384 MB heap is for tests; large values need more (every
  // server also keeps its last 500 transactions in memory).
  testing::ZkEnsembleOptions zk_options;
  zk_options.servers = 1;
  zk_options.base_dir = FLAGS_base_dir;
  zk_options.jvm_flags =
      testing::ZkEnsembleOptions::JvmFlags(FLAGS_zk_heap_mib);
  zk_options.name = "main";
  auto main_zk = testing::ZkEnsemble::Start(zk_options);
  zk_options.name = "slave";
  auto slave_zk = testing::ZkEnsemble::Start(zk_options);
  if (!main_zk.ok() || !slave_zk.ok()) {
    LOG(ERROR) << "ZooKeeper: " << main_zk.status() << " / "
               << slave_zk.status();
    return 1;
  }
  auto writer = Connect(**main_zk);
  auto main = Connect(**main_zk);
  auto local = Connect(**slave_zk);
  if (!writer.ok() || !main.ok() || !local.ok()) {
    LOG(ERROR) << "connect failed";
    return 1;
  }
  std::vector<PhaseResult> results;
  for (size_t i = 0; i < sizes.size(); ++i) {
    auto r = RunPhase(writer->get(), main->get(), local->get(), sizes[i],
                      static_cast<int>(i));
    if (!r.ok()) {
      LOG(ERROR) << "phase " << sizes[i] << " B: " << r.status();
      return 1;
    }
    results.push_back(*std::move(r));
  }
  int exit_code = 0;
  std::printf(
      "| setup | |\n|---|---|\n"
      "| machine | %u cores; both ZooKeeper servers, writer and replicator "
      "share them |\n"
      "| ZooKeeper | 2 standalone servers (main DC, slave DC), 127.0.0.1, "
      "tickTime 200 ms, heap %d MiB each |\n"
      "| writer | 1 thread, mandator::core::ConfigStore::Put (record + history "
      "+ "
      "revision CAS + change record, one multi), %s; keys per phase: up to "
      "%d, at most %d MiB of values |\n"
      "| replicator | mandator::replication::Replicator, watch on main's "
      "/kess/revision + "
      "poll every %d ms |\n"
      "| lag | writer's ack of revision r -> "
      "mandator::replication::Replicator::progress() shows "
      "local >= r (sampled every 0.2 ms) |\n\n",
      std::thread::hardware_concurrency(), FLAGS_zk_heap_mib,
      FLAGS_rate > 0 ? absl::StrFormat("paced at %.0f/s", FLAGS_rate).c_str()
                     : "closed loop (one commit in flight)",
      FLAGS_keys, FLAGS_max_data_mib, FLAGS_poll_ms);
  std::printf(
      "| value bytes | keys | seconds | commits | commits/s | lag p50 ms | lag "
      "p99 "
      "ms | lag max ms | not replicated | failed puts | full resyncs |\n"
      "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const PhaseResult& r : results) {
    std::printf(
        "| %zu | %d | %.1f | %lld | %.0f | %.1f | %.1f | %.1f | %lld | "
        "%lld | %lld |\n",
        r.value_bytes, r.keys, r.seconds, static_cast<long long>(r.commits),
        r.commits / r.seconds, Percentile(r.lag_ms, 50),
        Percentile(r.lag_ms, 99), Percentile(r.lag_ms, 100),
        static_cast<long long>(r.not_replicated),
        static_cast<long long>(r.failed),
        static_cast<long long>(r.full_resyncs));
    if (r.not_replicated > 0 || r.failed > 0) exit_code = 2;
  }
  return exit_code;
}

}  // namespace
}  // namespace bench
}  // namespace kess

int main(int argc, char** argv) {
  kess::InitProcess(&argc, &argv, "replication lag benchmark");
  return kess::bench::Main();
}
