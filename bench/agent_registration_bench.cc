// bench/agent_registration_bench: registration through the host agent, end
// to end. Two DCs of real processes (tests/cluster/cache_tier_cluster.h: a
// ZooKeeper server, --mandators mandators, --distributors distributors and
// --agents agents per DC; the main DC's mandators collect the slave DC's
// with --other_dcs), every agent subscribed to the route table of the
// benchmark's service.
//
// (a) Registration -> discoverable: --registrations instances, one at a
//     time, alternately in dc1 and dc2, registered through the agent's API
//     (PUT /v1/services/<svc>/instances/<id>, no checks) on the DC's first
//     host; the time from the request until the instance is healthy in
//     every agent's route file of both DCs. In the same run, interleaved
//     with them (the order alternating), as many instances registered
//     directly with the DC's mandators by a C++ SDK sdk::Registration in
//     this process: the floor (the agent registers through the same
//     Registration class, so the difference is the agent's own path: its
//     API, the state file, its loop). Each instance is deregistered and
//     gone from every file before the next one.
// (b) Failing check -> out of the tables: --check_instances instances
//     registered through the agents (alternately dc1 and dc2) with an HTTP
//     check (--check_interval_ms, --check_timeout_ms, critical at the first
//     failure) on a /health served by this process; in --check_trials
//     trials one of them answers 500 from a moment on, and the time until
//     it is suspect with check_status "critical" in every agent's route
//     file of both DCs is measured against the bound interval + timeout +
//     2 s (met or missed); then it answers 200 again and is healthy
//     everywhere before the next trial (a random pause dephases the trials
//     from the check's period).
//
// --wan_profile (e.g. delay=25ms: 50 ms round trips) puts tests/wan's
// emulator between the DCs where the cluster can: dc2's mandators reach
// dc1's ZooKeeper (--main_zk: the path of the route tables to dc2) through
// wan::WanLinks with that profile in both directions. The main mandators'
// reads of dc2's ensemble (--other_dcs, how dc1 collects dc2's instances)
// stay direct.
//
// Every wait is bounded (--timeout_s); a registration that is not seen in
// time counts as an error (exit 2). Prints one Markdown table. See
// README.md.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
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
#include "model/file_cache/reader.h"
#include "model/route_table.h"
#include "sdk/registration.h"
#include "tests/cluster/cache_tier_cluster.h"
#include "tests/wan/link_profile.h"

DEFINE_string(bin_dir, "",
              "a bazel-bin holding mandator/mandator, distributor/distributor "
              "and agent/agent (-c opt); required");
DEFINE_int32(registrations, 50, "registrations of each kind (agent, SDK)");
DEFINE_int32(check_instances, 4, "instances with an HTTP check in (b)");
DEFINE_int32(check_trials, 20, "failing-check trials in (b)");
DEFINE_int32(check_interval_ms, 1000, "the HTTP check's interval");
DEFINE_int32(check_timeout_ms, 500, "the HTTP check's timeout");
DEFINE_int32(mandators, 3, "mandator processes per DC");
DEFINE_int32(distributors, 1, "distributor processes per DC");
DEFINE_int32(agents, 2, "agent processes per DC");
DEFINE_int32(route_cycle_ms, 1000, "mandator --route_cycle_ms");
DEFINE_int32(route_window_ms, 1000, "mandator --route_window_ms");
DEFINE_int32(route_warmup_ms, 3000, "mandator --route_warmup_ms");
DEFINE_int32(timeout_s, 30, "give up one wait after this");
DEFINE_bool(keep_dir, false, "keep the scratch directory (logs, caches)");
DEFINE_string(wan_profile, "",
              "if set: dc2's mandators reach dc1's ZooKeeper through WAN "
              "links with this tests/wan profile both ways (delay=25ms,...)");

namespace kess {
namespace bench {
namespace {

using testing::AgentHost;
using testing::CacheTierCluster;
using testing::WaitFor;

constexpr char kService[] = "regbench";
constexpr absl::Duration kPoll = absl::Milliseconds(5);

// What every agent's route file must say of one instance.
struct Want {
  std::string id;
  std::string state;  // "" = absent
  std::string check;  // "" = any
};

bool InAllFiles(const std::vector<AgentHost*>& agents, const Want& want) {
  for (const AgentHost* agent : agents) {
    file_cache::FileCacheReader reader(agent->cache_dir());
    absl::StatusOr<file_cache::CacheEntry> entry =
        reader.Read(file_cache::CacheKey::Route(kService));
    const RouteInstance* found = nullptr;
    absl::StatusOr<RouteTable> table = absl::NotFoundError("no file");
    if (entry.ok() && !entry->absent) {
      table = RouteTableFromJson(entry->value);
      if (!table.ok()) return false;  // torn? never; read again
      for (const RouteInstance& r : table->instances) {
        if (r.id == want.id) found = &r;
      }
    } else if (!want.state.empty()) {
      return false;
    }
    if (want.state.empty()) {
      if (found != nullptr) return false;
      continue;
    }
    if (found == nullptr || InstanceStateName(found->state) != want.state ||
        (!want.check.empty() && found->check_status != want.check)) {
      return false;
    }
  }
  return true;
}

// Milliseconds until `want` holds in every file, or -1 after --timeout_s.
double WaitAll(const std::vector<AgentHost*>& agents, const Want& want,
               absl::Time since) {
  const bool ok = WaitFor([&] { return InAllFiles(agents, want); },
                          absl::Seconds(FLAGS_timeout_s), kPoll);
  if (!ok) {
    LOG(ERROR) << want.id << " not " << (want.state.empty() ? "absent" : want.state)
               << " in every route file within " << FLAGS_timeout_s << " s";
    return -1;
  }
  return absl::ToDoubleMilliseconds(absl::Now() - since);
}

struct Stats {
  std::vector<double> ms;
  int errors = 0;
  double P(double p) const {
    if (ms.empty()) return 0;
    std::vector<double> s = ms;
    std::sort(s.begin(), s.end());
    size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * s.size()));
    return s[std::min(s.size() - 1, rank == 0 ? 0 : rank - 1)];
  }
  double Max() const { return P(100); }
  void Add(double v) {
    if (v < 0) {
      ++errors;
    } else {
      ms.push_back(v);
    }
  }
};

std::string Ms(double v) { return absl::StrFormat("%.0f", v); }

class Bench {
 public:
  explicit Bench(CacheTierCluster& cluster)
      : cluster_(cluster), agents_(cluster.AllAgents()) {}

  int Run();

 private:
  AgentHost& FirstAgent(int dc) { return *cluster_.tier_dc(dc).agents[0]; }
  std::vector<std::string> Mandators(int dc) {
    std::vector<std::string> out;
    for (const auto& m : cluster_.dcs().dc(dc).mandators) {
      out.push_back(m->address());
    }
    return out;
  }
  double ThroughAgent(int dc, const std::string& id);
  double ThroughSdk(int dc, const std::string& id);
  // (b): the instances with checks and their /health servers.
  bool StartChecked();
  double FailOnce(int k);

  CacheTierCluster& cluster_;
  std::vector<AgentHost*> agents_;
  Stats agent_, sdk_, check_;
  int deregister_errors_ = 0;
  // (b)
  std::vector<std::unique_ptr<HttpServer>> servers_;
  std::unique_ptr<std::atomic<bool>[]> failing_;
  std::vector<int> check_dc_;
};

double Bench::ThroughAgent(int dc, const std::string& id) {
  AgentHost& agent = FirstAgent(dc);
  const std::string path =
      absl::StrCat("/v1/services/", kService, "/instances/", id);
  const absl::Time start = absl::Now();
  absl::StatusOr<HttpReply> put = agent.Call(
      "PUT", path, R"({"address":"127.0.0.1:9","owner":"bench"})");
  if (!put.ok() || put->status != 200) {
    LOG(ERROR) << "PUT " << path << ": "
               << (put.ok() ? put->body : put.status().ToString());
    return -1;
  }
  const double ms = WaitAll(agents_, {id, "healthy", ""}, start);
  absl::StatusOr<HttpReply> del = agent.Call("DELETE", path + "?owner=bench");
  if (!del.ok() || del->status != 200 ||
      WaitAll(agents_, {id, "", ""}, absl::Now()) < 0) {
    ++deregister_errors_;
  }
  return ms;
}

double Bench::ThroughSdk(int dc, const std::string& id) {
  sdk::RegistrationOptions o;
  o.mandators = Mandators(dc);
  o.instance.service = kService;
  o.instance.id = id;
  o.instance.host = FirstAgent(dc).host_id();
  o.instance.address = "127.0.0.1:9";
  o.instance.datacenter = cluster_.tier_dc(dc).name;
  const absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<sdk::Registration>> r =
      sdk::Registration::Create(o);
  if (!r.ok()) {
    LOG(ERROR) << "Registration::Create: " << r.status();
    return -1;
  }
  const double ms = WaitAll(agents_, {id, "healthy", ""}, start);
  if (!(*r)->Deregister().ok() ||
      WaitAll(agents_, {id, "", ""}, absl::Now()) < 0) {
    ++deregister_errors_;
  }
  return ms;
}

bool Bench::StartChecked() {
  const int n = FLAGS_check_instances;
  failing_.reset(new std::atomic<bool>[n]);
  for (int k = 0; k < n; ++k) {
    failing_[k] = false;
    HttpServer::Options options;
    options.host = "127.0.0.1";
    options.threads = 2;
    absl::StatusOr<std::unique_ptr<HttpServer>> server =
        HttpServer::Create(options);
    if (!server.ok()) {
      LOG(ERROR) << "HttpServer: " << server.status();
      return false;
    }
    std::atomic<bool>* failing = &failing_[k];
    (*server)->Handle("GET", "/health", [failing](const HttpRequest&) {
      return failing->load() ? HttpResponse::Json(500, R"({"ok":false})")
                             : HttpResponse::Json(200, R"({"ok":true})");
    });
    if (!(*server)->Start().ok()) return false;
    const std::string address =
        absl::StrCat("127.0.0.1:", (*server)->port());
    servers_.push_back(*std::move(server));
    const int dc = k % cluster_.tier_dc_count();
    check_dc_.push_back(dc);
    const std::string body = absl::StrCat(
        R"({"address":")", address, R"(","owner":"bench","checks":[)",
        R"({"kind":"http","url":"http://)", address, R"(/health",)",
        R"("interval":")", FLAGS_check_interval_ms, R"(ms","timeout":")",
        FLAGS_check_timeout_ms, R"(ms","failures_before_critical":1,)",
        R"("success_before_passing":1}]})");
    absl::StatusOr<HttpReply> put = FirstAgent(dc).Call(
        "PUT", absl::StrCat("/v1/services/", kService, "/instances/chk-", k),
        body);
    if (!put.ok() || put->status != 200) {
      LOG(ERROR) << "PUT chk-" << k << ": "
                 << (put.ok() ? put->body : put.status().ToString());
      return false;
    }
  }
  for (int k = 0; k < n; ++k) {
    if (WaitAll(agents_, {absl::StrCat("chk-", k), "healthy", "passing"},
                absl::Now()) < 0) {
      return false;
    }
  }
  return true;
}

double Bench::FailOnce(int k) {
  const std::string id = absl::StrCat("chk-", k);
  const absl::Time start = absl::Now();
  failing_[k] = true;
  const double ms = WaitAll(agents_, {id, "suspect", "critical"}, start);
  failing_[k] = false;
  if (WaitAll(agents_, {id, "healthy", "passing"}, absl::Now()) < 0) {
    return -1;
  }
  return ms;
}

int Bench::Run() {
  // The first table, the route-table leader's warm-up behind it.
  if (ThroughSdk(0, "warmup") < 0) {
    LOG(ERROR) << "the first registration never reached every agent";
    return 1;
  }
  const int dcs = cluster_.tier_dc_count();
  for (int i = 0; i < FLAGS_registrations; ++i) {
    const int dc = i % dcs;
    if (i % 2 == 0) {
      agent_.Add(ThroughAgent(dc, absl::StrCat("agent-", i)));
      sdk_.Add(ThroughSdk(dc, absl::StrCat("sdk-", i)));
    } else {
      sdk_.Add(ThroughSdk(dc, absl::StrCat("sdk-", i)));
      agent_.Add(ThroughAgent(dc, absl::StrCat("agent-", i)));
    }
  }
  const bool checked = StartChecked();
  std::mt19937 random(42);
  for (int t = 0; checked && t < FLAGS_check_trials; ++t) {
    check_.Add(FailOnce(t % FLAGS_check_instances));
    absl::SleepFor(absl::Milliseconds(
        std::uniform_int_distribution<int>(0, FLAGS_check_interval_ms)(
            random)));
  }

  const double bound =
      FLAGS_check_interval_ms + FLAGS_check_timeout_ms + 2000;
  std::ostringstream t;
  t << SetupTableHead(
      "every process of both DCs and this benchmark share them, with other "
      "engineers' builds (noisy)");
  t << "| cluster | 2 DCs (dc1 main), each: 1 ZooKeeper server, "
    << FLAGS_mandators << " mandators (--route_cycle_ms=" << FLAGS_route_cycle_ms
    << ", --route_window_ms=" << FLAGS_route_window_ms
    << ", --route_warmup_ms=" << FLAGS_route_warmup_ms << "), "
    << FLAGS_distributors << " distributor(s), " << FLAGS_agents
    << " agents (-c opt binaries); every agent subscribed to the route table "
       "of `"
    << kService << "` |\n";
  if (!FLAGS_wan_profile.empty()) {
    t << "| WAN | dc2's mandators -> dc1's ZooKeeper through tests/wan links, `"
      << FLAGS_wan_profile
      << "` each way; dc1's mandators read dc2's ensemble directly |\n";
  }
  t << "| (a) | " << FLAGS_registrations
    << " registrations of each kind, one at a time, alternately in dc1 and "
       "dc2 and alternately agent first or SDK first; each deregistered and "
       "gone from every file before the next; time from the request (PUT, or "
       "Registration::Create) to healthy in all "
    << agents_.size() << " agents' route files (polled every "
    << absl::ToInt64Milliseconds(kPoll) << " ms) |\n";
  t << "| (b) | " << FLAGS_check_instances
    << " instances registered through the agents with an HTTP check (interval "
    << FLAGS_check_interval_ms << " ms, timeout " << FLAGS_check_timeout_ms
    << " ms, failures_before_critical 1); " << FLAGS_check_trials
    << " trials: one instance's /health answers 500 from then on; time to "
       "suspect with check_status critical in all "
    << agents_.size() << " route files; healthy again before the next |\n\n";
  t << "| measurement | n | errors | p50 ms | p99 ms | max ms | vs floor |\n";
  t << "|---|---:|---:|---:|---:|---:|---|\n";
  const double floor50 = sdk_.P(50), floor99 = sdk_.P(99);
  auto ratio = [](double a, double b) {
    return b > 0 ? absl::StrFormat("%.2f", a / b) : std::string("-");
  };
  t << "| (a) registered through the agent (PUT) -> healthy in every route "
       "file, both DCs | "
    << agent_.ms.size() << " | " << agent_.errors << " | " << Ms(agent_.P(50))
    << " | " << Ms(agent_.P(99)) << " | " << Ms(agent_.Max()) << " | p50 x"
    << ratio(agent_.P(50), floor50) << ", p99 x"
    << ratio(agent_.P(99), floor99) << " |\n";
  t << "| (a) floor: C++ SDK sdk::Registration to the mandators -> the same | "
    << sdk_.ms.size() << " | " << sdk_.errors << " | " << Ms(floor50) << " | "
    << Ms(floor99) << " | " << Ms(sdk_.Max()) << " | 1 |\n";
  t << "| (b) HTTP check failing -> suspect/critical in every route file, "
       "both DCs | "
    << check_.ms.size() << " | " << check_.errors + (checked ? 0 : 1) << " | "
    << Ms(check_.P(50)) << " | " << Ms(check_.P(99)) << " | "
    << Ms(check_.Max()) << " | bound " << Ms(bound) << " ms (interval + "
    << "timeout + 2 s): p99 "
    << (checked && check_.errors == 0 && !check_.ms.empty() &&
                check_.P(99) <= bound
            ? "met"
            : "MISSED")
    << " |\n";
  if (deregister_errors_ > 0) {
    t << "\n" << deregister_errors_
      << " deregistrations not seen in every file within " << FLAGS_timeout_s
      << " s.\n";
  }
  std::cout << t.str();
  return agent_.errors + sdk_.errors + check_.errors > 0 || !checked ||
                 deregister_errors_ > 0
             ? 2
             : 0;
}

}  // namespace
}  // namespace bench
}  // namespace kess

int main(int argc, char** argv) {
  kess::InitProcess(&argc, &argv,
                    "agent_registration_bench --bin_dir=<-c opt bazel-bin>");
  if (FLAGS_bin_dir.empty()) {
    LOG(ERROR) << "--bin_dir is required";
    return 1;
  }
  kess::testing::CacheTierClusterOptions o;
  o.dcs.bin_dir = FLAGS_bin_dir;
  o.dcs.mandators_per_dc = FLAGS_mandators;
  o.dcs.main_other_dcs = true;
  // Plaintext: its own transport clients and the figures in RESULTS.md are
  // of the plain wire; what TLS costs is bench/tls_bench.cc's.
  o.dcs.tls = false;
  o.dcs.extra_flags = {
      absl::StrCat("--route_cycle_ms=", FLAGS_route_cycle_ms),
      absl::StrCat("--route_window_ms=", FLAGS_route_window_ms),
      absl::StrCat("--route_warmup_ms=", FLAGS_route_warmup_ms)};
  o.distributors_per_dc = FLAGS_distributors;
  o.agents_per_dc = FLAGS_agents;
  o.host_id_format = "{dc}-h{i}";
  o.agent_test_intervals = false;
  if (!FLAGS_wan_profile.empty()) {
    absl::StatusOr<kess::wan::LinkProfile> profile =
        kess::wan::ParseLinkProfile(FLAGS_wan_profile);
    if (!profile.ok()) {
      LOG(ERROR) << "--wan_profile: " << profile.status();
      return 1;
    }
    o.dcs.wan_main_zk_for_slaves = true;
    o.dcs.wan_profiles = {*profile};
  }
  auto cluster = kess::testing::CacheTierCluster::Start(o);
  if (!cluster.ok()) {
    LOG(ERROR) << "cluster: " << cluster.status();
    return 1;
  }
  for (kess::testing::AgentHost* a : (*cluster)->AllAgents()) {
    absl::Status s =
        a->Subscribe(absl::StrCat(R"({"routes":[")", kess::bench::kService,
                                  R"("]})"));
    if (!s.ok()) {
      LOG(ERROR) << "subscribe " << a->host_id() << ": " << s;
      return 1;
    }
  }
  const int status = kess::bench::Bench(**cluster).Run();
  const std::string dir = (*cluster)->dcs().dir();
  cluster->reset();
  if (!FLAGS_keep_dir) kess::bench::RemoveScratchDir(dir);
  return status;
}
