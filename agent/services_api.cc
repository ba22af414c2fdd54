#include "agent/services_api.h"

#include <string>
#include <vector>

#include "Poco/Exception.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/json_util.h"

namespace kess {
namespace agent {
namespace {

constexpr char kServicesPrefix[] = "/v1/services/";
constexpr char kChecksPrefix[] = "/v1/checks/";

// "/v1/services/<svc>/instances/<id>" -> svc, id.
absl::Status ParseInstancePath(const std::string& path, std::string* service,
                               std::string* id) {
  std::vector<std::string> parts = absl::StrSplit(
      path.substr(sizeof(kServicesPrefix) - 1), '/');
  if (parts.size() != 3 || parts[1] != "instances" || parts[0].empty() ||
      parts[2].empty()) {
    return absl::InvalidArgumentError(
        "expected /v1/services/<service>/instances/<instance id>");
  }
  *service = parts[0];
  *id = parts[2];
  return absl::OkStatus();
}

Caller CallerOf(const HttpRequest& request) {
  Caller caller;
  if (request.peer.has_value()) {
    caller.on_socket = true;
    caller.uid = request.peer->uid;
  }
  return caller;
}

HttpResponse TooLarge() {
  HttpResponse r = HttpResponse::Error(absl::ResourceExhaustedError(absl::StrCat(
      "the body is larger than ", kMaxRegistrationBodyBytes, " bytes")));
  r.status = 413;
  return r;
}

}  // namespace

void RegisterServicesApi(HttpRoutes* server, LocalServices* services) {
  server->Handle("GET", "/v1/services", [services](const HttpRequest&) {
    return HttpResponse::Json(200, services->ListJson());
  });
  server->HandlePrefix(
      "GET", kServicesPrefix, [services](const HttpRequest& request) {
        std::string service, id;
        absl::Status s = ParseInstancePath(request.path, &service, &id);
        if (!s.ok()) return HttpResponse::Error(s);
        absl::StatusOr<std::string> json = services->InstanceJson(service, id);
        if (!json.ok()) return HttpResponse::Error(json.status());
        return HttpResponse::Json(200, *json);
      });
  server->HandlePrefix(
      "PUT", kServicesPrefix, [services](const HttpRequest& request) {
        if (request.body.size() > kMaxRegistrationBodyBytes) return TooLarge();
        std::string service, id;
        absl::Status s = ParseInstancePath(request.path, &service, &id);
        if (s.ok()) s = services->Put(service, id, request.body, CallerOf(request));
        if (!s.ok()) return HttpResponse::Error(s);
        absl::StatusOr<std::string> json = services->InstanceJson(service, id);
        if (!json.ok()) return HttpResponse::Error(json.status());
        return HttpResponse::Json(200, *json);
      });
  server->HandlePrefix(
      "DELETE", kServicesPrefix, [services](const HttpRequest& request) {
        std::string service, id;
        absl::Status s = ParseInstancePath(request.path, &service, &id);
        if (s.ok()) {
          s = services->Delete(service, id, request.Query("owner"),
                               CallerOf(request));
        }
        if (!s.ok()) return HttpResponse::Error(s);
        return HttpResponse::Json(
            200, absl::StrCat("{\"deregistered\":", JsonQuote(service + "/" + id),
                              "}\n"));
      });
  server->HandlePrefix(
      "PUT", kChecksPrefix, [services](const HttpRequest& request) {
        if (request.body.size() > kMaxRegistrationBodyBytes) return TooLarge();
        std::vector<std::string> parts = absl::StrSplit(
            request.path.substr(sizeof(kChecksPrefix) - 1), '/');
        if (parts.size() != 2 || parts[0].empty()) {
          return HttpResponse::Error(absl::InvalidArgumentError(
              "expected /v1/checks/<check id>/pass|warn|fail"));
        }
        if (parts[1] != "pass" && parts[1] != "warn" && parts[1] != "fail") {
          return HttpResponse::Error(absl::InvalidArgumentError(absl::StrCat(
              "\"", parts[1].substr(0, 32),
              "\" is not pass, warn or fail")));
        }
        std::string output;
        if (!request.body.empty()) {
          auto json = ParseJsonObject(request.body);
          if (!json.ok()) return HttpResponse::Error(json.status());
          if ((*json)->has("output")) {
            if (!(*json)->get("output").isString()) {
              return HttpResponse::Error(
                  absl::InvalidArgumentError("\"output\" must be a string"));
            }
            output = (*json)->getValue<std::string>("output");
          }
        }
        absl::Status s = services->UpdateTtl(
            parts[0], *ParseCheckStatus(parts[1]), output,
            request.Query("owner"), CallerOf(request));
        if (!s.ok()) return HttpResponse::Error(s);
        return HttpResponse::Json(
            200, absl::StrCat("{\"check\":", JsonQuote(parts[0]),
                              ",\"status\":\"",
                              CheckStatusName(*ParseCheckStatus(parts[1])),
                              "\"}\n"));
      });
}

}  // namespace agent
}  // namespace kess
