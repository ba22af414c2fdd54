// bench/heartbeat_bench: how many instance heartbeats one mandator's
// scheduler ingests. The scheduler (mandator/scheduler, the same code the
// daemon runs) lives in this process, pinned to one CPU; the providers live
// in child processes (copies of this binary with --role=client) on the
// other CPUs, each with a few connections sending kess.Heartbeat batches
// closed loop. Prints a Markdown table. See README.md.
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "bench/heartbeat_bench_client.h"
#include "bench/transport_bench_util.h"
#include "common/clock.h"
#include "common/identity/credential.h"
#include "common/identity/principal.h"
#include "common/init.h"
#include "common/metrics.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "mandator/scheduler/partial_table.h"
#include "mandator/scheduler/scheduler.h"
#include "mandator/scheduler/scheduler_service.h"
#include "model/protocol/discovery.pb.h"
#include "model/protocol/discovery_methods.h"
#include "tests/load/load_util.h"

DEFINE_string(role, "server", "server (the benchmark) or client (internal)");
DEFINE_int64(instances, 100000, "instances registered (and heartbeated)");
DEFINE_int32(services, 100, "services the instances belong to");
DEFINE_int32(client_processes, 1, "provider processes");
DEFINE_int32(connections, 16, "connections per provider process");
DEFINE_string(batches, "1,10,100,1000",
              "instances per kess.Heartbeat, one phase each");
DEFINE_int32(window, 4, "calls in flight per connection");
DEFINE_double(seconds, 5, "length of each heartbeat phase");
DEFINE_int32(server_cpu, 0, "CPU the scheduler is pinned to; -1: no pinning");
DEFINE_int32(server_loops, 1, "scheduler event-loop threads");
// Client role only.
DEFINE_string(host, "127.0.0.1",
              "client role: scheduler (mandator heartbeat port) host");
DEFINE_int32(port, 0, "client role: scheduler port");
DEFINE_int64(first, 0, "client role: first instance index it owns");
DEFINE_string(instance_dc, "dc1",
              "client role: the registered instances' datacenter (a "
              "mandator refuses instances of another DC)");
DEFINE_string(registration_rights, "off",
              "off: the scheduler checks no identity (instances on hosts "
              "host-<i/4>); compare: the whole run twice in this process, "
              "first without the registration rights, then with them (every "
              "client connection authenticated with a host credential, "
              "kess.Authenticate; every instance on that host, in both "
              "runs), and a table of the two (bench/RESULTS.md, "
              "\"Registration rights\")");
DEFINE_string(instance_host, "",
              "client role: every instance's host (\"\" = host-<i/4>)");
DEFINE_string(credential_file, "",
              "client role: present this credential (kess.Authenticate)");
DEFINE_string(instance_address_host, "127.0.0.1",
              "client role: host part of the instances' addresses");

namespace kess {
namespace bench {

using load::CpuSecondsOf;
using load::NowNs;
using load::ProcStatus;
using load::RaiseFdLimit;
using load::ReadProcStatus;

namespace {

constexpr int64_t kPhaseTimeoutMs = 300000;

double Counter(metrics::Registry& r, const std::string& name,
               const metrics::Labels& labels = {}) {
  return r.GetCounter(name, "", labels)->Value();
}

// The 1-minute load average: the host is shared, so the table says how
// busy it was.
std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one;
  in >> one;
  return one.empty() ? "?" : one;
}

bool PinTo(int cpu) {
  if (cpu < 0 || std::thread::hardware_concurrency() < 2) return false;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0) {
    PLOG(WARNING) << "sched_setaffinity";
    return false;
  }
  return true;
}

struct Phase {
  int batch = 0;
  int64_t calls = 0, refs = 0, errors = 0, unknown = 0;
  double seconds = 0;
  double refreshed = 0;  // server counter delta
  double requests = 0;   // server counter delta
  double cpu = 0;        // server CPU seconds
};

// Inside RunOnce (which returns a result, not an exit code): a failed
// step ends the benchmark.
#define RUN_CHECK_OK(expr)                                   \
  do {                                                       \
    absl::Status run_status_ = (expr);                       \
    CHECK(run_status_.ok()) << #expr << ": " << run_status_; \
  } while (0)

// One run: a scheduler, the provider processes, registration and every
// heartbeat phase. `rights`: registration rights on, the providers
// authenticated with `credential_file` as host `instance_host`.
struct RunResult {
  std::vector<Phase> phases;
  std::string table;
  int64_t errors = 0;
};

RunResult RunOnce(bool pinned, bool rights, const std::string& instance_host,
                  const std::string& credential_file,
                  std::shared_ptr<identity::CredentialRegistry> credentials);

// This thread's CPU time (ns resolution, unlike /proc's ticks).
double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// The check alone, without the transport and the other process: two
// SchedulerServices over two tables holding the same instances (bound to
// `host`'s principal, or to nobody), fed the same kess.Heartbeat payloads
// from this thread, alternating 7 rounds of each; the fastest round of
// each side counts (the least disturbed by other work on the host).
std::string InProcessAb(const std::string& host) {
  const int64_t n = std::min<int64_t>(FLAGS_instances, 100000);
  metrics::Registry registry_off, registry_on;
  mandator::scheduler::PartialTableOptions table_options;
  table_options.expire_after = absl::Hours(1);
  mandator::scheduler::PartialTable table_off(Clock::Steady(), table_options);
  mandator::scheduler::PartialTable table_on(Clock::Steady(), table_options);
  mandator::scheduler::SchedulerServiceOptions o;
  o.mandator_id = "bench";
  o.datacenter = "dc1";
  o.heartbeat_interval = absl::Minutes(1);
  o.registry = &registry_off;
  mandator::scheduler::SchedulerService off(&table_off, o);
  o.registry = &registry_on;
  o.require_identity = true;
  mandator::scheduler::SchedulerService on(&table_on, o);
  identity::Principal who;
  who.kind = identity::Kind::kHost;
  who.name = host;
  who.proof = identity::Proof::kCredential;
  for (int64_t first = 0; first < n; first += 1000) {
    protocol::RegisterRequest request;
    for (int64_t i = first; i < std::min(n, first + 1000); ++i) {
      protocol::InstanceInfo* info = request.add_instances();
      info->set_service(BenchService(i, FLAGS_services));
      info->set_id(BenchInstanceId(i));
      info->set_host(host);
      info->set_address(absl::StrCat("127.0.0.1:", 10000 + i % 50000));
      info->set_datacenter("dc1");
      info->set_weight(100);
      info->set_health("up");
    }
    const std::string payload = request.SerializeAsString();
    CHECK(off.Register(who, payload).ok());
    CHECK(on.Register(who, payload).ok());
  }
  std::ostringstream t;
  t << "| instances per kess.Heartbeat | in-process CPU per heartbeat "
       "without | with | with / without |\n|---|---|---|---|\n";
  for (absl::string_view b : absl::StrSplit(FLAGS_batches, ',')) {
    int batch = 0;
    if (!absl::SimpleAtoi(b, &batch) || batch < 1) continue;
    std::vector<std::string> payloads;
    for (int64_t first = 0; first < n; first += batch) {
      protocol::HeartbeatRequest request;
      for (int64_t i = first; i < std::min(n, first + batch); ++i) {
        protocol::InstanceRef* ref = request.add_instances();
        ref->set_service(BenchService(i, FLAGS_services));
        ref->set_id(BenchInstanceId(i));
      }
      payloads.push_back(request.SerializeAsString());
    }
    double best_off = 1e18, best_on = 1e18;
    for (int round = 0; round < 7; ++round) {
      for (int side = 0; side < 2; ++side) {
        mandator::scheduler::SchedulerService& s = side == 0 ? off : on;
        const double cpu0 = ThreadCpuSeconds();
        for (const std::string& payload : payloads) {
          CHECK(s.Heartbeat(who, payload).ok());
        }
        const double us = (ThreadCpuSeconds() - cpu0) * 1e6 / n;
        (side == 0 ? best_off : best_on) =
            std::min(side == 0 ? best_off : best_on, us);
      }
    }
    t << "| " << batch << " | "
      << absl::StrFormat("%.3f us | %.3f us | %.3f", best_off, best_on,
                         best_on / std::max(best_off, 1e-9))
      << " |\n";
  }
  return t.str();
}

int RunServer() {
  RaiseFdLimit();
  // Pinned before any thread starts, so the scheduler's loops inherit it.
  const bool pinned = PinTo(FLAGS_server_cpu);
  if (FLAGS_registration_rights == "off") {
    RunResult r = RunOnce(pinned, false, "", "", nullptr);
    std::cout << r.table;
    return r.errors == 0 ? 0 : 2;
  }
  if (FLAGS_registration_rights != "compare") {
    LOG(ERROR) << "--registration_rights must be off or compare";
    return 1;
  }
  // Every instance on one host, whose credential the providers present.
  const std::string host = "bench-host";
  auto issued = identity::IssueCredential(identity::Kind::kHost, host, "");
  BENCH_CHECK_OK(issued.status());
  auto credentials = std::make_shared<identity::CredentialRegistry>();
  credentials->Put(issued->record);
  char dir_template[] = "/tmp/heartbeat_bench.XXXXXX";
  const char* dir = mkdtemp(dir_template);
  CHECK(dir != nullptr) << "mkdtemp";
  const std::string credential_file = absl::StrCat(dir, "/credential.json");
  {
    std::ofstream out(credential_file);
    out << identity::CredentialFile{identity::Kind::kHost, host, "",
                                    issued->secret}
               .ToJson();
  }
  const std::string in_process = InProcessAb(host);
  RunResult off = RunOnce(pinned, false, host, "", nullptr);
  RunResult on = RunOnce(pinned, true, host, credential_file, credentials);
  unlink(credential_file.c_str());
  rmdir(dir);
  std::ostringstream t;
  t << "Without the check (the first run):\n\n" << off.table
    << "\nWith the check (the second run):\n\n" << on.table << "\n";
  t << in_process << "\n";
  t << "| instances per kess.Heartbeat | heartbeats/s without | with | CPU "
       "per heartbeat without | with | CPU with / without |\n"
       "|---|---|---|---|---|---|\n";
  for (size_t i = 0; i < off.phases.size() && i < on.phases.size(); ++i) {
    const Phase& a = off.phases[i];
    const Phase& b = on.phases[i];
    const double cpu_a = a.cpu * 1e6 / std::max(a.refreshed, 1.0);
    const double cpu_b = b.cpu * 1e6 / std::max(b.refreshed, 1.0);
    t << "| " << a.batch << " | "
      << WithCommas(static_cast<int64_t>(a.refreshed / a.seconds)) << " | "
      << WithCommas(static_cast<int64_t>(b.refreshed / b.seconds)) << " | "
      << absl::StrFormat("%.2f us | %.2f us | %.3f", cpu_a, cpu_b,
                         cpu_b / std::max(cpu_a, 1e-9))
      << " |\n";
  }
  std::cout << t.str();
  return off.errors + on.errors == 0 ? 0 : 2;
}

RunResult RunOnce(bool pinned, bool rights, const std::string& instance_host,
                  const std::string& credential_file,
                  std::shared_ptr<identity::CredentialRegistry> credentials) {
  const ProcStatus before = ReadProcStatus();
  const std::string load_before = LoadAverage();
  metrics::Registry registry;
  mandator::scheduler::SchedulerOptions o;
  o.mandator_id = "bench";
  o.datacenter = "dc1";
  o.num_loops = FLAGS_server_loops;
  o.heartbeat_interval = absl::Minutes(1);  // nothing expires during the run
  o.max_batch = 10000;
  o.registry = &registry;
  o.require_identity = rights;
  o.credentials = credentials;
  auto scheduler = mandator::scheduler::Scheduler::Create(o);
  RUN_CHECK_OK(scheduler.status());
  const ProcStatus idle = ReadProcStatus();

  std::vector<ChildProcess> children;
  const int64_t per_process = FLAGS_instances / FLAGS_client_processes;
  for (int i = 0; i < FLAGS_client_processes; ++i) {
    auto child = ChildProcess::Spawn(
        {"--role=client", absl::StrCat("--port=", (*scheduler)->port()),
         absl::StrCat("--connections=", FLAGS_connections),
         absl::StrCat("--first=", i * per_process),
         absl::StrCat("--instances=", per_process),
         absl::StrCat("--services=", FLAGS_services),
         absl::StrCat("--server_cpu=", pinned ? FLAGS_server_cpu : -1),
         absl::StrCat("--instance_host=", instance_host),
         absl::StrCat("--credential_file=", credential_file)});
    RUN_CHECK_OK(child.status());
    children.push_back(std::move(child).value());
  }
  auto connected = AskAll(children, "connect", kPhaseTimeoutMs);
  RUN_CHECK_OK(connected.status());
  int64_t failed = 0;
  for (auto& a : *connected) failed += std::stoll(a.at(2));

  // Registration of every instance, 1,000 per request.
  const double cpu0 = CpuSecondsOf(getpid());
  const int64_t reg_start = NowNs();
  auto registered = AskAll(children, "register 1000", kPhaseTimeoutMs);
  RUN_CHECK_OK(registered.status());
  const double reg_seconds = (NowNs() - reg_start) / 1e9;
  const double reg_cpu = CpuSecondsOf(getpid()) - cpu0;
  int64_t errors = failed;
  for (auto& a : *registered) errors += std::stoll(a.at(2));
  const size_t held = (*scheduler)->table().instance_count();
  const ProcStatus loaded = ReadProcStatus();

  std::vector<Phase> phases;
  for (absl::string_view b : absl::StrSplit(FLAGS_batches, ',')) {
    Phase p;
    CHECK(absl::SimpleAtoi(b, &p.batch) && p.batch >= 1);
    const double refreshed0 =
        Counter(registry, "kess_scheduler_heartbeats_total");
    const double requests0 = Counter(registry, "kess_scheduler_requests_total",
                                     {{"method", protocol::kHeartbeatMethod}});
    const double cpu_start = CpuSecondsOf(getpid());
    const int64_t start = NowNs();
    auto beat = AskAll(
        children,
        absl::StrFormat("beat %f %d %d", FLAGS_seconds, p.batch, FLAGS_window),
        kPhaseTimeoutMs);
    RUN_CHECK_OK(beat.status());
    p.seconds = (NowNs() - start) / 1e9;
    p.cpu = CpuSecondsOf(getpid()) - cpu_start;
    p.refreshed =
        Counter(registry, "kess_scheduler_heartbeats_total") - refreshed0;
    p.requests = Counter(registry, "kess_scheduler_requests_total",
                         {{"method", protocol::kHeartbeatMethod}}) -
                 requests0;
    for (auto& a : *beat) {
      p.calls += std::stoll(a.at(1));
      p.refs += std::stoll(a.at(2));
      p.errors += std::stoll(a.at(3));
      p.unknown += std::stoll(a.at(4));
    }
    errors += p.errors + p.unknown;
    phases.push_back(p);
    LOG(INFO) << "batch " << p.batch << ": " << p.refreshed / p.seconds
              << " heartbeats/s";
  }

  // What the leader's collection costs here: one snapshot of everything.
  const int64_t snap_start = NowNs();
  protocol::PartialTable snapshot = (*scheduler)->table().Snapshot(0, nullptr);
  const std::string bytes = snapshot.SerializeAsString();
  const double snap_ms = (NowNs() - snap_start) / 1e6;

  const std::string load_after = LoadAverage();
  for (auto& child : children) (void)child.WriteLine("quit");
  children.clear();
  scheduler->reset();

  std::ostringstream t;
  t << SetupTableHead(absl::StrCat(
      "load average (1 min) ", load_before, " at the start, ", load_after,
      " at the end (other work on the host shows here)"));
  t << "| scheduler | `mandator/scheduler` in the benchmark process, "
    << FLAGS_server_loops << " event-loop thread(s), "
    << (pinned ? absl::StrCat("pinned to CPU ", FLAGS_server_cpu)
               : std::string("not pinned"))
    << " |\n";
  t << "| providers | " << FLAGS_client_processes << " process(es) x "
    << FLAGS_connections << " connections, " << FLAGS_window
    << " calls in flight per connection, "
    << (pinned ? "on the other CPU(s)" : "sharing the CPUs") << " |\n";
  t << "| instances | " << WithCommas(FLAGS_instances) << " in "
    << FLAGS_services
    << " services (metadata: 1 entry), each phase cycles over all of them "
       "|\n\n";
  t << "| figure | value |\n|---|---|\n";
  t << "| registration (kess.Register, 1,000 per request) | "
    << WithCommas(static_cast<int64_t>(held)) << " held, "
    << absl::StrFormat("%.2f s, %s instances/s, %.0f %% of one core",
                       reg_seconds,
                       WithCommas(static_cast<int64_t>(held / reg_seconds)),
                       100 * reg_cpu / reg_seconds)
    << " |\n";
  t << "| scheduler RSS | idle " << idle.rss_kib / 1024 << " MiB; with "
    << WithCommas(static_cast<int64_t>(held)) << " instances "
    << loaded.rss_kib / 1024 << " MiB ("
    << absl::StrFormat("%.2f", (loaded.rss_kib - idle.rss_kib) * 1024.0 /
                                   std::max<size_t>(held, 1))
    << " bytes per instance); process before start " << before.rss_kib / 1024
    << " MiB |\n";
  t << "| kess.GetPartialTable of all (snapshot + serialize, in process) | "
    << absl::StrFormat("%.1f ms, %.1f MiB", snap_ms, bytes.size() / 1048576.0)
    << " |\n\n";
  t << "| instances per kess.Heartbeat | heartbeats/s (instances refreshed) "
       "| requests/s | scheduler CPU (% of one core) | CPU per heartbeat | "
       "errors |\n|---|---|---|---|---|---|\n";
  for (const Phase& p : phases) {
    t << "| " << p.batch << " | "
      << WithCommas(static_cast<int64_t>(p.refreshed / p.seconds)) << " | "
      << WithCommas(static_cast<int64_t>(p.requests / p.seconds)) << " | "
      << absl::StrFormat("%.0f %%", 100 * p.cpu / p.seconds) << " | "
      << absl::StrFormat("%.2f us", p.cpu * 1e6 / std::max(p.refreshed, 1.0))
      << " | " << p.errors + p.unknown << " |\n";
  }
  RunResult result;
  result.phases = std::move(phases);
  result.table = t.str();
  result.errors = errors;
  return result;
}

}  // namespace
}  // namespace bench
}  // namespace kess

int main(int argc, char** argv) {
  kess::InitProcess(&argc, &argv, "heartbeat_bench [--instances=100000]");
  if (FLAGS_role == "client") {
    kess::bench::HeartbeatBenchClientOptions o;
    o.host = FLAGS_host;
    o.port = FLAGS_port;
    o.connections = FLAGS_connections;
    o.first_instance = FLAGS_first;
    o.instances = FLAGS_instances;
    o.services = FLAGS_services;
    o.avoid_cpu = FLAGS_server_cpu;
    o.datacenter = FLAGS_instance_dc;
    o.address_host = FLAGS_instance_address_host;
    o.instance_host = FLAGS_instance_host;
    if (!FLAGS_credential_file.empty()) {
      auto credential =
          kess::identity::ReadCredentialFile(FLAGS_credential_file);
      if (!credential.ok()) {
        LOG(ERROR) << credential.status();
        return 1;
      }
      o.credential =
          std::make_shared<kess::identity::CredentialFile>(*credential);
    }
    return kess::bench::RunHeartbeatBenchClient(o);
  }
  return kess::bench::RunServer();
}
