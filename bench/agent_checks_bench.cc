// bench/agent_checks_bench: the host agent's CPU with many local instances
// under HTTP health checks. One DC of real processes
// (tests/cluster/cache_tier_cluster.h: a ZooKeeper server, --mandators
// mandators, one distributor, ONE agent with production intervals and
// --max_local_instances=--instances); this process serves the check targets
// (--targets HTTP servers on 127.0.0.1 answering GET /health 200, a counter
// of hits each) and registers --instances instances through the agent's
// API (PUT /v1/services/<svc>/instances/<id>), each with one HTTP check
// (--check_interval_ms, --check_timeout_ms) on one of the targets. Once
// every instance's check has passed, the agent's user + system CPU
// (/proc/<pid>/stat) is measured over --measure_s seconds, beside the
// checks the targets saw in that time (about instances x measure_s /
// interval) and the agent's RSS; an idle phase of --idle_s before the
// registrations gives the same agent's CPU with no instance. The agent
// also heartbeats every instance to the mandators (every 5 s, one batched
// kess.Heartbeat per mandator for all of them, sdk::RegistrationPool):
// that is part of the figure.
//
// Every wait is bounded; exit 2 if the instances are not all registered and
// passing in time. Prints one Markdown table. See README.md.
#include <algorithm>
#include <atomic>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/transport_bench_util.h"
#include "common/http_server.h"
#include "common/init.h"
#include "common/testing/wait_for.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "tests/cluster/cache_tier_cluster.h"
#include "tests/load/load_util.h"

DEFINE_string(bin_dir, "",
              "a bazel-bin holding mandator/mandator, distributor/distributor "
              "and agent/agent (-c opt); required");
DEFINE_int32(instances, 1000, "local instances registered through the agent");
DEFINE_int32(targets, 10, "HTTP servers the checks go to");
DEFINE_int32(check_interval_ms, 10000, "each instance's HTTP check interval");
DEFINE_int32(check_timeout_ms, 2000, "each instance's HTTP check timeout");
DEFINE_int32(mandators, 2, "mandator processes");
DEFINE_int32(idle_s, 10, "the agent's CPU with no instance, over this long");
DEFINE_int32(measure_s, 60, "the agent's CPU with every instance, over this");
DEFINE_double(target_percent, 5, "the target: agent CPU, % of one core");
DEFINE_int32(timeout_s, 120, "give up registering / waiting after this");
DEFINE_bool(keep_dir, false, "keep the scratch directory (logs, caches)");
DEFINE_bool(checks, true,
            "false: the instances have no check (what the heartbeats to the "
            "mandators cost alone)");

namespace kess {
namespace bench {
namespace {

using load::CpuSecondsOf;
using load::ReadProcStatusOf;
using testing::AgentHost;
using testing::CacheTierCluster;
using testing::WaitFor;

constexpr char kService[] = "checkbench";

struct Cpu {
  double percent = 0;
  double seconds = 0;
  int64_t rss_max_kib = 0;
};

// The CPU `pid` used over `seconds` of wall time, RSS sampled every second.
Cpu Measure(pid_t pid, int seconds) {
  Cpu out;
  const double cpu0 = CpuSecondsOf(pid);
  const absl::Time start = absl::Now();
  const absl::Time end = start + absl::Seconds(seconds);
  while (absl::Now() < end) {
    out.rss_max_kib = std::max(out.rss_max_kib, ReadProcStatusOf(pid).rss_kib);
    absl::SleepFor(std::min(absl::Seconds(1), end - absl::Now()));
  }
  out.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  out.percent = (CpuSecondsOf(pid) - cpu0) / out.seconds * 100;
  return out;
}

// Instances whose checks passed (with --checks=false: instances listed).
int Passing(AgentHost& agent) {
  absl::StatusOr<HttpReply> r = agent.Call("GET", "/v1/services");
  if (!r.ok() || r->status != 200) return -1;
  int n = 0;
  const std::string needle =
      FLAGS_checks ? "\"check_status\":\"passing\""
                   : absl::StrCat("\"service\":\"", kService, "\"");
  for (size_t at = r->body.find(needle); at != std::string::npos;
       at = r->body.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

int Run(CacheTierCluster& cluster) {
  AgentHost& agent = *cluster.main().agents[0];
  const pid_t pid = agent.pid();

  // The check targets.
  std::vector<std::unique_ptr<HttpServer>> servers;
  std::vector<std::string> addresses;
  std::atomic<int64_t> hits{0};
  for (int t = 0; t < FLAGS_targets; ++t) {
    HttpServer::Options options;
    options.host = "127.0.0.1";
    options.threads = 2;
    absl::StatusOr<std::unique_ptr<HttpServer>> server =
        HttpServer::Create(options);
    if (!server.ok()) {
      LOG(ERROR) << "HttpServer: " << server.status();
      return 1;
    }
    (*server)->Handle("GET", "/health", [&hits](const HttpRequest&) {
      hits.fetch_add(1);
      return HttpResponse::Json(200, R"({"ok":true})");
    });
    if (!(*server)->Start().ok()) return 1;
    addresses.push_back(absl::StrCat("127.0.0.1:", (*server)->port()));
    servers.push_back(*std::move(server));
  }

  const Cpu idle = Measure(pid, FLAGS_idle_s);

  const absl::Time reg_start = absl::Now();
  int registered = 0;
  for (int i = 0; i < FLAGS_instances; ++i) {
    const std::string& address = addresses[i % addresses.size()];
    const std::string body =
        FLAGS_checks
            ? absl::StrCat(
                  R"({"address":")", address, R"(","owner":"bench","checks":[)",
                  R"({"kind":"http","url":"http://)", address, R"(/health",)",
                  R"("interval":")", FLAGS_check_interval_ms,
                  R"(ms","timeout":")", FLAGS_check_timeout_ms, R"(ms"}]})")
            : absl::StrCat(R"({"address":")", address,
                           R"(","owner":"bench"})");
    absl::StatusOr<HttpReply> put = agent.Call(
        "PUT", absl::StrCat("/v1/services/", kService, "/instances/i-", i),
        body);
    if (!put.ok() || put->status != 200) {
      LOG(ERROR) << "PUT i-" << i << ": "
                 << (put.ok() ? put->body : put.status().ToString());
      break;
    }
    ++registered;
  }
  const double reg_s = absl::ToDoubleSeconds(absl::Now() - reg_start);
  const bool all_passing =
      registered == FLAGS_instances &&
      WaitFor([&] { return Passing(agent) == FLAGS_instances; },
              absl::Seconds(FLAGS_timeout_s), absl::Milliseconds(500));
  if (!all_passing) {
    LOG(ERROR) << registered << " registered, " << Passing(agent)
               << " passing after " << FLAGS_timeout_s << " s";
  }
  // One more interval, so that the checks' phases are spread as they stay.
  absl::SleepFor(absl::Milliseconds(FLAGS_check_interval_ms));

  const int64_t hits0 = hits.load();
  const Cpu busy = Measure(pid, FLAGS_measure_s);
  const int64_t checks = hits.load() - hits0;
  const int passing = Passing(agent);

  std::ostringstream t;
  t << SetupTableHead(
      "the agent, the mandators, ZooKeeper, the distributor and the check "
      "targets share them, with other engineers' builds (noisy)");
  t << "| cluster | 1 DC: 1 ZooKeeper server, " << FLAGS_mandators
    << " mandators, 1 distributor, 1 agent (production intervals, "
       "--max_local_instances="
    << FLAGS_instances << "; -c opt binaries) |\n";
  if (FLAGS_checks) {
    t << "| load | " << FLAGS_instances
      << " instances registered through the agent's API, each with one HTTP "
         "check (interval "
      << FLAGS_check_interval_ms << " ms, timeout " << FLAGS_check_timeout_ms
      << " ms) on one of " << FLAGS_targets
      << " local HTTP servers in the benchmark process (GET /health, 200); "
         "the agent also heartbeats every instance to the mandators every "
         "5 s (one batched request per mandator) |\n\n";
  } else {
    t << "| load | " << FLAGS_instances
      << " instances registered through the agent's API WITHOUT checks "
         "(--checks=false): the heartbeats to the mandators every 5 s "
         "alone |\n\n";
  }
  t << "| phase | seconds | checks served | agent CPU, % of one core | "
       "agent RSS max MiB | target |\n";
  t << "|---|---:|---:|---:|---:|---|\n";
  t << absl::StrFormat("| idle, no instance | %.0f | - | %.2f | %.1f | |\n",
                       idle.seconds, idle.percent, idle.rss_max_kib / 1024.0);
  t << absl::StrFormat(
      "| %d instances, %s (%d at the end) | %.0f | %d (%.1f/s; "
      "expected %.1f/s) | %.2f | %.1f | <= %.0f %%: %s |\n",
      FLAGS_instances, FLAGS_checks ? "all passing" : "no checks, all listed",
      passing, busy.seconds, static_cast<int>(checks), checks / busy.seconds,
      FLAGS_checks ? FLAGS_instances * 1000.0 / FLAGS_check_interval_ms : 0.0,
      busy.percent,
      busy.rss_max_kib / 1024.0, FLAGS_target_percent,
      all_passing && busy.percent <= FLAGS_target_percent ? "met" : "MISSED");
  t << "\nRegistering the " << registered << " instances (one PUT at a time) "
    << absl::StrFormat("took %.1f s.", reg_s) << "\n";
  std::cout << t.str();
  return all_passing ? 0 : 2;
}

}  // namespace
}  // namespace bench
}  // namespace kess

int main(int argc, char** argv) {
  kess::InitProcess(&argc, &argv,
                    "agent_checks_bench --bin_dir=<-c opt bazel-bin>");
  if (FLAGS_bin_dir.empty()) {
    LOG(ERROR) << "--bin_dir is required";
    return 1;
  }
  kess::testing::CacheTierClusterOptions o;
  o.dcs.bin_dir = FLAGS_bin_dir;
  o.dcs.mandators_per_dc = FLAGS_mandators;
  o.dcs.slave_dcs = 0;
  o.distributors_per_dc = 1;
  o.agents_per_dc = 1;
  o.agent_test_intervals = false;
  o.agent_flags = {
      absl::StrCat("--max_local_instances=", FLAGS_instances)};
  auto cluster = kess::testing::CacheTierCluster::Start(o);
  if (!cluster.ok()) {
    LOG(ERROR) << "cluster: " << cluster.status();
    return 1;
  }
  const int status = kess::bench::Run(**cluster);
  const std::string dir = (*cluster)->dcs().dir();
  cluster->reset();
  if (!FLAGS_keep_dir) kess::bench::RemoveScratchDir(dir);
  return status;
}
