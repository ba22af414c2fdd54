#include "tests/cluster/two_dc_cluster.h"

#include <stdlib.h>

#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "mandator/test_util.h"

namespace kess {
namespace testing {

absl::StatusOr<std::unique_ptr<TwoDcCluster>> TwoDcCluster::Start(
    const TwoDcClusterOptions& options) {
  std::unique_ptr<TwoDcCluster> cluster(new TwoDcCluster());
  KESS_RETURN_IF_ERROR(cluster->StartAll(options));
  return cluster;
}

TwoDcCluster::~TwoDcCluster() {
  for (auto& m : slave_) m->Stop();
  for (auto& m : main_) m->Stop();
  slave_.clear();
  main_.clear();
  slave_proxy_.reset();
  main_link_proxy_.reset();
  slave_zk_.reset();
  main_zk_.reset();
}

absl::Status TwoDcCluster::StartAll(const TwoDcClusterOptions& options) {
  std::string base = options.base_dir;
  if (base.empty()) {
    const char* tmp = std::getenv("TEST_TMPDIR");
    base = tmp != nullptr ? tmp : "/tmp";
  }
  std::string templ = base + "/two_dc.XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) {
    return ErrnoToStatus(errno, "mkdtemp " + templ);
  }
  dir_ = templ;
  KESS_ASSIGN_OR_RETURN(layout_, zk::Layout::Create("/kess"));
  KESS_ASSIGN_OR_RETURN(
      main_zk_,
      ZkEnsemble::Start(
          {.name = "dc1", .servers = options.zk_servers, .base_dir = dir_}));
  KESS_ASSIGN_OR_RETURN(
      slave_zk_,
      ZkEnsemble::Start(
          {.name = "dc2", .servers = options.zk_servers, .base_dir = dir_}));
  std::string slave_connect = slave_zk_->ConnectString();
  if (options.proxy_slave_zk) {
    if (options.zk_servers != 1) {
      return absl::InvalidArgumentError("proxy_slave_zk needs zk_servers = 1");
    }
    KESS_ASSIGN_OR_RETURN(slave_proxy_, ZkSessionProxy::Start(slave_connect));
    slave_connect = slave_proxy_->address();
  }
  std::string main_for_slaves = main_zk_->ConnectString();
  if (options.proxy_main_zk_for_slaves) {
    if (options.zk_servers != 1) {
      return absl::InvalidArgumentError(
          "proxy_main_zk_for_slaves needs zk_servers = 1");
    }
    KESS_ASSIGN_OR_RETURN(main_link_proxy_,
                          ZkSessionProxy::Start(main_for_slaves));
    main_for_slaves = main_link_proxy_->address();
  }
  KESS_ASSIGN_OR_RETURN(auth_file_,
                        WriteAuthFile(dir_, mandator::testing::TestAuth()));
  const std::string& auth = auth_file_;
  for (bool is_main : {true, false}) {
    for (int i = 1; i <= options.mandators_per_dc; ++i) {
      MandatorProcessOptions o;
      o.binary = options.mandator_binary;
      o.id = absl::StrCat(is_main ? "m" : "s", i);
      o.datacenter = is_main ? "dc1" : "dc2";
      o.is_main = is_main;
      o.zk = is_main ? main_zk_->ConnectString() : slave_connect;
      if (!is_main) {
        o.main_zk = main_for_slaves;
        o.main_datacenter = "dc1";
      }
      o.auth_file = auth;
      o.zk_session_timeout_ms = options.zk_session_timeout_ms;
      o.extra_flags = options.extra_flags;
      if (is_main && options.main_other_dcs) {
        o.extra_flags.push_back(
            absl::StrCat("--other_dcs=dc2=", slave_zk_->ConnectString()));
      }
      if (!is_main) {
        o.extra_flags.insert(o.extra_flags.end(), options.slave_flags.begin(),
                             options.slave_flags.end());
      }
      o.log_dir = dir_;
      KESS_ASSIGN_OR_RETURN(std::unique_ptr<MandatorProcess> m,
                            MandatorProcess::Start(o));
      (is_main ? main_ : slave_).push_back(std::move(m));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<zk::ZkClient>> TwoDcCluster::ConnectMainReader()
    const {
  return mandator::testing::ConnectReader(main_zk_->ConnectString());
}

absl::StatusOr<std::unique_ptr<zk::ZkClient>> TwoDcCluster::ConnectSlaveReader()
    const {
  return mandator::testing::ConnectReader(slave_zk_->ConnectString());
}

absl::StatusOr<zk::SessionCredentials> TwoDcCluster::SlaveSessionCredentials(
    const MandatorProcess& m) const {
  if (slave_proxy_ == nullptr) {
    return absl::FailedPreconditionError("started without proxy_slave_zk");
  }
  Poco::JSON::Object::Ptr status = StatusOf(m);
  if (!status) return absl::UnavailableError(m.id() + " has no status");
  const std::string hex = status->optValue<std::string>("zk_session_id", "");
  uint64_t id = 0;
  if (hex.size() < 3 || !absl::SimpleHexAtoi(hex.substr(2), &id) || id == 0) {
    return absl::UnavailableError(m.id() + " reports no session: " + hex);
  }
  return slave_proxy_->Credentials(static_cast<int64_t>(id));
}

}  // namespace testing
}  // namespace kess
