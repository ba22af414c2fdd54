// A whole local kess cluster of real processes: the library behind the
// cluster launcher (kess_cluster_main.cc), which scripts/demo.sh and the
// admin UI's browser test run.
//
// N DCs, dc1 the main one, each: a ZooKeeper ensemble, mandators m1..mN
// (dc1's with --main and --other_dcs, the others replicating dc1, optionally
// in partition mode), distributors d1..dN, agents (one per simulated host,
// each with its own cache dir) subscribed to some configs, and the SDK's
// sample providers and consumers (sdk/examples). Optionally each DC runs in
// a network namespace of its own, on that DC's address, and a WAN emulator
// runs in a router namespace (scripts/demo.sh --wan makes the namespaces
// with tests/wan/wan_net.sh; this class only starts processes in them).
//
// ZooKeeper, mandators, distributors and agents are a CacheTierCluster
// (cache_tier_cluster.h over multi_dc_cluster.h, as in the end-to-end
// tests) with random secrets; this class adds the sample providers
// (provider_process.h), the Python provider registered through its agent
// (agent/examples/echo_provider.py), the consumers, the WAN emulator, the
// readiness
// waits of a demo (agents connected, providers registered, consumers
// calling), names, and the JSON views.
//
//   LocalClusterOptions o;
//   o.bin_dir = "bazel-bin"; o.base_dir = dir;
//   o.providers = 1; o.consumers = 1;
//   auto cluster = LocalCluster::Start(o);   // everything up and serving
//   std::cout << (*cluster)->Describe();     // one JSON line
//   (*cluster)->Kill("distributor-dc1-d1");  // kill -9
//   (*cluster)->StopAll();                   // what did not exit cleanly
//
// Names: mandator-<dc>-m<i>, distributor-<dc>-d<i>, agent-<host>,
// provider-<instance id>, pyprovider-<dc>-<i> (its instance id too),
// consumer-<dc> (consumer-<dc>-<i> beyond the
// first), zookeeper-<dc>-<i>, wan-emulator. Under base_dir: logs/<name>.log
// (ZooKeeper's in zk/<dc>-*/server<i>/; an agent's in its host dir),
// hosts/<dc>/<host>/ (cache/, agent.log), secrets/ (mode 600), run/ (pids:
// "<name> <pid>" appended on every start; the providers' port files, the
// consumers' counters <name>.json, wan.addr), zk/.
//
// Every process is a child of the thread that calls Start (they die with it:
// PR_SET_PDEATHSIG), and only their own pids are ever signalled.
// Thread-compatible: one thread drives a LocalCluster, the one that started
// it.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "common/status.h"
#include "tests/cluster/cache_tier_cluster.h"
#include "tests/cluster/provider_process.h"
#include "tests/harness/daemon_process.h"
#include "tests/harness/zk_ensemble.h"

namespace kess {
namespace testing {

struct LocalClusterOptions {
  // Sizes: DCs dc1 (main) .. dc<dcs>; per DC the rest.
  int dcs = 2;
  int zk_servers = 1;  // 1 or 3
  int mandators = 3;
  int distributors = 2;
  int agents = 3;
  int providers = 0;  // sample providers (sdk/examples:demo_provider)
  int consumers = 0;  // sample consumers (sdk/examples:demo_consumer)
  // Python providers in dc1 (agent/examples:echo_provider, in `service`):
  // registered through their host's agent API with an HTTP check on their
  // own /health, every python_check_interval with python_check_timeout,
  // critical at the first failure.
  int python_providers = 0;
  int python_provider_host = 1;  // 1-based host number of the first one
  absl::Duration python_check_interval = absl::Seconds(2);
  absl::Duration python_check_timeout = absl::Seconds(1);
  // 1-based host numbers of the first provider and consumer of a DC (the
  // next ones go on the following hosts, round robin).
  int provider_host = 1;
  int consumer_host = 3;
  std::string service = "demo-echo";  // the providers' and consumers'
  // Host ids and the providers' instance ids; "{dc}" and "{i}" (1-based)
  // are replaced. Host ids repeated across DCs are fine.
  std::string host_id_format = "{dc}-host{i}";
  std::string instance_id_format = "echo-{dc}-{i}";
  // Configs every agent subscribes to (namespace, key).
  std::vector<std::pair<std::string, std::string>> subscriptions;
  // A random admin secret (the UI's password for `admin_user` and the
  // HTTP API's Bearer token) given to every mandator.
  bool admin = true;
  std::string admin_user = "admin";
  // Partition mode of the slave DCs' mandators (zero: their defaults).
  absl::Duration partition_after = absl::ZeroDuration();
  absl::Duration heal_after = absl::ZeroDuration();
  // Extra flags, after the ones this class sets.
  std::vector<std::string> mandator_flags;
  std::vector<std::string> distributor_flags;
  std::vector<std::string> agent_flags;
  std::vector<std::string> provider_flags;
  std::vector<std::string> consumer_flags;
  // AgentHostOptions::flags (short intervals for tests); false: the
  // agent's own defaults.
  bool agent_test_intervals = false;
  // Per DC (index 0 = dc1; missing or "" = none / 127.0.0.1): the network
  // namespace its processes run in (`ip netns exec <ns>`) and the address
  // they listen on. The namespaces must exist, and this process must reach
  // the addresses (WAN mode: a host route through the router).
  std::vector<std::string> dc_netns;
  std::vector<std::string> dc_addresses;
  // The WAN emulator (tests/wan:wan_emulator), started first and stopped
  // last when wan_config is set: --config, in wan_netns ("" = here), with
  // --transparent_port (0 = none) and its control API on wan_control_host.
  std::string wan_config;
  std::string wan_netns;
  std::string wan_control_host = "127.0.0.1";
  int wan_transparent_port = 0;
  // Where the binaries are: <bin_dir>/mandator/mandator, ... (a bazel-bin
  // or a runfiles tree). Required.
  std::string bin_dir;
  // Where logs, caches, secrets and ZooKeeper's data go (created if
  // missing). Required.
  std::string base_dir;
  // Told what is being started, a line at a time; may be empty.
  std::function<void(const std::string&)> progress;
  // Asked before every start; true makes Start give up (Cancelled) and
  // stop what it started. May be empty.
  std::function<bool()> cancelled;
};

// What StopAll did.
struct StopSummary {
  int stopped = 0;  // processes that were running
  // "<name> exit status N" / "<name> killed by SIGX", for every process
  // that did not exit with status 0 (ZooKeeper's JVMs and processes killed
  // on purpose with Kill() aside).
  std::vector<std::string> unclean;
};

class LocalCluster {
 public:
  // Starts everything, in order: the WAN emulator, ZooKeeper, mandators
  // (until each DC has a leader), distributors, agents (until connected;
  // then subscribed), providers (until registered), consumers (until they
  // call with every DC's instances). The first error; what was started is
  // stopped then.
  static absl::StatusOr<std::unique_ptr<LocalCluster>> Start(
      LocalClusterOptions options);
  ~LocalCluster();  // StopAll()

  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;

  // Everything as one JSON line (no newline): addresses, ports, hosts, cache
  // dirs, secret files, pids, logs. See kess_cluster_main.cc.
  std::string Describe();
  // {"<dc>/<host>": {"revision": r, "value": "..."}, ...}: config ns/key in
  // every agent's cache (revision 0, value "": no readable file).
  std::string Cached(const std::string& ns, const std::string& key) const;
  // {"<dc>/<host>": {"revision": r, "instances": {"<id>": "<state>", ...},
  //   "check_status": {"<id>": "<check_status>", ...}}}: the route table of
  // `service` in every agent's cache (check_status: only the instances
  // registered with checks, through an agent).
  std::string Routes(const std::string& service) const;
  // {"dc": .., "leader": "<name>", "id": .., "http": ..}; NotFound if the
  // DC has no leader right now.
  absl::StatusOr<std::string> Leader(const std::string& dc);

  // By name (see above); each answer is a JSON object.
  // kill -9 (then reaped; not counted as unclean by StopAll).
  absl::StatusOr<std::string> Kill(const std::string& name);
  // SIGTERM, SIGKILL after 15 s; its wait status.
  absl::StatusOr<std::string> Stop(const std::string& name);
  // SIGSTOP / SIGCONT of a process (not ZooKeeper): a hung process whose
  // kernel still accepts connections. StopAll resumes a paused process
  // before its SIGTERM.
  absl::StatusOr<std::string> Pause(const std::string& name);
  absl::StatusOr<std::string> Resume(const std::string& name);
  // Stopped if running, then started again with the same flags and ports,
  // and waited for as at start.
  absl::StatusOr<std::string> Restart(const std::string& name);
  // One more sample provider in `dc` on its host number `host` (1-based),
  // instance id from instance_id_format with the next number; waits until
  // it is registered.
  absl::StatusOr<std::string> AddProvider(const std::string& dc, int host);
  // Every agent subscribes to config ns/key too.
  absl::Status Subscribe(const std::string& ns, const std::string& key);

  // Stops every process still running, in order: consumers and providers,
  // agents, distributors, mandators (each group SIGTERM at once, SIGKILL
  // after 15 s), ZooKeeper, the WAN emulator. Idempotent.
  StopSummary StopAll();

  const std::string& base_dir() const { return options_.base_dir; }
  // The cluster's TLS files and flags (cluster_tls.h), for processes a
  // test adds by hand.
  const ClusterTls& tls() const;

 private:
  // A sample consumer (sdk/examples:demo_consumer).
  struct Consumer {
    std::string name;
    std::string host;
    std::string stats_file;
    std::vector<std::string> args;
    std::unique_ptr<DaemonProcess> process;
  };
  // A Python provider (agent/examples:echo_provider).
  struct PyProvider {
    std::string name;  // also its instance id
    std::string host;
    std::string agent_http;  // its host's agent
    std::string listen_host;
    std::string port_file;
    std::string address;  // <listen host>:<port> once registered
    std::vector<std::string> args;
    std::unique_ptr<DaemonProcess> process;
  };
  // One process, found by name.
  struct Entry {
    std::string name;
    DaemonProcess* daemon = nullptr;  // null for a ZooKeeper server
    ZkEnsemble* zk = nullptr;         // a ZooKeeper server: zk, zk_server
    int zk_server = -1;
    std::function<absl::Status()> restart;  // started again, waited for
  };

  explicit LocalCluster(LocalClusterOptions options);
  absl::Status StartAll();
  absl::Status StartWanEmulator();
  // Until its /v1/status says connected (30 s).
  absl::Status WaitConnected(AgentHost& agent);
  absl::Status StartProvider(int dc, int host);
  absl::Status StartPyProvider(int dc, int host);
  // Starts (again) a Python provider; waits until its agent says its check
  // passes.
  absl::Status LaunchPyProvider(PyProvider& provider);
  absl::Status StartConsumer(int dc, int i);
  // Starts (again) a consumer; waits until it calls with the instances of
  // every DC that has a provider.
  absl::Status LaunchConsumer(Consumer& consumer);
  absl::Status WaitCalling(Consumer& consumer);
  void NotePid(const std::string& name, pid_t pid) const;
  std::string LogPath(const std::string& name) const;
  // The index of DC `name` in the cluster; NotFound.
  absl::StatusOr<int> FindDc(const std::string& name) const;
  // Every process but the WAN emulator, by kind: apps (providers and
  // consumers), agents, distributors, mandators, ZooKeeper servers.
  std::vector<std::vector<Entry>> Entries();
  absl::StatusOr<Entry> Find(const std::string& name);
  // The daemon named `name` for Pause/Resume (`verb` names the action in
  // the error): Unimplemented for a ZooKeeper server, FailedPrecondition if
  // it is not running.
  absl::StatusOr<DaemonProcess*> FindRunningDaemon(const std::string& name,
                                                   const std::string& verb);
  // SIGTERM to every running process of `group` at once, SIGKILL to those
  // still running after 15 s; notes the unclean ones in `summary`.
  void StopGroup(const std::vector<Entry>& group, StopSummary* summary);

  LocalClusterOptions options_;
  std::string logs_, run_;
  std::unique_ptr<CacheTierCluster> tier_;  // ZooKeeper .. agents
  // Per DC.
  std::vector<std::vector<std::unique_ptr<ProviderProcess>>> providers_;
  std::vector<std::vector<PyProvider>> py_providers_;
  std::vector<std::vector<Consumer>> consumers_;
  std::unique_ptr<DaemonProcess> wan_;
  std::string wan_control_;
  std::vector<std::string> killed_;  // names killed on purpose
  bool stopped_ = false;
};

}  // namespace testing
}  // namespace kess
