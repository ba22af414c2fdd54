// SDK pick latency: one Select of an instance for a call, per load
// balancer, for route tables of 10, 100 and 1,000 instances.
//
//   BM_Pick<policy>/n        LoadBalancer pick through SelectInstance (the
//                            state tiers included) on a RouteSnapshot
//   BM_PickEjected<policy>   the same while 1 % of the instances are
//                            ejected and 1 % recovering (the slow paths)
//   BM_DiscoverySelect<...>  Discovery::Select("svc", key): service lookup,
//                            wait-free snapshot read, pick, and the
//                            returned shared_ptr; also from 2 threads
//
// Targets (measured, not asserted): weighted random <= 50 ns,
// HRW <= 5 us at 1,000 instances. bench/run_sdk_bench.sh runs it with
// -c opt and writes bench/RESULTS.md.
#include <stdlib.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "model/file_cache/writer.h"
#include "model/route_table.h"
#include "glog/logging.h"
#include "sdk/discovery.h"
#include "sdk/failure_tracker.h"
#include "sdk/load_balancer.h"
#include "sdk/route_snapshot.h"

namespace kess {
namespace sdk {
namespace {

constexpr int kKeys = 4096;  // request keys cycled through (HRW)
constexpr int64_t kNow = 1000000;

// n instances over 2 datacenters; weights 100 each, or spread 10..1000.
RouteTable MakeTable(int n, bool mixed_weights) {
  RouteTable table;
  table.service = "svc";
  table.revision = 1;
  for (int i = 0; i < n; ++i) {
    RouteInstance instance;
    instance.id = absl::StrCat("svc-", 100000 + i);
    instance.host = absl::StrCat("host-", i);
    instance.address = absl::StrCat("10.0.", i / 250, ".", i % 250, ":8080");
    instance.datacenter = i % 2 ? "dc1" : "dc2";
    instance.weight = mixed_weights ? 10 + (i * 37) % 991 : 100;
    table.instances.push_back(instance);
  }
  return table;
}

const std::vector<std::string>& Keys() {
  static const auto* keys = [] {
    auto* k = new std::vector<std::string>();
    for (int i = 0; i < kKeys; ++i) k->push_back(absl::StrCat("user-", i));
    return k;
  }();
  return *keys;
}

std::unique_ptr<LoadBalancer> Balancer(const std::string& name) {
  LoadBalancerOptions options;
  options.local_datacenter = "dc1";
  options.min_local_healthy = 2;
  return std::move(LoadBalancerRegistry::Create(name, options)).value();
}

void RunPicks(benchmark::State& state, const std::string& policy,
              bool mixed_weights, bool ejected) {
  const int n = state.range(0);
  auto snapshot = RouteSnapshot::Build(
      std::make_shared<const RouteTable>(MakeTable(n, mixed_weights)));
  std::shared_ptr<const Availability> availability;
  if (ejected) {
    std::vector<Availability::Entry> entries(n);
    for (int i = 0; i < n; i += 100) {
      entries[i] = {kNow - 10, kNow + 1000, kNow + 2000};  // ejected
      if (i + 50 < n) {
        entries[i + 50] = {kNow - 1500, kNow - 500, kNow + 500};  // ramping
      }
    }
    availability = std::make_shared<const Availability>(entries, 0.1);
  }
  auto balancer = Balancer(policy);
  const auto& keys = Keys();
  size_t k = 0;
  for (auto _ : state) {
    auto picked = SelectInstance(*balancer, *snapshot, availability.get(),
                                 keys[k++ & (kKeys - 1)], kNow);
    benchmark::DoNotOptimize(picked);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_PickWeightedRandom(benchmark::State& s) {
  RunPicks(s, "weighted_random", true, false);
}
void BM_PickHrw(benchmark::State& s) { RunPicks(s, "hrw", false, false); }
void BM_PickHrwMixedWeights(benchmark::State& s) {
  RunPicks(s, "hrw", true, false);
}
void BM_PickLocalFirst(benchmark::State& s) {
  RunPicks(s, "local_first", true, false);
}
void BM_PickEjectedWeightedRandom(benchmark::State& s) {
  RunPicks(s, "weighted_random", true, true);
}
void BM_PickEjectedHrw(benchmark::State& s) { RunPicks(s, "hrw", false, true); }
void BM_PickEjectedLocalFirst(benchmark::State& s) {
  RunPicks(s, "local_first", true, true);
}

#define PICK_SIZES Arg(10)->Arg(100)->Arg(1000)
BENCHMARK(BM_PickWeightedRandom)->PICK_SIZES;
BENCHMARK(BM_PickHrw)->PICK_SIZES;
BENCHMARK(BM_PickHrwMixedWeights)->PICK_SIZES;
BENCHMARK(BM_PickLocalFirst)->PICK_SIZES;
BENCHMARK(BM_PickEjectedWeightedRandom)->Arg(1000);
BENCHMARK(BM_PickEjectedHrw)->Arg(1000);
BENCHMARK(BM_PickEjectedLocalFirst)->Arg(1000);

// One Discovery over a temp cache dir holding "svc" tables of 10, 100 and
// 1,000 instances (services svc10, svc100, svc1000), shared by all runs.
Discovery* TheDiscovery() {
  static Discovery* discovery = [] {
    std::string dir = absl::StrCat(getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
                                   "/sdk_pick_benchXXXXXX");
    CHECK(mkdtemp(dir.data()) != nullptr);
    auto writer = std::move(file_cache::FileCacheWriter::Open({dir})).value();
    for (int n : {10, 100, 1000}) {
      RouteTable table = MakeTable(n, true);
      table.service = absl::StrCat("svc", n);
      file_cache::CacheEntry entry;
      entry.key = file_cache::CacheKey::Route(table.service);
      entry.revision = 1;
      entry.value = RouteTableToJson(table);
      CHECK(writer->Write(entry).ok());
    }
    Discovery::Options options;
    options.cache_dir = dir;
    options.agent_http_address = "";  // no agent
    options.poll_interval = absl::Hours(1);
    options.local_datacenter = "dc1";
    options.min_local_healthy = 2;
    return Discovery::Create(options).value().release();
  }();
  return discovery;
}

void RunDiscovery(benchmark::State& state, const std::string& policy) {
  Discovery* discovery = TheDiscovery();
  const LoadBalancer* balancer = discovery->Balancer(policy).value();
  const std::string service = absl::StrCat("svc", state.range(0));
  CHECK(discovery->Select(service, "", *balancer).ok());
  const auto& keys = Keys();
  size_t k = state.thread_index() * 997;
  for (auto _ : state) {
    auto picked =
        discovery->Select(service, keys[k++ & (kKeys - 1)], *balancer);
    benchmark::DoNotOptimize(picked);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_DiscoverySelectWeightedRandom(benchmark::State& s) {
  RunDiscovery(s, "weighted_random");
}
void BM_DiscoverySelectHrw(benchmark::State& s) { RunDiscovery(s, "hrw"); }
void BM_DiscoverySelectLocalFirst(benchmark::State& s) {
  RunDiscovery(s, "local_first");
}

BENCHMARK(BM_DiscoverySelectWeightedRandom)->PICK_SIZES->Threads(1)->Threads(2);
BENCHMARK(BM_DiscoverySelectHrw)->Arg(1000)->Threads(1)->Threads(2);
BENCHMARK(BM_DiscoverySelectLocalFirst)->Arg(1000)->Threads(1)->Threads(2);

}  // namespace
}  // namespace sdk
}  // namespace kess

BENCHMARK_MAIN();
