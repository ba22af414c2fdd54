#include "tests/cluster/local_cluster.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "model/file_cache/env.h"
#include "model/file_cache/reader.h"
#include "common/json_util.h"
#include "model/route_table.h"
#include "common/testing/wait_for.h"
#include "glog/logging.h"

namespace kess {
namespace testing {
namespace {

constexpr absl::Duration kStopGrace = absl::Seconds(15);

// JSON text from already encoded values.
std::string Obj(const std::vector<std::pair<std::string, std::string>>& kv) {
  std::vector<std::string> parts;
  for (const auto& [k, v] : kv) parts.push_back(JsonQuote(k) + ":" + v);
  return absl::StrCat("{", absl::StrJoin(parts, ","), "}");
}
std::string Arr(const std::vector<std::string>& items) {
  return absl::StrCat("[", absl::StrJoin(items, ","), "]");
}
std::string Str(const std::string& s) { return JsonQuote(s); }
std::string Bool(bool b) { return b ? "true" : "false"; }

std::string RandomHex(int bytes) {
  std::string out;
  for (int i = 0; i < bytes; ++i) {
    unsigned char b = 0;
    while (getrandom(&b, 1, 0) != 1) {
    }
    absl::StrAppend(&out, absl::Hex(b, absl::kZeroPad2));
  }
  return out;
}

// Writes `content` to `path` with mode `mode` (the file is made with it,
// so a secret is never readable by others, not even for a moment).
absl::Status WriteFile(const std::string& path, const std::string& content,
                       mode_t mode = 0644) {
  const int fd =
      open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoToStatus(errno, "open " + path);
  const bool ok = write(fd, content.data(), content.size()) ==
                  static_cast<ssize_t>(content.size());
  const int err = errno;
  close(fd);
  if (!ok) return ErrnoToStatus(err, "write " + path);
  if (chmod(path.c_str(), mode) != 0) return ErrnoToStatus(errno, "chmod");
  return absl::OkStatus();
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// An executable named `name` in $PATH or the usual sbin dirs; "" if none.
std::string FindExecutable(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::vector<std::string> dirs =
      absl::StrSplit(path != nullptr ? path : "", ':', absl::SkipEmpty());
  for (const char* d : {"/usr/sbin", "/sbin", "/usr/bin", "/bin"}) {
    dirs.push_back(d);
  }
  for (const std::string& dir : dirs) {
    const std::string candidate = dir + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// "exit status N" / "killed by SIGX" of a waitpid(2) status.
std::string DescribeWaitStatus(int status) {
  if (WIFSIGNALED(status)) {
    const char* name = sigabbrev_np(WTERMSIG(status));
    return absl::StrCat("killed by SIG", name != nullptr
                                             ? name
                                             : absl::StrCat(WTERMSIG(status)));
  }
  return absl::StrCat("exit status ", WEXITSTATUS(status));
}

// The fields every process has in Describe().
std::vector<std::pair<std::string, std::string>> ProcessFields(
    const std::string& name, DaemonProcess& d) {
  const bool running = !d.Exited();
  return {{"name", Str(name)},
          {"pid", absl::StrCat(running ? d.pid() : -1)},
          {"running", Bool(running)},
          {"log", Str(d.log_path())}};
}

std::vector<std::pair<std::string, std::string>> With(
    std::vector<std::pair<std::string, std::string>> base,
    const std::vector<std::pair<std::string, std::string>>& more) {
  base.insert(base.end(), more.begin(), more.end());
  return base;
}

}  // namespace

LocalCluster::LocalCluster(LocalClusterOptions options)
    : options_(std::move(options)) {}

LocalCluster::~LocalCluster() { StopAll(); }

absl::StatusOr<std::unique_ptr<LocalCluster>> LocalCluster::Start(
    LocalClusterOptions options) {
  const LocalClusterOptions& o = options;
  if (o.dcs < 1 || o.dcs > 99) {
    return absl::InvalidArgumentError("dcs: 1 to 99");
  }
  if (o.zk_servers != 1 && o.zk_servers != 3) {
    return absl::InvalidArgumentError("zk_servers: 1 or 3");
  }
  if (o.mandators < 1 || o.distributors < 0 || o.agents < 0 ||
      o.providers < 0 || o.consumers < 0) {
    return absl::InvalidArgumentError(
        "at least 1 mandator per DC; no negative counts");
  }
  if (o.agents > 0 && o.distributors == 0) {
    return absl::InvalidArgumentError("agents need a distributor");
  }
  if ((o.providers > 0 || o.consumers > 0) && o.agents == 0) {
    return absl::InvalidArgumentError(
        "providers and consumers run on agents' hosts: agents >= 1");
  }
  if (o.provider_host < 1 || o.consumer_host < 1) {
    return absl::InvalidArgumentError("host numbers start at 1");
  }
  if (static_cast<int>(o.dc_netns.size()) > o.dcs ||
      static_cast<int>(o.dc_addresses.size()) > o.dcs) {
    return absl::InvalidArgumentError("more namespaces or addresses than DCs");
  }
  if (o.bin_dir.empty() || o.base_dir.empty()) {
    return absl::InvalidArgumentError("bin_dir and base_dir are required");
  }
  std::unique_ptr<LocalCluster> cluster(new LocalCluster(std::move(options)));
  absl::Status started = cluster->StartAll();
  if (!started.ok()) {
    cluster->StopAll();
    return started;
  }
  return cluster;
}

absl::Status LocalCluster::CheckCancelled() const {
  if (options_.cancelled && options_.cancelled()) {
    return absl::CancelledError("interrupted while starting");
  }
  return absl::OkStatus();
}

void LocalCluster::Progress(const std::string& line) const {
  LOG(INFO) << line;
  if (options_.progress) options_.progress(line);
}

std::vector<std::string> LocalCluster::Prefix(const std::string& netns) const {
  if (netns.empty()) return {};
  return {ip_binary_, "netns", "exec", netns};
}

std::string LocalCluster::Bin(const std::string& relative) const {
  return options_.bin_dir + "/" + relative;
}

std::string LocalCluster::LogPath(const std::string& name) const {
  return absl::StrCat(logs_, "/", name, ".log");
}

void LocalCluster::NotePid(const std::string& name, pid_t pid) const {
  std::ofstream out(run_ + "/pids", std::ios::app);
  out << name << " " << pid << "\n";
}

std::string LocalCluster::HostId(const Dc& dc, int i) const {
  return absl::StrReplaceAll(options_.host_id_format,
                             {{"{dc}", dc.name}, {"{i}", absl::StrCat(i)}});
}

std::vector<std::string> LocalCluster::SchedulerAddresses(const Dc& dc) const {
  std::vector<std::string> out;
  for (const auto& m : dc.mandators) out.push_back(m->address());
  return out;
}

absl::Status LocalCluster::StartAll() {
  const LocalClusterOptions& o = options_;
  file_cache::Env* env = file_cache::Env::Default();
  logs_ = o.base_dir + "/logs";
  hosts_ = o.base_dir + "/hosts";
  secrets_ = o.base_dir + "/secrets";
  run_ = o.base_dir + "/run";
  for (const std::string& dir :
       {logs_, hosts_, secrets_, run_, o.base_dir + "/zk"}) {
    KESS_RETURN_IF_ERROR(env->CreateDirs(dir));
  }
  chmod(secrets_.c_str(), 0700);
  dcs_.resize(o.dcs);
  bool namespaces = !o.wan_netns.empty();
  for (int d = 0; d < o.dcs; ++d) {
    Dc& dc = dcs_[d];
    dc.name = absl::StrCat("dc", d + 1);
    dc.address = d < static_cast<int>(o.dc_addresses.size()) &&
                         !o.dc_addresses[d].empty()
                     ? o.dc_addresses[d]
                     : "127.0.0.1";
    dc.netns = d < static_cast<int>(o.dc_netns.size()) ? o.dc_netns[d] : "";
    namespaces = namespaces || !dc.netns.empty();
  }
  if (namespaces) {
    ip_binary_ = FindExecutable("ip");
    if (ip_binary_.empty()) {
      return absl::FailedPreconditionError(
          "network namespaces need `ip` (iproute2), not found");
    }
  }
  KESS_RETURN_IF_ERROR(WriteSecrets());
  if (!o.wan_config.empty()) KESS_RETURN_IF_ERROR(StartWanEmulator());

  Progress(absl::StrCat("starting ZooKeeper: ", o.dcs,
                        o.dcs == 1 ? " ensemble of " : " ensembles of ",
                        o.zk_servers, " server(s)"));
  for (Dc& dc : dcs_) KESS_RETURN_IF_ERROR(StartZooKeeper(dc));

  Progress(absl::StrCat("starting ", o.mandators, " mandators per DC"));
  for (Dc& dc : dcs_) KESS_RETURN_IF_ERROR(StartMandators(dc));
  // Slave DCs' leaders create their members directories: distributors
  // register only once every DC has one.
  for (Dc& dc : dcs_) {
    if (WaitLeader(dc.mandators, absl::Seconds(60)) == nullptr) {
      return absl::DeadlineExceededError(
          absl::StrCat("no mandator leader in ", dc.name, " within 60 s (see ",
                       logs_, "/mandator-", dc.name, "-m*.log)"));
    }
  }

  if (o.distributors > 0) {
    Progress(absl::StrCat("starting ", o.distributors, " distributors per DC"));
  }
  for (Dc& dc : dcs_) KESS_RETURN_IF_ERROR(StartDistributors(dc));

  if (o.agents > 0) {
    Progress(absl::StrCat("starting ", o.agents, " agents per DC"));
  }
  for (Dc& dc : dcs_) {
    for (int i = 1; i <= o.agents; ++i) KESS_RETURN_IF_ERROR(StartAgent(dc, i));
  }
  for (const auto& [ns, key] : o.subscriptions) {
    KESS_RETURN_IF_ERROR(Subscribe(ns, key));
  }

  if (o.providers > 0 || o.consumers > 0) {
    Progress(absl::StrCat("starting the sample provider (", o.service, ")",
                          o.consumers > 0 ? " and consumers" : ""));
  }
  for (Dc& dc : dcs_) {
    for (int i = 0; i < o.providers; ++i) {
      KESS_RETURN_IF_ERROR(
          StartProvider(dc, (o.provider_host - 1 + i) % o.agents + 1));
    }
  }
  for (Dc& dc : dcs_) {
    for (int i = 1; i <= o.consumers; ++i) {
      KESS_RETURN_IF_ERROR(StartConsumer(dc, i));
    }
  }
  return absl::OkStatus();
}

absl::Status LocalCluster::WriteSecrets() {
  zk_auth_file_ = secrets_ + "/zk.auth";           // mandators: both users
  zk_reader_file_ = secrets_ + "/zk-reader.auth";  // distributors
  token_file_ = secrets_ + "/distributor.token";   // agents <-> distributors
  const std::string reader = RandomHex(16);
  KESS_RETURN_IF_ERROR(WriteFile(
      zk_auth_file_,
      absl::StrCat("mandator:", RandomHex(16), "\nreader:", reader, "\n"),
      0600));
  KESS_RETURN_IF_ERROR(
      WriteFile(zk_reader_file_, absl::StrCat("reader:", reader, "\n"), 0600));
  KESS_RETURN_IF_ERROR(WriteFile(token_file_, RandomHex(16) + "\n", 0600));
  if (options_.admin) {
    // One secret for every mandator: the UI's password and the API's Bearer
    // token; the header file is the same for curl (-H @file), so that the
    // secret never appears on a command line.
    admin_file_ = secrets_ + "/admin.password";
    admin_header_file_ = secrets_ + "/admin.header";
    const std::string secret = RandomHex(16);
    KESS_RETURN_IF_ERROR(WriteFile(admin_file_, secret + "\n", 0600));
    KESS_RETURN_IF_ERROR(
        WriteFile(admin_header_file_,
                  absl::StrCat("Authorization: Bearer ", secret, "\n"), 0600));
  }
  return absl::OkStatus();
}

absl::Status LocalCluster::StartWanEmulator() {
  KESS_RETURN_IF_ERROR(CheckCancelled());
  Progress(absl::StrCat(
      "starting the WAN emulator",
      options_.wan_netns.empty() ? "" : " in namespace " + options_.wan_netns));
  const std::string address_file = run_ + "/wan.addr";
  std::vector<std::string> args = Prefix(options_.wan_netns);
  args.insert(args.end(),
              {Bin("tests/wan/wan_emulator"), "--config=" + options_.wan_config,
               "--control_host=" + options_.wan_control_host,
               "--control_port=0", "--address_file=" + address_file});
  if (options_.wan_transparent_port > 0) {
    args.push_back(
        absl::StrCat("--transparent_port=", options_.wan_transparent_port));
  }
  wan_ =
      std::make_unique<DaemonProcess>("wan-emulator", LogPath("wan-emulator"));
  KESS_RETURN_IF_ERROR(wan_->Start(args));
  NotePid("wan-emulator", wan_->pid());
  bool exited = false;
  WaitFor(
      [&] {
        for (absl::string_view line :
             absl::StrSplit(ReadFileOrEmpty(address_file), '\n')) {
          if (absl::ConsumePrefix(&line, "control ")) {
            wan_control_ = std::string(line);
            return true;
          }
        }
        exited = wan_->Exited();
        return exited;
      },
      absl::Seconds(30));
  if (wan_control_.empty()) {
    return absl::UnavailableError(
        absl::StrCat("the WAN emulator ", exited ? "exited" : "did not start",
                     "; see ", wan_->log_path()));
  }
  return absl::OkStatus();
}

absl::Status LocalCluster::StartZooKeeper(Dc& dc) {
  KESS_RETURN_IF_ERROR(CheckCancelled());
  ZkEnsembleOptions o;
  o.name = dc.name;
  o.servers = options_.zk_servers;
  o.host = dc.address;
  o.base_dir = options_.base_dir + "/zk";
  o.command_prefix = Prefix(dc.netns);
  KESS_ASSIGN_OR_RETURN(dc.zk, ZkEnsemble::Start(o));
  for (int i = 0; i < dc.zk->size(); ++i) {
    NotePid(absl::StrCat("zookeeper-", dc.name, "-", i + 1),
            dc.zk->ServerPid(i));
  }
  return absl::OkStatus();
}

absl::Status LocalCluster::StartMandators(Dc& dc) {
  const bool main = &dc == &dcs_[0];
  std::vector<std::string> other_dcs;
  for (size_t d = 1; d < dcs_.size(); ++d) {
    other_dcs.push_back(dcs_[d].name + "=" + dcs_[d].zk->ConnectString());
  }
  for (int i = 1; i <= options_.mandators; ++i) {
    KESS_RETURN_IF_ERROR(CheckCancelled());
    MandatorProcessOptions o;
    o.binary = Bin("mandator/mandator");
    o.id = absl::StrCat("m", i);
    o.datacenter = dc.name;
    o.is_main = main;
    o.zk = dc.zk->ConnectString();
    if (!main) {
      o.main_zk = dcs_[0].zk->ConnectString();
      o.main_datacenter = dcs_[0].name;
    }
    o.auth_file = zk_auth_file_;
    o.log_dir = logs_;
    o.log_name = absl::StrCat("mandator-", dc.name, "-", o.id);
    o.host = dc.address;
    o.command_prefix = Prefix(dc.netns);
    if (options_.admin) {
      o.extra_flags.push_back("--admin_password_file=" + admin_file_);
      o.extra_flags.push_back("--admin_user=" + options_.admin_user);
    }
    if (main && !other_dcs.empty()) {
      o.extra_flags.push_back("--other_dcs=" + absl::StrJoin(other_dcs, ";"));
    }
    if (!main && options_.partition_after_ms > 0) {
      o.extra_flags.push_back(
          absl::StrCat("--partition_after_ms=", options_.partition_after_ms));
    }
    if (!main && options_.heal_after_ms > 0) {
      o.extra_flags.push_back(
          absl::StrCat("--heal_after_ms=", options_.heal_after_ms));
    }
    o.extra_flags.insert(o.extra_flags.end(), options_.mandator_flags.begin(),
                         options_.mandator_flags.end());
    KESS_ASSIGN_OR_RETURN(std::unique_ptr<MandatorProcess> m,
                          MandatorProcess::Start(o));
    NotePid(o.log_name, m->pid());
    dc.mandators.push_back(std::move(m));
  }
  return absl::OkStatus();
}

absl::Status LocalCluster::StartDistributors(Dc& dc) {
  for (int i = 1; i <= options_.distributors; ++i) {
    KESS_RETURN_IF_ERROR(CheckCancelled());
    DistributorProcessOptions o;
    o.binary = Bin("distributor/distributor");
    o.id = absl::StrCat("d", i);
    o.datacenter = dc.name;
    o.zk = dc.zk->ConnectString();
    o.zk_auth_file = zk_reader_file_;
    o.auth_token_file = token_file_;
    o.extra_flags = options_.distributor_flags;
    o.log_dir = logs_;  // distributor-<dc>-d<i>.log
    o.host = dc.address;
    o.command_prefix = Prefix(dc.netns);
    KESS_ASSIGN_OR_RETURN(std::unique_ptr<DistributorProcess> d,
                          DistributorProcess::Start(o));
    NotePid(absl::StrCat("distributor-", dc.name, "-", o.id), d->pid());
    dc.distributors.push_back(std::move(d));
  }
  return absl::OkStatus();
}

absl::Status LocalCluster::StartAgent(Dc& dc, int i) {
  KESS_RETURN_IF_ERROR(CheckCancelled());
  AgentHostOptions o;
  o.binary = Bin("agent/agent");
  o.host_id = HostId(dc, i);
  o.datacenter = dc.name;
  for (const auto& d : dc.distributors) o.distributors.push_back(d->address());
  o.mandators = SchedulerAddresses(dc);
  o.auth_token_file = token_file_;
  o.dir = hosts_ + "/" + o.host_id;
  if (!options_.agent_test_intervals) o.flags.clear();
  o.extra_flags = options_.agent_flags;
  o.http_host = dc.address;
  o.command_prefix = Prefix(dc.netns);
  const std::string name = "agent-" + o.host_id;
  o.log_path = LogPath(name);
  KESS_ASSIGN_OR_RETURN(std::unique_ptr<AgentHost> agent, AgentHost::Start(o));
  NotePid(name, agent->pid());
  AgentHost* a = agent.get();
  dc.agents.push_back(std::move(agent));
  return WaitConnected(*a);
}

absl::Status LocalCluster::WaitConnected(AgentHost& agent) {
  const bool connected = WaitFor(
      [&agent] {
        Poco::JSON::Object::Ptr status = agent.Status();
        return (status && status->optValue<bool>("connected", false)) ||
               agent.daemon().Exited();
      },
      absl::Seconds(30));
  if (!connected || !agent.running()) {
    return absl::UnavailableError(absl::StrCat(
        "agent-", agent.host_id(),
        " not connected to a distributor within 30 s; see ", agent.log_path()));
  }
  return absl::OkStatus();
}

absl::Status LocalCluster::Subscribe(const std::string& ns,
                                     const std::string& key) {
  for (Dc& dc : dcs_) {
    for (const auto& a : dc.agents) {
      absl::Status s = a->Subscribe(ConfigSubscription({{ns, key}}));
      if (!s.ok()) {
        return absl::Status(
            s.code(), absl::StrCat("subscribing ", a->host_id(), " to ", ns,
                                   "/", key, ": ", s.message()));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status LocalCluster::StartProvider(Dc& dc, int host) {
  KESS_RETURN_IF_ERROR(CheckCancelled());
  if (host < 1 || host > static_cast<int>(dc.agents.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat(dc.name, " has hosts 1 to ", dc.agents.size()));
  }
  App app;
  app.id = absl::StrReplaceAll(
      options_.instance_id_format,
      {{"{dc}", dc.name}, {"{i}", absl::StrCat(dc.providers.size() + 1)}});
  app.name = "provider-" + app.id;
  app.host = dc.agents[host - 1]->host_id();
  app.port_file = absl::StrCat(run_, "/", app.name, ".port");
  app.args = Prefix(dc.netns);
  app.args.insert(
      app.args.end(),
      {Bin("sdk/examples/demo_provider"), "--service=" + options_.service,
       "--id=" + app.id, "--host=" + app.host, "--dc=" + dc.name,
       "--mandators=" + absl::StrJoin(SchedulerAddresses(dc), ","),
       "--listen_host=" + dc.address, "--port_file=" + app.port_file});
  app.args.insert(app.args.end(), options_.provider_flags.begin(),
                  options_.provider_flags.end());
  app.process = std::make_unique<DaemonProcess>(app.name, LogPath(app.name));
  dc.providers.push_back(std::move(app));
  return LaunchApp(dc.providers.back(), /*provider=*/true);
}

absl::Status LocalCluster::StartConsumer(Dc& dc, int i) {
  KESS_RETURN_IF_ERROR(CheckCancelled());
  const AgentHost& agent =
      *dc.agents[(options_.consumer_host - 1 + i - 1) % dc.agents.size()];
  App app;
  app.name = i == 1 ? "consumer-" + dc.name
                    : absl::StrCat("consumer-", dc.name, "-", i);
  app.host = agent.host_id();
  app.stats_file = absl::StrCat(run_, "/", app.name, ".json");
  app.args = Prefix(dc.netns);
  app.args.insert(
      app.args.end(),
      {Bin("sdk/examples/demo_consumer"), "--service=" + options_.service,
       "--dc=" + dc.name, "--cache_dir=" + agent.cache_dir(),
       "--agent=" + agent.http_address(), "--stats_file=" + app.stats_file});
  app.args.insert(app.args.end(), options_.consumer_flags.begin(),
                  options_.consumer_flags.end());
  app.process = std::make_unique<DaemonProcess>(app.name, LogPath(app.name));
  dc.consumers.push_back(std::move(app));
  return LaunchApp(dc.consumers.back(), /*provider=*/false);
}

absl::Status LocalCluster::LaunchApp(App& app, bool provider) {
  file_cache::Env* env = file_cache::Env::Default();
  if (provider) {
    env->RemoveFile(app.port_file).IgnoreError();
    KESS_RETURN_IF_ERROR(app.process->Start(app.args));
    NotePid(app.name, app.process->pid());
    // The provider writes its port once registered with its mandators.
    KESS_ASSIGN_OR_RETURN(int port, app.process->WaitForPortFile(
                                        app.port_file, absl::Seconds(30)));
    std::string host = "127.0.0.1";
    for (const std::string& a : app.args) {
      if (absl::StartsWith(a, "--listen_host=")) host = a.substr(14);
    }
    app.address = absl::StrCat(host, ":", port);
    return absl::OkStatus();
  }
  env->RemoveFile(app.stats_file).IgnoreError();
  KESS_RETURN_IF_ERROR(app.process->Start(app.args));
  NotePid(app.name, app.process->pid());
  return WaitConsumerCalling(app);
}

absl::Status LocalCluster::WaitConsumerCalling(App& app) {
  // Calling, with the instances of every DC that has a provider.
  int64_t dcs_with_providers = 0;
  for (const Dc& dc : dcs_) dcs_with_providers += dc.providers.empty() ? 0 : 1;
  std::string last;
  bool exited = false;
  const bool calling = WaitFor(
      [&] {
        exited = app.process->Exited();
        if (exited) return true;
        last = ReadFileOrEmpty(app.stats_file);
        absl::StatusOr<Poco::JSON::Object::Ptr> stats = ParseJsonObject(last);
        if (!stats.ok()) return false;
        return (*stats)->optValue<int64_t>("ok", 0) > 0 &&
               (*stats)->optValue<int64_t>("instances", 0) >=
                   dcs_with_providers;
      },
      absl::Seconds(60));
  if (exited || !calling) {
    return absl::UnavailableError(
        absl::StrCat(app.name, exited ? " exited" : " not calling within 60 s",
                     " (last counters: ", last.empty() ? "none" : last,
                     "); see ", app.process->log_path()));
  }
  return absl::OkStatus();
}

LocalCluster::Dc* LocalCluster::FindDc(const std::string& name) {
  for (Dc& dc : dcs_) {
    if (dc.name == name) return &dc;
  }
  return nullptr;
}

absl::StatusOr<LocalCluster::Ref> LocalCluster::Find(const std::string& name) {
  Ref ref;
  if (name == "wan-emulator" && wan_ != nullptr) {
    ref.daemon = wan_.get();
    return ref;
  }
  for (Dc& dc : dcs_) {
    ref.dc = &dc;
    for (const auto& m : dc.mandators) {
      if (name == absl::StrCat("mandator-", dc.name, "-", m->id())) {
        ref.mandator = m.get();
        ref.daemon = &m->daemon();
        return ref;
      }
    }
    for (const auto& d : dc.distributors) {
      if (name == absl::StrCat("distributor-", dc.name, "-", d->id())) {
        ref.distributor = d.get();
        ref.daemon = &d->daemon();
        return ref;
      }
    }
    for (const auto& a : dc.agents) {
      if (name == "agent-" + a->host_id()) {
        ref.agent = a.get();
        ref.daemon = &a->daemon();
        return ref;
      }
    }
    for (App& p : dc.providers) {
      if (name == p.name) {
        ref.provider = &p;
        ref.daemon = p.process.get();
        return ref;
      }
    }
    for (App& c : dc.consumers) {
      if (name == c.name) {
        ref.consumer = &c;
        ref.daemon = c.process.get();
        return ref;
      }
    }
    for (int i = 0; dc.zk != nullptr && i < dc.zk->size(); ++i) {
      if (name == absl::StrCat("zookeeper-", dc.name, "-", i + 1)) {
        ref.zk_server = i;
        return ref;
      }
    }
  }
  return absl::NotFoundError("no process named " + name);
}

absl::StatusOr<std::string> LocalCluster::Kill(const std::string& name) {
  KESS_ASSIGN_OR_RETURN(Ref ref, Find(name));
  pid_t pid = -1;
  if (ref.zk_server >= 0) {
    pid = ref.dc->zk->ServerPid(ref.zk_server);
    if (pid <= 0)
      return absl::FailedPreconditionError(name + " is not running");
    kill(pid, SIGKILL);  // its own pid; StopServer reaps it
    KESS_RETURN_IF_ERROR(ref.dc->zk->StopServer(ref.zk_server));
  } else {
    if (ref.daemon->Exited()) {
      return absl::FailedPreconditionError(name + " is not running");
    }
    pid = ref.daemon->pid();
    ref.daemon->Kill();
    killed_.push_back(name);
  }
  return Obj({{"killed", Str(name)}, {"pid", absl::StrCat(pid)}});
}

absl::StatusOr<std::string> LocalCluster::Stop(const std::string& name) {
  KESS_ASSIGN_OR_RETURN(Ref ref, Find(name));
  if (ref.zk_server >= 0) {
    const pid_t pid = ref.dc->zk->ServerPid(ref.zk_server);
    KESS_RETURN_IF_ERROR(ref.dc->zk->StopServer(ref.zk_server));
    return Obj({{"stopped", Str(name)}, {"pid", absl::StrCat(pid)}});
  }
  if (ref.daemon->Exited()) {
    return absl::FailedPreconditionError(name + " is not running");
  }
  const pid_t pid = ref.daemon->pid();
  const int status = ref.daemon->Stop(kStopGrace);
  return Obj({{"stopped", Str(name)},
              {"pid", absl::StrCat(pid)},
              {"status", Str(DescribeWaitStatus(status))}});
}

absl::StatusOr<std::string> LocalCluster::Restart(const std::string& name) {
  KESS_ASSIGN_OR_RETURN(Ref ref, Find(name));
  pid_t pid = -1;
  if (ref.zk_server >= 0) {
    ZkEnsemble& zk = *ref.dc->zk;
    if (zk.IsRunning(ref.zk_server)) {
      KESS_RETURN_IF_ERROR(zk.StopServer(ref.zk_server));
    }
    KESS_RETURN_IF_ERROR(zk.StartServer(ref.zk_server));
    pid = zk.ServerPid(ref.zk_server);
  } else if (ref.mandator != nullptr) {
    KESS_RETURN_IF_ERROR(ref.mandator->Restart());
    pid = ref.mandator->pid();
  } else if (ref.distributor != nullptr) {
    KESS_RETURN_IF_ERROR(ref.distributor->Restart());
    pid = ref.distributor->pid();
  } else if (ref.agent != nullptr) {
    KESS_RETURN_IF_ERROR(ref.agent->Restart());
    KESS_RETURN_IF_ERROR(WaitConnected(*ref.agent));
    pid = ref.agent->pid();
  } else if (ref.provider != nullptr || ref.consumer != nullptr) {
    App& app = ref.provider != nullptr ? *ref.provider : *ref.consumer;
    app.process->Stop(kStopGrace);
    KESS_RETURN_IF_ERROR(LaunchApp(app, ref.provider != nullptr));
    pid = app.process->pid();
  } else {
    return absl::UnimplementedError("cannot restart " + name);
  }
  if (ref.provider == nullptr && ref.consumer == nullptr) NotePid(name, pid);
  killed_.erase(std::remove(killed_.begin(), killed_.end(), name),
                killed_.end());
  return Obj({{"restarted", Str(name)}, {"pid", absl::StrCat(pid)}});
}

absl::StatusOr<std::string> LocalCluster::AddProvider(const std::string& dc,
                                                      int host) {
  Dc* d = FindDc(dc);
  if (d == nullptr) return absl::NotFoundError("no DC named " + dc);
  KESS_RETURN_IF_ERROR(StartProvider(*d, host));
  const App& app = d->providers.back();
  return Obj({{"started", Str(app.name)},
              {"id", Str(app.id)},
              {"host", Str(app.host)},
              {"address", Str(app.address)},
              {"pid", absl::StrCat(app.process->pid())}});
}

absl::StatusOr<std::string> LocalCluster::Leader(const std::string& dc) {
  Dc* d = FindDc(dc);
  if (d == nullptr) return absl::NotFoundError("no DC named " + dc);
  MandatorProcess* leader = FindLeader(d->mandators);
  if (leader == nullptr) return absl::NotFoundError(dc + " has no leader");
  return Obj({{"dc", Str(dc)},
              {"leader", Str(absl::StrCat("mandator-", dc, "-", leader->id()))},
              {"id", Str(leader->id())},
              {"http", Str(leader->http_address())}});
}

std::string LocalCluster::Cached(const std::string& ns,
                                 const std::string& key) const {
  std::vector<std::pair<std::string, std::string>> hosts;
  for (const Dc& dc : dcs_) {
    for (const auto& agent : dc.agents) {
      file_cache::FileCacheReader reader(agent->cache_dir());
      absl::StatusOr<file_cache::CacheEntry> entry =
          reader.Read(file_cache::CacheKey::Config(ns, key));
      hosts.push_back(
          {dc.name + "/" + agent->host_id(),
           Obj({{"revision", absl::StrCat(entry.ok() ? entry->revision : 0)},
                {"value", Str(entry.ok() ? entry->value : "")}})});
    }
  }
  return Obj(hosts);
}

std::string LocalCluster::Routes(const std::string& service) const {
  std::vector<std::pair<std::string, std::string>> hosts;
  for (const Dc& dc : dcs_) {
    for (const auto& agent : dc.agents) {
      file_cache::FileCacheReader reader(agent->cache_dir());
      absl::StatusOr<file_cache::CacheEntry> entry =
          reader.Read(file_cache::CacheKey::Route(service));
      std::vector<std::pair<std::string, std::string>> instances;
      if (entry.ok() && !entry->absent) {
        absl::StatusOr<RouteTable> table = RouteTableFromJson(entry->value);
        if (table.ok()) {
          for (const RouteInstance& i : table->instances) {
            instances.push_back({i.id, Str(InstanceStateName(i.state))});
          }
        }
      }
      hosts.push_back(
          {dc.name + "/" + agent->host_id(),
           Obj({{"revision", absl::StrCat(entry.ok() ? entry->revision : 0)},
                {"instances", Obj(instances)}})});
    }
  }
  return Obj(hosts);
}

std::string LocalCluster::Describe() {
  std::vector<std::string> all;  // every process
  auto note =
      [&all](const std::vector<std::pair<std::string, std::string>>& fields) {
        all.push_back(Obj(std::vector<std::pair<std::string, std::string>>(
            fields.begin(), fields.begin() + 4)));
        return Obj(fields);
      };
  std::string wan = "null";
  if (wan_ != nullptr) {
    wan = note(With(
        ProcessFields("wan-emulator", *wan_),
        {{"control", Str(wan_control_)}, {"netns", Str(options_.wan_netns)}}));
  }
  std::vector<std::string> dcs, kess_mandators;
  for (Dc& dc : dcs_) {
    std::vector<std::string> zk, mandators, distributors, agents, providers,
        consumers;
    for (int i = 0; dc.zk != nullptr && i < dc.zk->size(); ++i) {
      const bool running = dc.zk->IsRunning(i);
      const std::string name = absl::StrCat("zookeeper-", dc.name, "-", i + 1);
      zk.push_back(
          note({{"name", Str(name)},
                {"pid", absl::StrCat(running ? dc.zk->ServerPid(i) : -1)},
                {"running", Bool(running)},
                {"log", Str(absl::StrCat(dc.zk->dir(), "/server", i + 1,
                                         "/zookeeper.log"))},
                {"port", absl::StrCat(dc.zk->ClientPort(i))}}));
    }
    for (const auto& m : dc.mandators) {
      kess_mandators.push_back(m->http_address());
      mandators.push_back(note(
          With(ProcessFields(absl::StrCat("mandator-", dc.name, "-", m->id()),
                             m->daemon()),
               {{"id", Str(m->id())},
                {"http", Str(m->http_address())},
                {"address", Str(m->address())}})));
    }
    for (const auto& d : dc.distributors) {
      distributors.push_back(note(With(
          ProcessFields(absl::StrCat("distributor-", dc.name, "-", d->id()),
                        d->daemon()),
          {{"id", Str(d->id())},
           {"address", Str(d->address())},
           {"http", Str(d->http_address())}})));
    }
    for (const auto& a : dc.agents) {
      agents.push_back(
          note(With(ProcessFields("agent-" + a->host_id(), a->daemon()),
                    {{"host", Str(a->host_id())},
                     {"http", Str(a->http_address())},
                     {"cache_dir", Str(a->cache_dir())}})));
    }
    for (App& p : dc.providers) {
      providers.push_back(note(With(ProcessFields(p.name, *p.process),
                                    {{"id", Str(p.id)},
                                     {"host", Str(p.host)},
                                     {"address", Str(p.address)}})));
    }
    for (App& c : dc.consumers) {
      consumers.push_back(note(
          With(ProcessFields(c.name, *c.process),
               {{"host", Str(c.host)}, {"stats_file", Str(c.stats_file)}})));
    }
    dcs.push_back(
        Obj({{"name", Str(dc.name)},
             {"main", Bool(&dc == &dcs_[0])},
             {"address", Str(dc.address)},
             {"netns", Str(dc.netns)},
             {"zk", Str(dc.zk != nullptr ? dc.zk->ConnectString() : "")},
             {"zookeeper", Arr(zk)},
             {"mandators", Arr(mandators)},
             {"distributors", Arr(distributors)},
             {"agents", Arr(agents)},
             {"providers", Arr(providers)},
             {"consumers", Arr(consumers)}}));
  }
  std::string ui = "null", admin = "null";
  if (options_.admin && !dcs_.empty() && !dcs_[0].mandators.empty()) {
    MandatorProcess* leader = FindLeader(dcs_[0].mandators);
    if (leader == nullptr) leader = dcs_[0].mandators[0].get();
    ui = Str(absl::StrCat("http://", leader->http_address(), "/ui/"));
    admin = Obj({{"user", Str(options_.admin_user)},
                 {"password_file", Str(admin_file_)},
                 {"header_file", Str(admin_header_file_)}});
  }
  return Obj({{"base_dir", Str(options_.base_dir)},
              {"bin_dir", Str(options_.bin_dir)},
              {"logs", Str(logs_)},
              {"run", Str(run_)},
              {"pids_file", Str(run_ + "/pids")},
              {"service", Str(options_.service)},
              {"kess_mandators", Str(absl::StrJoin(kess_mandators, ","))},
              {"ui", ui},
              {"admin", admin},
              {"secrets", Obj({{"zk_auth", Str(zk_auth_file_)},
                               {"zk_reader_auth", Str(zk_reader_file_)},
                               {"distributor_token", Str(token_file_)}})},
              {"wan", wan},
              {"dcs", Arr(dcs)},
              {"processes", Arr(all)}});
}

void LocalCluster::StopGroup(
    const std::vector<std::pair<std::string, DaemonProcess*>>& group,
    StopSummary* summary) {
  for (const auto& [name, d] : group) {
    if (!d->Exited()) {
      kill(d->pid(), SIGTERM);  // exactly its pid
      ++summary->stopped;
    }
  }
  const bool all_exited = WaitFor(
      [&group] {
        bool all = true;
        for (const auto& entry : group) all = entry.second->Exited() && all;
        return all;
      },
      kStopGrace);
  if (!all_exited) {
    for (const auto& [name, d] : group) {
      if (!d->Exited()) {
        LOG(WARNING) << name << " (pid " << d->pid() << ") ignored SIGTERM for "
                     << kStopGrace << ": SIGKILL (see " << d->log_path() << ")";
        d->Kill();
      }
    }
  }
  for (const auto& [name, d] : group) {
    if (d->wait_status() != 0 &&
        std::find(killed_.begin(), killed_.end(), name) == killed_.end()) {
      summary->unclean.push_back(name + " " +
                                 DescribeWaitStatus(d->wait_status()));
    }
  }
}

StopSummary LocalCluster::StopAll() {
  StopSummary summary;
  if (stopped_) return summary;
  stopped_ = true;
  std::vector<std::pair<std::string, DaemonProcess*>> apps, agents,
      distributors, mandators;
  for (Dc& dc : dcs_) {
    for (App& p : dc.providers) apps.push_back({p.name, p.process.get()});
    for (App& c : dc.consumers) apps.push_back({c.name, c.process.get()});
    for (const auto& a : dc.agents) {
      agents.push_back({"agent-" + a->host_id(), &a->daemon()});
    }
    for (const auto& d : dc.distributors) {
      distributors.push_back(
          {absl::StrCat("distributor-", dc.name, "-", d->id()), &d->daemon()});
    }
    for (const auto& m : dc.mandators) {
      mandators.push_back(
          {absl::StrCat("mandator-", dc.name, "-", m->id()), &m->daemon()});
    }
  }
  for (const auto* group : {&apps, &agents, &distributors, &mandators}) {
    StopGroup(*group, &summary);
  }
  for (Dc& dc : dcs_) {
    if (dc.zk == nullptr) continue;
    for (int i = 0; i < dc.zk->size(); ++i) {
      summary.stopped += dc.zk->IsRunning(i) ? 1 : 0;
    }
    dc.zk->Stop();
  }
  if (wan_ != nullptr) StopGroup({{"wan-emulator", wan_.get()}}, &summary);
  return summary;
}

}  // namespace testing
}  // namespace kess
