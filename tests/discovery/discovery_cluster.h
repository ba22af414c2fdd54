// Service discovery end to end, as real processes on 127.0.0.1: a
// CacheTierCluster (two DCs, each a ZooKeeper server, mandators,
// distributors and agents) set up for discovery — the main DC's mandators
// collect the slave DC's (--other_dcs), short heartbeat and route timeouts
// (kTimeouts below) so that removals happen within seconds, and host ids
// unique across DCs ("dc1-h1", "dc2-h1", ...: the route table's host
// liveness is keyed by host id alone).
//
//   auto cluster = DiscoveryCluster::Start({});
//   cluster->SubscribeRoutes({"web"});                // every agent
//   auto p = ProviderProcess::Start({.service = "web", .id = "w1",
//       .host = "dc2-h1", .datacenter = "dc2",
//       .mandators = cluster->MandatorAddresses("dc2")});
//   WaitAllAgents(cluster->AllAgents(), "web", HasInstance("w1"), timeout);
//
// Providers as processes: tests/cluster/provider_process.h (SIGTERM = clean
// shutdown with Deregister, kill -9, SIGSTOP/SIGCONT). Also RouteSampler
// (checks continuously that expected instances are in every agent's route
// file and in both DCs' ZooKeeper).
//
// Thread-compatible, except RouteSampler (its own thread; see there).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "model/route_table.h"
#include "common/status.h"
#include "sdk/registration.h"
#include "tests/cluster/cache_tier_cluster.h"
#include "tests/cluster/provider_process.h"
#include "zk_schema/layout.h"
#include "zk_schema/zk_client.h"

namespace kess {
namespace testing {

// The timeouts every daemon of a DiscoveryCluster runs with.
struct DiscoveryTimeouts {
  // Providers' (ProviderProcessOptions' default), and agents' host
  // heartbeats.
  absl::Duration heartbeat = absl::Milliseconds(500);
  absl::Duration instance_timeout =  // mandator --instance_timeout_ms
      absl::Milliseconds(2500);
  // --route_cycle_ms and --route_window_ms.
  absl::Duration route_cycle = absl::Milliseconds(250);
  absl::Duration warmup = absl::Seconds(3);  // --route_warmup_ms
};
inline constexpr DiscoveryTimeouts kTimeouts{};

struct DiscoveryClusterOptions {
  int zk_servers = 1;           // per DC: 1 or 3
  std::string mandator_binary;  // empty = MandatorBinary()
  int mandators_per_dc = 3;
  int distributors_per_dc = 1;
  int agents_per_dc = 2;  // hosts "<dc>-h1".."<dc>-hN"
  // After the kTimeouts flags, for every mandator (the last one wins).
  std::vector<std::string> mandator_flags;
  // TLS on every link (MultiDcClusterOptions::tls).
  bool tls = true;
  // CacheTierClusterOptions' (empty = the runfiles' binaries), and flags
  // for every distributor and agent (after the cluster's own).
  std::string distributor_binary;
  std::string agent_binary;
  std::vector<std::string> distributor_flags;
  std::vector<std::string> agent_flags;
};

class DiscoveryCluster {
 public:
  // Starts everything and waits until both DCs have a leader.
  static absl::StatusOr<std::unique_ptr<DiscoveryCluster>> Start(
      const DiscoveryClusterOptions& options);

  CacheTierCluster& tier() { return *tier_; }
  TwoDcCluster& dcs() { return tier_->dcs(); }
  // "dc1" (main) or "dc2" (slave).
  MandatorList& Mandators(const std::string& dc);
  CacheTierDc& Dc(const std::string& dc);
  // The scheduler (heartbeat) addresses of `dc`'s mandators.
  std::vector<std::string> MandatorAddresses(const std::string& dc);
  std::vector<AgentHost*> AllAgents() const { return tier_->AllAgents(); }
  // The agent whose --host_id is `host_id`; nullptr if none.
  AgentHost* Agent(const std::string& host_id) const;

  // Subscribes every agent to the route tables of `services`.
  absl::Status SubscribeRoutes(const std::vector<std::string>& services);

  // A provider in this test process (sdk::Registration) with the cluster's
  // heartbeat interval and short failover times, registered with `dc`'s
  // mandators; its host is "<dc>-h1" unless given.
  absl::StatusOr<std::unique_ptr<sdk::Registration>> Register(
      const std::string& dc, const std::string& service, const std::string& id,
      const std::string& host = "");

 private:
  DiscoveryCluster() = default;
  std::unique_ptr<CacheTierCluster> tier_;
};

// The route table of `service` in `agent`'s file cache; NotFound if it has
// no file yet or a tombstone.
absl::StatusOr<RouteTable> CachedRouteTable(const AgentHost& agent,
                                            const std::string& service);

// The state of instance `id` in `table`, or nullptr if it is not there.
const RouteInstance* FindInstance(const RouteTable& table,
                                  const std::string& id);

using TablePredicate = std::function<bool(const RouteTable* table)>;
// `id` is in the table (in `state` unless state is "").
TablePredicate HasInstance(const std::string& id,
                           const std::string& state = "healthy");
// `id` is not in the table (or there is no table).
TablePredicate LacksInstance(const std::string& id);

// Polls until `predicate` holds for the route table of `service` in every
// agent's cache (nullptr when it has none): true, or false after `timeout`
// ("did not hang").
bool WaitAllAgents(const std::vector<AgentHost*>& agents,
                   const std::string& service, const TablePredicate& predicate,
                   absl::Duration timeout);

// GET /metrics of a mandator; "" if it did not answer 200.
std::string MandatorMetrics(const MandatorProcess& m);

// Samples, every `interval` on its own thread, the route files of every
// agent given and the route records in both DCs' ZooKeeper, and records
// every expected instance missing from any of them: invariant 9 of
// docs/design.md, as seen from outside. Samples that could not be read
// (ZooKeeper answered an error) are counted, not judged.
// Thread-safe.
class RouteSampler {
 public:
  RouteSampler(std::vector<AgentHost*> agents,
               std::unique_ptr<zk::ZkClient> main_zk,
               std::unique_ptr<zk::ZkClient> slave_zk, zk::Layout layout,
               std::map<std::string, std::set<std::string>> expected,
               absl::Duration interval = absl::Milliseconds(50));
  ~RouteSampler();  // Stop()
  void Stop();

  int samples() const { return samples_; }
  int unreadable() const { return unreadable_; }
  // "<where>: <service>/<id> missing at sample <n>", the first 20.
  std::vector<std::string> violations() const;
  int violation_count() const { return violation_count_; }

 private:
  void Run();
  void Check(const std::string& where, const std::string& service,
             const RouteTable* table);

  const std::vector<AgentHost*> agents_;
  std::unique_ptr<zk::ZkClient> main_zk_;
  std::unique_ptr<zk::ZkClient> slave_zk_;
  const zk::Layout layout_;
  const std::map<std::string, std::set<std::string>> expected_;
  const absl::Duration interval_;
  std::atomic<bool> stop_{false};
  std::atomic<int> samples_{0};
  std::atomic<int> unreadable_{0};
  std::atomic<int> violation_count_{0};
  mutable absl::Mutex mu_;
  std::vector<std::string> violations_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace testing
}  // namespace kess
