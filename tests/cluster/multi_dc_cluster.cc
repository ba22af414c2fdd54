#include "tests/cluster/multi_dc_cluster.h"

#include <stdlib.h>

#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "mandator/testing/test_util.h"

namespace kess {
namespace testing {

absl::StatusOr<std::unique_ptr<MultiDcCluster>> MultiDcCluster::Start(
    const MultiDcClusterOptions& options) {
  std::unique_ptr<MultiDcCluster> cluster(new MultiDcCluster());
  KESS_RETURN_IF_ERROR(cluster->StartAll(options));
  return cluster;
}

MultiDcCluster::~MultiDcCluster() {
  for (SlaveDc& dc : slaves_) {
    for (auto& m : dc.mandators) m->Stop();
  }
  for (auto& m : main_) m->Stop();
  for (SlaveDc& dc : slaves_) {
    dc.mandators.clear();
    dc.links.clear();
    dc.proxy.reset();
  }
  main_.clear();
  main_link_proxy_.reset();
  slaves_.clear();  // the slave ensembles
  main_zk_.reset();
}

std::string MultiDcCluster::SlaveDcName(int d) {
  return absl::StrCat("dc", d + 2);
}

absl::Status MultiDcCluster::StartAll(const MultiDcClusterOptions& options) {
  if (options.slave_dcs < 1) {
    return absl::InvalidArgumentError("slave_dcs must be at least 1");
  }
  if (static_cast<int>(options.wan_profiles.size()) > options.slave_dcs) {
    return absl::InvalidArgumentError("more wan_profiles than slave DCs");
  }
  if (options.zk_servers != 1 &&
      (options.proxy_slave_zk || options.proxy_main_zk_for_slaves)) {
    return absl::InvalidArgumentError(
        "proxy_slave_zk and proxy_main_zk_for_slaves need zk_servers = 1");
  }
  std::string base = options.base_dir;
  if (base.empty()) {
    const char* tmp = std::getenv("TEST_TMPDIR");
    base = tmp != nullptr ? tmp : "/tmp";
  }
  std::string templ = base + "/dcs.XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) {
    return ErrnoToStatus(errno, "mkdtemp " + templ);
  }
  dir_ = templ;
  KESS_ASSIGN_OR_RETURN(layout_, zk::Layout::Create("/kess"));
  KESS_ASSIGN_OR_RETURN(
      main_zk_,
      ZkEnsemble::Start(
          {.name = "dc1", .servers = options.zk_servers, .base_dir = dir_}));
  slaves_.resize(options.slave_dcs);
  std::vector<std::string> other_dcs;
  for (int d = 0; d < options.slave_dcs; ++d) {
    SlaveDc& dc = slaves_[d];
    dc.name = SlaveDcName(d);
    KESS_ASSIGN_OR_RETURN(dc.zk,
                          ZkEnsemble::Start({.name = dc.name,
                                             .servers = options.zk_servers,
                                             .base_dir = dir_}));
    other_dcs.push_back(absl::StrCat(dc.name, "=", dc.zk->ConnectString()));
  }
  std::string main_for_slaves = main_zk_->ConnectString();
  if (options.proxy_main_zk_for_slaves) {
    KESS_ASSIGN_OR_RETURN(main_link_proxy_,
                          ZkSessionProxy::Start(main_for_slaves));
    main_for_slaves = main_link_proxy_->address();
  }
  KESS_ASSIGN_OR_RETURN(auth_file_,
                        WriteAuthFile(dir_, mandator::testing::TestAuth()));

  MultiDcClusterOptions main_options = options;
  if (options.main_other_dcs) {
    main_options.extra_flags.push_back(
        absl::StrCat("--other_dcs=", absl::StrJoin(other_dcs, ";")));
  }
  KESS_RETURN_IF_ERROR(StartMandators(main_options, "dc1", "m",
                                      main_zk_->ConnectString(), "", &main_));
  MultiDcClusterOptions slave_options = options;
  slave_options.extra_flags.insert(slave_options.extra_flags.end(),
                                   options.slave_flags.begin(),
                                   options.slave_flags.end());
  for (int d = 0; d < options.slave_dcs; ++d) {
    SlaveDc& dc = slaves_[d];
    std::string zk = dc.zk->ConnectString();
    if (options.proxy_slave_zk) {
      KESS_ASSIGN_OR_RETURN(dc.proxy, ZkSessionProxy::Start(zk));
      zk = dc.proxy->address();
    }
    std::string main_zk = main_for_slaves;
    if (options.wan_main_zk_for_slaves) {
      KESS_ASSIGN_OR_RETURN(main_zk,
                            StartWanLinks(options, d, main_for_slaves));
    }
    KESS_RETURN_IF_ERROR(StartMandators(slave_options, dc.name,
                                        d == 0 ? "s" : dc.name + "-s", zk,
                                        main_zk, &dc.mandators));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> MultiDcCluster::StartWanLinks(
    const MultiDcClusterOptions& options, int d,
    const std::string& main_for_slaves) {
  SlaveDc& dc = slaves_[d];
  const wan::LinkProfile profile =
      d < static_cast<int>(options.wan_profiles.size())
          ? options.wan_profiles[d]
          : wan::LinkProfile();
  std::vector<std::string> addresses;
  for (absl::string_view server :
       absl::StrSplit(main_for_slaves, ',', absl::SkipEmpty())) {
    wan::WanLink::Options o;
    o.upstream = std::string(server);
    o.forward = profile;
    o.reverse = profile;
    o.name = absl::StrCat(dc.name, "-dc1zk", dc.links.size());
    KESS_ASSIGN_OR_RETURN(std::unique_ptr<wan::WanLink> link,
                          wan::WanLink::Start(std::move(o)));
    addresses.push_back(link->address());
    dc.links.push_back(std::move(link));
  }
  return absl::StrJoin(addresses, ",");
}

absl::Status MultiDcCluster::StartMandators(
    const MultiDcClusterOptions& options, const std::string& datacenter,
    const std::string& id_prefix, const std::string& zk,
    const std::string& main_zk, MandatorList* out) {
  const bool is_main = main_zk.empty();
  for (int i = 1; i <= options.mandators_per_dc; ++i) {
    MandatorProcessOptions o;
    o.binary = options.mandator_binary;
    o.id = absl::StrCat(id_prefix, i);
    o.datacenter = datacenter;
    o.is_main = is_main;
    o.zk = zk;
    if (!is_main) {
      o.main_zk = main_zk;
      o.main_datacenter = "dc1";
    }
    o.auth_file = auth_file_;
    o.zk_session_timeout_ms = options.zk_session_timeout_ms;
    o.extra_flags = options.extra_flags;
    o.log_dir = dir_;
    KESS_ASSIGN_OR_RETURN(std::unique_ptr<MandatorProcess> m,
                          MandatorProcess::Start(o));
    out->push_back(std::move(m));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<zk::ZkClient>>
MultiDcCluster::ConnectMainReader() const {
  return mandator::testing::ConnectReader(main_zk_->ConnectString());
}

absl::StatusOr<std::unique_ptr<zk::ZkClient>>
MultiDcCluster::ConnectSlaveReader(int d) const {
  return mandator::testing::ConnectReader(slaves_.at(d).zk->ConnectString());
}

absl::StatusOr<zk::SessionCredentials> MultiDcCluster::SlaveSessionCredentials(
    const MandatorProcess& m) const {
  if (slaves_.empty() || slaves_[0].proxy == nullptr) {
    return absl::FailedPreconditionError("started without proxy_slave_zk");
  }
  Poco::JSON::Object::Ptr status = StatusOf(m);
  if (!status) return absl::UnavailableError(m.id() + " has no status");
  const std::string hex = status->optValue<std::string>("zk_session_id", "");
  uint64_t id = 0;
  if (hex.size() < 3 || !absl::SimpleHexAtoi(hex.substr(2), &id) || id == 0) {
    return absl::UnavailableError(m.id() + " reports no session: " + hex);
  }
  absl::StatusOr<zk::SessionCredentials> found =
      absl::NotFoundError("no slave DC");
  for (const SlaveDc& dc : slaves_) {
    found = dc.proxy->Credentials(static_cast<int64_t>(id));
    if (found.ok()) break;
  }
  return found;
}

void MultiDcCluster::SetWanState(int d, wan::LinkState state) {
  for (auto& link : slaves_.at(d).links) link->SetState(state);
}

absl::Status MultiDcCluster::SetWanProfile(int d,
                                           const wan::LinkProfile& profile) {
  for (auto& link : slaves_.at(d).links) {
    KESS_RETURN_IF_ERROR(link->SetProfile(profile, profile));
  }
  return absl::OkStatus();
}

}  // namespace testing
}  // namespace kess
