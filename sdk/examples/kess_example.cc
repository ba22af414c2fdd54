// kess-example in C++: the example program every kess client ships, with
// the same command line in every language (clients/README.md), so that the
// cross-language end-to-end test (tests/clients/) drives them all alike.
//
//   kess_example provider --agent http://127.0.0.1:PORT --service SVC
//       --id ID --port P
//   kess_example pick --cache_dir DIR --service SVC --local_dc DC
//       --keys k1,k2 [--wait_s 30]
//   kess_example call --cache_dir DIR --service SVC --local_dc DC
//       --count N [--wait_s 30]
//   kess_example watch --agent http://127.0.0.1:PORT --namespace NS
//       --key K [--timeout_s 30]
//
// provider: serves GET / ("cpp <ID>\n") and GET /health, and registers
//   itself through the host's agent (PUT /v1/services/SVC/instances/ID,
//   docs/agent-api.md) with an HTTP check on /health every 1 s and a TTL
//   check "<ID>-ttl" that it passes every ttl_s/3 (registering again if the
//   agent lost the instance). The C++ SDK's own Registration talks to the
//   mandators directly; a C++ process on a host with an agent may do either,
//   and this example shows the agent's way, like the other languages.
//   Prints "ready" once registered; SIGTERM/SIGINT deregisters, exit 0.
// pick: sdk::Discovery, local_first (min_local_healthy 1) over hrw; one
//   {"key","instance"} line per key.
// call: sdk::Discovery, local_first over weighted_random; N GET / calls,
//   failures reported; one {"instance","body"} or {"instance","error"} line
//   per call.
// watch: subscribes NS/K through the agent (owner "kess-example-<pid>"),
//   then follows it with the agent's blocking watch (GET /v1/watch), falling
//   back to reading the cache file (the path the subscription answer names)
//   while the agent does not answer; one {"revision","value"} line (plus
//   "deleted":true for a tombstone) per new revision, until timeout_s.
//
// pick and call read the cache only unless --agent is given too (then they
// subscribe the service through it). Exit status: 0 on success, 1 on
// failure (no instance within wait_s, the agent refused the registration),
// 2 on bad flags.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/const_init.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/http_client.h"
#include "common/http_server.h"
#include "common/init.h"
#include "common/json_util.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "model/file_cache/format.h"
#include "sdk/discovery.h"

DEFINE_string(agent, "",
              "The agent's API: http://host:port, host:port or unix:PATH.");
DEFINE_string(service, "", "provider, pick, call: the service.");
DEFINE_string(id, "", "provider: the instance id.");
DEFINE_int32(port, -1, "provider: HTTP port on 127.0.0.1 (0: any free one).");
DEFINE_double(ttl_s, 10, "provider: TTL of the check it renews.");
DEFINE_double(register_timeout_s, 30,
              "provider: how long to retry an agent that does not answer.");
DEFINE_string(cache_dir, "", "pick, call: the agent's --cache_dir.");
DEFINE_string(local_dc, "", "pick, call: the caller's datacenter.");
DEFINE_string(keys, "", "pick: comma-separated request keys.");
DEFINE_int32(count, -1, "call: number of calls.");
DEFINE_double(wait_s, 30, "pick, call: how long to wait for an instance.");
DEFINE_double(call_timeout_s, 2, "call: timeout of one call.");
DEFINE_string(namespace_name, "", "watch: config namespace (--namespace).");
DEFINE_string(key, "", "watch: config key.");
DEFINE_double(timeout_s, 30, "watch: how long to watch.");

namespace {

constexpr char kLanguage[] = "cpp";

// One line on stdout; lines of several threads never interleave.
void Emit(const std::string& line) {
  static absl::Mutex mu(absl::kConstInit);
  absl::MutexLock lock(&mu);
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

absl::Duration Seconds(double s) { return absl::Milliseconds(s * 1000); }

// "http://127.0.0.1:7310" -> "127.0.0.1:7310"; "unix:PATH" stays.
std::string AgentAddress(const std::string& flag) {
  absl::string_view agent = flag;
  absl::ConsumePrefix(&agent, "http://");
  absl::ConsumeSuffix(&agent, "/");
  return std::string(agent);
}

bool Required(const char* command,
              std::vector<std::pair<const char*, std::string>> flags) {
  for (const auto& [name, value] : flags) {
    if (value.empty()) {
      std::cerr << "kess-example " << command << ": --" << name
                << " is required\n";
      return false;
    }
  }
  return true;
}

std::string AgentError(const absl::StatusOr<kess::HttpReply>& reply) {
  if (!reply.ok()) return reply.status().ToString();
  return absl::StrCat("HTTP ", reply->status, ": ", reply->body);
}

// ---- provider ----

int Provider() {
  if (!Required("provider", {{"agent", FLAGS_agent},
                             {"service", FLAGS_service},
                             {"id", FLAGS_id}})) {
    return 2;
  }
  if (FLAGS_port < 0 || FLAGS_port > 65535 || FLAGS_ttl_s <= 0) {
    std::cerr << "kess-example provider: --port 0..65535 is required\n";
    return 2;
  }
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  const std::string body = absl::StrCat(kLanguage, " ", FLAGS_id, "\n");
  kess::HttpServer::Options http;
  http.host = "127.0.0.1";
  http.port = FLAGS_port;
  auto server = kess::HttpServer::Create(http);
  if (!server.ok()) {
    std::cerr << "HTTP server: " << server.status() << "\n";
    return 1;
  }
  (*server)->Handle("GET", "/", [&body](const kess::HttpRequest&) {
    return kess::HttpResponse::Text(200, body);
  });
  (*server)->Handle("GET", "/health", [](const kess::HttpRequest&) {
    return kess::HttpResponse::Text(200, "ok\n");
  });
  if (absl::Status s = (*server)->Start(); !s.ok()) {
    std::cerr << "HTTP server start: " << s << "\n";
    return 1;
  }
  const std::string address = absl::StrCat("127.0.0.1:", (*server)->port());
  const std::string agent = AgentAddress(FLAGS_agent);
  const std::string owner = absl::StrCat("kess-example-", getpid());
  const std::string ttl_check = FLAGS_id + "-ttl";
  const std::string instance_uri =
      absl::StrCat("/v1/services/", FLAGS_service, "/instances/", FLAGS_id);
  const std::string registration = absl::StrCat(
      R"({"address":")", address, R"(","weight":100,"owner":)",
      kess::JsonQuote(owner), R"(,"checks":[)",
      R"({"kind":"http","url":"http://)", address,
      R"(/health","interval":"1s","timeout":"500ms"},)",
      R"({"id":)", kess::JsonQuote(ttl_check), R"(,"kind":"ttl","ttl":")",
      static_cast<int64_t>(FLAGS_ttl_s * 1000), R"(ms"}]})");
  auto put = [&] {
    return kess::HttpCall(agent, "PUT", instance_uri, registration,
                          absl::Seconds(5));
  };
  auto pass = [&] {
    return kess::HttpCall(
        agent, "PUT",
        absl::StrCat("/v1/checks/", ttl_check, "/pass?owner=", owner), "",
        absl::Seconds(5));
  };

  const absl::Time deadline = absl::Now() + Seconds(FLAGS_register_timeout_s);
  while (true) {
    auto reply = put();
    if (reply.ok() && reply->status == 200) break;
    const bool permanent = reply.ok() && reply->status >= 400 &&
                           reply->status < 500 && reply->status != 409 &&
                           reply->status != 429;
    if (permanent || absl::Now() >= deadline) {
      std::cerr << "registration failed: " << AgentError(reply) << "\n";
      return 1;
    }
    absl::SleepFor(absl::Milliseconds(500));
  }
  if (auto r = pass(); !r.ok() || r->status != 200) {
    LOG(WARNING) << "TTL pass: " << AgentError(r);
  }
  Emit("ready");

  // The TTL heartbeat: every ttl/3; registers again on 404 (the agent lost
  // the instance: restarted without its state file, or replaced).
  absl::Notification stopping;
  std::thread heartbeat([&] {
    const absl::Duration period = Seconds(FLAGS_ttl_s / 3);
    while (!stopping.WaitForNotificationWithTimeout(period)) {
      auto r = pass();
      if (r.ok() && r->status == 404) {
        LOG(WARNING) << "the agent lost " << FLAGS_id << "; registering again";
        auto again = put();
        if (again.ok() && again->status == 200) {
          pass().IgnoreError();
        } else {
          LOG(WARNING) << "registering again: " << AgentError(again);
        }
      } else if (!r.ok() || r->status != 200) {
        LOG(WARNING) << "TTL pass: " << AgentError(r);
      }
    }
  });

  int sig = 0;
  sigwait(&stop_signals, &sig);
  stopping.Notify();
  heartbeat.join();
  auto deleted = kess::HttpCall(
      agent, "DELETE", absl::StrCat(instance_uri, "?owner=", owner), "",
      absl::Seconds(5));
  (*server)->Stop();
  if (!deleted.ok() || deleted->status != 200) {
    std::cerr << "deregistration failed: " << AgentError(deleted) << "\n";
  }
  return 0;
}

// ---- pick and call ----

absl::StatusOr<std::unique_ptr<kess::sdk::Discovery>> MakeDiscovery(
    const std::string& inner) {
  kess::sdk::Discovery::Options o;
  o.cache_dir = FLAGS_cache_dir;
  o.agent_http_address = FLAGS_agent.empty() ? "" : AgentAddress(FLAGS_agent);
  o.balancer = "local_first";
  o.local_datacenter = FLAGS_local_dc;
  o.min_local_healthy = 1;
  o.local_first_inner = inner;
  o.poll_interval = absl::Milliseconds(200);
  return kess::sdk::Discovery::Create(o);
}

bool WaitForInstance(kess::sdk::Discovery& d) {
  const absl::Time deadline = absl::Now() + Seconds(FLAGS_wait_s);
  while (true) {
    if (d.Select(FLAGS_service).ok()) return true;
    if (absl::Now() >= deadline) {
      std::cerr << "no instance of " << FLAGS_service << " within "
                << FLAGS_wait_s << "s\n";
      return false;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
}

bool PickOrCallFlags(const char* command) {
  return Required(command, {{"cache_dir", FLAGS_cache_dir},
                            {"service", FLAGS_service},
                            {"local_dc", FLAGS_local_dc}});
}

int Pick() {
  if (!PickOrCallFlags("pick") || !Required("pick", {{"keys", FLAGS_keys}})) {
    return 2;
  }
  auto d = MakeDiscovery("hrw");
  if (!d.ok()) {
    std::cerr << "kess-example: " << d.status() << "\n";
    return 2;
  }
  if (!WaitForInstance(**d)) return 1;
  for (absl::string_view key :
       absl::StrSplit(FLAGS_keys, ',', absl::SkipEmpty())) {
    auto instance = (*d)->Select(FLAGS_service, key);
    if (!instance.ok()) {
      std::cerr << "pick " << key << ": " << instance.status() << "\n";
      return 1;
    }
    Emit(absl::StrCat(R"({"key":)", kess::JsonQuote(std::string(key)),
                      R"(,"instance":)", kess::JsonQuote((*instance)->id),
                      "}"));
  }
  return 0;
}

int Call() {
  if (!PickOrCallFlags("call")) return 2;
  if (FLAGS_count < 0) {
    std::cerr << "kess-example call: --count is required\n";
    return 2;
  }
  auto d = MakeDiscovery("weighted_random");
  if (!d.ok()) {
    std::cerr << "kess-example: " << d.status() << "\n";
    return 2;
  }
  if (!WaitForInstance(**d)) return 1;
  for (int i = 0; i < FLAGS_count; ++i) {
    auto instance = (*d)->Select(FLAGS_service);
    if (!instance.ok()) {
      std::cerr << "select: " << instance.status() << "\n";
      return 1;
    }
    const std::string& id = (*instance)->id;
    auto reply = kess::HttpCall((*instance)->address, "GET", "/", "",
                                Seconds(FLAGS_call_timeout_s));
    if (reply.ok() && reply->status == 200) {
      (*d)->ReportSuccess(FLAGS_service, id);
      Emit(absl::StrCat(R"({"instance":)", kess::JsonQuote(id),
                        R"(,"body":)", kess::JsonQuote(reply->body), "}"));
    } else {
      (*d)->ReportFailure(FLAGS_service, id);
      const std::string error = reply.ok()
                                    ? absl::StrCat("HTTP ", reply->status)
                                    : reply.status().ToString();
      Emit(absl::StrCat(R"({"instance":)", kess::JsonQuote(id),
                        R"(,"error":)", kess::JsonQuote(error), "}"));
    }
  }
  return 0;
}

// ---- watch ----

// Prints `entry` if it is newer than `*held`.
void Deliver(const kess::file_cache::CacheEntry& entry, int64_t* held) {
  if (entry.revision <= *held) return;
  *held = entry.revision;
  std::string line = absl::StrCat(R"({"revision":)", entry.revision,
                                  R"(,"value":)", kess::JsonQuote(entry.value));
  if (entry.absent) absl::StrAppend(&line, R"(,"deleted":true)");
  Emit(line + "}");
}

// The cache file at `path`, if it holds a good version of the key.
void ReadFile(const std::string& path, int64_t* held) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return;
  std::stringstream text;
  text << in.rdbuf();
  auto entry = kess::file_cache::DecodeEntry(text.str());
  if (entry.ok() &&
      entry->key == kess::file_cache::CacheKey::Config(FLAGS_namespace_name,
                                                       FLAGS_key)) {
    Deliver(*entry, held);
  }
}

int Watch() {
  if (!Required("watch", {{"agent", FLAGS_agent},
                          {"namespace", FLAGS_namespace_name},
                          {"key", FLAGS_key}})) {
    return 2;
  }
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  static std::atomic<bool> stop{false};  // the detached thread's too
  std::thread signals([stop_signals] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    stop = true;
  });
  signals.detach();

  const std::string agent = AgentAddress(FLAGS_agent);
  const std::string owner = absl::StrCat("kess-example-", getpid());
  const std::string selection = absl::StrCat(
      R"({"app":)", kess::JsonQuote(owner), R"(,"configs":[{"namespace":)",
      kess::JsonQuote(FLAGS_namespace_name), R"(,"key":)",
      kess::JsonQuote(FLAGS_key), "}]}");
  const absl::Time end = absl::Now() + Seconds(FLAGS_timeout_s);

  // Subscribe (retried while the agent does not answer); the answer names
  // the cache file, read while the blocking watch is unavailable.
  std::string path;
  while (path.empty() && !stop && absl::Now() < end) {
    auto reply = kess::HttpCall(agent, "POST", "/v1/subscriptions", selection,
                                absl::Seconds(10));
    if (reply.ok() && reply->status == 200) {
      auto answer = kess::ParseJsonObject(reply->body);
      if (answer.ok()) {
        auto subs = (*answer)->getArray("subscriptions");
        if (subs && subs->size() > 0 && subs->getObject(0)) {
          path = subs->getObject(0)->optValue<std::string>("path", "");
        }
      }
      if (path.empty()) {
        std::cerr << "unexpected subscription answer: " << reply->body << "\n";
        return 1;
      }
    } else if (reply.ok() && reply->status >= 400 && reply->status < 500) {
      std::cerr << "subscription refused: " << AgentError(reply) << "\n";
      return 1;
    } else {
      absl::SleepFor(absl::Milliseconds(500));
    }
  }

  int64_t held = 0;
  std::string epoch;
  int64_t index = 0;
  const std::string query =
      absl::StrCat("/v1/watch?config=", FLAGS_namespace_name, "/", FLAGS_key);
  while (!stop && !path.empty()) {
    const absl::Duration left = end - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    // Waits of at most 5 s, so that SIGTERM and the end are seen soon.
    const int64_t wait_ms = std::max<int64_t>(
        1, std::min<int64_t>(5000, absl::ToInt64Milliseconds(left)));
    std::string uri = absl::StrCat(query, "&timeout=", wait_ms, "ms");
    if (!epoch.empty()) {
      absl::StrAppend(&uri, "&index=", index, "&epoch=", epoch);
    }
    auto reply = kess::HttpCall(agent, "GET", uri, "",
                                absl::Milliseconds(wait_ms) + absl::Seconds(5));
    auto answer = reply.ok() && reply->status == 200
                      ? kess::ParseJsonObject(reply->body)
                      : absl::StatusOr<Poco::JSON::Object::Ptr>(
                            absl::UnavailableError(AgentError(reply)));
    if (!answer.ok()) {
      // The agent does not answer: the file, then a second's pause.
      epoch.clear();
      ReadFile(path, &held);
      absl::SleepFor(std::min(absl::Seconds(1), end - absl::Now()));
      continue;
    }
    epoch = (*answer)->optValue<std::string>("epoch", "");
    index = (*answer)->optValue<int64_t>("index", 0);
    auto changes = (*answer)->getArray("changes");
    for (size_t i = 0; changes && i < changes->size(); ++i) {
      auto change = changes->getObject(i);
      if (!change) continue;
      // A change is exactly a cache file's JSON object.
      auto entry = kess::file_cache::DecodeEntry(kess::ToJson(change));
      if (entry.ok()) Deliver(*entry, &held);
    }
  }
  kess::HttpCall(agent, "DELETE", "/v1/subscriptions", selection,
                 absl::Seconds(5))
      .IgnoreError();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // --namespace is the flag every language takes; gflags cannot define a
  // flag named after a C++ keyword, so it is renamed before parsing.
  std::vector<std::string> renamed;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--namespace") a = "--namespace_name";
    if (absl::StartsWith(a, "--namespace=")) {
      a = "--namespace_name=" + a.substr(12);
    }
    renamed.push_back(a);
  }
  std::vector<char*> args;
  for (std::string& a : renamed) args.push_back(a.data());
  args.push_back(nullptr);
  int n = argc;
  char** v = args.data();
  kess::InitProcess(&n, &v,
                    "kess_example provider|pick|call|watch --flags "
                    "(clients/README.md)");
  if (n < 2) {
    std::cerr << "usage: kess-example provider|pick|call|watch --flags\n";
    return 2;
  }
  const std::string command = v[1];
  if (command == "provider") return Provider();
  if (command == "pick") return Pick();
  if (command == "call") return Call();
  if (command == "watch") return Watch();
  std::cerr << "kess-example: unknown command " << command << "\n";
  return 2;
}
