#include "tests/discovery/discovery_cluster.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "model/file_cache/reader.h"
#include "common/http_client.h"
#include "common/testing/wait_for.h"
#include "mandator/routes/route_store.h"

namespace kess {
namespace testing {
namespace {

std::string MsFlag(const std::string& name, absl::Duration d) {
  return absl::StrCat("--", name, "=", absl::ToInt64Milliseconds(d));
}

std::vector<std::string> MandatorFlags() {
  const DiscoveryTimeouts& t = kTimeouts;
  return {MsFlag("heartbeat_interval_ms", t.heartbeat),
          MsFlag("instance_timeout_ms", t.instance_timeout),
          MsFlag("route_cycle_ms", t.route_cycle),
          MsFlag("route_window_ms", t.route_cycle),
          MsFlag("route_warmup_ms", t.warmup)};
}

}  // namespace

absl::StatusOr<std::unique_ptr<DiscoveryCluster>> DiscoveryCluster::Start(
    const DiscoveryClusterOptions& options) {
  CacheTierClusterOptions o;
  o.dcs.zk_servers = options.zk_servers;
  o.dcs.mandator_binary = options.mandator_binary;
  o.dcs.mandators_per_dc = options.mandators_per_dc;
  o.dcs.main_other_dcs = true;
  o.dcs.tls = options.tls;
  o.dcs.extra_flags = MandatorFlags();
  o.dcs.extra_flags.insert(o.dcs.extra_flags.end(),
                           options.mandator_flags.begin(),
                           options.mandator_flags.end());
  o.distributors_per_dc = options.distributors_per_dc;
  o.agents_per_dc = options.agents_per_dc;
  o.host_id_format = "{dc}-h{i}";
  o.agent_flags = {MsFlag("host_heartbeat_interval_ms", kTimeouts.heartbeat)};
  o.agent_flags.insert(o.agent_flags.end(), options.agent_flags.begin(),
                       options.agent_flags.end());
  o.distributor_flags = options.distributor_flags;
  o.distributor_binary = options.distributor_binary;
  o.agent_binary = options.agent_binary;
  std::unique_ptr<DiscoveryCluster> cluster(new DiscoveryCluster());
  KESS_ASSIGN_OR_RETURN(cluster->tier_, CacheTierCluster::Start(o));
  return cluster;
}

MandatorList& DiscoveryCluster::Mandators(const std::string& dc) {
  return dc == "dc1" ? dcs().main() : dcs().slave();
}

CacheTierDc& DiscoveryCluster::Dc(const std::string& dc) {
  return dc == "dc1" ? tier_->main() : tier_->slave();
}

std::vector<std::string> DiscoveryCluster::MandatorAddresses(
    const std::string& dc) {
  std::vector<std::string> out;
  for (const auto& m : Mandators(dc)) out.push_back(m->address());
  return out;
}

AgentHost* DiscoveryCluster::Agent(const std::string& host_id) const {
  for (AgentHost* a : tier_->AllAgents()) {
    if (a->host_id() == host_id) return a;
  }
  return nullptr;
}

absl::Status DiscoveryCluster::SubscribeRoutes(
    const std::vector<std::string>& services) {
  std::string body = "{\"routes\":[";
  for (size_t i = 0; i < services.size(); ++i) {
    absl::StrAppend(&body, i == 0 ? "" : ",", "\"", services[i], "\"");
  }
  body += "]}";
  for (AgentHost* a : tier_->AllAgents()) {
    KESS_RETURN_IF_ERROR(a->Subscribe(body));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<sdk::Registration>> DiscoveryCluster::Register(
    const std::string& dc, const std::string& service, const std::string& id,
    const std::string& host) {
  sdk::RegistrationOptions o;
  o.mandators = MandatorAddresses(dc);
  o.instance.service = service;
  o.instance.id = id;
  o.instance.host = host.empty() ? dc + "-h1" : host;
  o.instance.address = "127.0.0.1:1";
  o.instance.datacenter = dc;
  o.heartbeat_interval = kTimeouts.heartbeat;
  o.call_timeout = absl::Seconds(1);
  o.connect_timeout = absl::Seconds(1);
  o.return_interval = absl::Seconds(2);
  KESS_ASSIGN_OR_RETURN(o.tls, dcs().tls().ClientContext());
  return sdk::Registration::Create(o);
}

absl::StatusOr<RouteTable> CachedRouteTable(const AgentHost& agent,
                                            const std::string& service) {
  file_cache::FileCacheReader reader(agent.cache_dir());
  KESS_ASSIGN_OR_RETURN(file_cache::CacheEntry entry,
                        reader.Read(file_cache::CacheKey::Route(service)));
  if (entry.absent) return absl::NotFoundError(service + " deleted");
  return RouteTableFromJson(entry.value);
}

const RouteInstance* FindInstance(const RouteTable& table,
                                  const std::string& id) {
  for (const RouteInstance& i : table.instances) {
    if (i.id == id) return &i;
  }
  return nullptr;
}

TablePredicate HasInstance(const std::string& id, const std::string& state) {
  return [id, state](const RouteTable* table) {
    if (table == nullptr) return false;
    const RouteInstance* i = FindInstance(*table, id);
    return i != nullptr &&
           (state.empty() || InstanceStateName(i->state) == state);
  };
}

TablePredicate LacksInstance(const std::string& id) {
  return [id](const RouteTable* table) {
    return table == nullptr || FindInstance(*table, id) == nullptr;
  };
}

bool WaitAllAgents(const std::vector<AgentHost*>& agents,
                   const std::string& service, const TablePredicate& predicate,
                   absl::Duration timeout) {
  return WaitFor(
      [&] {
        for (const AgentHost* a : agents) {
          absl::StatusOr<RouteTable> table = CachedRouteTable(*a, service);
          if (!predicate(table.ok() ? &*table : nullptr)) return false;
        }
        return true;
      },
      timeout);
}

std::string MandatorMetrics(const MandatorProcess& m) {
  absl::StatusOr<HttpReply> reply =
      HttpCall(m.http_address(), "GET", "/metrics", "");
  return reply.ok() && reply->status == 200 ? reply->body : "";
}

RouteSampler::RouteSampler(
    std::vector<AgentHost*> agents, std::unique_ptr<zk::ZkClient> main_zk,
    std::unique_ptr<zk::ZkClient> slave_zk, zk::Layout layout,
    std::map<std::string, std::set<std::string>> expected,
    absl::Duration interval)
    : agents_(std::move(agents)),
      main_zk_(std::move(main_zk)),
      slave_zk_(std::move(slave_zk)),
      layout_(std::move(layout)),
      expected_(std::move(expected)),
      interval_(interval) {
  thread_ = std::thread([this] { Run(); });
}

RouteSampler::~RouteSampler() { Stop(); }

void RouteSampler::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

std::vector<std::string> RouteSampler::violations() const {
  absl::MutexLock lock(&mu_);
  return violations_;
}

void RouteSampler::Check(const std::string& where, const std::string& service,
                         const RouteTable* table) {
  auto it = expected_.find(service);
  if (it == expected_.end()) return;
  for (const std::string& id : it->second) {
    if (table != nullptr && FindInstance(*table, id) != nullptr) continue;
    ++violation_count_;
    absl::MutexLock lock(&mu_);
    if (violations_.size() < 20) {
      violations_.push_back(absl::StrCat(
          where, ": ", service, "/", id, " missing at sample ", samples_.load(),
          " (", absl::FormatTime(absl::Now()), ")"));
    }
  }
}

void RouteSampler::Run() {
  using mandator::routes::RouteStore;
  using mandator::routes::RouteTables;
  RouteStore main_store(main_zk_.get(), RouteStore::Options{layout_});
  RouteStore slave_store(slave_zk_.get(), RouteStore::Options{layout_});
  while (!stop_) {
    for (AgentHost* a : agents_) {
      for (const auto& [service, ids] : expected_) {
        absl::StatusOr<RouteTable> table = CachedRouteTable(*a, service);
        Check(a->host_id(), service, table.ok() ? &*table : nullptr);
      }
    }
    for (auto [name, store] :
         {std::pair<const char*, RouteStore*>{"zk dc1", &main_store},
          {"zk dc2", &slave_store}}) {
      absl::StatusOr<RouteTables> tables = store->LoadAll();
      if (!tables.ok()) {
        ++unreadable_;
        continue;
      }
      for (const auto& [service, ids] : expected_) {
        auto t = tables->find(service);
        Check(name, service, t == tables->end() ? nullptr : &t->second);
      }
    }
    ++samples_;
    absl::SleepFor(interval_);
  }
}

}  // namespace testing
}  // namespace kess
