#include "mandator/ui/cluster_view.h"

#include <algorithm>
#include <future>
#include <utility>

#include "Poco/JSON/Array.h"
#include "Poco/JSON/Object.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/clock.h"
#include "common/json_util.h"
#include "glog/logging.h"
#include "common/http_client.h"
#include "zk_schema/codec.h"
#include "zk_schema/members.h"
#include "zk_schema/schema.pb.h"

namespace kess {
namespace mandator {
namespace ui {
namespace {

// One peer's GET, as JSON text or an error.
struct Fetched {
  std::string json;  // validated JSON object; "" on error
  std::string error;
};

Fetched Fetch(const std::string& address, const std::string& uri,
              const std::string& authorization, absl::Duration timeout) {
  Fetched out;
  if (address.empty()) {
    out.error = "no HTTP address published";
    return out;
  }
  std::vector<std::pair<std::string, std::string>> headers;
  if (!authorization.empty())
    headers.emplace_back("Authorization", authorization);
  absl::StatusOr<HttpReply> reply =
      HttpCall(address, "GET", uri, "", timeout, headers);
  if (!reply.ok()) {
    out.error = std::string(reply.status().message());
    return out;
  }
  if (reply->status != 200) {
    out.error = absl::StrCat("HTTP ", reply->status);
    return out;
  }
  // Re-serialized: only well-formed JSON from a peer goes into ours.
  absl::StatusOr<Poco::JSON::Object::Ptr> parsed = ParseJsonObject(reply->body);
  if (!parsed.ok()) {
    out.error = "answer is not a JSON object";
    return out;
  }
  out.json = ToJson(*parsed);
  return out;
}

// A peer's published "host:port" as the address to call.
std::string PeerAddress(const std::string& http_address, bool https) {
  return https && !http_address.empty() ? "https://" + http_address
                                        : http_address;
}

absl::StatusOr<std::vector<ClusterView::Member>> ListDcMembers(
    zk::ZkApi& zk, const zk::Layout& layout, zk::MemberRole role) {
  KESS_ASSIGN_OR_RETURN(std::vector<zk::MemberInfo> members,
                        zk::ListMembers(zk, layout, role));
  std::vector<ClusterView::Member> out;
  for (const zk::MemberInfo& m : members) {
    out.push_back({m.id(), m.http_address()});
  }
  return out;
}

std::string MemberJson(const ClusterView::Member& m, const Fetched& f) {
  std::string out =
      absl::StrCat("{\"id\":", JsonQuote(m.id),
                   ",\"http_address\":", JsonQuote(m.http_address),
                   ",\"status\":", f.json.empty() ? "null" : f.json);
  if (!f.error.empty())
    absl::StrAppend(&out, ",\"error\":", JsonQuote(f.error));
  return out + "}";
}

}  // namespace

ClusterView::ClusterView(Options options) : options_(std::move(options)) {}

void ClusterView::Register(HttpRoutes* server) {
  server->Handle("GET", "/api/v1/cluster",
                 [this](const HttpRequest& r) { return Cluster(r); });
  server->Handle("GET", "/api/v1/hosts",
                 [this](const HttpRequest& r) { return Hosts(r); });
  server->Handle("GET", "/api/v1/hosts/summary",
                 [this](const HttpRequest& r) { return HostsSummary(r); });
}

zk::ZkApi* ClusterView::ClientFor(const std::string& dc,
                                  const std::string& ensemble,
                                  absl::Status* error) {
  {
    absl::MutexLock lock(&mu_);
    auto it = clients_.find(dc);
    if (it != clients_.end()) return it->second.get();
  }
  if (!options_.connect) {
    *error = absl::UnavailableError("no way to connect to other DCs");
    return nullptr;
  }
  // Connect without the lock: a far or unreachable DC must not hold up the
  // pages that only need the others.
  absl::StatusOr<std::unique_ptr<zk::ZkApi>> made = options_.connect(ensemble);
  if (!made.ok()) {
    *error = made.status();
    return nullptr;
  }
  absl::MutexLock lock(&mu_);
  std::unique_ptr<zk::ZkApi>& client = clients_[dc];
  if (client == nullptr) client = *std::move(made);  // else: a racer won
  return client.get();
}

std::vector<ClusterView::DcMembers> ClusterView::ListDatacenters() {
  auto list = [this](const std::string& name, bool is_main,
                     const std::string& ensemble, zk::ZkApi* zk) {
    DcMembers dc;
    dc.name = name;
    dc.is_main = is_main;
    dc.ensemble = ensemble;
    if (zk == nullptr) zk = ClientFor(name, ensemble, &dc.zk);
    if (zk != nullptr) {
      absl::StatusOr<std::vector<Member>> mandators =
          ListDcMembers(*zk, options_.layout, zk::MANDATOR);
      absl::StatusOr<std::vector<Member>> distributors =
          ListDcMembers(*zk, options_.layout, zk::DISTRIBUTOR);
      if (mandators.ok()) dc.mandators = *std::move(mandators);
      if (distributors.ok()) dc.distributors = *std::move(distributors);
      dc.zk = !mandators.ok() ? mandators.status() : distributors.status();
    }
    return dc;
  };
  // Every DC at once: the page takes as long as the slowest DC, not the
  // sum of their round trips.
  std::vector<std::future<DcMembers>> others;
  for (const auto& [name, ensemble] : options_.other_datacenters) {
    if (name == options_.datacenter) continue;
    others.push_back(std::async(std::launch::async, list, name,
                                !options_.is_main, ensemble, nullptr));
  }
  std::vector<DcMembers> out;
  out.push_back(
      list(options_.datacenter, options_.is_main, options_.zk, options_.local));
  for (auto& dc : others) out.push_back(dc.get());
  return out;
}

HttpResponse ClusterView::Cluster(const HttpRequest&) {
  std::vector<DcMembers> dcs = ListDatacenters();
  // Every member's status at once, each with its own timeout.
  struct Pending {
    const Member* member;
    std::future<Fetched> status;
  };
  std::vector<std::vector<Pending>> mandators(dcs.size());
  std::vector<std::vector<Pending>> distributors(dcs.size());
  for (size_t i = 0; i < dcs.size(); ++i) {
    for (const Member& m : dcs[i].mandators) {
      if (i == 0 && m.id == options_.self_id) {
        std::promise<Fetched> self;
        Fetched f;
        f.json = options_.self_status_json();
        self.set_value(f);
        mandators[i].push_back({&m, self.get_future()});
        continue;
      }
      mandators[i].push_back(
          {&m, std::async(std::launch::async, Fetch, PeerAddress(m.http_address, options_.https_peers),
                          "/api/v1/status", options_.authorization,
                          options_.peer_timeout)});
    }
    for (const Member& d : dcs[i].distributors) {
      distributors[i].push_back(
          {&d,
           std::async(std::launch::async, Fetch, PeerAddress(d.http_address, options_.https_peers),
                      "/api/v1/status", std::string(), options_.peer_timeout)});
    }
  }
  std::string json = "{\"datacenters\":[";
  for (size_t i = 0; i < dcs.size(); ++i) {
    const DcMembers& dc = dcs[i];
    absl::StrAppend(&json, i == 0 ? "" : ",", "{\"name\":", JsonQuote(dc.name),
                    ",\"is_main\":", dc.is_main ? "true" : "false",
                    ",\"self\":", i == 0 ? "true" : "false",
                    ",\"zookeeper\":{\"ensemble\":", JsonQuote(dc.ensemble),
                    ",\"reachable\":", dc.zk.ok() ? "true" : "false");
    if (!dc.zk.ok()) {
      absl::StrAppend(&json,
                      ",\"error\":", JsonQuote(std::string(dc.zk.message())));
    }
    json += "},\"mandators\":[";
    for (size_t k = 0; k < mandators[i].size(); ++k) {
      absl::StrAppend(
          &json, k == 0 ? "" : ",",
          MemberJson(*mandators[i][k].member, mandators[i][k].status.get()));
    }
    json += "],\"distributors\":[";
    for (size_t k = 0; k < distributors[i].size(); ++k) {
      absl::StrAppend(&json, k == 0 ? "" : ",",
                      MemberJson(*distributors[i][k].member,
                                 distributors[i][k].status.get()));
    }
    json += "]}";
  }
  json += "]}";
  return HttpResponse::Json(200, std::move(json));
}

std::string ClusterView::LocalHostsJson() {
  std::string json = "{\"hosts\":[";
  bool first = true;
  for (const auto& h : options_.local_hosts()) {
    absl::StrAppend(
        &json, first ? "" : ",", "{\"host_id\":", JsonQuote(h.host_id),
        ",\"distributor\":", JsonQuote(h.distributor),
        ",\"revision\":", h.revision,
        ",\"synced_revision\":", h.synced_revision,
        ",\"synced_age_ms\":", h.synced_age_ms,
        ",\"agent_version\":", JsonQuote(h.agent_version),
        ",\"last_heartbeat_age_ms\":", h.last_heartbeat_age_ms, "}");
    first = false;
  }
  json += "]}";
  return json;
}

std::shared_ptr<const HostIndex> ClusterView::GatherHosts() {
  std::map<std::pair<std::string, std::string>, HostRow> hosts;  // (dc, host)
  // The youngest heartbeat's report wins; every mandator that hears a host
  // is listed.
  auto merge = [&hosts](const std::string& dc, const std::string& mandator,
                        HostRow row) {
    auto [it, added] = hosts.try_emplace({dc, row.host_id});
    HostRow& seen = it->second;
    if (added || row.last_heartbeat_age_ms < seen.last_heartbeat_age_ms) {
      std::vector<std::string> mandators = std::move(seen.mandators);
      seen = std::move(row);
      seen.datacenter = dc;
      seen.mandators = std::move(mandators);
    }
    seen.mandators.push_back(mandator);
  };
  std::vector<std::string> unreachable;
  std::vector<DcMembers> dcs = ListDatacenters();
  struct Pending {
    std::string dc;
    std::string mandator;
    std::future<Fetched> answer;
  };
  std::vector<Pending> pending;
  bool self_listed = false;
  for (const DcMembers& dc : dcs) {
    if (!dc.zk.ok()) unreachable.push_back(dc.name);
    for (const Member& m : dc.mandators) {
      if (dc.name == options_.datacenter && m.id == options_.self_id) {
        self_listed = true;
        continue;
      }
      pending.push_back(
          {dc.name, m.id,
           std::async(std::launch::async, Fetch, PeerAddress(m.http_address, options_.https_peers),
                      "/api/v1/hosts?scope=local", options_.authorization,
                      options_.peer_timeout)});
    }
  }
  // This mandator's own, without a round trip through JSON.
  if (self_listed && options_.local_hosts) {
    for (const auto& h : options_.local_hosts()) {
      HostRow row;
      row.host_id = h.host_id;
      row.distributor = h.distributor;
      row.revision = h.revision;
      row.synced_revision = h.synced_revision;
      row.synced_age_ms = h.synced_age_ms;
      row.last_heartbeat_age_ms = h.last_heartbeat_age_ms;
      row.agent_version = h.agent_version;
      merge(options_.datacenter, options_.self_id, std::move(row));
    }
  }
  for (Pending& p : pending) {
    Fetched f = p.answer.get();
    absl::StatusOr<Poco::JSON::Object::Ptr> body =
        f.json.empty() ? absl::UnavailableError(f.error)
                       : ParseJsonObject(f.json);
    Poco::JSON::Array::Ptr list =
        body.ok() ? (*body)->getArray("hosts") : nullptr;
    if (list.isNull()) {
      unreachable.push_back(absl::StrCat(p.dc, "/", p.mandator));
      continue;
    }
    for (size_t i = 0; i < list->size(); ++i) {
      Poco::JSON::Object::Ptr h = list->getObject(static_cast<unsigned>(i));
      if (h.isNull()) continue;
      try {
        HostRow row;
        row.host_id = h->getValue<std::string>("host_id");
        row.last_heartbeat_age_ms = h->getValue<int64_t>("last_heartbeat_age_ms");
        row.distributor = h->optValue<std::string>("distributor", "");
        row.revision = h->optValue<int64_t>("revision", 0);
        // A mandator older than these fields: unknown (0).
        row.synced_revision = h->optValue<int64_t>("synced_revision", 0);
        row.synced_age_ms = h->optValue<int64_t>("synced_age_ms", 0);
        row.agent_version = h->optValue<std::string>("agent_version", "");
        merge(p.dc, p.mandator, std::move(row));
      } catch (const Poco::Exception& e) {
        LOG_EVERY_N(WARNING, 100)
            << "bad host entry from " << p.mandator << ": " << e.displayText();
      }
    }
  }
  std::vector<HostRow> rows;
  rows.reserve(hosts.size());
  for (auto& [key, row] : hosts) rows.push_back(std::move(row));
  const int64_t now_ms = absl::ToUnixMillis(MonotonicNow());
  const int64_t grace_ms = absl::ToInt64Milliseconds(options_.host_behind_grace);
  for (const HostRow& r : rows) {
    if (r.synced_revision <= 0) continue;
    first_seen_.try_emplace(r.synced_revision,
                            gathered_ ? now_ms : now_ms - grace_ms);
  }
  gathered_ = true;
  while (first_seen_.size() > kMaxRevisionsSeen) {
    first_seen_.erase(first_seen_.begin());
  }
  return std::make_shared<const HostIndex>(
      std::move(rows), std::move(unreachable), first_seen_, now_ms, grace_ms);
}

std::shared_ptr<const HostIndex> ClusterView::CurrentHostIndex() {
  absl::MutexLock lock(&index_mu_);
  if (index_ == nullptr ||
      MonotonicNow() - index_built_ >= options_.host_index_ttl) {
    index_ = GatherHosts();
    index_built_ = MonotonicNow();
  }
  return index_;
}

HttpResponse ClusterView::Hosts(const HttpRequest& request) {
  if (request.Query("scope") == "local") {
    return HttpResponse::Json(200, LocalHostsJson());
  }
  if (!IsPagedHostRequest(request)) {
    // The whole list, gathered now (callers of the unpaginated form).
    std::shared_ptr<const HostIndex> index;
    {
      absl::MutexLock lock(&index_mu_);
      index = index_ = GatherHosts();
      index_built_ = MonotonicNow();
    }
    return HttpResponse::Json(200, index->FullJson());
  }
  absl::StatusOr<HostQuery> query = ParseHostQuery(request);
  if (!query.ok()) return HttpResponse::Error(query.status());
  absl::StatusOr<std::string> page = CurrentHostIndex()->PageJson(*query);
  if (!page.ok()) return HttpResponse::Error(page.status());
  return HttpResponse::Json(200, std::move(page).value());
}

HttpResponse ClusterView::HostsSummary(const HttpRequest&) {
  return HttpResponse::Json(200, CurrentHostIndex()->SummaryJson());
}

}  // namespace ui
}  // namespace mandator
}  // namespace kess
