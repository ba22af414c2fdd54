#include "tests/cluster/cache_tier_cluster.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "model/file_cache/reader.h"
#include "common/http_client.h"
#include "common/testing/wait_for.h"
#include "tests/cluster/mandator_cluster.h"

namespace kess {
namespace testing {

std::vector<std::string> CacheTierDc::DistributorAddresses() const {
  std::vector<std::string> addresses;
  for (const auto& d : distributors) addresses.push_back(d->address());
  return addresses;
}

DistributorProcess* CacheTierDc::DistributorAt(
    const std::string& address) const {
  for (const auto& d : distributors) {
    if (d->address() == address) return d.get();
  }
  return nullptr;
}

absl::StatusOr<std::unique_ptr<CacheTierCluster>> CacheTierCluster::Start(
    const CacheTierClusterOptions& options) {
  std::unique_ptr<CacheTierCluster> cluster(new CacheTierCluster());
  KESS_RETURN_IF_ERROR(cluster->StartAll(options));
  return cluster;
}

CacheTierCluster::~CacheTierCluster() {
  for (CacheTierDc* dc : {&slave_, &main_}) {
    dc->agents.clear();
    dc->distributors.clear();
  }
  dcs_.reset();
}

absl::Status CacheTierCluster::StartAll(
    const CacheTierClusterOptions& options) {
  options_ = options;
  KESS_ASSIGN_OR_RETURN(dcs_, TwoDcCluster::Start(options.dcs));
  KESS_ASSIGN_OR_RETURN(token_file_,
                        WriteTokenFile(dcs_->dir(), "cache-tier-test-token"));
  main_.name = "dc1";
  slave_.name = "dc2";
  // The slave's mandators create the members directories of their tree
  // once they lead; wait for both leaders before distributors register.
  if (WaitLeader(dcs_->main(), absl::Seconds(60)) == nullptr ||
      WaitLeader(dcs_->slave(), absl::Seconds(60)) == nullptr) {
    return absl::DeadlineExceededError("no mandator leader in some DC");
  }
  KESS_RETURN_IF_ERROR(StartDc(main_, dcs_->main_zk()));
  return StartDc(slave_, dcs_->slave_zk());
}

absl::Status CacheTierCluster::StartDc(CacheTierDc& dc, const ZkEnsemble& zk) {
  for (int i = 1; i <= options_.distributors_per_dc; ++i) {
    DistributorProcessOptions o;
    o.binary = options_.distributor_binary;
    o.id = absl::StrCat("d", i);
    o.datacenter = dc.name;
    o.zk = zk.ConnectString();
    o.zk_auth_file = dcs_->auth_file();
    o.auth_token_file = token_file_;
    o.extra_flags = options_.distributor_flags;
    o.log_dir = dcs_->dir();
    KESS_ASSIGN_OR_RETURN(std::unique_ptr<DistributorProcess> d,
                          DistributorProcess::Start(o));
    dc.distributors.push_back(std::move(d));
  }
  for (int i = 1; i <= options_.agents_per_dc; ++i) {
    KESS_RETURN_IF_ERROR(AddAgent(dc).status());
  }
  return absl::OkStatus();
}

absl::StatusOr<AgentHost*> CacheTierCluster::AddAgent(
    CacheTierDc& dc, const std::string& host_id, const std::string& binary,
    std::vector<std::string> distributors) {
  AgentHostOptions o;
  o.host_id =
      host_id.empty() ? absl::StrCat("h", dc.agents.size() + 1) : host_id;
  o.binary = binary.empty() ? options_.agent_binary : binary;
  o.datacenter = dc.name;
  o.distributors = distributors.empty() ? dc.DistributorAddresses()
                                        : std::move(distributors);
  for (const auto& m : &dc == &main_ ? dcs_->main() : dcs_->slave()) {
    o.mandators.push_back(m->address());
  }
  o.auth_token_file = token_file_;
  o.dir = absl::StrCat(dcs_->dir(), "/", dc.name, "-", o.host_id);
  o.extra_flags = options_.agent_flags;
  KESS_ASSIGN_OR_RETURN(std::unique_ptr<AgentHost> agent, AgentHost::Start(o));
  dc.agents.push_back(std::move(agent));
  return dc.agents.back().get();
}

std::vector<AgentHost*> CacheTierCluster::AllAgents() const {
  std::vector<AgentHost*> all;
  for (const CacheTierDc* dc : {&main_, &slave_}) {
    for (const auto& a : dc->agents) all.push_back(a.get());
  }
  return all;
}

absl::StatusOr<int64_t> CacheTierCluster::Put(const std::string& ns,
                                              const std::string& key,
                                              const std::string& value) {
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  absl::Status last = absl::UnavailableError("no leader");
  while (absl::Now() < deadline) {
    MandatorProcess* leader = WaitLeader(dcs_->main(), absl::Seconds(10));
    if (leader == nullptr) continue;
    absl::StatusOr<HttpReply> reply =
        HttpCall(leader->http_address(), "PUT",
                 absl::StrCat("/api/v1/configs/", ns, "/", key), PutBody(value),
                 absl::Seconds(20));
    if (reply.ok() && reply->status == 200) {
      Poco::JSON::Object::Ptr body = JsonBody(reply->body);
      if (!body) return absl::InternalError("PUT answer: " + reply->body);
      return body->getValue<int64_t>("revision");
    }
    if (reply.ok() && reply->status != 503 && reply->status != 504) {
      return absl::InternalError(
          absl::StrCat("PUT: HTTP ", reply->status, ": ", reply->body));
    }
    last = reply.ok() ? absl::UnavailableError(reply->body) : reply.status();
    absl::SleepFor(absl::Milliseconds(100));
  }
  return last;
}

int64_t CachedRevision(const AgentHost& agent, const std::string& ns,
                       const std::string& key) {
  file_cache::FileCacheReader reader(agent.cache_dir());
  absl::StatusOr<file_cache::CacheEntry> entry =
      reader.Read(file_cache::CacheKey::Config(ns, key));
  return entry.ok() ? entry->revision : 0;
}

bool WaitCached(const std::vector<AgentHost*>& agents, const std::string& ns,
                const std::string& key, int64_t revision,
                absl::Duration timeout) {
  return WaitFor(
      [&] {
        for (const AgentHost* a : agents) {
          if (CachedRevision(*a, ns, key) < revision) return false;
        }
        return true;
      },
      timeout);
}

}  // namespace testing
}  // namespace kess
