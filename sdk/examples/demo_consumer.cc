// demo_consumer: a sample consumer. Calls a service (by default the
// demo_provider's `demo-echo`) in a loop through kess::sdk::Discovery: the
// route table comes from the agent's file cache, the balancer prefers
// instances of its own DC, and failed calls are reported for failover.
// It also watches one config through kess::sdk::ConfigClient and logs every
// new version.
//
//   demo_consumer --dc=dc1 --cache_dir=/var/cache/kess
//       --agent=127.0.0.1:7310 --stats_file=/tmp/consumer.json
//
// Every --report_every_ms it logs one line of counters; with --stats_file
// it also writes them (atomically, once a second) as JSON:
//   {"calls":120,"ok":118,"failed":0,"no_instance":2,"last_error":"",
//    "by_instance":{"echo-dc1-1":118},"by_dc":{"dc1":118},
//    "route_revision":14,"instances":2,"greeting":"hello",
//    "greeting_revision":9}
// `failed` counts calls to a selected instance that did not answer 200;
// `no_instance` counts loop turns without any instance to call (before the
// first route table arrives).
#include <signal.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "model/file_cache/env.h"
#include "common/http_client.h"
#include "common/init.h"
#include "common/json_util.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "sdk/config_client.h"
#include "sdk/discovery.h"

DEFINE_string(service, "demo-echo", "Service to call.");
DEFINE_string(dc, "", "This process's datacenter (local-first); required.");
DEFINE_string(cache_dir, "/var/cache/kess", "The local agent's --cache_dir.");
DEFINE_string(agent, "127.0.0.1:7310", "The local agent's HTTP API.");
DEFINE_string(balancer, "local_first",
              "weighted_random, hrw or local_first (own DC first).");
DEFINE_int32(interval_ms, 100, "Pause between calls.");
DEFINE_int32(call_timeout_ms, 2000, "Timeout of one call.");
DEFINE_int32(report_every_ms, 5000, "Log the counters this often.");
DEFINE_string(stats_file, "", "If set, the counters as JSON, every second.");
DEFINE_string(config_namespace, "demo", "Config to watch (empty: none).");
DEFINE_string(config_key, "greeting", "Config to watch.");

namespace {

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

struct Stats {
  absl::Mutex mu;
  int64_t calls = 0, ok = 0, failed = 0, no_instance = 0;
  std::string last_error;
  std::map<std::string, int64_t> by_instance, by_dc;
  int64_t route_revision = 0, instances = 0;
  std::string greeting;
  int64_t greeting_revision = 0;

  std::string Json() {
    absl::MutexLock lock(&mu);
    auto map_json = [](const std::map<std::string, int64_t>& m) {
      std::string out = "{";
      for (const auto& [k, v] : m) {
        if (out.size() > 1) out += ",";
        absl::StrAppend(&out, kess::JsonQuote(k), ":", v);
      }
      return out + "}";
    };
    return absl::StrCat(
        "{\"calls\":", calls, ",\"ok\":", ok, ",\"failed\":", failed,
        ",\"no_instance\":", no_instance,
        ",\"last_error\":", kess::JsonQuote(last_error),
        ",\"by_instance\":", map_json(by_instance),
        ",\"by_dc\":", map_json(by_dc), ",\"route_revision\":", route_revision,
        ",\"instances\":", instances,
        ",\"greeting\":", kess::JsonQuote(greeting),
        ",\"greeting_revision\":", greeting_revision, "}");
  }
};


// GET http://<address>/echo?msg=<n>; OK with the body, or why not.
absl::StatusOr<std::string> Call(const std::string& address, int64_t n) {
  KESS_ASSIGN_OR_RETURN(
      kess::HttpReply reply,
      kess::HttpCall(address, "GET", absl::StrCat("/echo?msg=call-", n), "",
                     absl::Milliseconds(FLAGS_call_timeout_ms)));
  if (reply.status != 200) {
    return absl::UnavailableError(
        absl::StrCat(address, " answered ", reply.status));
  }
  return reply.body;
}

void WriteStats(Stats& stats) {
  absl::Status written = kess::file_cache::WriteFileAtomically(
      kess::file_cache::Env::Default(), FLAGS_stats_file, stats.Json() + "\n");
  if (!written.ok()) LOG(ERROR) << "--stats_file: " << written;
}

}  // namespace

int main(int argc, char** argv) {
  kess::InitProcess(&argc, &argv,
                    "demo_consumer --dc=dc1 --cache_dir=DIR --agent=host:port");
  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);
  if (FLAGS_dc.empty()) {
    LOG(ERROR) << "--dc is required";
    return 1;
  }

  kess::sdk::Discovery::Options options;
  options.cache_dir = FLAGS_cache_dir;
  options.agent_http_address = FLAGS_agent;
  options.poll_interval = absl::Milliseconds(200);
  options.balancer = FLAGS_balancer;
  options.local_datacenter = FLAGS_dc;
  auto discovery = kess::sdk::Discovery::Create(options);
  if (!discovery.ok()) {
    LOG(ERROR) << "discovery: " << discovery.status();
    return 1;
  }

  Stats stats;
  auto route_watch = (*discovery)->Watch(
      FLAGS_service,
      [&stats](std::shared_ptr<const kess::RouteTable> table) {
        LOG(INFO) << "route table of " << table->service << ": revision "
                  << table->revision << ", " << table->instances.size()
                  << " instance(s)";
        absl::MutexLock lock(&stats.mu);
        stats.route_revision = table->revision;
        stats.instances = static_cast<int64_t>(table->instances.size());
      });
  if (!route_watch.ok()) {
    LOG(ERROR) << "watch " << FLAGS_service << ": " << route_watch.status();
    return 1;
  }

  std::unique_ptr<kess::sdk::ConfigClient> configs;
  std::unique_ptr<kess::sdk::ConfigClient::WatchHandle> config_watch;
  if (!FLAGS_config_namespace.empty()) {
    kess::sdk::ConfigClient::Options config_options;
    config_options.cache_dir = FLAGS_cache_dir;
    config_options.agent_http_address = FLAGS_agent;
    config_options.poll_interval = absl::Milliseconds(200);
    auto client = kess::sdk::ConfigClient::Create(config_options);
    if (!client.ok()) {
      LOG(ERROR) << "config client: " << client.status();
      return 1;
    }
    configs = *std::move(client);
    auto watch = configs->Watch(
        FLAGS_config_namespace, FLAGS_config_key,
        [&stats](const kess::sdk::ConfigValue& v) {
          LOG(INFO) << "config " << v.namespace_name << "/" << v.key
                    << " revision " << v.revision << ": "
                    << (v.deleted ? "(deleted)" : v.value);
          absl::MutexLock lock(&stats.mu);
          stats.greeting = v.deleted ? "" : v.value;
          stats.greeting_revision = v.revision;
        });
    if (!watch.ok()) {
      LOG(ERROR) << "watch config: " << watch.status();
      return 1;
    }
    config_watch = *std::move(watch);
  }

  LOG(INFO) << "demo_consumer calling " << FLAGS_service << " from "
            << FLAGS_dc << " (" << FLAGS_balancer << ")";
  absl::Time next_report = absl::Now() + absl::Milliseconds(FLAGS_report_every_ms);
  absl::Time next_stats = absl::Now();
  int64_t n = 0;
  while (!g_stop) {
    ++n;
    auto instance = (*discovery)->Select(FLAGS_service, absl::StrCat(n));
    if (!instance.ok()) {
      absl::MutexLock lock(&stats.mu);
      ++stats.no_instance;
      stats.last_error = std::string(instance.status().message());
    } else {
      absl::StatusOr<std::string> reply = Call((*instance)->address, n);
      absl::MutexLock lock(&stats.mu);
      ++stats.calls;
      if (reply.ok()) {
        ++stats.ok;
        ++stats.by_instance[(*instance)->id];
        ++stats.by_dc[(*instance)->datacenter];
        (*discovery)->ReportSuccess(FLAGS_service, (*instance)->id);
      } else {
        ++stats.failed;
        stats.last_error = std::string(reply.status().message());
        LOG(WARNING) << "call to " << (*instance)->id << " failed: "
                     << reply.status();
        (*discovery)->ReportFailure(FLAGS_service, (*instance)->id);
      }
    }
    const absl::Time now = absl::Now();
    if (!FLAGS_stats_file.empty() && now >= next_stats) {
      WriteStats(stats);
      next_stats = now + absl::Seconds(1);
    }
    if (now >= next_report) {
      LOG(INFO) << "stats " << stats.Json();
      next_report = now + absl::Milliseconds(FLAGS_report_every_ms);
    }
    absl::SleepFor(absl::Milliseconds(FLAGS_interval_ms));
  }
  if (!FLAGS_stats_file.empty()) WriteStats(stats);
  LOG(INFO) << "stopping; final stats " << stats.Json();
  config_watch.reset();
  configs.reset();
  route_watch->reset();
  return 0;
}
