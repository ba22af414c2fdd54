#include "tests/cluster/local_cluster.h"

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "model/file_cache/env.h"
#include "model/file_cache/reader.h"
#include "common/http_client.h"
#include "tests/cluster/cluster_tls.h"
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

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
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
  if (o.providers < 0 || o.consumers < 0 || o.python_providers < 0) {
    return absl::InvalidArgumentError("no negative counts");
  }
  if ((o.providers > 0 || o.consumers > 0 || o.python_providers > 0) &&
      o.agents <= 0) {
    return absl::InvalidArgumentError(
        "providers and consumers run on agents' hosts: agents >= 1");
  }
  if (o.provider_host < 1 || o.consumer_host < 1 ||
      o.python_provider_host < 1) {
    return absl::InvalidArgumentError("host numbers start at 1");
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

std::string LocalCluster::LogPath(const std::string& name) const {
  return absl::StrCat(logs_, "/", name, ".log");
}

void LocalCluster::NotePid(const std::string& name, pid_t pid) const {
  std::ofstream out(run_ + "/pids", std::ios::app);
  out << name << " " << pid << "\n";
}

absl::Status LocalCluster::StartAll() {
  const LocalClusterOptions& o = options_;
  logs_ = o.base_dir + "/logs";
  run_ = o.base_dir + "/run";
  for (const std::string& dir : {logs_, run_}) {
    KESS_RETURN_IF_ERROR(file_cache::Env::Default()->CreateDirs(dir));
  }
  if (!o.wan_config.empty()) KESS_RETURN_IF_ERROR(StartWanEmulator());

  CacheTierClusterOptions t;
  MultiDcClusterOptions& m = t.dcs;
  m.zk_servers = o.zk_servers;
  m.mandators_per_dc = o.mandators;
  m.main_other_dcs = true;
  m.slave_dcs = o.dcs - 1;
  m.partition_after = o.partition_after;
  m.heal_after = o.heal_after;
  m.mandator_ids_per_dc = true;
  m.extra_flags = o.mandator_flags;
  m.dc_netns = o.dc_netns;
  m.dc_addresses = o.dc_addresses;
  m.random_secrets = true;
  m.admin_secret = o.admin;
  m.admin_user = o.admin_user;
  m.bin_dir = o.bin_dir;
  m.dir = o.base_dir;
  m.hooks.progress = o.progress;
  m.hooks.started = [this](const std::string& name, pid_t pid) {
    NotePid(name, pid);
  };
  m.hooks.cancelled = o.cancelled;
  t.distributors_per_dc = o.distributors;
  t.agents_per_dc = o.agents;
  t.distributor_flags = o.distributor_flags;
  t.agent_flags = o.agent_flags;
  t.host_id_format = o.host_id_format;
  t.agent_test_intervals = o.agent_test_intervals;
  KESS_ASSIGN_OR_RETURN(tier_, CacheTierCluster::Start(t));
  providers_.resize(o.dcs);
  py_providers_.resize(o.dcs);
  consumers_.resize(o.dcs);

  for (AgentHost* agent : tier_->AllAgents()) {
    KESS_RETURN_IF_ERROR(WaitConnected(*agent));
  }
  for (const auto& [ns, key] : o.subscriptions) {
    KESS_RETURN_IF_ERROR(Subscribe(ns, key));
  }
  if (o.providers > 0 || o.consumers > 0) {
    tier_->dcs().Progress(
        absl::StrCat("starting the sample provider (", o.service, ")",
                     o.consumers > 0 ? " and consumers" : ""));
  }
  for (int dc = 0; dc < o.dcs; ++dc) {
    for (int i = 0; i < o.providers; ++i) {
      KESS_RETURN_IF_ERROR(
          StartProvider(dc, (o.provider_host - 1 + i) % o.agents + 1));
    }
  }
  if (o.python_providers > 0) {
    tier_->dcs().Progress(absl::StrCat(
        "starting the Python provider (agent/examples/echo_provider.py, ",
        o.service, ", registered through its agent) in ",
        tier_->tier_dc(0).name));
  }
  for (int i = 0; i < o.python_providers; ++i) {
    KESS_RETURN_IF_ERROR(StartPyProvider(
        0, (o.python_provider_host - 1 + i) % o.agents + 1));
  }
  for (int dc = 0; dc < o.dcs; ++dc) {
    for (int i = 1; i <= o.consumers; ++i) {
      KESS_RETURN_IF_ERROR(StartConsumer(dc, i));
    }
  }
  return absl::OkStatus();
}

absl::Status LocalCluster::StartWanEmulator() {
  if (options_.cancelled && options_.cancelled()) {
    return absl::CancelledError("interrupted while starting");
  }
  const std::string line = absl::StrCat(
      "starting the WAN emulator",
      options_.wan_netns.empty() ? "" : " in namespace " + options_.wan_netns);
  LOG(INFO) << line;
  if (options_.progress) options_.progress(line);
  const std::string address_file = run_ + "/wan.addr";
  KESS_ASSIGN_OR_RETURN(std::vector<std::string> args,
                        NetnsPrefix(options_.wan_netns));
  args.insert(args.end(),
              {ClusterBinary(options_.bin_dir, "tests/wan/wan_emulator"),
               "--config=" + options_.wan_config,
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
  for (AgentHost* a : tier_->AllAgents()) {
    absl::Status s = a->Subscribe(ConfigSubscription({{ns, key}}));
    if (!s.ok()) {
      return absl::Status(
          s.code(), absl::StrCat("subscribing ", a->host_id(), " to ", ns, "/",
                                 key, ": ", s.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status LocalCluster::StartProvider(int dc, int host) {
  KESS_RETURN_IF_ERROR(tier_->dcs().CheckCancelled());
  const CacheTierDc& tier = tier_->tier_dc(dc);
  if (host < 1 || host > static_cast<int>(tier.agents.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat(tier.name, " has hosts 1 to ", tier.agents.size()));
  }
  const MultiDcCluster::Dc& where = tier_->dcs().dc(dc);
  ProviderProcessOptions o;
  o.binary = ClusterBinary(options_.bin_dir, "sdk/examples/demo_provider");
  o.service = options_.service;
  o.id = absl::StrReplaceAll(
      options_.instance_id_format,
      {{"{dc}", tier.name}, {"{i}", absl::StrCat(providers_[dc].size() + 1)}});
  o.host = tier.agents[host - 1]->host_id();
  o.datacenter = tier.name;
  for (const auto& m : where.mandators) o.mandators.push_back(m->address());
  o.heartbeat_interval = absl::ZeroDuration();  // the provider's default
  const std::string name = "provider-" + o.id;
  o.log_path = LogPath(name);
  o.port_file = absl::StrCat(run_, "/", name, ".port");
  o.listen_host = where.address;
  o.command_prefix = where.command_prefix;
  o.tls_flags = tier_->dcs().tls().Flags("client");
  if (tier_->dcs().options().registration_rights) {
    // Registers directly, as the host it claims to run on.
    KESS_ASSIGN_OR_RETURN(o.tls_flags,
                          tier_->dcs().tls().PrincipalFlags("host", o.host));
  }
  o.extra_flags = options_.provider_flags;
  KESS_ASSIGN_OR_RETURN(std::unique_ptr<ProviderProcess> p,
                        ProviderProcess::Start(o));
  NotePid(name, p->pid());
  providers_[dc].push_back(std::move(p));
  return absl::OkStatus();
}

absl::Status LocalCluster::StartPyProvider(int dc, int host) {
  KESS_RETURN_IF_ERROR(tier_->dcs().CheckCancelled());
  const CacheTierDc& tier = tier_->tier_dc(dc);
  if (host < 1 || host > static_cast<int>(tier.agents.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat(tier.name, " has hosts 1 to ", tier.agents.size()));
  }
  const MultiDcCluster::Dc& where = tier_->dcs().dc(dc);
  const AgentHost& agent = *tier.agents[host - 1];
  PyProvider p;
  p.name = absl::StrCat("pyprovider-", tier.name, "-",
                        py_providers_[dc].size() + 1);
  p.host = agent.host_id();
  p.agent_http = agent.http_address();
  p.listen_host = where.address;
  p.port_file = absl::StrCat(run_, "/", p.name, ".port");
  p.args = where.command_prefix;
  p.args.insert(
      p.args.end(),
      {ClusterBinary(options_.bin_dir, "agent/examples/echo_provider"),
       "--service=" + options_.service, "--id=" + p.name, "--dc=" + tier.name,
       "--agent=" + p.agent_http, "--listen_host=" + where.address,
       "--port_file=" + p.port_file,
       absl::StrCat("--check_interval_ms=",
                    absl::ToInt64Milliseconds(options_.python_check_interval)),
       absl::StrCat("--check_timeout_ms=",
                    absl::ToInt64Milliseconds(options_.python_check_timeout)),
       "--failures_before_critical=1"});
  p.process = std::make_unique<DaemonProcess>(p.name, LogPath(p.name));
  py_providers_[dc].push_back(std::move(p));
  PyProvider& provider = py_providers_[dc].back();
  KESS_RETURN_IF_ERROR(LaunchPyProvider(provider));
  NotePid(provider.name, provider.process->pid());
  return absl::OkStatus();
}

absl::Status LocalCluster::LaunchPyProvider(PyProvider& p) {
  file_cache::Env::Default()->RemoveFile(p.port_file).IgnoreError();
  KESS_RETURN_IF_ERROR(p.process->Start(p.args));
  // The port file is written once the agent accepted the registration.
  KESS_ASSIGN_OR_RETURN(const int port, p.process->WaitForPortFile(
                                            p.port_file, absl::Seconds(30)));
  p.address = absl::StrCat(p.listen_host, ":", port);
  // Then its check passes at its agent.
  const std::string uri =
      absl::StrCat("/v1/services/", options_.service, "/instances/", p.name);
  std::string last;
  bool exited = false;
  const bool passing = WaitFor(
      [&] {
        exited = p.process->Exited();
        if (exited) return true;
        absl::StatusOr<HttpReply> reply =
            HttpCall(p.agent_http, "GET", uri, "", absl::Seconds(5));
        if (!reply.ok()) return false;
        last = reply->body;
        absl::StatusOr<Poco::JSON::Object::Ptr> o = ParseJsonObject(last);
        return reply->status == 200 && o.ok() &&
               (*o)->optValue<std::string>("check_status", "") == "passing";
      },
      absl::Seconds(30), absl::Milliseconds(100));
  if (exited || !passing) {
    return absl::UnavailableError(absl::StrCat(
        p.name, exited ? " exited" : "'s check not passing within 30 s",
        " (agent ", p.agent_http, ": ", last.empty() ? "no answer" : last,
        "); see ", p.process->log_path()));
  }
  return absl::OkStatus();
}

absl::Status LocalCluster::StartConsumer(int dc, int i) {
  KESS_RETURN_IF_ERROR(tier_->dcs().CheckCancelled());
  const CacheTierDc& tier = tier_->tier_dc(dc);
  const MultiDcCluster::Dc& where = tier_->dcs().dc(dc);
  const AgentHost& agent =
      *tier.agents[(options_.consumer_host - 1 + i - 1) % tier.agents.size()];
  Consumer c;
  c.name = i == 1 ? "consumer-" + tier.name
                  : absl::StrCat("consumer-", tier.name, "-", i);
  c.host = agent.host_id();
  c.stats_file = absl::StrCat(run_, "/", c.name, ".json");
  c.args = where.command_prefix;
  c.args.insert(
      c.args.end(),
      {ClusterBinary(options_.bin_dir, "sdk/examples/demo_consumer"),
       "--service=" + options_.service, "--dc=" + tier.name,
       "--cache_dir=" + agent.cache_dir(), "--agent=" + agent.http_address(),
       "--stats_file=" + c.stats_file});
  c.args.insert(c.args.end(), options_.consumer_flags.begin(),
                options_.consumer_flags.end());
  c.process = std::make_unique<DaemonProcess>(c.name, LogPath(c.name));
  consumers_[dc].push_back(std::move(c));
  Consumer& consumer = consumers_[dc].back();
  KESS_RETURN_IF_ERROR(LaunchConsumer(consumer));
  NotePid(consumer.name, consumer.process->pid());
  return WaitCalling(consumer);
}

absl::Status LocalCluster::LaunchConsumer(Consumer& c) {
  file_cache::Env::Default()->RemoveFile(c.stats_file).IgnoreError();
  return c.process->Start(c.args);
}

absl::Status LocalCluster::WaitCalling(Consumer& c) {
  // Calling, with the instances of every DC that has a provider.
  int64_t dcs_with_providers = 0;
  for (size_t dc = 0; dc < providers_.size(); ++dc) {
    dcs_with_providers +=
        providers_[dc].empty() && py_providers_[dc].empty() ? 0 : 1;
  }
  std::string last;
  bool exited = false;
  const bool calling = WaitFor(
      [&] {
        exited = c.process->Exited();
        if (exited) return true;
        last = ReadFileOrEmpty(c.stats_file);
        absl::StatusOr<Poco::JSON::Object::Ptr> stats = ParseJsonObject(last);
        if (!stats.ok()) return false;
        return (*stats)->optValue<int64_t>("ok", 0) > 0 &&
               (*stats)->optValue<int64_t>("instances", 0) >=
                   dcs_with_providers;
      },
      absl::Seconds(60));
  if (exited || !calling) {
    return absl::UnavailableError(
        absl::StrCat(c.name, exited ? " exited" : " not calling within 60 s",
                     " (last counters: ", last.empty() ? "none" : last,
                     "); see ", c.process->log_path()));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> LocalCluster::FindDc(const std::string& name) const {
  for (int i = 0; tier_ != nullptr && i < tier_->tier_dc_count(); ++i) {
    if (tier_->tier_dc(i).name == name) return i;
  }
  return absl::NotFoundError("no DC named " + name);
}

std::vector<std::vector<LocalCluster::Entry>> LocalCluster::Entries() {
  std::vector<Entry> apps, agents, distributors, mandators, zookeeper;
  for (int i = 0; tier_ != nullptr && i < tier_->tier_dc_count(); ++i) {
    CacheTierDc& tier = tier_->tier_dc(i);
    MultiDcCluster::Dc& dc = tier_->dcs().dc(i);
    for (auto& p : providers_[i]) {
      ProviderProcess* provider = p.get();
      apps.push_back({"provider-" + provider->id(), &provider->daemon(),
                      nullptr, -1, [provider] { return provider->Restart(); }});
    }
    for (PyProvider& p : py_providers_[i]) {
      PyProvider* provider = &p;
      apps.push_back({p.name, p.process.get(), nullptr, -1, [this, provider] {
                        provider->process->Stop(kStopGrace);
                        return LaunchPyProvider(*provider);
                      }});
    }
    for (Consumer& c : consumers_[i]) {
      Consumer* consumer = &c;
      apps.push_back({c.name, c.process.get(), nullptr, -1,
                      [this, consumer] {
                        consumer->process->Stop(kStopGrace);
                        KESS_RETURN_IF_ERROR(LaunchConsumer(*consumer));
                        return WaitCalling(*consumer);
                      }});
    }
    for (auto& a : tier.agents) {
      AgentHost* agent = a.get();
      agents.push_back({CacheTierCluster::AgentName(*agent), &agent->daemon(),
                        nullptr, -1, [this, agent] {
                          KESS_RETURN_IF_ERROR(agent->Restart());
                          return WaitConnected(*agent);
                        }});
    }
    for (auto& d : tier.distributors) {
      DistributorProcess* distributor = d.get();
      distributors.push_back(
          {CacheTierCluster::DistributorName(dc.name, *distributor),
           &distributor->daemon(), nullptr, -1,
           [distributor] { return distributor->Restart(); }});
    }
    for (auto& m : dc.mandators) {
      MandatorProcess* mandator = m.get();
      mandators.push_back({MultiDcCluster::MandatorName(dc.name, *mandator),
                           &mandator->daemon(), nullptr, -1,
                           [mandator] { return mandator->Restart(); }});
    }
    for (int s = 0; dc.zk != nullptr && s < dc.zk->size(); ++s) {
      ZkEnsemble* zk = dc.zk.get();
      zookeeper.push_back({absl::StrCat("zookeeper-", dc.name, "-", s + 1),
                           nullptr, zk, s, [zk, s] {
                             if (zk->IsRunning(s)) {
                               KESS_RETURN_IF_ERROR(zk->StopServer(s));
                             }
                             return zk->StartServer(s);
                           }});
    }
  }
  return {apps, agents, distributors, mandators, zookeeper};
}

absl::StatusOr<LocalCluster::Entry> LocalCluster::Find(
    const std::string& name) {
  if (name == "wan-emulator" && wan_ != nullptr) {
    Entry e;
    e.name = name;
    e.daemon = wan_.get();
    return e;
  }
  for (std::vector<Entry>& group : Entries()) {
    for (Entry& e : group) {
      if (e.name == name) return std::move(e);
    }
  }
  return absl::NotFoundError("no process named " + name);
}

absl::StatusOr<std::string> LocalCluster::Kill(const std::string& name) {
  KESS_ASSIGN_OR_RETURN(Entry e, Find(name));
  pid_t pid = -1;
  if (e.zk != nullptr) {
    pid = e.zk->ServerPid(e.zk_server);
    if (pid <= 0) return absl::FailedPreconditionError(name + " is not running");
    kill(pid, SIGKILL);  // its own pid; StopServer reaps it
    KESS_RETURN_IF_ERROR(e.zk->StopServer(e.zk_server));
  } else {
    if (e.daemon->Exited()) {
      return absl::FailedPreconditionError(name + " is not running");
    }
    pid = e.daemon->pid();
    e.daemon->Kill();
    killed_.push_back(name);
  }
  return Obj({{"killed", Str(name)}, {"pid", absl::StrCat(pid)}});
}

absl::StatusOr<std::string> LocalCluster::Stop(const std::string& name) {
  KESS_ASSIGN_OR_RETURN(Entry e, Find(name));
  if (e.zk != nullptr) {
    const pid_t pid = e.zk->ServerPid(e.zk_server);
    KESS_RETURN_IF_ERROR(e.zk->StopServer(e.zk_server));
    return Obj({{"stopped", Str(name)}, {"pid", absl::StrCat(pid)}});
  }
  if (e.daemon->Exited()) {
    return absl::FailedPreconditionError(name + " is not running");
  }
  const pid_t pid = e.daemon->pid();
  const int status = e.daemon->Stop(kStopGrace);
  return Obj({{"stopped", Str(name)},
              {"pid", absl::StrCat(pid)},
              {"status", Str(DescribeWaitStatus(status))}});
}

absl::StatusOr<DaemonProcess*> LocalCluster::FindRunningDaemon(
    const std::string& name, const std::string& verb) {
  KESS_ASSIGN_OR_RETURN(Entry e, Find(name));
  if (e.zk != nullptr) {
    return absl::UnimplementedError("cannot " + verb + " " + name);
  }
  if (e.daemon->Exited()) {
    return absl::FailedPreconditionError(name + " is not running");
  }
  return e.daemon;
}

absl::StatusOr<std::string> LocalCluster::Pause(const std::string& name) {
  KESS_ASSIGN_OR_RETURN(DaemonProcess * daemon,
                        FindRunningDaemon(name, "pause"));
  KESS_RETURN_IF_ERROR(daemon->Pause());
  return Obj({{"paused", Str(name)}, {"pid", absl::StrCat(daemon->pid())}});
}

absl::StatusOr<std::string> LocalCluster::Resume(const std::string& name) {
  KESS_ASSIGN_OR_RETURN(DaemonProcess * daemon,
                        FindRunningDaemon(name, "resume"));
  KESS_RETURN_IF_ERROR(daemon->Resume());
  return Obj({{"resumed", Str(name)}, {"pid", absl::StrCat(daemon->pid())}});
}

absl::StatusOr<std::string> LocalCluster::Restart(const std::string& name) {
  KESS_ASSIGN_OR_RETURN(Entry e, Find(name));
  if (!e.restart) return absl::UnimplementedError("cannot restart " + name);
  KESS_RETURN_IF_ERROR(e.restart());
  const pid_t pid = e.zk != nullptr ? e.zk->ServerPid(e.zk_server)
                                    : e.daemon->pid();
  NotePid(name, pid);
  killed_.erase(std::remove(killed_.begin(), killed_.end(), name),
                killed_.end());
  return Obj({{"restarted", Str(name)}, {"pid", absl::StrCat(pid)}});
}

absl::StatusOr<std::string> LocalCluster::AddProvider(const std::string& dc,
                                                      int host) {
  KESS_ASSIGN_OR_RETURN(int i, FindDc(dc));
  KESS_RETURN_IF_ERROR(StartProvider(i, host));
  ProviderProcess& p = *providers_[i].back();
  return Obj({{"started", Str("provider-" + p.id())},
              {"id", Str(p.id())},
              {"host", Str(p.host())},
              {"address", Str(p.address())},
              {"pid", absl::StrCat(p.pid())}});
}

absl::StatusOr<std::string> LocalCluster::Leader(const std::string& dc) {
  KESS_ASSIGN_OR_RETURN(int i, FindDc(dc));
  MandatorProcess* leader = FindLeader(tier_->dcs().dc(i).mandators);
  if (leader == nullptr) return absl::NotFoundError(dc + " has no leader");
  return Obj({{"dc", Str(dc)},
              {"leader", Str(MultiDcCluster::MandatorName(dc, *leader))},
              {"id", Str(leader->id())},
              {"http", Str(leader->http_address())}});
}

std::string LocalCluster::Cached(const std::string& ns,
                                 const std::string& key) const {
  std::vector<std::pair<std::string, std::string>> hosts;
  for (int i = 0; tier_ != nullptr && i < tier_->tier_dc_count(); ++i) {
    const CacheTierDc& dc = tier_->tier_dc(i);
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
  for (int i = 0; tier_ != nullptr && i < tier_->tier_dc_count(); ++i) {
    const CacheTierDc& dc = tier_->tier_dc(i);
    for (const auto& agent : dc.agents) {
      file_cache::FileCacheReader reader(agent->cache_dir());
      absl::StatusOr<file_cache::CacheEntry> entry =
          reader.Read(file_cache::CacheKey::Route(service));
      std::vector<std::pair<std::string, std::string>> instances, checks;
      if (entry.ok() && !entry->absent) {
        absl::StatusOr<RouteTable> table = RouteTableFromJson(entry->value);
        if (table.ok()) {
          for (const RouteInstance& r : table->instances) {
            instances.push_back({r.id, Str(InstanceStateName(r.state))});
            if (!r.check_status.empty()) {
              checks.push_back({r.id, Str(r.check_status)});
            }
          }
        }
      }
      hosts.push_back(
          {dc.name + "/" + agent->host_id(),
           Obj({{"revision", absl::StrCat(entry.ok() ? entry->revision : 0)},
                {"instances", Obj(instances)},
                {"check_status", Obj(checks)}})});
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
  for (int i = 0; tier_ != nullptr && i < tier_->tier_dc_count(); ++i) {
    CacheTierDc& tier = tier_->tier_dc(i);
    MultiDcCluster::Dc& dc = tier_->dcs().dc(i);
    std::vector<std::string> zk, mandators, distributors, agents, providers,
        py_providers, consumers;
    for (int s = 0; dc.zk != nullptr && s < dc.zk->size(); ++s) {
      const bool running = dc.zk->IsRunning(s);
      const std::string name = absl::StrCat("zookeeper-", dc.name, "-", s + 1);
      zk.push_back(
          note({{"name", Str(name)},
                {"pid", absl::StrCat(running ? dc.zk->ServerPid(s) : -1)},
                {"running", Bool(running)},
                {"log", Str(absl::StrCat(dc.zk->dir(), "/server", s + 1,
                                         "/zookeeper.log"))},
                {"port", absl::StrCat(dc.zk->ClientPort(s))}}));
    }
    for (const auto& m : dc.mandators) {
      kess_mandators.push_back(m->http_address());
      mandators.push_back(note(
          With(ProcessFields(MultiDcCluster::MandatorName(dc.name, *m),
                             m->daemon()),
               {{"id", Str(m->id())},
                {"http", Str(m->http_address())},
                {"address", Str(m->address())}})));
    }
    for (const auto& d : tier.distributors) {
      distributors.push_back(note(
          With(ProcessFields(CacheTierCluster::DistributorName(dc.name, *d),
                             d->daemon()),
               {{"id", Str(d->id())},
                {"address", Str(d->address())},
                {"http", Str(d->http_address())}})));
    }
    for (const auto& a : tier.agents) {
      agents.push_back(note(With(
          ProcessFields(CacheTierCluster::AgentName(*a), a->daemon()),
          {{"host", Str(a->host_id())},
           {"http", Str(a->http_address())},
           {"cache_dir", Str(a->cache_dir())}})));
    }
    for (const auto& p : providers_[i]) {
      providers.push_back(
          note(With(ProcessFields("provider-" + p->id(), p->daemon()),
                    {{"id", Str(p->id())},
                     {"host", Str(p->host())},
                     {"address", Str(p->address())}})));
    }
    for (PyProvider& p : py_providers_[i]) {
      py_providers.push_back(note(With(
          ProcessFields(p.name, *p.process),
          {{"id", Str(p.name)},
           {"host", Str(p.host)},
           {"address", Str(p.address)},
           {"agent", Str(p.agent_http)},
           {"check_interval_ms",
            absl::StrCat(
                absl::ToInt64Milliseconds(options_.python_check_interval))},
           {"check_timeout_ms",
            absl::StrCat(
                absl::ToInt64Milliseconds(options_.python_check_timeout))}})));
    }
    for (Consumer& c : consumers_[i]) {
      consumers.push_back(note(
          With(ProcessFields(c.name, *c.process),
               {{"host", Str(c.host)}, {"stats_file", Str(c.stats_file)}})));
    }
    dcs.push_back(
        Obj({{"name", Str(dc.name)},
             {"main", Bool(i == 0)},
             {"address", Str(dc.address)},
             {"netns", Str(dc.netns)},
             {"zk", Str(dc.zk != nullptr ? dc.zk->ConnectString() : "")},
             {"zookeeper", Arr(zk)},
             {"mandators", Arr(mandators)},
             {"distributors", Arr(distributors)},
             {"agents", Arr(agents)},
             {"providers", Arr(providers)},
             {"python_providers", Arr(py_providers)},
             {"consumers", Arr(consumers)}}));
  }
  std::string ui = "null", admin = "null", secrets = "null", ca = "null";
  if (tier_ != nullptr) {
    MultiDcCluster& cluster = tier_->dcs();
    if (options_.admin && !cluster.main().empty()) {
      MandatorProcess* leader = FindLeader(cluster.main());
      if (leader == nullptr) leader = cluster.main()[0].get();
      ui = Str(absl::StrCat(HttpUrl(leader->http_address()), "/ui/"));
      admin = Obj({{"user", Str(options_.admin_user)},
                   {"password_file", Str(cluster.admin_password_file())},
                   {"header_file", Str(cluster.admin_header_file())}});
    }
    if (cluster.tls().enabled()) ca = Str(cluster.tls().ca());
    secrets = Obj({{"zk_auth", Str(cluster.auth_file())},
                   {"zk_reader_auth", Str(cluster.reader_auth_file())},
                   {"distributor_token", Str(tier_->token_file())}});
  }
  return Obj({{"base_dir", Str(options_.base_dir)},
              {"bin_dir", Str(options_.bin_dir)},
              {"logs", Str(logs_)},
              {"run", Str(run_)},
              {"pids_file", Str(run_ + "/pids")},
              {"service", Str(options_.service)},
              {"kess_mandators", Str(absl::StrJoin(kess_mandators, ","))},
              {"ui", ui},
              {"ca", ca},
              {"admin", admin},
              {"secrets", secrets},
              {"wan", wan},
              {"dcs", Arr(dcs)},
              {"processes", Arr(all)}});
}

void LocalCluster::StopGroup(const std::vector<Entry>& group,
                             StopSummary* summary) {
  for (const Entry& e : group) {
    if (!e.daemon->Exited()) {
      e.daemon->Terminate();  // exactly its pid (SIGCONT first if paused)
      ++summary->stopped;
    }
  }
  const bool all_exited = WaitFor(
      [&group] {
        bool all = true;
        for (const Entry& e : group) all = e.daemon->Exited() && all;
        return all;
      },
      kStopGrace);
  if (!all_exited) {
    for (const Entry& e : group) {
      if (!e.daemon->Exited()) {
        LOG(WARNING) << e.name << " (pid " << e.daemon->pid()
                     << ") ignored SIGTERM for " << kStopGrace
                     << ": SIGKILL (see " << e.daemon->log_path() << ")";
        e.daemon->Kill();
      }
    }
  }
  for (const Entry& e : group) {
    if (e.daemon->wait_status() != 0 &&
        std::find(killed_.begin(), killed_.end(), e.name) == killed_.end()) {
      summary->unclean.push_back(e.name + " " +
                                 DescribeWaitStatus(e.daemon->wait_status()));
    }
  }
}

StopSummary LocalCluster::StopAll() {
  StopSummary summary;
  if (stopped_) return summary;
  stopped_ = true;
  std::vector<std::vector<Entry>> groups = Entries();
  // Applications, agents, distributors, mandators; then ZooKeeper.
  for (size_t g = 0; g + 1 < groups.size(); ++g) {
    StopGroup(groups[g], &summary);
  }
  for (const Entry& e : groups.back()) {
    summary.stopped += e.zk->IsRunning(e.zk_server) ? 1 : 0;
  }
  for (int i = 0; tier_ != nullptr && i < tier_->dcs().dc_count(); ++i) {
    ZkEnsemble* zk = tier_->dcs().dc(i).zk.get();
    if (zk != nullptr) zk->Stop();
  }
  if (wan_ != nullptr) {
    Entry e;
    e.name = "wan-emulator";
    e.daemon = wan_.get();
    StopGroup({e}, &summary);
  }
  return summary;
}

const ClusterTls& LocalCluster::tls() const { return tier_->dcs().tls(); }

}  // namespace testing
}  // namespace kess
