// The C++ SDK's entry of bench/clients_bench.sh: the same measurements as
// every language client's bench entry point (clients/python/kess_bench.py,
// clients/go/cmd/kess-bench, kess.bench.KessBench), on the same tables, as
// one JSON line:
//
//   {"language":"cpp","pick_wr_ns":..,"pick_hrw_ns":..,
//    "pick_hrw_weighted_ns":..,"load_parse_5000_ms":..,"idle_rss_kib":..}
//
//   pick_wr_ns            Discovery::Select by weighted random on a table
//                         of --instances instances (weights 50..200),
//                         loaded
//   pick_hrw_ns           Discovery::Select by HRW on a table of
//                         --instances instances at the default weight 100,
//                         a new key each call (the O(n) scan)
//   pick_hrw_weighted_ns  the same on the table with weights 50..200
//   load_parse_5000_ms  read + verify + parse + build the RouteSnapshot of
//                       one file of --table_instances instances (median)
//   idle_rss_kib        the process's resident set after loading the first
//                       table
//
// The tables: instance i of service s is "s-%05d", host "host-<i % 200>",
// datacenter "dc<i % 3 + 1>", weight 50 + (i % 4) * 50 (or 100), suspect
// when i % 50 == 0, else healthy.
//
//   clients_bench_cpp --instances 1000 --table_instances 5000
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gflags/gflags.h"
#include "model/file_cache/format.h"
#include "model/file_cache/reader.h"
#include "model/file_cache/writer.h"
#include "model/route_table.h"
#include "sdk/discovery.h"
#include "sdk/load_balancer.h"
#include "sdk/route_snapshot.h"

DEFINE_int32(instances, 1000, "instances of the tables picked from");
DEFINE_int32(table_instances, 5000, "instances of the table loaded");
DEFINE_int32(picks, 2000000, "weighted-random picks timed");
DEFINE_int32(hrw_keys, 20000, "HRW picks timed (one key each)");
DEFINE_int32(load_rounds, 5, "loads of the big table timed");

namespace kess {
namespace bench {
namespace {

using Clock = std::chrono::steady_clock;

RouteTable MakeTable(const std::string& service, int n, bool weighted) {
  RouteTable table;
  table.service = service;
  table.revision = 42;
  for (int i = 0; i < n; ++i) {
    RouteInstance in;
    in.id = absl::StrFormat("%s-%05d", service, i);
    in.host = absl::StrCat("host-", i % 200);
    in.address = absl::StrCat("127.0.0.1:", 10000 + i % 50000);
    in.datacenter = absl::StrCat("dc", i % 3 + 1);
    in.weight = weighted ? 50 + (i % 4) * 50 : 100;
    in.state = i % 50 == 0 ? InstanceState::kSuspect : InstanceState::kHealthy;
    in.health = "up";
    in.metadata = {{"version", absl::StrCat("1.4.", i % 7)}};
    in.registered_ms = 1795314842000 + i;
    table.instances.push_back(in);
  }
  return table;
}

int64_t RssKib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6);
  }
  return 0;
}

double NsPerCall(Clock::time_point start, int64_t calls) {
  return std::chrono::duration<double, std::nano>(Clock::now() - start)
             .count() /
         static_cast<double>(calls);
}

int Main() {
  const int instances = FLAGS_instances;
  const int table_instances = FLAGS_table_instances;
  std::string dir = absl::StrCat(getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
                                 "/clients_bench_cppXXXXXX");
  if (mkdtemp(dir.data()) == nullptr) return 1;
  {
    auto writer = file_cache::FileCacheWriter::Open({dir});
    if (!writer.ok()) {
      fprintf(stderr, "%s\n", writer.status().ToString().c_str());
      return 1;
    }
    for (auto [service, n, weighted] :
         {std::tuple<std::string, int, bool>{"bench", instances, true},
          {"equal", instances, false},
          {"big", table_instances, true}}) {
      file_cache::CacheEntry entry;
      entry.key = file_cache::CacheKey::Route(service);
      entry.revision = 42;
      entry.value = RouteTableToJson(MakeTable(service, n, weighted));
      entry.content_type = "application/json";
      auto written = (*writer)->Write(entry);
      if (!written.ok()) {
        fprintf(stderr, "%s\n", written.status().ToString().c_str());
        return 1;
      }
    }
  }

  sdk::Discovery::Options options;
  options.cache_dir = dir;
  options.agent_http_address = "";
  options.poll_interval = absl::Minutes(1);
  auto discovery = sdk::Discovery::Create(options);
  if (!discovery.ok()) return 1;
  sdk::Discovery& d = **discovery;
  if (!d.Select("bench").ok()) return 1;  // loads the table
  const int64_t idle_rss = RssKib();
  if (!d.Select("equal").ok()) return 1;

  const int picks = FLAGS_picks;
  auto start = Clock::now();
  for (int i = 0; i < picks; ++i) {
    auto picked = d.Select("bench");
    if (!picked.ok()) return 1;
  }
  const double pick_wr = NsPerCall(start, picks);

  const sdk::LoadBalancer* hrw = d.Balancer("hrw").value();
  std::vector<std::string> keys;
  for (int i = 0; i < FLAGS_hrw_keys; ++i) {
    keys.push_back(absl::StrCat("user-", i));
  }
  auto time_hrw = [&](const char* service) {
    auto begin = Clock::now();
    for (const std::string& key : keys) {
      if (!d.Select(service, key, *hrw).ok()) return -1.0;
    }
    return NsPerCall(begin, keys.size());
  };
  const double pick_hrw = time_hrw("equal");
  const double pick_hrw_weighted = time_hrw("bench");

  file_cache::FileCacheReader reader(dir);
  std::vector<double> times;
  for (int i = 0; i < FLAGS_load_rounds; ++i) {
    auto begin = Clock::now();
    auto entry = reader.Read(file_cache::CacheKey::Route("big"));
    if (!entry.ok()) return 1;
    auto table = RouteTableFromJson(entry->value);
    if (!table.ok()) return 1;
    auto snapshot = sdk::RouteSnapshot::Build(
        std::make_shared<const RouteTable>(*std::move(table)));
    times.push_back(
        std::chrono::duration<double, std::milli>(Clock::now() - begin)
            .count());
    if (snapshot->size() != static_cast<size_t>(table_instances)) return 1;
  }
  std::sort(times.begin(), times.end());

  printf(
      "{\"language\":\"cpp\",\"pick_wr_ns\":%.0f,\"pick_hrw_ns\":%.0f,"
      "\"pick_hrw_weighted_ns\":%.0f,\"load_parse_5000_ms\":%.1f,"
      "\"idle_rss_kib\":%lld,\"instances\":%d,\"table_instances\":%d}\n",
      pick_wr, pick_hrw, pick_hrw_weighted, times[times.size() / 2],
      static_cast<long long>(idle_rss), instances, table_instances);
  discovery->reset();
  std::string rm = "rm -rf '" + dir + "'";
  return system(rm.c_str()) == 0 ? 0 : 1;
}

}  // namespace
}  // namespace bench
}  // namespace kess

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  return kess::bench::Main();
}
