#include "tests/cluster/cache_tier_cluster.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
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
  for (size_t i = tier_.size(); i-- > 0;) {
    tier_[i].agents.clear();
    tier_[i].distributors.clear();
  }
  dcs_.reset();
}

std::string CacheTierCluster::DistributorName(const std::string& dc,
                                              const DistributorProcess& d) {
  return absl::StrCat("distributor-", dc, "-", d.id());
}

std::string CacheTierCluster::AgentName(const AgentHost& a) {
  return "agent-" + a.host_id();
}

absl::Status CacheTierCluster::StartAll(
    const CacheTierClusterOptions& options) {
  options_ = options;
  if (options.distributors_per_dc < 0 || options.agents_per_dc < 0) {
    return absl::InvalidArgumentError("no negative counts");
  }
  if (options.agents_per_dc > 0 && options.distributors_per_dc == 0) {
    return absl::InvalidArgumentError("agents need a distributor");
  }
  KESS_ASSIGN_OR_RETURN(dcs_, MultiDcCluster::Start(options.dcs));
  const MultiDcCluster& dcs = *dcs_;
  KESS_ASSIGN_OR_RETURN(
      token_file_,
      WriteTokenFile(dcs.dir() + "/secrets", options.dcs.random_secrets
                                                 ? RandomSecret()
                                                 : "cache-tier-test-token"));
  const int tier_dcs = options.tier_dcs > 0
                           ? std::min(options.tier_dcs, dcs.dc_count())
                           : dcs.dc_count();
  tier_.resize(tier_dcs);
  for (int i = 0; i < tier_dcs; ++i) {
    tier_[i].name = dcs.dc(i).name;
    tier_[i].index = i;
  }
  // The slave's mandators create the members directories of their tree
  // once they lead; wait for every leader before distributors register.
  KESS_RETURN_IF_ERROR(dcs_->WaitLeaders(absl::Seconds(60)));
  if (options.distributors_per_dc > 0) {
    dcs.Progress(absl::StrCat("starting ", options.distributors_per_dc,
                              " distributors per DC"));
  }
  for (CacheTierDc& dc : tier_) KESS_RETURN_IF_ERROR(StartDistributors(dc));
  if (options.agents_per_dc > 0) {
    dcs.Progress(
        absl::StrCat("starting ", options.agents_per_dc, " agents per DC"));
  }
  for (CacheTierDc& dc : tier_) {
    for (int i = 1; i <= options.agents_per_dc; ++i) {
      KESS_RETURN_IF_ERROR(AddAgent(dc).status());
    }
  }
  return absl::OkStatus();
}

absl::Status CacheTierCluster::StartDistributors(CacheTierDc& dc) {
  const MultiDcCluster::Dc& where = dcs_->dc(dc.index);
  for (int i = 1; i <= options_.distributors_per_dc; ++i) {
    KESS_RETURN_IF_ERROR(dcs_->CheckCancelled());
    DistributorProcessOptions o;
    o.binary = options_.distributor_binary.empty()
                   ? ClusterBinary(options_.dcs.bin_dir,
                                   "distributor/distributor")
                   : options_.distributor_binary;
    o.id = absl::StrCat("d", i);
    o.datacenter = dc.name;
    o.zk = where.zk->ConnectString();
    o.zk_auth_file = dcs_->reader_auth_file();
    o.auth_token_file = token_file_;
    o.tls_flags = dcs_->tls().Flags("distributor");
    o.extra_flags = options_.distributor_flags;
    o.log_dir = dcs_->logs_dir();  // distributor-<dc>-d<i>.log
    o.host = where.address;
    o.command_prefix = where.command_prefix;
    KESS_ASSIGN_OR_RETURN(std::unique_ptr<DistributorProcess> d,
                          DistributorProcess::Start(o));
    dcs_->Started(DistributorName(dc.name, *d), d->pid());
    dc.distributors.push_back(std::move(d));
  }
  return absl::OkStatus();
}

absl::StatusOr<AgentHost*> CacheTierCluster::AddAgent(
    CacheTierDc& dc, const std::string& host_id, const std::string& binary,
    std::vector<std::string> distributors) {
  KESS_RETURN_IF_ERROR(dcs_->CheckCancelled());
  const MultiDcCluster::Dc& where = dcs_->dc(dc.index);
  AgentHostOptions o;
  o.host_id = host_id.empty()
                  ? absl::StrReplaceAll(
                        options_.host_id_format,
                        {{"{dc}", dc.name},
                         {"{i}", absl::StrCat(dc.agents.size() + 1)}})
                  : host_id;
  if (!binary.empty()) {
    o.binary = binary;
  } else if (!options_.agent_binary.empty()) {
    o.binary = options_.agent_binary;
  } else {
    o.binary = ClusterBinary(options_.dcs.bin_dir, "agent/agent");
  }
  o.datacenter = dc.name;
  o.distributors = distributors.empty() ? dc.DistributorAddresses()
                                        : std::move(distributors);
  for (const auto& m : where.mandators) o.mandators.push_back(m->address());
  o.auth_token_file = token_file_;
  o.dir = absl::StrCat(dcs_->dir(), "/hosts/", dc.name, "/", o.host_id);
  if (!options_.agent_test_intervals) o.flags.clear();
  o.tls_flags = dcs_->tls().Flags("agent");
  if (options_.dcs.registration_rights) {
    // The agent registers its host's applications: its own certificate.
    KESS_ASSIGN_OR_RETURN(o.tls_flags,
                          dcs_->tls().PrincipalFlags("host", o.host_id));
  }
  o.extra_flags = options_.agent_flags;
  o.http_host = where.address;
  if (!absl::StartsWith(where.address, "127.")) {
    // A DC's own address in a network namespace of the test: the agents
    // refuse to serve plain HTTP there unless told (their certificate is
    // a client one; the SDK calls them in plain HTTP).
    o.extra_flags.push_back("--http_insecure_plaintext");
  }
  o.command_prefix = where.command_prefix;
  KESS_ASSIGN_OR_RETURN(std::unique_ptr<AgentHost> agent, AgentHost::Start(o));
  dcs_->Started(AgentName(*agent), agent->pid());
  dc.agents.push_back(std::move(agent));
  return dc.agents.back().get();
}

std::vector<AgentHost*> CacheTierCluster::AllAgents() const {
  std::vector<AgentHost*> all;
  for (const CacheTierDc& dc : tier_) {
    for (const auto& a : dc.agents) all.push_back(a.get());
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
