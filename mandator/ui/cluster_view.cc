#include "mandator/ui/cluster_view.h"

#include <algorithm>
#include <future>
#include <utility>

#include "Poco/JSON/Array.h"
#include "Poco/JSON/Object.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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
          {&m, std::async(std::launch::async, Fetch, m.http_address,
                          "/api/v1/status", options_.authorization,
                          options_.peer_timeout)});
    }
    for (const Member& d : dcs[i].distributors) {
      distributors[i].push_back(
          {&d,
           std::async(std::launch::async, Fetch, d.http_address,
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

HttpResponse ClusterView::Hosts(const HttpRequest& request) {
  if (request.Query("scope") == "local") {
    std::string json = "{\"hosts\":[";
    bool first = true;
    for (const auto& h : options_.local_hosts()) {
      absl::StrAppend(
          &json, first ? "" : ",", "{\"host_id\":", JsonQuote(h.host_id),
          ",\"distributor\":", JsonQuote(h.distributor),
          ",\"revision\":", h.revision,
          ",\"last_heartbeat_age_ms\":", h.last_heartbeat_age_ms, "}");
      first = false;
    }
    json += "]}";
    return HttpResponse::Json(200, std::move(json));
  }
  struct Seen {
    std::string distributor;
    int64_t revision = 0;
    int64_t age_ms = INT64_MAX;
    std::vector<std::string> mandators;
  };
  std::map<std::pair<std::string, std::string>, Seen> hosts;  // (dc, host)
  std::vector<std::string> unreachable;
  std::vector<DcMembers> dcs = ListDatacenters();
  struct Pending {
    std::string dc;
    std::string mandator;
    std::future<Fetched> answer;
  };
  std::vector<Pending> pending;
  for (const DcMembers& dc : dcs) {
    if (!dc.zk.ok()) unreachable.push_back(dc.name);
    for (const Member& m : dc.mandators) {
      if (dc.name == options_.datacenter && m.id == options_.self_id) {
        std::promise<Fetched> self;
        Fetched f;
        f.json =
            Hosts(HttpRequest{"GET", "/api/v1/hosts", {{"scope", "local"}}})
                .body;
        self.set_value(f);
        pending.push_back({dc.name, m.id, self.get_future()});
        continue;
      }
      pending.push_back(
          {dc.name, m.id,
           std::async(std::launch::async, Fetch, m.http_address,
                      "/api/v1/hosts?scope=local", options_.authorization,
                      options_.peer_timeout)});
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
        Seen& seen = hosts[{p.dc, h->getValue<std::string>("host_id")}];
        const int64_t age = h->getValue<int64_t>("last_heartbeat_age_ms");
        if (age < seen.age_ms) {
          seen.age_ms = age;
          seen.distributor = h->optValue<std::string>("distributor", "");
          seen.revision = h->optValue<int64_t>("revision", 0);
        }
        seen.mandators.push_back(p.mandator);
      } catch (const Poco::Exception& e) {
        LOG_EVERY_N(WARNING, 100)
            << "bad host entry from " << p.mandator << ": " << e.displayText();
      }
    }
  }
  std::string json = "{\"hosts\":[";
  bool first = true;
  for (const auto& [key, seen] : hosts) {
    std::vector<std::string> quoted;
    for (const std::string& m : seen.mandators) quoted.push_back(JsonQuote(m));
    absl::StrAppend(&json, first ? "" : ",",
                    "{\"host_id\":", JsonQuote(key.second),
                    ",\"datacenter\":", JsonQuote(key.first),
                    ",\"distributor\":", JsonQuote(seen.distributor),
                    ",\"revision\":", seen.revision,
                    ",\"last_heartbeat_age_ms\":", seen.age_ms,
                    ",\"mandators\":[", absl::StrJoin(quoted, ","), "]}");
    first = false;
  }
  json += "],\"unreachable\":[";
  for (size_t i = 0; i < unreachable.size(); ++i) {
    absl::StrAppend(&json, i == 0 ? "" : ",", JsonQuote(unreachable[i]));
  }
  json += "]}";
  return HttpResponse::Json(200, std::move(json));
}

}  // namespace ui
}  // namespace mandator
}  // namespace kess
