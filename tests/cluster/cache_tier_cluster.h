// The whole cache tier in two DCs, as real processes on 127.0.0.1: a
// TwoDcCluster (ZooKeeper + mandators per DC) plus, in each DC,
// `distributors_per_dc` distributor processes and `agents_per_dc` agent
// processes, each agent a separate simulated host with its own cache dir,
// given all distributors of its DC. Distributors read ZooKeeper as user
// `reader` (the cluster's auth file); distributors and agents share one
// auth token file.
//
//   auto cluster = CacheTierCluster::Start({});
//   CacheTierDc& dc1 = (*cluster)->main();
//   dc1.agents[0]->Subscribe(ConfigSubscription({{"ns", "k"}}));
//   absl::StatusOr<int64_t> rev = (*cluster)->Put("ns", "k", "v1");
//   WaitCached((*cluster)->AllAgents(), "ns", "k", *rev, absl::Seconds(30));
//
// Everything started is stopped in the destructor: agents, distributors,
// then the TwoDcCluster. Thread-compatible.
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
  std::string distributor_binary;              // empty = DistributorBinary()
  std::string agent_binary;  // empty = from the test's runfiles
};

// One DC's cache tier. Distributors are d1..dN, agents h1..hN.
struct CacheTierDc {
  std::string name;  // "dc1" (main) or "dc2" (slave)
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

  TwoDcCluster& dcs() { return *dcs_; }
  CacheTierDc& main() { return main_; }
  CacheTierDc& slave() { return slave_; }
  const std::string& token_file() const { return token_file_; }
  // Every agent of both DCs.
  std::vector<AgentHost*> AllAgents() const;

  // PUT /api/v1/configs/<ns>/<key> at the main DC's leader (found again
  // if it changed); the committed revision.
  absl::StatusOr<int64_t> Put(const std::string& ns, const std::string& key,
                              const std::string& value);

  // Adds one more agent to `dc`: "h<n>" unless `host_id` is given; `binary`
  // "" = the cluster's agent binary (a wrapper must exec the agent, so the
  // pid stays the agent's); `distributors` {} = all of the DC's.
  absl::StatusOr<AgentHost*> AddAgent(
      CacheTierDc& dc, const std::string& host_id = "",
      const std::string& binary = "",
      std::vector<std::string> distributors = {});

 private:
  CacheTierCluster() = default;
  absl::Status StartAll(const CacheTierClusterOptions& options);
  absl::Status StartDc(CacheTierDc& dc, const ZkEnsemble& zk);

  CacheTierClusterOptions options_;
  std::unique_ptr<TwoDcCluster> dcs_;
  std::string token_file_;
  CacheTierDc main_;
  CacheTierDc slave_;
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
