#include "tests/cluster/multi_dc_cluster.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "glog/logging.h"
#include "mandator/core/zk_options.h"
#include "mandator/testing/test_util.h"

namespace kess {
namespace testing {

std::string ClusterBinary(const std::string& bin_dir,
                          const std::string& relative) {
  return bin_dir.empty() ? Runfile(relative) : bin_dir + "/" + relative;
}

absl::StatusOr<std::vector<std::string>> NetnsPrefix(const std::string& netns) {
  if (netns.empty()) return std::vector<std::string>();
  const char* path = std::getenv("PATH");
  std::vector<std::string> dirs =
      absl::StrSplit(path != nullptr ? path : "", ':', absl::SkipEmpty());
  for (const char* d : {"/usr/sbin", "/sbin", "/usr/bin", "/bin"}) {
    dirs.push_back(d);
  }
  for (const std::string& dir : dirs) {
    const std::string ip = dir + "/ip";
    if (access(ip.c_str(), X_OK) == 0) {
      return std::vector<std::string>{ip, "netns", "exec", netns};
    }
  }
  return absl::FailedPreconditionError(
      "network namespaces need `ip` (iproute2), not found");
}

std::string RandomSecret() {
  unsigned char bytes[16];
  size_t got = 0;
  for (int attempt = 0; got < sizeof(bytes) && attempt < 100; ++attempt) {
    const ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
    if (n > 0) got += n;
  }
  CHECK_EQ(got, sizeof(bytes)) << "getrandom failed";
  std::string out;
  for (unsigned char b : bytes) {
    absl::StrAppend(&out, absl::Hex(b, absl::kZeroPad2));
  }
  return out;
}

absl::Status WriteSecretFile(const std::string& path,
                             const std::string& content) {
  const int fd =
      open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoToStatus(errno, "open " + path);
  const bool ok = write(fd, content.data(), content.size()) ==
                  static_cast<ssize_t>(content.size());
  const int err = errno;
  close(fd);
  if (!ok) return ErrnoToStatus(err, "write " + path);
  if (chmod(path.c_str(), 0600) != 0) return ErrnoToStatus(errno, "chmod");
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<MultiDcCluster>> MultiDcCluster::Start(
    const MultiDcClusterOptions& options) {
  std::unique_ptr<MultiDcCluster> cluster(new MultiDcCluster(options));
  KESS_RETURN_IF_ERROR(cluster->StartAll());
  return cluster;
}

MultiDcCluster::MultiDcCluster(const MultiDcClusterOptions& options)
    : options_(options) {}

MultiDcCluster::~MultiDcCluster() {
  for (size_t i = dcs_.size(); i-- > 0;) {
    for (auto& m : dcs_[i].mandators) m->Stop();
  }
  for (Dc& dc : dcs_) {
    dc.mandators.clear();
    dc.links.clear();
    dc.proxy.reset();
  }
  main_link_proxy_.reset();
  for (size_t i = dcs_.size(); i-- > 0;) dcs_[i].zk.reset();
}

std::string MultiDcCluster::DcName(int i) { return absl::StrCat("dc", i + 1); }

std::string MultiDcCluster::MandatorName(const std::string& dc,
                                         const MandatorProcess& m) {
  return absl::StrCat("mandator-", dc, "-", m.id());
}

absl::Status MultiDcCluster::CheckCancelled() const {
  if (options_.hooks.cancelled && options_.hooks.cancelled()) {
    return absl::CancelledError("interrupted while starting");
  }
  return absl::OkStatus();
}

void MultiDcCluster::Progress(const std::string& line) const {
  LOG(INFO) << line;
  if (options_.hooks.progress) options_.hooks.progress(line);
}

void MultiDcCluster::Started(const std::string& name, pid_t pid) const {
  if (options_.hooks.started) options_.hooks.started(name, pid);
}

absl::Status MultiDcCluster::StartAll() {
  const MultiDcClusterOptions& o = options_;
  if (o.slave_dcs < 0 || o.slave_dcs > 98) {
    return absl::InvalidArgumentError("slave_dcs: 0 to 98");
  }
  if (o.zk_servers != 1 && o.zk_servers != 3) {
    return absl::InvalidArgumentError("zk_servers: 1 or 3");
  }
  if (o.mandators_per_dc < 1) {
    return absl::InvalidArgumentError("at least 1 mandator per DC");
  }
  const int dcs = 1 + o.slave_dcs;
  if (static_cast<int>(o.wan_profiles.size()) > o.slave_dcs) {
    return absl::InvalidArgumentError("more wan_profiles than slave DCs");
  }
  if (static_cast<int>(o.dc_netns.size()) > dcs ||
      static_cast<int>(o.dc_addresses.size()) > dcs) {
    return absl::InvalidArgumentError("more namespaces or addresses than DCs");
  }
  if (o.zk_servers != 1 && (o.proxy_slave_zk || o.proxy_main_zk_for_slaves)) {
    return absl::InvalidArgumentError(
        "proxy_slave_zk and proxy_main_zk_for_slaves need zk_servers = 1");
  }
  if (!o.dir.empty()) {
    dir_ = o.dir;
  } else {
    std::string templ =
        (o.base_dir.empty() ? TestTmpDir() : o.base_dir) + "/dcs.XXXXXX";
    if (mkdtemp(templ.data()) == nullptr) {
      return ErrnoToStatus(errno, "mkdtemp " + templ);
    }
    dir_ = templ;
  }
  for (const char* sub : {"/logs", "/zk", "/secrets"}) {
    std::error_code error;
    std::filesystem::create_directories(dir_ + sub, error);
    if (error) {
      return absl::InternalError(
          absl::StrCat("mkdir ", dir_, sub, ": ", error.message()));
    }
  }
  chmod((dir_ + "/secrets").c_str(), 0700);
  KESS_ASSIGN_OR_RETURN(layout_, zk::Layout::Create("/kess"));
  KESS_RETURN_IF_ERROR(WriteSecrets());
  if (o.tls) {
    KESS_ASSIGN_OR_RETURN(
        tls_, ClusterTls::Create(dir_ + "/tls", "test", o.dc_addresses));
  }

  dcs_.resize(dcs);
  for (int i = 0; i < dcs; ++i) {
    Dc& dc = dcs_[i];
    dc.name = DcName(i);
    dc.address = i < static_cast<int>(o.dc_addresses.size()) &&
                         !o.dc_addresses[i].empty()
                     ? o.dc_addresses[i]
                     : "127.0.0.1";
    dc.netns = i < static_cast<int>(o.dc_netns.size()) ? o.dc_netns[i] : "";
    KESS_ASSIGN_OR_RETURN(dc.command_prefix, NetnsPrefix(dc.netns));
  }
  Progress(absl::StrCat("starting ZooKeeper: ", dcs,
                        dcs == 1 ? " ensemble of " : " ensembles of ",
                        o.zk_servers, " server(s)"));
  for (Dc& dc : dcs_) KESS_RETURN_IF_ERROR(StartZooKeeper(dc));
  std::vector<std::string> other_dcs;
  for (int i = 1; i < dcs; ++i) {
    other_dcs.push_back(
        absl::StrCat(dcs_[i].name, "=", dcs_[i].zk->ConnectString()));
  }
  std::string main_for_slaves = dcs_[0].zk->ConnectString();
  if (o.proxy_main_zk_for_slaves) {
    KESS_ASSIGN_OR_RETURN(main_link_proxy_,
                          ZkSessionProxy::Start(main_for_slaves));
    main_for_slaves = main_link_proxy_->address();
  }

  Progress(absl::StrCat("starting ", o.mandators_per_dc, " mandators per DC"));
  std::vector<std::string> main_flags;
  if (o.main_other_dcs && !other_dcs.empty()) {
    main_flags.push_back(
        absl::StrCat("--other_dcs=", absl::StrJoin(other_dcs, ";")));
  }
  KESS_RETURN_IF_ERROR(StartMandators(dcs_[0], "m", dcs_[0].zk->ConnectString(),
                                      "", main_flags));
  std::vector<std::string> slave_flags;
  if (o.partition_after > absl::ZeroDuration()) {
    slave_flags.push_back(absl::StrCat(
        "--partition_after_ms=", absl::ToInt64Milliseconds(o.partition_after)));
  }
  if (o.heal_after > absl::ZeroDuration()) {
    slave_flags.push_back(absl::StrCat(
        "--heal_after_ms=", absl::ToInt64Milliseconds(o.heal_after)));
  }
  slave_flags.insert(slave_flags.end(), o.slave_flags.begin(),
                     o.slave_flags.end());
  for (int d = 0; d < o.slave_dcs; ++d) {
    Dc& dc = dcs_[d + 1];
    std::string zk = dc.zk->ConnectString();
    if (o.proxy_slave_zk) {
      KESS_ASSIGN_OR_RETURN(dc.proxy, ZkSessionProxy::Start(zk));
      zk = dc.proxy->address();
    }
    std::string main_zk = main_for_slaves;
    if (o.wan_main_zk_for_slaves) {
      KESS_ASSIGN_OR_RETURN(main_zk, StartWanLinks(d, main_for_slaves));
    }
    const std::string prefix =
        o.mandator_ids_per_dc ? "m" : d == 0 ? "s" : dc.name + "-s";
    KESS_RETURN_IF_ERROR(StartMandators(dc, prefix, zk, main_zk, slave_flags));
  }
  return absl::OkStatus();
}

absl::Status MultiDcCluster::WriteSecrets() {
  const std::string secrets = dir_ + "/secrets";
  if (options_.random_secrets) {
    auth_.mandator = {"mandator", RandomSecret()};
    auth_.reader = {"reader", RandomSecret()};
  } else {
    auth_ = mandator::testing::TestAuth();
  }
  auth_file_ = secrets + "/zk.auth";
  reader_auth_file_ = secrets + "/zk-reader.auth";
  const std::string reader =
      absl::StrCat(auth_.reader.user, ":", auth_.reader.password, "\n");
  KESS_RETURN_IF_ERROR(WriteSecretFile(
      auth_file_,
      absl::StrCat(auth_.mandator.user, ":", auth_.mandator.password, "\n",
                   reader)));
  KESS_RETURN_IF_ERROR(WriteSecretFile(reader_auth_file_, reader));
  // Without --insecure_dev_mode a mandator needs the bootstrap admin's
  // password to start.
  if (options_.admin_secret || options_.registration_rights) {
    admin_file_ = secrets + "/admin.password";
    admin_header_file_ = secrets + "/admin.header";
    const std::string secret = RandomSecret();
    KESS_RETURN_IF_ERROR(WriteSecretFile(admin_file_, secret + "\n"));
    KESS_RETURN_IF_ERROR(WriteSecretFile(
        admin_header_file_,
        absl::StrCat("Authorization: Bearer ", secret, "\n")));
  }
  return absl::OkStatus();
}

absl::Status MultiDcCluster::StartZooKeeper(Dc& dc) {
  KESS_RETURN_IF_ERROR(CheckCancelled());
  ZkEnsembleOptions o;
  o.name = dc.name;
  o.servers = options_.zk_servers;
  o.host = dc.address;
  o.base_dir = dir_ + "/zk";
  o.command_prefix = dc.command_prefix;
  KESS_ASSIGN_OR_RETURN(dc.zk, ZkEnsemble::Start(o));
  for (int i = 0; i < dc.zk->size(); ++i) {
    Started(absl::StrCat("zookeeper-", dc.name, "-", i + 1),
            dc.zk->ServerPid(i));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> MultiDcCluster::StartWanLinks(
    int d, const std::string& main_for_slaves) {
  Dc& dc = dcs_[d + 1];
  const wan::LinkProfile profile =
      d < static_cast<int>(options_.wan_profiles.size())
          ? options_.wan_profiles[d]
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
    Dc& dc, const std::string& id_prefix, const std::string& zk,
    const std::string& main_zk, const std::vector<std::string>& flags) {
  const MultiDcClusterOptions& options = options_;
  const bool is_main = main_zk.empty();
  for (int i = 1; i <= options.mandators_per_dc; ++i) {
    KESS_RETURN_IF_ERROR(CheckCancelled());
    MandatorProcessOptions o;
    o.binary = options.mandator_binary.empty()
                   ? ClusterBinary(options.bin_dir, "mandator/mandator")
                   : options.mandator_binary;
    o.id = absl::StrCat(id_prefix, i);
    o.datacenter = dc.name;
    o.is_main = is_main;
    o.zk = zk;
    if (!is_main) {
      o.main_zk = main_zk;
      o.main_datacenter = dcs_[0].name;
    }
    o.auth_file = auth_file_;
    o.tls_flags = tls_.Flags("mandator");
    bool dev_mode = false;
    if (options.registration_rights && tls_.enabled()) {
      o.tls_flags.push_back("--tls_client_auth");
    } else {
      o.extra_flags.push_back("--insecure_dev_mode");
      dev_mode = true;
    }
    o.zk_session_timeout = options.zk_session_timeout;
    if (options.admin_secret || (!dev_mode && !admin_file_.empty())) {
      o.extra_flags.push_back("--admin_password_file=" + admin_file_);
      o.extra_flags.push_back("--admin_user=" + options.admin_user);
    }
    o.extra_flags.insert(o.extra_flags.end(), options.extra_flags.begin(),
                         options.extra_flags.end());
    o.extra_flags.insert(o.extra_flags.end(), flags.begin(), flags.end());
    o.log_dir = logs_dir();
    o.log_name = absl::StrCat("mandator-", dc.name, "-", o.id);
    o.host = dc.address;
    o.command_prefix = dc.command_prefix;
    KESS_ASSIGN_OR_RETURN(std::unique_ptr<MandatorProcess> m,
                          MandatorProcess::Start(o));
    Started(o.log_name, m->pid());
    dc.mandators.push_back(std::move(m));
  }
  return absl::OkStatus();
}

absl::Status MultiDcCluster::WaitLeaders(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (const Dc& dc : dcs_) {
    if (WaitLeader(dc.mandators, deadline - absl::Now()) == nullptr) {
      return absl::DeadlineExceededError(absl::StrCat(
          "no mandator leader in ", dc.name, " within ",
          absl::FormatDuration(timeout), " (see ", logs_dir(), "/mandator-",
          dc.name, "-*.log)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<zk::ZkClient>> MultiDcCluster::ConnectReader(
    const std::string& connect_string) const {
  zk::ZkClientOptions options = mandator::core::ReaderClientOptions(
      connect_string, auth_, absl::Seconds(4));
  options.connect_timeout = absl::Seconds(30);
  return zk::ZkClient::Create(options);
}

absl::StatusOr<std::unique_ptr<zk::ZkClient>>
MultiDcCluster::ConnectMainReader() const {
  return ConnectReader(dcs_[0].zk->ConnectString());
}

absl::StatusOr<std::unique_ptr<zk::ZkClient>>
MultiDcCluster::ConnectSlaveReader(int d) const {
  return ConnectReader(dcs_.at(d + 1).zk->ConnectString());
}

absl::StatusOr<zk::SessionCredentials> MultiDcCluster::SlaveSessionCredentials(
    const MandatorProcess& m) const {
  if (dcs_.size() < 2 || dcs_[1].proxy == nullptr) {
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
  for (size_t i = 1; i < dcs_.size(); ++i) {
    found = dcs_[i].proxy->Credentials(static_cast<int64_t>(id));
    if (found.ok()) break;
  }
  return found;
}

void MultiDcCluster::SetWanState(int d, wan::LinkState state) {
  for (auto& link : dcs_.at(d + 1).links) link->SetState(state);
}

absl::Status MultiDcCluster::SetWanProfile(int d,
                                           const wan::LinkProfile& profile) {
  for (auto& link : dcs_.at(d + 1).links) {
    KESS_RETURN_IF_ERROR(link->SetProfile(profile, profile));
  }
  return absl::OkStatus();
}

}  // namespace testing
}  // namespace kess
