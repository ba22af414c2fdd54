// The whole cache tier as real processes: a MultiDcCluster (ZooKeeper +
// mandators per DC; two DCs by default) plus, in each DC (or the first
// `tier_dcs`), `distributors_per_dc` distributor processes and
// `agents_per_dc` agent processes, each agent a separate simulated host
// with its own cache dir, given all distributors of its DC. Distributors
// read ZooKeeper as user `reader` (the cluster's reader auth file);
// distributors and agents share one auth token file. Every process runs on
// its DC's address and in its namespace (multi_dc_cluster.h).
//
//   auto cluster = CacheTierCluster::Start({});
//   CacheTierDc& dc1 = (*cluster)->main();
//   dc1.agents[0]->Subscribe(ConfigSubscription({{"ns", "k"}}));
//   absl::StatusOr<int64_t> rev = (*cluster)->Put("ns", "k", "v1");
//   WaitCached((*cluster)->AllAgents(), "ns", "k", *rev, absl::Seconds(30));
//
// Start waits for a leader in every DC before it starts distributors (a
// slave DC's leader creates its members directories), and for each
// distributor until it loaded its DC's data; agents are started, not
// waited for (their HTTP API aside). Names: "distributor-<dc>-d<i>"
// (logs/<name>.log), "agent-<host>" (hosts/<dc>/<host>/: cache/ and
// agent.log).
//
// Everything started is stopped in the destructor: agents, distributors,
// then the MultiDcCluster. Thread-compatible.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/status.h"
#include "tests/cluster/agent_host.h"
#include "tests/cluster/distributor_process.h"
#include "tests/cluster/two_dc_cluster.h"

namespace kess {
namespace testing {

struct CacheTierClusterOptions {
  TwoDcClusterOptions dcs = {.mandators_per_dc = 1};
  int distributors_per_dc = 2;
  int agents_per_dc = 3;
  std::vector<std::string> distributor_flags;  // for every distributor
  std::vector<std::string> agent_flags;        // for every agent
  // Empty = <dcs.bin_dir>/distributor/distributor, .../agent/agent.
  std::string distributor_binary;
  std::string agent_binary;
  // DCs dc1 .. dc<tier_dcs> get distributors and agents; 0 = every DC.
  int tier_dcs = 0;
  // Host ids of the agents: "{dc}" and "{i}" (1-based, per DC) replaced.
  // Ids repeated across DCs are fine (a gray release to "h2" selects h2 of
  // every DC).
  std::string host_id_format = "h{i}";
  // AgentHostOptions::flags (short intervals for tests); false: the
  // agent's own defaults.
  bool agent_test_intervals = true;
};

// One DC's cache tier. Distributors are d1..dN.
struct CacheTierDc {
  std::string name;  // "dc1" (main), "dc2", ...
  int index = 0;     // in MultiDcCluster::dc()
  std::vector<std::unique_ptr<DistributorProcess>> distributors;
  std::vector<std::unique_ptr<AgentHost>> agents;

  std::vector<std::string> DistributorAddresses() const;
  // The distributor whose transport address is `address`; nullptr if none.
  DistributorProcess* DistributorAt(const std::string& address) const;
};

class CacheTierCluster {
 public:
  static absl::StatusOr<std::unique_ptr<CacheTierCluster>> Start(
      const CacheTierClusterOptions& options);
  ~CacheTierCluster();

  MultiDcCluster& dcs() { return *dcs_; }
  // The DCs with a cache tier: i = 0 is dc1.
  int tier_dc_count() const { return static_cast<int>(tier_.size()); }
  CacheTierDc& tier_dc(int i) { return tier_.at(i); }
  CacheTierDc& main() { return tier_.at(0); }
  // Slave DC d (0 = dc2). REQUIRES: it has a cache tier.
  CacheTierDc& slave(int d = 0) { return tier_.at(d + 1); }
  const std::string& token_file() const { return token_file_; }
  // Every agent of every DC, dc1's first.
  std::vector<AgentHost*> AllAgents() const;

  // "distributor-<dc>-<id>" and "agent-<host>".
  static std::string DistributorName(const std::string& dc,
                                     const DistributorProcess& d);
  static std::string AgentName(const AgentHost& a);

  // PUT /api/v1/configs/<ns>/<key> at the main DC's leader (found again
  // if it changed); the committed revision.
  absl::StatusOr<int64_t> Put(const std::string& ns, const std::string& key,
                              const std::string& value);

  // Adds one more agent to `dc`: from host_id_format with the next number
  // unless `host_id` is given; `binary` "" = the cluster's agent binary (a
  // wrapper must exec the agent, so the pid stays the agent's);
  // `distributors` {} = all of the DC's.
  absl::StatusOr<AgentHost*> AddAgent(
      CacheTierDc& dc, const std::string& host_id = "",
      const std::string& binary = "",
      std::vector<std::string> distributors = {});

 private:
  CacheTierCluster() = default;
  absl::Status StartAll(const CacheTierClusterOptions& options);
  absl::Status StartDistributors(CacheTierDc& dc);

  CacheTierClusterOptions options_;
  std::unique_ptr<MultiDcCluster> dcs_;
  std::string token_file_;
  std::vector<CacheTierDc> tier_;
};

// The revision of config ns/key in `agent`'s cache (verified read); 0 if
// there is no readable file.
int64_t CachedRevision(const AgentHost& agent, const std::string& ns,
                       const std::string& key);
// Polls until every agent's cache holds ns/key at `revision` or newer;
// false on timeout ("did not hang").
bool WaitCached(const std::vector<AgentHost*>& agents, const std::string& ns,
                const std::string& key, int64_t revision,
                absl::Duration timeout);

}  // namespace testing
}  // namespace kess
