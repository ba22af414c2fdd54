#include "mandator/routes/routes_http.h"

#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/json_util.h"
#include "common/paging.h"
#include "model/names.h"

namespace kess {
namespace mandator {
namespace routes {

namespace {
constexpr char kServicesPath[] = "/api/v1/services";
constexpr size_t kMaxServicePageLimit = 1000;

bool IsPaged(const HttpRequest& r) {
  for (const char* p : {"limit", "page_token", "prefix", "q", "state"}) {
    if (r.query.count(p) > 0) return true;
  }
  return false;
}

bool StateMatches(const RouteTable& table, const std::string& state) {
  if (state.empty()) return true;
  for (const RouteInstance& in : table.instances) {
    const bool critical = in.check_status == "critical";
    if (state == "critical" ? critical
        : state == "unhealthy"
            ? critical || in.state != InstanceState::kHealthy
            : state == InstanceStateName(in.state)) {
      return true;
    }
  }
  return false;
}

// One service's row of the listing.
void AppendService(const std::string& service, const RouteTable& table,
                   std::string* out) {
  // datacenter -> state -> count
  std::map<std::string, std::map<std::string, int>> counts;
  int critical = 0;
  for (const RouteInstance& in : table.instances) {
    ++counts[in.datacenter][InstanceStateName(in.state)];
    if (in.check_status == "critical") ++critical;
  }
  absl::StrAppend(out, "{\"name\":", JsonQuote(service),
                  ",\"revision\":", table.revision,
                  ",\"instances\":", table.instances.size(),
                  ",\"critical\":", critical, ",\"datacenters\":{");
  bool first_dc = true;
  for (const auto& [dc, states] : counts) {
    absl::StrAppend(out, first_dc ? "" : ",", JsonQuote(dc), ":{");
    first_dc = false;
    bool first_state = true;
    for (const auto& [state, n] : states) {
      absl::StrAppend(out, first_state ? "" : ",", JsonQuote(state), ":", n);
      first_state = false;
    }
    *out += "}";
  }
  *out += "}}";
}

}  // namespace

absl::StatusOr<std::string> ServicesPageJson(const RouteTables& tables,
                                             const char* source,
                                             const HttpRequest& request) {
  KESS_ASSIGN_OR_RETURN(size_t limit,
                        ParseLimit(request, 50, kMaxServicePageLimit));
  const std::string prefix = request.Query("prefix");
  const std::string contains = request.Query("q");
  const std::string state = request.Query("state");
  if (!state.empty() && state != "healthy" && state != "suspect" &&
      state != "disabled" && state != "critical" && state != "unhealthy") {
    return absl::InvalidArgumentError(
        "state must be healthy, suspect, disabled, critical or unhealthy");
  }
  auto it = tables.begin();
  const std::string token = request.Query("page_token");
  if (!token.empty()) {
    KESS_ASSIGN_OR_RETURN(std::string last, DecodePageToken(token));
    it = tables.upper_bound(last);
  }
  auto matches = [&](const std::string& name, const RouteTable& table) {
    return absl::StartsWith(name, prefix) &&
           absl::StrContains(name, contains) && StateMatches(table, state);
  };
  size_t total = 0;
  for (const auto& [name, table] : tables) total += matches(name, table);
  std::string out =
      absl::StrCat("{\"source\":", JsonQuote(source), ",\"services\":[");
  size_t served = 0;
  std::string last;
  bool more = false;
  for (; it != tables.end(); ++it) {
    if (!matches(it->first, it->second)) continue;
    if (served == limit) {
      more = true;
      break;
    }
    if (served > 0) out += ",";
    AppendService(it->first, it->second, &out);
    last = it->first;
    ++served;
  }
  absl::StrAppend(&out, "],\"total\":", total);
  if (more) {
    absl::StrAppend(&out, ",\"next_page_token\":",
                    JsonQuote(EncodePageToken(last)));
  }
  return out + "}";
}

std::string ServicesToJson(const RouteTables& tables, const char* source) {
  std::string out =
      absl::StrCat("{\"source\":", JsonQuote(source), ",\"services\":[");
  bool first = true;
  for (const auto& [service, table] : tables) {
    if (!first) out += ",";
    first = false;
    AppendService(service, table, &out);
  }
  out += "]}";
  return out;
}

std::string ServiceToJson(const RouteTable& table,
                          const std::map<std::string, int64_t>* ages,
                          const char* source) {
  std::string out = absl::StrCat("{\"source\":", JsonQuote(source),
                                 ",\"service\":", JsonQuote(table.service),
                                 ",\"revision\":", table.revision,
                                 ",\"table\":", RouteTableToJson(table),
                                 ",\"heartbeat_age_ms\":");
  if (ages == nullptr) {
    out += "null}";
    return out;
  }
  out += "{";
  bool first = true;
  for (const RouteInstance& in : table.instances) {
    auto it = ages->find(in.id);
    absl::StrAppend(&out, first ? "" : ",", JsonQuote(in.id), ":");
    first = false;
    if (it == ages->end() || it->second == INT64_MAX) {
      out += "null";
    } else {
      absl::StrAppend(&out, it->second);
    }
  }
  out += "}}";
  return out;
}

void RoutesHttp::Register(HttpRoutes* server) {
  server->Handle("GET", kServicesPath,
                 [this](const HttpRequest& r) { return List(r); });
  server->HandlePrefix("GET", absl::StrCat(kServicesPath, "/"),
                       [this](const HttpRequest& r) { return Get(r); });
}

HttpResponse RoutesHttp::List(const HttpRequest& request) {
  std::shared_ptr<const RoutesView> view =
      options_.view ? options_.view() : nullptr;
  absl::StatusOr<RouteTables> loaded;
  if (view == nullptr) {
    loaded = options_.store->LoadAll();
    if (!loaded.ok()) return HttpResponse::Error(loaded.status());
  }
  const RouteTables& tables = view != nullptr ? view->tables : *loaded;
  const char* source = view != nullptr ? "leader" : "zookeeper";
  if (!IsPaged(request)) {
    return HttpResponse::Json(200, ServicesToJson(tables, source));
  }
  absl::StatusOr<std::string> page = ServicesPageJson(tables, source, request);
  if (!page.ok()) return HttpResponse::Error(page.status());
  return HttpResponse::Json(200, std::move(page).value());
}

HttpResponse RoutesHttp::Get(const HttpRequest& request) {
  const std::string service =
      request.path.substr(std::string(kServicesPath).size() + 1);
  absl::Status valid = ValidateName(NameKind::kService, service);
  if (!valid.ok()) return HttpResponse::Error(valid);
  std::shared_ptr<const RoutesView> view =
      options_.view ? options_.view() : nullptr;
  if (view != nullptr) {
    auto it = view->tables.find(service);
    if (it == view->tables.end()) {
      return HttpResponse::Error(absl::NotFoundError(
          absl::StrCat("service ", service, " has no route table")));
    }
    auto ages = view->heartbeat_age_ms.find(service);
    static const std::map<std::string, int64_t> kNone;
    return HttpResponse::Json(
        200, ServiceToJson(
                 it->second,
                 ages == view->heartbeat_age_ms.end() ? &kNone : &ages->second,
                 "leader"));
  }
  absl::StatusOr<std::optional<RouteTable>> table =
      options_.store->Get(service);
  if (!table.ok()) return HttpResponse::Error(table.status());
  if (!table->has_value()) {
    return HttpResponse::Error(absl::NotFoundError(
        absl::StrCat("service ", service, " has no route table")));
  }
  return HttpResponse::Json(200, ServiceToJson(**table, nullptr, "zookeeper"));
}

}  // namespace routes
}  // namespace mandator
}  // namespace kess
