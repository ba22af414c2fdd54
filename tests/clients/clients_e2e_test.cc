// The kess clients of every language against one real two-DC cluster
// (tests/discovery/discovery_cluster.h: per DC a ZooKeeper server, 3
// mandators, a distributor and 3 agents, hosts dc1-h1..dc2-h3), each driven
// through its example program, which has the same command line in every
// language (clients/README.md): Python (clients/python/kess_example.py), Go
// (clients/go/kess-example), Java (clients/java/kess-example) and C++
// (sdk/examples:kess_example).
//
//  1. Providers: one per language in each DC (8), spread over the hosts,
//     each registered through its host's agent (PUT /v1/services/...; the
//     C++ one too) with an HTTP check and a TTL check. All 8 turn healthy
//     in every agent's route table, on the host and DC of their agent.
//  2. Calls: in each DC, the consumer of every language makes 60 calls
//     (local-first, weighted random) from a host's cache: every call is
//     answered, by the body of the language that serves that instance, and
//     every consumer reaches each of its DC's 4 providers (one per
//     language).
//  3. HRW picks: the pick command of the 4 languages on one host's cache
//     dir, for 64 keys, local DC dc2 and then dc1: the same instance for
//     every key in every language, with the table's revision the same
//     before and after (else the round is repeated).
//  4. Config watch: a watcher per language (on 4 hosts in both DCs) gets
//     the value it finds at start, is seen waiting in its agent's blocking
//     watch (kess_agent_watch_waiters), and prints the new revision of a
//     write at the main DC's leader.
//  5. SIGTERM: every provider and watcher exits 0; the providers
//     deregistered themselves, so every agent's table drops them.
//
// The Go binary and the Java jar are built first, from copies of the
// sources in the runfiles, into $TEST_TMPDIR (GOCACHE, GOPATH, TMPDIR
// there), by the clients' own launchers (bin.sh, jar.sh).
#include <stdlib.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/json_util.h"
#include "common/testing/wait_for.h"
#include "glog/logging.h"
#include "gtest/gtest.h"
#include "tests/cluster/distributor_process.h"
#include "tests/discovery/discovery_cluster.h"
#include "tests/harness/daemon_process.h"
#include "tests/harness/run_command.h"

namespace kess {
namespace {

using testing::AgentHost;
using testing::CommandResult;
using testing::DaemonProcess;
using testing::DiscoveryCluster;
using testing::HasInstance;
using testing::LacksInstance;
using testing::RunCommand;
using testing::Runfile;
using testing::TestTmpDir;
using testing::WaitAllAgents;
using testing::WaitFor;

constexpr char kService[] = "xlang-echo";
constexpr char kNamespace[] = "xlang";
constexpr char kKey[] = "greeting";
constexpr absl::Duration kPatience = absl::Seconds(60);  // "did not hang"
constexpr absl::Duration kBuildTimeout = absl::Minutes(5);
constexpr int kCalls = 60;
constexpr int kKeys = 64;

const std::vector<std::string> kLanguages = {"python", "go", "java", "cpp"};

// The example programs, once built.
struct Examples {
  std::string go_launcher;    // clients/go/kess-example (a copy)
  std::string java_launcher;  // clients/java/kess-example (a copy)

  // The command line of `language`'s kess-example.
  std::vector<std::string> Command(const std::string& language,
                                   std::vector<std::string> args) const {
    std::vector<std::string> argv;
    if (language == "python") {
      argv = {"/usr/bin/python3", Runfile("clients/python/kess_example.py")};
    } else if (language == "go") {
      argv = {go_launcher};
    } else if (language == "java") {
      argv = {java_launcher};
    } else {
      argv = {Runfile("sdk/examples/kess_example")};
    }
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
};

// Copies clients/go and clients/java out of the runfiles (symbolic links)
// and builds the Go binary and the Java jar there with their launchers.
absl::StatusOr<Examples> BuildExamples() {
  const std::string dir = TestTmpDir() + "/clients";
  Examples e;
  for (const char* lang : {"go", "java"}) {
    KESS_ASSIGN_OR_RETURN(
        CommandResult copied,
        RunCommand({"/bin/sh", "-c",
                    absl::StrCat("mkdir -p ", dir, "/", lang, " && cp -rL ",
                                 Runfile(absl::StrCat("clients/", lang)),
                                 "/. ", dir, "/", lang, "/")},
                   absl::Minutes(1)));
    if (copied.exit_code != 0) {
      return absl::InternalError(absl::StrCat("copying clients/", lang));
    }
  }
  e.go_launcher = dir + "/go/kess-example";
  e.java_launcher = dir + "/java/kess-example";
  const absl::Time start = absl::Now();
  KESS_ASSIGN_OR_RETURN(CommandResult go,
                        RunCommand({dir + "/go/bin.sh", "kess-example"},
                                   kBuildTimeout));
  if (go.exit_code != 0) return absl::InternalError("go build failed");
  LOG(INFO) << "Go kess-example built in " << absl::Now() - start << ": "
            << go.out;
  const absl::Time java_start = absl::Now();
  KESS_ASSIGN_OR_RETURN(CommandResult java,
                        RunCommand({dir + "/java/jar.sh"}, kBuildTimeout));
  if (java.exit_code != 0) return absl::InternalError("java build failed");
  LOG(INFO) << "Java jar built in " << absl::Now() - java_start << ": "
            << java.out;
  return e;
}

// The JSON objects among `text`'s lines (lines that do not parse, such as
// log lines, are left out).
std::vector<Poco::JSON::Object::Ptr> JsonLines(const std::string& text) {
  std::vector<Poco::JSON::Object::Ptr> out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!absl::StartsWith(line, "{")) continue;
    auto object = ParseJsonObject(std::string(line));
    if (object.ok()) out.push_back(*object);
  }
  return out;
}

std::string ReadLog(const std::string& path) {
  std::string text;
  FILE* f = fopen(path.c_str(), "r");
  if (f == nullptr) return text;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  fclose(f);
  return text;
}

// Runs every command of `commands` at once; their results, in order.
std::vector<absl::StatusOr<CommandResult>> RunAll(
    const std::vector<std::vector<std::string>>& commands,
    absl::Duration timeout) {
  std::vector<absl::StatusOr<CommandResult>> results(
      commands.size(), absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < commands.size(); ++i) {
    threads.emplace_back(
        [&, i] { results[i] = RunCommand(commands[i], timeout); });
  }
  for (std::thread& t : threads) t.join();
  return results;
}

// The language of an instance id "<language>-<dc>".
std::string LanguageOf(const std::string& id) {
  return std::string(id.substr(0, id.find('-')));
}

struct Provider {
  std::string language;
  std::string dc;
  std::string host;
  std::string id;  // "<language>-<dc>"
  std::unique_ptr<DaemonProcess> process;
};

TEST(ClientsE2eTest, EveryLanguageProvidesConsumesPicksAndWatches) {
  ASSERT_EQ(setenv("TMPDIR", TestTmpDir().c_str(), 1), 0);
  ASSERT_EQ(setenv("GOCACHE", (TestTmpDir() + "/gocache").c_str(), 1), 0);
  ASSERT_EQ(setenv("GOPATH", (TestTmpDir() + "/gopath").c_str(), 1), 0);
  if (getenv("HOME") == nullptr) {
    ASSERT_EQ(setenv("HOME", TestTmpDir().c_str(), 1), 0);
  }

  // The builds (minutes on a busy machine the first time) run beside the
  // cluster's start-up. RunCommand's children die with the thread that
  // started them, which waits for them.
  absl::StatusOr<Examples> built = absl::UnknownError("not built");
  std::thread builder([&] { built = BuildExamples(); });

  testing::DiscoveryClusterOptions options;
  options.agents_per_dc = 3;
  auto started = DiscoveryCluster::Start(options);
  builder.join();
  ASSERT_TRUE(built.ok()) << built.status();
  ASSERT_TRUE(started.ok()) << started.status();
  const Examples& examples = *built;
  DiscoveryCluster& cluster = **started;
  ASSERT_TRUE(cluster.SubscribeRoutes({kService}).ok());
  const std::vector<AgentHost*> agents = cluster.AllAgents();
  ASSERT_EQ(agents.size(), 6u);

  // 1. A provider per language in each DC, through its host's agent.
  std::vector<Provider> providers;
  for (int d = 0; d < 2; ++d) {
    const std::string dc = d == 0 ? "dc1" : "dc2";
    for (int l = 0; l < 4; ++l) {
      Provider p;
      p.language = kLanguages[l];
      p.dc = dc;
      p.host = absl::StrCat(dc, "-h", (l + d) % 3 + 1);
      p.id = absl::StrCat(p.language, "-", dc);
      AgentHost* agent = cluster.Agent(p.host);
      ASSERT_NE(agent, nullptr) << p.host;
      p.process = std::make_unique<DaemonProcess>(
          "provider " + p.id,
          absl::StrCat(TestTmpDir(), "/provider-", p.id, ".log"));
      ASSERT_TRUE(p.process
                      ->Start(examples.Command(
                          p.language,
                          {"provider", "--agent",
                           "http://" + agent->http_address(), "--service",
                           kService, "--id", p.id, "--port", "0"}))
                      .ok());
      providers.push_back(std::move(p));
    }
  }
  for (Provider& p : providers) {
    EXPECT_TRUE(WaitFor(
        [&] {
          return absl::StrContains(ReadLog(p.process->log_path()), "ready\n") ||
                 p.process->Exited();
        },
        kPatience));
    ASSERT_TRUE(p.process->running())
        << p.id << " exited: " << ReadLog(p.process->log_path());
  }
  const absl::Time registered_at = absl::Now();
  for (const Provider& p : providers) {
    ASSERT_TRUE(WaitAllAgents(agents, kService, HasInstance(p.id, "healthy"),
                              kPatience))
        << p.id;
  }
  LOG(INFO) << "8 providers healthy in every agent's table "
            << absl::Now() - registered_at << " after the last was ready";
  {
    auto table = testing::CachedRouteTable(*agents.back(), kService);
    ASSERT_TRUE(table.ok()) << table.status();
    EXPECT_EQ(table->instances.size(), providers.size());
    for (const Provider& p : providers) {
      const RouteInstance* i = testing::FindInstance(*table, p.id);
      ASSERT_NE(i, nullptr) << p.id;
      EXPECT_EQ(i->host, p.host) << p.id;
      EXPECT_EQ(i->datacenter, p.dc) << p.id;
      EXPECT_TRUE(absl::StartsWith(i->address, "127.0.0.1:")) << i->address;
    }
  }

  // The revision of `host`'s table when every provider is healthy in it,
  // else 0. A check that flaps on a loaded machine (a provider starved
  // beyond its 500 ms check timeout) makes an instance suspect, and a
  // suspect instance is rightly not picked while healthy ones are: a round
  // counts only if the table stayed at one revision with all of them
  // healthy from before it started until after it ended.
  auto healthy_revision = [&](const AgentHost& host) -> int64_t {
    auto table = testing::CachedRouteTable(host, kService);
    if (!table.ok()) return 0;
    for (const Provider& p : providers) {
      if (!HasInstance(p.id, "healthy")(&*table)) return 0;
    }
    return table->revision;
  };
  // Runs `commands` at once until a round ran on one table revision with
  // every provider healthy (at most 3 rounds): their results and that
  // revision in `*revision`, or an empty vector if no round did.
  auto stable_round =
      [&](const AgentHost& host,
          const std::vector<std::vector<std::string>>& commands,
          int64_t* revision) {
        std::vector<absl::StatusOr<CommandResult>> results;
        for (int round = 0; round < 3; ++round) {
          int64_t before = 0;
          if (!WaitFor([&] { return (before = healthy_revision(host)) > 0; },
                       kPatience)) {
            break;
          }
          results = RunAll(commands, absl::Minutes(2));
          const int64_t after = healthy_revision(host);
          if (after == before) {
            *revision = before;
            return results;
          }
          LOG(WARNING) << "the table of " << host.host_id()
                       << " moved from revision " << before << " to "
                       << after << " (0: not every provider healthy) during "
                       << "the round; running it again";
        }
        return std::vector<absl::StatusOr<CommandResult>>{};
      };

  // 2. Every consumer reaches each provider of its DC, in every DC.
  for (const std::string dc : {"dc1", "dc2"}) {
    AgentHost* host = cluster.Agent(dc + "-h3");
    std::vector<std::vector<std::string>> commands;
    for (const std::string& language : kLanguages) {
      commands.push_back(examples.Command(
          language, {"call", "--cache_dir", host->cache_dir(), "--service",
                     kService, "--local_dc", dc, "--count",
                     std::to_string(kCalls), "--wait_s", "30"}));
    }
    const absl::Time start = absl::Now();
    int64_t revision = 0;
    auto results = stable_round(*host, commands, &revision);
    ASSERT_EQ(results.size(), commands.size())
        << "no round of calls in " << dc << " on a stable, healthy table";
    LOG(INFO) << "4 consumers x " << kCalls << " calls in " << dc
              << " (revision " << revision << ") took " << absl::Now() - start;
    for (size_t c = 0; c < kLanguages.size(); ++c) {
      const std::string& consumer = kLanguages[c];
      ASSERT_TRUE(results[c].ok()) << consumer << ": " << results[c].status();
      EXPECT_EQ(results[c]->exit_code, 0) << consumer << "\n"
                                          << results[c]->out;
      std::map<std::string, int> by_instance;
      int lines = 0;
      for (const auto& line : JsonLines(results[c]->out)) {
        ++lines;
        const std::string id = line->optValue<std::string>("instance", "");
        EXPECT_FALSE(line->has("error"))
            << consumer << " calling " << id << ": " << ToJson(line);
        const std::string body = line->optValue<std::string>("body", "");
        EXPECT_EQ(body, absl::StrCat(LanguageOf(id), " ", id, "\n"))
            << consumer << " in " << dc;
        ++by_instance[id];
      }
      EXPECT_EQ(lines, kCalls) << consumer << "\n" << results[c]->out;
      std::set<std::string> reached;
      for (const auto& [id, n] : by_instance) reached.insert(id);
      std::set<std::string> expected;
      for (const std::string& l : kLanguages) expected.insert(l + "-" + dc);
      EXPECT_EQ(reached, expected)
          << "the " << consumer << " consumer in " << dc << " reached "
          << absl::StrJoin(reached, ",");
      LOG(INFO) << consumer << " consumer in " << dc << ": "
                << absl::StrJoin(by_instance, " ", absl::PairFormatter("="));
    }
  }

  // 3. The same HRW picks in every language, on one host's cache dir at one
  // table revision.
  AgentHost* pick_host = cluster.Agent("dc2-h2");
  std::vector<std::string> keys;
  for (int k = 0; k < kKeys; ++k) keys.push_back(absl::StrCat("user-", k));
  for (const std::string local_dc : {"dc2", "dc1"}) {
    std::vector<std::vector<std::string>> commands;
    for (const std::string& language : kLanguages) {
      commands.push_back(examples.Command(
          language, {"pick", "--cache_dir", pick_host->cache_dir(),
                     "--service", kService, "--local_dc", local_dc, "--keys",
                     absl::StrJoin(keys, ","), "--wait_s", "30"}));
    }
    int64_t revision = 0;
    auto results = stable_round(*pick_host, commands, &revision);
    ASSERT_EQ(results.size(), commands.size())
        << "no round of picks on a stable, healthy table";
    {
      std::vector<std::map<std::string, std::string>> picks(kLanguages.size());
      for (size_t c = 0; c < kLanguages.size(); ++c) {
        ASSERT_TRUE(results[c].ok())
            << kLanguages[c] << ": " << results[c].status();
        EXPECT_EQ(results[c]->exit_code, 0) << kLanguages[c];
        for (const auto& line : JsonLines(results[c]->out)) {
          picks[c][line->optValue<std::string>("key", "")] =
              line->optValue<std::string>("instance", "");
        }
        EXPECT_EQ(picks[c].size(), keys.size())
            << kLanguages[c] << "\n" << results[c]->out;
      }
      std::set<std::string> chosen;
      for (const std::string& key : keys) {
        const std::string& cpp = picks[3][key];
        EXPECT_TRUE(absl::EndsWith(cpp, "-" + local_dc)) << key << ": " << cpp;
        chosen.insert(cpp);
        for (size_t c = 0; c < 3; ++c) {
          EXPECT_EQ(picks[c][key], cpp)
              << "key " << key << ": " << kLanguages[c] << " picked "
              << picks[c][key] << ", cpp " << cpp << " (local dc " << local_dc
              << ", revision " << revision << ")";
        }
      }
      // 64 keys over 4 equal instances: every one of them gets some.
      EXPECT_EQ(chosen.size(), 4u) << absl::StrJoin(chosen, ",");
      LOG(INFO) << "HRW picks of " << kKeys << " keys agree in 4 languages "
                << "(local dc " << local_dc << ", revision " << revision
                << ")";
    }
  }

  // 4. A config change reaches a watcher in every language, through the
  // blocking watch of its agent.
  auto first = cluster.tier().Put(kNamespace, kKey, "hello-1");
  ASSERT_TRUE(first.ok()) << first.status();
  const std::map<std::string, std::string> watcher_hosts = {
      {"python", "dc1-h1"}, {"go", "dc2-h1"}, {"java", "dc1-h2"},
      {"cpp", "dc2-h3"}};
  std::map<std::string, std::unique_ptr<DaemonProcess>> watchers;
  for (const auto& watcher_host : watcher_hosts) {
    // Not a structured binding: lambdas below capture them.
    const std::string& language = watcher_host.first;
    const std::string& host = watcher_host.second;
    AgentHost* agent = cluster.Agent(host);
    auto w = std::make_unique<DaemonProcess>(
        "watcher " + language,
        absl::StrCat(TestTmpDir(), "/watch-", language, ".log"));
    ASSERT_TRUE(
        w->Start(examples.Command(
                      language,
                      {"watch", "--agent", "http://" + agent->http_address(),
                       "--namespace", kNamespace, "--key", kKey,
                       "--timeout_s", "90"}))
            .ok());
    watchers[language] = std::move(w);
  }
  // The revision of `value` as the watcher of `language` printed it; 0 if
  // it has not.
  auto seen = [&](const std::string& language, const std::string& value) {
    for (const auto& line :
         JsonLines(ReadLog(watchers[language]->log_path()))) {
      if (line->optValue<std::string>("value", "") == value) {
        return line->optValue<int64_t>("revision", 0);
      }
    }
    return int64_t{0};
  };
  for (const auto& watcher_host : watcher_hosts) {
    // Not a structured binding: lambdas below capture them.
    const std::string& language = watcher_host.first;
    const std::string& host = watcher_host.second;
    EXPECT_TRUE(WaitFor([&] { return seen(language, "hello-1") > 0; },
                        kPatience))
        << language << ":\n" << ReadLog(watchers[language]->log_path());
    EXPECT_EQ(seen(language, "hello-1"), *first) << language;
    AgentHost* agent = cluster.Agent(host);
    EXPECT_TRUE(WaitFor(
        [&] {
          auto metrics = agent->Call("GET", "/metrics");
          if (!metrics.ok() || metrics->status != 200) return false;
          auto waiters = testing::MetricValue(metrics->body,
                                              "kess_agent_watch_waiters");
          return waiters.ok() && *waiters >= 1;
        },
        kPatience, absl::Milliseconds(50)))
        << "no blocking watch waits at " << host << " (" << language << ")";
  }
  const absl::Time written_at = absl::Now();
  auto second = cluster.tier().Put(kNamespace, kKey, "hello-2");
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_GT(*second, *first);
  for (const auto& watcher_host : watcher_hosts) {
    // Not a structured binding: lambdas below capture them.
    const std::string& language = watcher_host.first;
    const std::string& host = watcher_host.second;
    EXPECT_TRUE(WaitFor([&] { return seen(language, "hello-2") > 0; },
                        kPatience))
        << language << ":\n" << ReadLog(watchers[language]->log_path());
    EXPECT_EQ(seen(language, "hello-2"), *second) << language;
    LOG(INFO) << language << " watcher on " << host << " saw revision "
              << *second << " within " << absl::Now() - written_at
              << " of the write";
  }

  // 5. Clean exits; the providers deregistered.
  for (auto& [language, w] : watchers) w->Terminate();
  for (Provider& p : providers) p.process->Terminate();
  for (auto& [language, w] : watchers) {
    EXPECT_EQ(w->Stop(absl::Seconds(15)), 0)
        << "watcher " << language << ":\n" << ReadLog(w->log_path());
  }
  for (Provider& p : providers) {
    EXPECT_EQ(p.process->Stop(absl::Seconds(15)), 0)
        << p.id << ":\n" << ReadLog(p.process->log_path());
  }
  for (const Provider& p : providers) {
    EXPECT_TRUE(WaitAllAgents(agents, kService, LacksInstance(p.id),
                              kPatience))
        << p.id << " still in a route table after its SIGTERM";
  }
}

}  // namespace
}  // namespace kess
