// Several DCs of real processes, the base of every cluster the tests, the
// benchmarks and the cluster launcher start: a main DC ("dc1": its
// ZooKeeper ensemble and mandators, --main) and `slave_dcs` slave DCs
// ("dc2", "dc3", ...: each its own ensemble and mandators replicating dc1),
// sharing one --zk_auth_file. CacheTierCluster (cache_tier_cluster.h) adds
// distributors and agents on top; TwoDcCluster (two_dc_cluster.h) is this
// class with its default of one slave DC.
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
// Every process runs on 127.0.0.1 with free ports, or, per DC, on another
// address inside a network namespace (dc_addresses, dc_netns: the
// processes are started behind `ip netns exec <ns>`; the namespaces must
// exist and this process must reach the addresses).
//
// Mandator ids are unique in the cluster by default (dc1: m1..mN, dc2:
// s1..sN, dc<k> beyond: dc<k>-s1..), or m1..mN in every DC with
// mandator_ids_per_dc. Whatever the ids, a mandator's name is
// "mandator-<dc>-<id>" (MandatorName). Under dir(): logs/<name>.log,
// zk/ (the ensembles' data and logs), secrets/ (mode 700: zk.auth,
// zk-reader.auth, admin.password, admin.header; each file mode 600).
// Upper layers put their files beside: hosts/ (agents), run/.
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
// the main ones, then the proxies and links, then the ensembles. Every
// process is a child of the thread that calls Start (they die with it:
// PR_SET_PDEATHSIG). Thread-compatible; the WanLinks are thread-safe.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/status.h"
#include "tests/cluster/mandator_cluster.h"
#include "tests/cluster/cluster_tls.h"
#include "tests/cluster/mandator_process.h"
#include "tests/cluster/zk_session_proxy.h"
#include "tests/harness/zk_ensemble.h"
#include "tests/wan/link_profile.h"
#include "tests/wan/wan_link.h"
#include "zk_schema/kess_auth.h"
#include "zk_schema/layout.h"
#include "zk_schema/zk_client.h"

namespace kess {
namespace testing {

// What a cluster builder tells its caller while it starts processes (each
// may be empty). Called on the thread that calls Start.
struct ClusterHooks {
  // What is being started, a line at a time.
  std::function<void(const std::string& line)> progress;
  // Every process, by name, once it was started ("zookeeper-<dc>-<i>",
  // "mandator-<dc>-<id>", "distributor-<dc>-<id>", "agent-<host>").
  std::function<void(const std::string& name, pid_t pid)> started;
  // Asked before every start; true makes Start give up (Cancelled).
  std::function<bool()> cancelled;
};

struct MultiDcClusterOptions {
  int zk_servers = 1;  // per DC: 1 or 3
  int mandators_per_dc = 3;
  absl::Duration zk_session_timeout = absl::Seconds(4);  // the server's max
  std::vector<std::string> extra_flags;  // for every mandator
  // TLS on every transport link (cluster_tls.h): a CA and certificates
  // written once under <dir>/tls (for 127.0.0.1 and the DCs' addresses)
  // and passed to every daemon. false: --insecure_plaintext (tests of the
  // plaintext wire format itself).
  bool tls = true;
  bool proxy_slave_zk = false;
  // The slave mandators reach the main DC's ZooKeeper through a
  // ZkSessionProxy (zk_servers = 1), so a test can cut and heal the link
  // (main_link_proxy()).
  bool proxy_main_zk_for_slaves = false;
  // --other_dcs=dc2=<dc2's ensemble>;dc3=... on the main mandators.
  bool main_other_dcs = false;
  std::vector<std::string> slave_flags;  // slave mandators only
  std::string mandator_binary;  // empty = <bin_dir>/mandator/mandator
  // Where dir() is made (a new "dcs.XXXXXX"); empty = $TEST_TMPDIR or /tmp.
  std::string base_dir;
  // The fields above are TwoDcClusterOptions' (designated initializers rely
  // on their order); new ones go below.
  int slave_dcs = 1;  // dc2 .. dc<1 + slave_dcs>; 0: dc1 alone
  // Each slave DC reaches the main DC's ZooKeeper through WanLinks of its
  // own (see above).
  bool wan_main_zk_for_slaves = false;
  // wan_profiles[d]: both directions of slave DC d's links; a DC without an
  // entry gets a plain relay (every field 0).
  std::vector<wan::LinkProfile> wan_profiles;
  // Partition mode of the slave DCs' mandators (--partition_after_ms,
  // --heal_after_ms); zero: their defaults.
  absl::Duration partition_after = absl::ZeroDuration();
  absl::Duration heal_after = absl::ZeroDuration();
  // m1..mN in every DC instead of ids unique in the cluster (see above).
  bool mandator_ids_per_dc = false;
  // Per DC (index 0 = dc1; missing or "" = none / 127.0.0.1): the network
  // namespace its processes run in and the address they listen on.
  std::vector<std::string> dc_netns;
  std::vector<std::string> dc_addresses;
  // Random ZooKeeper passwords (and a random distributor token, in
  // CacheTierCluster) instead of mandator::testing::TestAuth() (a fixed
  // one, which the tests' own ZooKeeper clients use).
  bool random_secrets = false;
  // A random admin secret (secrets/admin.password: the UI's password for
  // `admin_user` and the HTTP API's Bearer token; admin.header: the same as
  // an HTTP header for curl -H @file) given to every mandator.
  bool admin_secret = false;
  std::string admin_user = "admin";
  // Registration rights (docs/security.md "Identities and registration
  // rights"; needs tls): the mandators require client certificates
  // (--tls_client_auth) and check who registers what; every agent presents
  // a certificate of its own host (kess://host/<host id>, ClusterTls::
  // PrincipalFlags) and so does every sample provider. false: the
  // mandators run with --insecure_dev_mode (anyone may register), as the
  // tests that predate the rights expect.
  bool registration_rights = false;
  // Where the binaries are: <bin_dir>/mandator/mandator, ... (a bazel-bin
  // or a runfiles tree); empty = the test's runfiles.
  std::string bin_dir;
  // Everything goes here (created if missing) instead of a new dir in
  // base_dir.
  std::string dir;
  ClusterHooks hooks;
};

// <bin_dir>/<relative>, or the runfile `relative` if bin_dir is empty.
std::string ClusterBinary(const std::string& bin_dir,
                          const std::string& relative);
// {"<path of ip>", "netns", "exec", netns}, or {} for netns "";
// FailedPrecondition if `ip` (iproute2) is not installed.
absl::StatusOr<std::vector<std::string>> NetnsPrefix(const std::string& netns);
// 16 random bytes as 32 hex digits (getrandom).
std::string RandomSecret();
// Writes `content` to `path`, created with mode 0600 (never readable by
// others, not even for a moment).
absl::Status WriteSecretFile(const std::string& path,
                             const std::string& content);

class MultiDcCluster {
 public:
  // One DC. Its ensemble and mandators are there once Start returned.
  struct Dc {
    std::string name;     // "dc1" (main), "dc2", ...
    std::string address;  // its processes listen on it
    std::string netns;    // "" = none
    // Put before every binary of this DC (see NetnsPrefix).
    std::vector<std::string> command_prefix;
    std::unique_ptr<ZkEnsemble> zk;
    std::unique_ptr<ZkSessionProxy> proxy;  // slaves: proxy_slave_zk
    // Slaves: wan_main_zk_for_slaves, one per main server.
    std::vector<std::unique_ptr<wan::WanLink>> links;
    MandatorList mandators;
  };

  static absl::StatusOr<std::unique_ptr<MultiDcCluster>> Start(
      const MultiDcClusterOptions& options);
  ~MultiDcCluster();
  MultiDcCluster(const MultiDcCluster&) = delete;
  MultiDcCluster& operator=(const MultiDcCluster&) = delete;

  // Every DC: i = 0 is dc1 (the main one), i = d + 1 slave DC d.
  int dc_count() const { return static_cast<int>(dcs_.size()); }
  Dc& dc(int i) { return dcs_.at(i); }
  const Dc& dc(int i) const { return dcs_.at(i); }
  static std::string DcName(int i);  // "dc<i + 1>"
  // "mandator-<dc>-<id>": its log file's name and the launcher's.
  static std::string MandatorName(const std::string& dc,
                                  const MandatorProcess& m);

  ZkEnsemble& main_zk() { return *dcs_[0].zk; }
  MandatorList& main() { return dcs_[0].mandators; }
  // Slave DCs are numbered d = 0 .. slave_dc_count() - 1; "dc<d + 2>".
  int slave_dc_count() const { return dc_count() - 1; }
  static std::string SlaveDcName(int d) { return DcName(d + 1); }
  // REQUIRES (for every `d` below): 0 <= d < slave_dc_count().
  ZkEnsemble& slave_zk(int d = 0) { return *dcs_.at(d + 1).zk; }
  MandatorList& slave(int d = 0) { return dcs_.at(d + 1).mandators; }
  // The tree the mandators use ("/kess").
  const zk::Layout& layout() const { return layout_; }
  // The cluster's directory (see above) and its logs/.
  const std::string& dir() const { return dir_; }
  std::string logs_dir() const { return dir_ + "/logs"; }
  // The --zk_auth_file every mandator uses ("mandator:" and "reader:"
  // lines), and one with the reader line alone for distributors.
  const std::string& auth_file() const { return auth_file_; }
  // The cluster's TLS files and flags (disabled with options.tls false).
  const ClusterTls& tls() const { return tls_; }
  const std::string& reader_auth_file() const { return reader_auth_file_; }
  // With admin_secret: the secret, and it as "Authorization: Bearer ..."
  // (empty otherwise).
  const std::string& admin_password_file() const { return admin_file_; }
  const std::string& admin_header_file() const { return admin_header_file_; }
  const MultiDcClusterOptions& options() const { return options_; }

  // Polls every DC until it has a leader; DeadlineExceeded naming the
  // first DC without one after `timeout`.
  absl::Status WaitLeaders(absl::Duration timeout);

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
    return dcs_.at(d + 1).links;
  }
  // SetState / SetProfile (both directions) of every link of slave DC d.
  void SetWanState(int d, wan::LinkState state);
  absl::Status SetWanProfile(int d, const wan::LinkProfile& profile);

  // For the layers above: ClusterHooks::cancelled as a status, and the
  // other hooks if set.
  absl::Status CheckCancelled() const;
  void Progress(const std::string& line) const;
  void Started(const std::string& name, pid_t pid) const;

 private:
  explicit MultiDcCluster(const MultiDcClusterOptions& options);
  absl::Status StartAll();
  absl::Status WriteSecrets();
  absl::Status StartZooKeeper(Dc& dc);
  // Starts slave DC d's WanLinks to `main_for_slaves` and returns the
  // --main_zk its mandators use.
  absl::StatusOr<std::string> StartWanLinks(int d,
                                            const std::string& main_for_slaves);
  // Starts mandators_per_dc mandators of `dc` (main if `main_zk` is empty)
  // on ZooKeeper `zk` with `flags` after the common ones.
  absl::Status StartMandators(Dc& dc, const std::string& id_prefix,
                              const std::string& zk, const std::string& main_zk,
                              const std::vector<std::string>& flags);
  absl::StatusOr<std::unique_ptr<zk::ZkClient>> ConnectReader(
      const std::string& connect_string) const;

  const MultiDcClusterOptions options_;
  std::string dir_;
  std::string auth_file_, reader_auth_file_;
  ClusterTls tls_;
  std::string admin_file_, admin_header_file_;
  zk::KessAuth auth_;
  zk::Layout layout_;
  std::vector<Dc> dcs_;  // [0] = dc1
  std::unique_ptr<ZkSessionProxy> main_link_proxy_;
};

}  // namespace testing
}  // namespace kess
