#include "mandator/routes/routes_http.h"

#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/json_util.h"
#include "model/names.h"

namespace kess {
namespace mandator {
namespace routes {

namespace {
constexpr char kServicesPath[] = "/api/v1/services";
}  // namespace

std::string ServicesToJson(const RouteTables& tables, const char* source) {
  std::string out =
      absl::StrCat("{\"source\":", JsonQuote(source), ",\"services\":[");
  bool first = true;
  for (const auto& [service, table] : tables) {
    // datacenter -> state -> count
    std::map<std::string, std::map<std::string, int>> counts;
    for (const RouteInstance& in : table.instances) {
      ++counts[in.datacenter][InstanceStateName(in.state)];
    }
    absl::StrAppend(&out, first ? "" : ",", "{\"name\":", JsonQuote(service),
                    ",\"revision\":", table.revision,
                    ",\"instances\":", table.instances.size(),
                    ",\"datacenters\":{");
    first = false;
    bool first_dc = true;
    for (const auto& [dc, states] : counts) {
      absl::StrAppend(&out, first_dc ? "" : ",", JsonQuote(dc), ":{");
      first_dc = false;
      bool first_state = true;
      for (const auto& [state, n] : states) {
        absl::StrAppend(&out, first_state ? "" : ",", JsonQuote(state), ":", n);
        first_state = false;
      }
      out += "}";
    }
    out += "}}";
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

HttpResponse RoutesHttp::List(const HttpRequest&) {
  std::shared_ptr<const RoutesView> view =
      options_.view ? options_.view() : nullptr;
  if (view != nullptr) {
    return HttpResponse::Json(200, ServicesToJson(view->tables, "leader"));
  }
  absl::StatusOr<RouteTables> tables = options_.store->LoadAll();
  if (!tables.ok()) return HttpResponse::Error(tables.status());
  return HttpResponse::Json(200, ServicesToJson(*tables, "zookeeper"));
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
