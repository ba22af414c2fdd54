// The global route table: (1) how long the main leader takes to merge the
// partial tables of 6 mandators into route tables for 100,000 instances of
// 1,000 services (Merge, plus the JSON of every table); (2) a registration
// storm: 10,000 instances register within one second, each with 2
// mandators (in-process schedulers: kess.Register over the transport, as
// the SDK does), while a RoutesRole (the leader's loop) writes route tables
// to a real local ZooKeeper — how many ZooKeeper writes that took and when
// the last instance was in ZooKeeper.
//
// Prints a Markdown table on stdout (bench/run_route_table_bench.sh puts
// it into bench/RESULTS.md); progress goes to stderr.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/init.h"
#include "common/metrics.h"
#include "model/protocol/discovery_methods.h"
#include "model/route_table.h"
#include "common/transport/client.h"
#include "common/transport/event_loop.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "mandator/routes/merger.h"
#include "mandator/routes/route_store.h"
#include "mandator/routes/routes_role.h"
#include "mandator/scheduler/scheduler.h"
#include "tests/harness/zk_ensemble.h"
#include "zk_schema/codec.h"
#include "zk_schema/revision_log.h"
#include "zk_schema/skeleton.h"
#include "zk_schema/zk_client.h"

DEFINE_int32(instances, 100000, "merge: instances");
DEFINE_int32(services, 1000, "merge: services");
DEFINE_int32(mandators, 6, "merge: partial tables (each instance in 2)");
DEFINE_int32(runs, 5, "merge: runs per row (the median is shown)");
DEFINE_int32(storm_instances, 10000, "storm: registrations");
DEFINE_int32(storm_services, 100, "storm: services they belong to");
DEFINE_int32(storm_ms, 1000, "storm: spread over this long");
DEFINE_int32(window_ms, 1000, "storm: coalescing window");
DEFINE_int32(cycle_ms, 1000, "storm: the leader's cycle");
DEFINE_string(base_dir, "", "ZooKeeper data directory (default: /tmp/...)");

namespace kess {
namespace {

using mandator::routes::MergeInput;
using mandator::routes::MergeResult;
using mandator::routes::RouteTables;

std::string Row(const std::string& what, const std::string& value) {
  return absl::StrCat("| ", what, " | ", value, " |\n");
}

absl::Duration Median(std::vector<absl::Duration> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string Ms(absl::Duration d) {
  return absl::StrFormat("%.1f ms", absl::ToDoubleMilliseconds(d));
}

protocol::InstanceInfo Info(int service, int i, int n) {
  protocol::InstanceInfo info;
  info.set_service(absl::StrCat("svc-", service));
  info.set_id(absl::StrCat("i", i));
  info.set_host(absl::StrCat("host-", n % 20000));
  info.set_address(absl::StrCat("10.", n / 65536 % 256, ".", n / 256 % 256, ".",
                                n % 256, ":8080"));
  info.set_datacenter("dc1");
  info.set_weight(100);
  info.set_health("up");
  (*info.mutable_metadata())["version"] = "1.4.2";
  return info;
}

std::string MergeBench() {
  MergeInput input;
  input.collector_uptime = absl::Hours(1);
  input.settled_datacenters = {"dc1"};
  input.now_ms = absl::ToUnixMillis(absl::Now());
  input.peers.resize(FLAGS_mandators);
  for (int m = 0; m < FLAGS_mandators; ++m) {
    auto& peer = input.peers[m];
    peer.id = absl::StrCat("m", m);
    peer.datacenter = "dc1";
    peer.answered = true;
    peer.table.set_uptime_ms(3600000);
  }
  const int per_service = FLAGS_instances / FLAGS_services;
  int n = 0;
  for (int s = 0; s < FLAGS_services; ++s) {
    for (int i = 0; i < per_service; ++i, ++n) {
      for (int copy = 0; copy < 2; ++copy) {
        auto* seen =
            input.peers[(n + copy) % FLAGS_mandators].table.add_instances();
        *seen->mutable_info() = Info(s, i, n);
        seen->set_last_heartbeat_age_ms(1000 + copy);
        seen->set_first_seen_age_ms(60000);
      }
    }
  }
  for (int h = 0; h < 20000; ++h) {
    auto* host = input.peers[h % FLAGS_mandators].table.add_hosts();
    host->set_host_id(absl::StrCat("host-", h));
    host->set_last_heartbeat_age_ms(500);
  }
  const mandator::routes::MergeOptions options;
  std::vector<absl::Duration> first, steady, json;
  RouteTables published;
  for (int run = 0; run < FLAGS_runs; ++run) {
    absl::Time t = absl::Now();
    MergeResult built = Merge(input, RouteTables(), {}, options);
    first.push_back(absl::Now() - t);
    t = absl::Now();
    size_t bytes = 0;
    for (const auto& change : built.changes) {
      bytes += RouteTableToJson(*change.table).size();
    }
    json.push_back(absl::Now() - t);
    published.clear();
    for (auto& change : built.changes) {
      published[change.service] = *std::move(change.table);
    }
    t = absl::Now();
    MergeResult again = Merge(input, published, {}, options);
    steady.push_back(absl::Now() - t);
    CHECK_EQ(again.changes.size(), 0u);
    CHECK_EQ(built.stats.healthy, FLAGS_instances);
    LOG(INFO) << "merge run " << run << ": " << bytes << " bytes of JSON";
  }
  std::string out;
  out +=
      Row(absl::StrCat("merge, first build (", FLAGS_instances, " instances, ",
                       FLAGS_services, " services, ", FLAGS_mandators,
                       " partial tables, median of ", FLAGS_runs, ")"),
          Ms(Median(first)));
  out += Row("merge, steady cycle (nothing changed)", Ms(Median(steady)));
  out += Row("JSON of every table", Ms(Median(json)));
  out += Row("build = merge + JSON (target <= 1 s)",
             Ms(Median(first) + Median(json)));
  return out;
}

// Instances in ZooKeeper's route tables.
int64_t InstancesInZk(mandator::routes::RouteStore& store) {
  absl::StatusOr<RouteTables> tables = store.LoadAll();
  if (!tables.ok()) return -1;
  int64_t n = 0;
  for (const auto& [service, table] : *tables) n += table.instances.size();
  return n;
}

std::string StormBench() {
  testing::ZkEnsembleOptions zk_options;
  zk_options.name = "routes";
  zk_options.base_dir = FLAGS_base_dir;
  auto ensemble = testing::ZkEnsemble::Start(zk_options);
  CHECK(ensemble.ok()) << ensemble.status();
  zk::ZkClientOptions client_options;
  client_options.connect_string = (*ensemble)->ConnectString();
  auto zk = zk::ZkClient::Create(client_options);
  CHECK(zk.ok()) << zk.status();
  zk::Layout layout;
  zk::SchemaInfo info;
  info.set_datacenter("dc1");
  info.set_is_main(true);
  CHECK(zk::EnsureSkeleton(**zk, layout, info, zk::kDefaultChangelogRetention)
            .ok());

  metrics::Registry registry;
  constexpr int kSchedulers = 3;
  std::vector<std::unique_ptr<mandator::scheduler::Scheduler>> schedulers;
  for (int m = 0; m < kSchedulers; ++m) {
    mandator::scheduler::SchedulerOptions options;
    options.mandator_id = absl::StrCat("m", m);
    options.datacenter = "dc1";
    options.registry = &registry;
    auto s = mandator::scheduler::Scheduler::Create(options);
    CHECK(s.ok()) << s.status();
    zk::MemberInfo member;
    member.set_id(options.mandator_id);
    member.set_role(zk::MANDATOR);
    member.set_datacenter("dc1");
    member.set_address((*s)->address());
    CHECK((*zk)
              ->Create(*layout.MemberPath(zk::MANDATOR, member.id()),
                       zk::Encode(member), zk::CreateMode::kEphemeral)
              .ok());
    schedulers.push_back(*std::move(s));
  }

  mandator::routes::RoutesRole::Options role_options;
  role_options.self_id = "leader";
  role_options.datacenter = "dc1";
  role_options.layout = layout;
  role_options.cycle = absl::Milliseconds(FLAGS_cycle_ms);
  role_options.collector.requester_id = "leader";
  role_options.collector.registry = &registry;
  role_options.writer.window = absl::Milliseconds(FLAGS_window_ms);
  role_options.writer.registry = &registry;
  role_options.store.layout = layout;
  role_options.store.writer_id = "leader";
  role_options.registry = &registry;
  mandator::routes::RoutesRole role(zk->get(), role_options);
  role.Start();
  absl::SleepFor(absl::Seconds(2));  // baseline loaded, peers listed

  auto loop = transport::EventLoop::Create("storm");
  CHECK(loop.ok());
  std::vector<std::unique_ptr<transport::Client>> clients;
  for (const auto& s : schedulers) {
    transport::ClientOptions options;
    options.port = s->port();
    options.registry = &registry;
    auto client = transport::Client::Create(loop->get(), options);
    CHECK(client.ok());
    CHECK((*client)->WaitConnected(absl::Seconds(5)).ok());
    clients.push_back(*std::move(client));
  }
  auto revision_before = zk::ReadRevision(**zk, layout);
  CHECK(revision_before.ok());
  const double writes_before =
      registry.GetCounter("kess_routes_writes_total", "", {{"result", "ok"}})
          ->Value();

  // The storm: instance k registers with schedulers k and k+1, paced evenly.
  std::atomic<int> acked{0}, failed{0};
  const absl::Time start = absl::Now();
  const int per_service =
      std::max(1, FLAGS_storm_instances / FLAGS_storm_services);
  for (int k = 0; k < FLAGS_storm_instances; ++k) {
    const absl::Time due =
        start + absl::Milliseconds(FLAGS_storm_ms) * k / FLAGS_storm_instances;
    const absl::Duration wait = due - absl::Now();
    if (wait > absl::ZeroDuration()) absl::SleepFor(wait);
    protocol::RegisterRequest request;
    *request.add_instances() = Info(k / per_service, k % per_service, k);
    for (int copy = 0; copy < 2; ++copy) {
      clients[(k + copy) % kSchedulers]->Call(
          protocol::kRegisterMethod, request.SerializeAsString(),
          absl::Seconds(10), [&](absl::StatusOr<std::string> reply) {
            (reply.ok() ? acked : failed)++;
          });
    }
  }
  const absl::Duration sent = absl::Now() - start;
  absl::Duration all_in_zk = absl::InfiniteDuration();
  mandator::routes::RouteStore reader(zk->get(), role_options.store);
  while (absl::Now() - start < absl::Seconds(60)) {
    if (InstancesInZk(reader) >= FLAGS_storm_instances) {
      all_in_zk = absl::Now() - start;
      break;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  // Let anything still waiting in a window go out, then count.
  absl::SleepFor(absl::Milliseconds(FLAGS_window_ms + 2 * FLAGS_cycle_ms));
  role.Stop();
  auto revision_after = zk::ReadRevision(**zk, layout);
  CHECK(revision_after.ok());
  const int64_t commits =
      revision_after->first.revision() - revision_before->first.revision();
  const double writes =
      registry.GetCounter("kess_routes_writes_total", "", {{"result", "ok"}})
          ->Value() -
      writes_before;
  const int64_t services =
      (FLAGS_storm_instances + per_service - 1) / per_service;
  const int64_t windows =
      (absl::ToInt64Milliseconds(all_in_zk) + FLAGS_window_ms - 1) /
      FLAGS_window_ms;

  std::string out;
  out += Row(absl::StrCat("storm: registrations sent (", services,
                          " services, each to 2 of 3 mandators)"),
             absl::StrCat(FLAGS_storm_instances, " in ", Ms(sent), ", ",
                          acked.load(), " acks, ", failed.load(), " errors"));
  out += Row("storm: time until all instances were in ZooKeeper",
             all_in_zk == absl::InfiniteDuration() ? "NOT within 60 s"
                                                   : Ms(all_in_zk));
  out += Row(
      "storm: ZooKeeper route writes (commits)",
      absl::StrCat(static_cast<int64_t>(writes), " (", commits, " revisions)"));
  out += Row("storm: bound services x windows elapsed",
             absl::StrCat(services, " x ", windows, " = ", services * windows));
  out += Row("storm: writes without coalescing would be",
             absl::StrCat(FLAGS_storm_instances));
  clients.clear();
  loop->reset();
  schedulers.clear();
  return out;
}

}  // namespace
}  // namespace kess

int main(int argc, char** argv) {
  kess::InitProcess(&argc, &argv, "route_table_bench [--instances=100000]");
  std::string table = "| what | result |\n|---|---|\n";
  table += kess::MergeBench();
  table += kess::StormBench();
  std::fputs(table.c_str(), stdout);
  return 0;
}
