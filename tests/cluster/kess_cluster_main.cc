// kess_cluster: the cluster launcher. Starts a whole local kess cluster of
// real processes (tests/cluster/local_cluster.h: per DC ZooKeeper,
// mandators, distributors, agents, the SDK's sample providers and
// consumers; optionally each DC in a network namespace and a WAN emulator
// between them), prints ONE JSON line describing it, then serves commands
// on stdin. scripts/demo.sh and the admin UI's browser test run it; by hand:
//
//   bazel build //tests/cluster:kess_cluster
//   bazel-bin/tests/cluster/kess_cluster --providers=1 --consumers=1
//
// The description (one line; every process has name, pid, running, log):
//   {"base_dir", "bin_dir", "logs", "run", "pids_file", "service",
//    "kess_mandators": "<every mandator's HTTP address, dc1 first>",
//    "ui": "https://<dc1's leader>/ui/" | null,   (http:// without TLS)
//    "ca": "<the cluster's CA bundle, PEM>" | null, (null without TLS)
//    "admin": {"user", "password_file", "header_file"} | null,
//    "secrets": {"zk_auth", "zk_reader_auth", "distributor_token"},
//    "wan": {..., "control": "<host:port>", "netns"} | null,
//    "dcs": [{"name", "main", "address", "netns", "zk": "<connect string>",
//             "zookeeper": [{..., "port"}],
//             "mandators": [{..., "id", "http", "address": "<heartbeats>"}],
//             "distributors": [{..., "id", "address", "http"}],
//             "agents": [{..., "host", "http", "cache_dir"}],
//             "providers": [{..., "id", "host", "address"}],
//             "python_providers": [{..., "id", "host", "address", "agent",
//                                   "check_interval_ms", "check_timeout_ms"}],
//             "consumers": [{..., "host", "stats_file"}]}],
//    "processes": [{"name", "pid", "running", "log"}, ...]}  (all of them)
// or {"error": "..."} and exit 1 if something did not start (what did is
// stopped).
//
// Commands, one a line, each answered by one JSON line ({"error": "..."}
// when it fails):
//   status                 the description again (pids, running)
//   cached <ns> <key>      {"<dc>/<host>": {"revision", "value"}, ...}: the
//                          config in every agent's cache (revision 0: none)
//   routes <service>       {"<dc>/<host>": {"revision", "instances":
//                          {"<id>": "<state>"}, "check_status": {"<id>":
//                          "<check_status>"}}, ...}
//   leader <dc>            {"dc", "leader": "<name>", "id", "http"}
//   kill <name>            kill -9 (not counted as unclean at the end)
//   stop <name>            SIGTERM (SIGKILL after 15 s): {"stopped",
//                          "pid", "status"}
//   restart <name>         started again with the same flags and ports
//   pause <name>           SIGSTOP (a hung process; its ports stay open)
//   resume <name>          SIGCONT
//   provider <dc> <host>   one more sample provider on host number <host>
//                          (1-based) of <dc>, waited for until registered
//   subscribe <ns> <key>   every agent subscribes to that config too
//   quit                   stops everything, answers {"stopped": N,
//                          "unclean": ["<name> exit status N", ...]} and
//                          exits 0
// EOF on stdin, SIGTERM, SIGINT, SIGHUP and its parent's death do what quit
// does. Only the processes it started are ever signalled, by their pids;
// they also die with it (PR_SET_PDEATHSIG) if it is killed.
//
// With --smoke it serves no commands: once the cluster is up it writes the
// description to <base_dir>/run/cluster.json, runs the smoke scenario
// (tests/cluster/smoke_scenario.h: PASS/FAIL lines on stdout), which stops
// the cluster, prints "HH:MM:SS smoke: N passed, N failed" and exits 0 if
// every check passed, 1 otherwise (also when the cluster did not start:
// "HH:MM:SS ERROR: ..."). The scenario writes the first --subscribe config;
// --smoke_cut_dc names the DC it cuts off through the WAN emulator.
// scripts/demo.sh --smoke runs it so.
//
// Its own log (glog) goes to stderr, or to --log_file; then stderr gets
// progress lines only ("HH:MM:SS starting 3 mandators per DC").
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/init.h"
#include "common/json_util.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "model/file_cache/env.h"
#include "tests/cluster/local_cluster.h"
#include "tests/cluster/smoke_scenario.h"

DEFINE_int32(dcs, 2, "DCs: dc1 (the main DC), dc2, ...");
DEFINE_int32(zk_servers, 1, "ZooKeeper servers per DC: 1 or 3.");
DEFINE_int32(mandators, 3, "Mandators per DC (m1..mN).");
DEFINE_int32(distributors, 2, "Distributors per DC (d1..dN).");
DEFINE_int32(agents, 3, "Agents per DC, one per simulated host.");
DEFINE_int32(providers, 0,
             "Sample providers per DC (sdk/examples:demo_provider).");
DEFINE_int32(consumers, 0,
             "Sample consumers per DC (sdk/examples:demo_consumer).");
DEFINE_int32(python_providers, 0,
             "Python providers in dc1 (agent/examples:echo_provider, "
             "registered through their host's agent), named "
             "pyprovider-dc1-<i>.");
DEFINE_int32(provider_host, 1, "Host number (1-based) of a DC's provider.");
DEFINE_int32(consumer_host, 3,
             "Host number (1-based) of a DC's consumer (wraps around).");
DEFINE_string(service, "demo-echo", "The providers' and consumers' service.");
DEFINE_string(host_id_format, "{dc}-host{i}",
              "Host ids; {dc} and {i} (1-based) are replaced.");
DEFINE_string(instance_id_format, "echo-{dc}-{i}",
              "The providers' instance ids; {dc} and {i} are replaced.");
DEFINE_string(subscribe, "",
              "Configs every agent subscribes to: ns/key,ns/key,...");
DEFINE_bool(admin, true,
            "A random admin secret for every mandator (the UI's password, "
            "the API's Bearer token), in <base_dir>/secrets/admin.password.");
DEFINE_string(admin_user, "admin", "The UI's user name.");
DEFINE_int32(partition_after_ms, 0,
             "--partition_after_ms of the slave DCs' mandators (0: theirs).");
DEFINE_int32(heal_after_ms, 0,
             "--heal_after_ms of the slave DCs' mandators (0: theirs).");
DEFINE_string(mandator_flags, "",
              "Extra flags of every mandator, separated by spaces.");
DEFINE_string(distributor_flags, "", "Extra flags of every distributor.");
DEFINE_string(agent_flags, "", "Extra flags of every agent.");
DEFINE_string(provider_flags, "", "Extra flags of every provider.");
DEFINE_string(consumer_flags, "", "Extra flags of every consumer.");
DEFINE_bool(agent_test_intervals, false,
            "Agents with the tests' short intervals (tests/cluster/"
            "agent_host.h); otherwise the agent's defaults.");
DEFINE_string(dc_netns, "",
              "Per DC, comma-separated: the network namespace its processes "
              "run in (ip netns exec); empty: none.");
DEFINE_string(dc_addresses, "",
              "Per DC, comma-separated: the address its processes listen "
              "on; empty: 127.0.0.1.");
DEFINE_string(wan_config, "",
              "If set, start tests/wan:wan_emulator with this --config "
              "first (its address file: <base_dir>/run/wan.addr).");
DEFINE_string(wan_netns, "", "The namespace the WAN emulator runs in.");
DEFINE_string(wan_control_host, "127.0.0.1",
              "The WAN emulator's --control_host.");
DEFINE_int32(wan_transparent_port, 0,
             "The WAN emulator's --transparent_port (router mode); 0: none.");
DEFINE_string(bin_dir, "",
              "Where the binaries are (<bin_dir>/mandator/mandator, ...): a "
              "bazel-bin or a runfiles tree. Default: $TEST_SRCDIR/kess "
              "under bazel test, else this binary's runfiles.");
DEFINE_string(base_dir, "",
              "Logs, caches, secrets, pids, ZooKeeper data (created if "
              "missing). Default: a new $TEST_TMPDIR (or /tmp) "
              "kess-cluster.XXXXXX.");
DEFINE_string(log_file, "",
              "This process's own log (glog); empty: stderr, with the "
              "progress lines.");
DEFINE_bool(smoke, false,
            "Run the smoke scenario (tests/cluster/smoke_scenario.h) once "
            "the cluster is up instead of serving commands, stop it, print "
            "'smoke: N passed, N failed' and exit 1 on any failure. It "
            "writes the first --subscribe config; the description goes to "
            "<base_dir>/run/cluster.json.");
DEFINE_string(smoke_cut_dc, "",
              "With --smoke and the WAN emulator: the DC the scenario cuts "
              "off from the others and heals (partition mode on there: "
              "--partition_after_ms); empty: no WAN checks.");

namespace kess {
namespace testing {
namespace {

int g_signal_pipe[2] = {-1, -1};
std::atomic<int> g_signal{0};
int g_progress_fd = STDERR_FILENO;

void OnSignal(int sig) {
  g_signal = sig;
  const char byte = 1;
  (void)!write(g_signal_pipe[1], &byte, 1);
}

void InstallSignalHandlers() {
  if (pipe2(g_signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    PLOG(FATAL) << "pipe2";
  }
  struct sigaction action = {};
  action.sa_handler = OnSignal;
  action.sa_flags = SA_RESTART;
  sigemptyset(&action.sa_mask);
  // Also when they were ignored on entry (a background job of a shell).
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &action, nullptr);
}

std::string Timestamped(const std::string& line) {
  return absl::StrCat(
      absl::FormatTime("%H:%M:%S ", absl::Now(), absl::LocalTimeZone()), line);
}

void Progress(const std::string& line) {
  const std::string text = Timestamped(line) + "\n";
  (void)!write(g_progress_fd, text.data(), text.size());
}

std::vector<std::string> Words(const std::string& text) {
  return absl::StrSplit(text, absl::ByAnyChar(" \t"), absl::SkipEmpty());
}

std::vector<std::string> PerDc(const std::string& text) {
  if (text.empty()) return {};
  return absl::StrSplit(text, ',');
}

std::string Error(const absl::Status& status) {
  return absl::StrCat("{\"error\":", JsonQuote(status.ToString()), "}");
}

std::string DefaultBinDir() {
  if (const char* srcdir = std::getenv("TEST_SRCDIR")) {
    return absl::StrCat(srcdir, "/kess");
  }
  char exe[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    const std::string runfiles = std::string(exe, n) + ".runfiles/kess";
    if (access((runfiles + "/mandator/mandator").c_str(), X_OK) == 0) {
      return runfiles;
    }
  }
  return "bazel-bin";
}

absl::StatusOr<std::string> DefaultBaseDir() {
  std::string templ = TestTmpDir() + "/kess-cluster.XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) {
    return ErrnoToStatus(errno, "mkdtemp " + templ);
  }
  return templ;
}

absl::StatusOr<LocalClusterOptions> OptionsFromFlags() {
  LocalClusterOptions o;
  o.dcs = FLAGS_dcs;
  o.zk_servers = FLAGS_zk_servers;
  o.mandators = FLAGS_mandators;
  o.distributors = FLAGS_distributors;
  o.agents = FLAGS_agents;
  o.providers = FLAGS_providers;
  o.consumers = FLAGS_consumers;
  o.python_providers = FLAGS_python_providers;
  o.provider_host = FLAGS_provider_host;
  o.consumer_host = FLAGS_consumer_host;
  o.service = FLAGS_service;
  o.host_id_format = FLAGS_host_id_format;
  o.instance_id_format = FLAGS_instance_id_format;
  for (absl::string_view item :
       absl::StrSplit(FLAGS_subscribe, ',', absl::SkipEmpty())) {
    std::pair<std::string, std::string> ns_key =
        absl::StrSplit(item, absl::MaxSplits('/', 1));
    if (ns_key.first.empty() || ns_key.second.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--subscribe: '", item, "' is not ns/key"));
    }
    o.subscriptions.push_back(ns_key);
  }
  o.admin = FLAGS_admin;
  o.admin_user = FLAGS_admin_user;
  o.partition_after = absl::Milliseconds(FLAGS_partition_after_ms);
  o.heal_after = absl::Milliseconds(FLAGS_heal_after_ms);
  o.mandator_flags = Words(FLAGS_mandator_flags);
  o.distributor_flags = Words(FLAGS_distributor_flags);
  o.agent_flags = Words(FLAGS_agent_flags);
  o.provider_flags = Words(FLAGS_provider_flags);
  o.consumer_flags = Words(FLAGS_consumer_flags);
  o.agent_test_intervals = FLAGS_agent_test_intervals;
  o.dc_netns = PerDc(FLAGS_dc_netns);
  o.dc_addresses = PerDc(FLAGS_dc_addresses);
  o.wan_config = FLAGS_wan_config;
  o.wan_netns = FLAGS_wan_netns;
  o.wan_control_host = FLAGS_wan_control_host;
  o.wan_transparent_port = FLAGS_wan_transparent_port;
  o.bin_dir = FLAGS_bin_dir.empty() ? DefaultBinDir() : FLAGS_bin_dir;
  if (FLAGS_base_dir.empty()) {
    KESS_ASSIGN_OR_RETURN(o.base_dir, DefaultBaseDir());
  } else {
    o.base_dir = FLAGS_base_dir;
  }
  // Without a log file, glog's lines on stderr say the same.
  if (!FLAGS_log_file.empty()) o.progress = Progress;
  o.cancelled = [] { return g_signal != 0; };
  return o;
}

// One command line; its answer (one JSON line). Sets *quit for "quit".
std::string Serve(LocalCluster& cluster, const std::string& line, bool* quit) {
  const std::vector<std::string> w = Words(line);
  if (w.empty()) return Error(absl::InvalidArgumentError("empty command"));
  const std::string& command = w[0];
  auto answer = [](const absl::StatusOr<std::string>& result) {
    return result.ok() ? *result : Error(result.status());
  };
  if (command == "quit" && w.size() == 1) {
    *quit = true;
    return "";
  }
  if (command == "status" && w.size() == 1) return cluster.Describe();
  if (command == "cached" && w.size() == 3) return cluster.Cached(w[1], w[2]);
  if (command == "routes" && w.size() == 2) return cluster.Routes(w[1]);
  if (command == "leader" && w.size() == 2) return answer(cluster.Leader(w[1]));
  if (command == "kill" && w.size() == 2) return answer(cluster.Kill(w[1]));
  if (command == "stop" && w.size() == 2) return answer(cluster.Stop(w[1]));
  if (command == "pause" && w.size() == 2) return answer(cluster.Pause(w[1]));
  if (command == "resume" && w.size() == 2) {
    return answer(cluster.Resume(w[1]));
  }
  if (command == "restart" && w.size() == 2) {
    return answer(cluster.Restart(w[1]));
  }
  int host = 0;
  if (command == "provider" && w.size() == 3 && absl::SimpleAtoi(w[2], &host)) {
    return answer(cluster.AddProvider(w[1], host));
  }
  if (command == "subscribe" && w.size() == 3) {
    absl::Status s = cluster.Subscribe(w[1], w[2]);
    return s.ok() ? absl::StrCat(
                        "{\"subscribed\":", JsonQuote(w[1] + "/" + w[2]), "}")
                  : Error(s);
  }
  return Error(absl::InvalidArgumentError(
      "unknown command or wrong arguments: '" + line +
      "' (status, cached <ns> <key>, routes <service>, leader <dc>, "
      "kill|stop|restart|pause|resume <name>, provider <dc> <host>, subscribe <ns> <key>, "
      "quit)"));
}

// Answers commands until quit, EOF or a signal.
void ServeCommands(LocalCluster& cluster) {
  std::string buffer;
  bool quit = false;
  while (!quit && g_signal == 0) {
    pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {g_signal_pipe[0], POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      PLOG(ERROR) << "poll";
      return;
    }
    if (fds[1].revents != 0) return;
    if (fds[0].revents == 0) continue;
    char chunk[4096];
    const ssize_t n = read(STDIN_FILENO, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // EOF (or an error): as quit
    buffer.append(chunk, n);
    size_t end;
    while (!quit && (end = buffer.find('\n')) != std::string::npos) {
      const std::string line = buffer.substr(0, end);
      buffer.erase(0, end + 1);
      const std::string reply = Serve(cluster, line, &quit);
      if (!quit) std::cout << reply << std::endl;
    }
  }
}

// --smoke, once the cluster is up: the scenario (which stops the cluster)
// and its summary line; the exit status.
int RunSmoke(LocalCluster& cluster) {
  const std::string description_file = cluster.base_dir() + "/run/cluster.json";
  absl::Status written = file_cache::WriteFileAtomically(
      file_cache::Env::Default(), description_file, cluster.Describe() + "\n");
  if (!written.ok()) LOG(ERROR) << description_file << ": " << written;
  SmokeOptions options;
  std::pair<std::string, std::string> config =
      absl::StrSplit(FLAGS_subscribe, absl::MaxSplits(',', 1));
  std::pair<std::string, std::string> ns_key =
      absl::StrSplit(config.first, absl::MaxSplits('/', 1));
  options.config_ns = ns_key.first;
  options.config_key = ns_key.second;
  options.cut_dc = FLAGS_smoke_cut_dc;
  options.cancelled = [] { return g_signal != 0; };
  const SmokeResult result = RunSmokeScenario(cluster, options);
  if (result.cancelled) {
    std::cout << Timestamped(absl::StrCat(
                     "smoke: interrupted (signal ", g_signal.load(), ") after ",
                     result.passed, " passed, ", result.failed, " failed"))
              << std::endl;
    return 1;
  }
  std::cout << Timestamped(absl::StrCat("smoke: ", result.passed, " passed, ",
                                        result.failed, " failed"))
            << std::endl;
  return result.failed == 0 ? 0 : 1;
}

int Run() {
  absl::StatusOr<LocalClusterOptions> options = OptionsFromFlags();
  if (options.ok() && FLAGS_smoke && options->subscriptions.empty()) {
    options = absl::InvalidArgumentError(
        "--smoke needs --subscribe (the scenario writes its first config)");
  }
  if (!options.ok()) {
    std::cout << (FLAGS_smoke
                      ? Timestamped("ERROR: " + options.status().ToString())
                      : Error(options.status()))
              << std::endl;
    return 1;
  }
  absl::StatusOr<std::unique_ptr<LocalCluster>> cluster =
      LocalCluster::Start(*std::move(options));
  if (!cluster.ok()) {
    std::cout << (FLAGS_smoke
                      ? Timestamped("ERROR: the cluster did not start: " +
                                    cluster.status().ToString())
                      : Error(cluster.status()))
              << std::endl;
    return 1;
  }
  if (FLAGS_smoke) {
    const int status = RunSmoke(**cluster);
    const StopSummary summary = (*cluster)->StopAll();  // if interrupted
    if (summary.stopped > 0) {
      LOG(INFO) << "stopped " << summary.stopped << " processes; unclean: "
                << absl::StrJoin(summary.unclean, "; ");
    }
    return status;
  }
  std::cout << (*cluster)->Describe() << std::endl;
  ServeCommands(**cluster);
  if (g_signal != 0) LOG(INFO) << "signal " << g_signal.load() << ": stopping";
  const StopSummary summary = (*cluster)->StopAll();
  std::vector<std::string> unclean;
  for (const std::string& u : summary.unclean) unclean.push_back(JsonQuote(u));
  std::cout << "{\"stopped\":" << summary.stopped << ",\"unclean\":["
            << absl::StrJoin(unclean, ",") << "]}" << std::endl;
  return 0;
}

}  // namespace
}  // namespace testing
}  // namespace kess

int main(int argc, char** argv) {
  const pid_t parent = getppid();
  kess::InitProcess(&argc, &argv,
                    "kess_cluster [--dcs=2] [--providers=1 --consumers=1] "
                    "...: a local kess cluster; see kess_cluster_main.cc");
  kess::testing::InstallSignalHandlers();
  // Stop everything when whoever drives us dies.
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) kess::testing::OnSignal(SIGTERM);
  if (!FLAGS_log_file.empty()) {
    kess::testing::g_progress_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    const int log = open(FLAGS_log_file.c_str(),
                         O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log < 0 || kess::testing::g_progress_fd < 0) {
      PLOG(ERROR) << "--log_file=" << FLAGS_log_file;
      return 1;
    }
    dup2(log, STDERR_FILENO);
    close(log);
  }
  return kess::testing::Run();
}
