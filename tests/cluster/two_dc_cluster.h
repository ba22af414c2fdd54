// Two DCs of real processes for end-to-end tests and benchmarks: a main DC
// ("dc1": its ZooKeeper ensemble and mandators m1..mN, --main) and a slave
// DC ("dc2": its own ensemble and mandators s1..sN replicating dc1), all on
// 127.0.0.1 with free ports, sharing one --zk_auth_file.
//
//   auto cluster = TwoDcCluster::Start({});
//   MandatorProcess* leader = WaitLeader((*cluster)->main(), timeout);
//   auto reader = (*cluster)->ConnectSlaveReader();
//
// With proxy_slave_zk, the slave mandators reach their ZooKeeper through a
// ZkSessionProxy (one server per DC then), so that a test can expire the
// session of one of them (SlaveSessionCredentials).
//
// Everything started is stopped in the destructor: mandators first, then
// the ensembles. Thread-compatible.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "tests/cluster/mandator_cluster.h"
#include "tests/cluster/mandator_process.h"
#include "tests/cluster/zk_session_proxy.h"
#include "tests/harness/zk_ensemble.h"
#include "zk_schema/layout.h"
#include "zk_schema/zk_client.h"

namespace kess {
namespace testing {

struct TwoDcClusterOptions {
  int zk_servers = 1;  // per DC: 1 or 3
  int mandators_per_dc = 3;
  int zk_session_timeout_ms = 4000;      // the server's maximum with tick 200
  std::vector<std::string> extra_flags;  // for every mandator
  bool proxy_slave_zk = false;
  // The slave mandators reach the main DC's ZooKeeper through a
  // ZkSessionProxy (zk_servers = 1), so a test can cut and heal the link
  // (main_link_proxy()).
  bool proxy_main_zk_for_slaves = false;
  // --other_dcs=dc2=<slave ensemble> on the main mandators.
  bool main_other_dcs = false;
  std::vector<std::string> slave_flags;  // slave mandators only
  std::string mandator_binary;           // empty = MandatorBinary()
  std::string base_dir;                  // empty = $TEST_TMPDIR (or /tmp)
};

class TwoDcCluster {
 public:
  static absl::StatusOr<std::unique_ptr<TwoDcCluster>> Start(
      const TwoDcClusterOptions& options);
  ~TwoDcCluster();

  ZkEnsemble& main_zk() { return *main_zk_; }
  ZkEnsemble& slave_zk() { return *slave_zk_; }
  MandatorList& main() { return main_; }
  MandatorList& slave() { return slave_; }
  // The tree the mandators use ("/kess").
  const zk::Layout& layout() const { return layout_; }
  // Where the logs of the mandators are.
  const std::string& dir() const { return dir_; }
  // The --zk_auth_file every mandator uses ("mandator:" and "reader:"
  // lines); distributors take its reader line.
  const std::string& auth_file() const { return auth_file_; }

  // Clients of each DC's ensemble as user "reader".
  absl::StatusOr<std::unique_ptr<zk::ZkClient>> ConnectMainReader() const;
  absl::StatusOr<std::unique_ptr<zk::ZkClient>> ConnectSlaveReader() const;

  // The current ZooKeeper session of slave mandator `m` (from its
  // /api/v1/status) with its password (seen by the proxy).
  // REQUIRES: proxy_slave_zk.
  absl::StatusOr<zk::SessionCredentials> SlaveSessionCredentials(
      const MandatorProcess& m) const;

  // The proxy between the slave mandators and the main ZooKeeper; null
  // without proxy_main_zk_for_slaves.
  ZkSessionProxy* main_link_proxy() { return main_link_proxy_.get(); }

 private:
  TwoDcCluster() = default;
  absl::Status StartAll(const TwoDcClusterOptions& options);

  std::string dir_;
  std::string auth_file_;
  zk::Layout layout_;
  std::unique_ptr<ZkEnsemble> main_zk_;
  std::unique_ptr<ZkEnsemble> slave_zk_;
  std::unique_ptr<ZkSessionProxy> slave_proxy_;
  std::unique_ptr<ZkSessionProxy> main_link_proxy_;
  MandatorList main_;
  MandatorList slave_;
};

}  // namespace testing
}  // namespace kess
