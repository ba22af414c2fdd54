// Several DCs of real processes for end-to-end tests and benchmarks: a main
// DC ("dc1": its ZooKeeper ensemble and mandators m1..mN, --main) and
// `slave_dcs` slave DCs ("dc2", "dc3", ...: each its own ensemble and
// mandators replicating dc1), all on 127.0.0.1 with free ports, sharing one
// --zk_auth_file. TwoDcCluster (two_dc_cluster.h) is this class with its
// default of one slave DC.
//
//   MultiDcClusterOptions o;
//   o.slave_dcs = 2;
//   o.wan_main_zk_for_slaves = true;
//   o.wan_profiles = {*wan::ParseLinkProfile("delay=10ms"),
//                     *wan::ParseLinkProfile("delay=40ms,loss=0.01")};
//   auto cluster = MultiDcCluster::Start(o);
//   MandatorProcess* leader = WaitLeader((*cluster)->main(), timeout);
//   auto dc3 = (*cluster)->ConnectSlaveReader(1);
//   (*cluster)->SetWanState(1, wan::LinkState::kBlackhole);  // dc3 only
//
// Slave DC d (0-based: d = 0 is "dc2") has mandators s1..sN for d = 0 and
// dc<d+2>-s1..dc<d+2>-sN beyond, so that every id and log file name
// (mandator-<id>.log in dir()) is unique in the cluster.
//
// Links between the slave mandators and the main DC's ZooKeeper (--main_zk),
// each optional:
// - proxy_main_zk_for_slaves: one ZkSessionProxy (zk_servers = 1), shared
//   by every slave DC, that a test cuts and heals (main_link_proxy()).
// - wan_main_zk_for_slaves: per slave DC, one wan::WanLink per main
//   ZooKeeper server (in front of the proxy if there is one), with that DC's
//   LinkProfile in both directions; --main_zk of the DC's mandators lists
//   the links' addresses. A test changes one DC's links with SetWanState and
//   SetWanProfile, or each link through wan_links(d).
// With proxy_slave_zk, each slave DC's mandators reach their own ZooKeeper
// through a ZkSessionProxy (zk_servers = 1), so that a test can expire the
// session of one of them (SlaveSessionCredentials).
//
// Everything started is stopped in the destructor: the slave DCs' mandators,
// the main ones, then the proxies and links, then the ensembles.
// Thread-compatible; the WanLinks themselves are thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "tests/cluster/mandator_cluster.h"
#include "tests/cluster/mandator_process.h"
#include "tests/cluster/zk_session_proxy.h"
#include "tests/harness/zk_ensemble.h"
#include "tests/wan/link_profile.h"
#include "tests/wan/wan_link.h"
#include "zk_schema/layout.h"
#include "zk_schema/zk_client.h"

namespace kess {
namespace testing {

struct MultiDcClusterOptions {
  int zk_servers = 1;  // per DC: 1 or 3
  int mandators_per_dc = 3;
  int zk_session_timeout_ms = 4000;      // the server's maximum with tick 200
  std::vector<std::string> extra_flags;  // for every mandator
  bool proxy_slave_zk = false;
  // The slave mandators reach the main DC's ZooKeeper through a
  // ZkSessionProxy (zk_servers = 1), so a test can cut and heal the link
  // (main_link_proxy()).
  bool proxy_main_zk_for_slaves = false;
  // --other_dcs=dc2=<dc2's ensemble>;dc3=... on the main mandators.
  bool main_other_dcs = false;
  std::vector<std::string> slave_flags;  // slave mandators only
  std::string mandator_binary;           // empty = MandatorBinary()
  std::string base_dir;                  // empty = $TEST_TMPDIR (or /tmp)
  // The fields above are TwoDcClusterOptions' (designated initializers rely
  // on their order); new ones go below.
  int slave_dcs = 1;  // dc2 .. dc<1 + slave_dcs>, at least 1
  // Each slave DC reaches the main DC's ZooKeeper through WanLinks of its
  // own (see above).
  bool wan_main_zk_for_slaves = false;
  // wan_profiles[d]: both directions of slave DC d's links; a DC without an
  // entry gets a plain relay (every field 0).
  std::vector<wan::LinkProfile> wan_profiles;
};

class MultiDcCluster {
 public:
  static absl::StatusOr<std::unique_ptr<MultiDcCluster>> Start(
      const MultiDcClusterOptions& options);
  ~MultiDcCluster();
  MultiDcCluster(const MultiDcCluster&) = delete;
  MultiDcCluster& operator=(const MultiDcCluster&) = delete;

  ZkEnsemble& main_zk() { return *main_zk_; }
  MandatorList& main() { return main_; }
  // Slave DCs are numbered d = 0 .. slave_dc_count() - 1; "dc<d + 2>".
  int slave_dc_count() const { return static_cast<int>(slaves_.size()); }
  static std::string SlaveDcName(int d);
  // REQUIRES (for every `d` below): 0 <= d < slave_dc_count().
  ZkEnsemble& slave_zk(int d = 0) { return *slaves_.at(d).zk; }
  MandatorList& slave(int d = 0) { return slaves_.at(d).mandators; }
  // The tree the mandators use ("/kess").
  const zk::Layout& layout() const { return layout_; }
  // Where the logs of the mandators are.
  const std::string& dir() const { return dir_; }
  // The --zk_auth_file every mandator uses ("mandator:" and "reader:"
  // lines); distributors take its reader line.
  const std::string& auth_file() const { return auth_file_; }

  // Clients of a DC's ensemble as user "reader".
  absl::StatusOr<std::unique_ptr<zk::ZkClient>> ConnectMainReader() const;
  absl::StatusOr<std::unique_ptr<zk::ZkClient>> ConnectSlaveReader(
      int d = 0) const;

  // The current ZooKeeper session of slave mandator `m` (from its
  // /api/v1/status) with its password (seen by its DC's proxy).
  // REQUIRES: proxy_slave_zk.
  absl::StatusOr<zk::SessionCredentials> SlaveSessionCredentials(
      const MandatorProcess& m) const;

  // The proxy between the slave mandators and the main ZooKeeper; null
  // without proxy_main_zk_for_slaves.
  ZkSessionProxy* main_link_proxy() { return main_link_proxy_.get(); }

  // Slave DC d's links to the main ZooKeeper, one per main server; empty
  // without wan_main_zk_for_slaves.
  const std::vector<std::unique_ptr<wan::WanLink>>& wan_links(int d) const {
    return slaves_.at(d).links;
  }
  // SetState / SetProfile (both directions) of every link of slave DC d.
  void SetWanState(int d, wan::LinkState state);
  absl::Status SetWanProfile(int d, const wan::LinkProfile& profile);

 private:
  struct SlaveDc {
    std::string name;  // "dc2", ...
    std::unique_ptr<ZkEnsemble> zk;
    std::unique_ptr<ZkSessionProxy> proxy;  // proxy_slave_zk
    std::vector<std::unique_ptr<wan::WanLink>> links;
    MandatorList mandators;
  };

  MultiDcCluster() = default;
  absl::Status StartAll(const MultiDcClusterOptions& options);
  // Starts slave DC d's WanLinks to `main_for_slaves` and returns the
  // --main_zk its mandators use.
  absl::StatusOr<std::string> StartWanLinks(
      const MultiDcClusterOptions& options, int d,
      const std::string& main_for_slaves);
  // Starts mandators_per_dc mandators of one DC (main if `main_zk` is
  // empty) into `out`.
  absl::Status StartMandators(const MultiDcClusterOptions& options,
                              const std::string& datacenter,
                              const std::string& id_prefix,
                              const std::string& zk, const std::string& main_zk,
                              MandatorList* out);

  std::string dir_;
  std::string auth_file_;
  zk::Layout layout_;
  std::unique_ptr<ZkEnsemble> main_zk_;
  std::unique_ptr<ZkSessionProxy> main_link_proxy_;
  MandatorList main_;
  std::vector<SlaveDc> slaves_;
};

}  // namespace testing
}  // namespace kess
