#include "tests/wan/control_api.h"

#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/json_util.h"

namespace kess {
namespace wan {
namespace {

// OK if `request` has every parameter of `required`, none outside
// `required` and `optional`, and no body.
absl::Status CheckParameters(const HttpRequest& request,
                             const std::set<std::string>& required,
                             const std::set<std::string>& optional = {}) {
  if (!request.body.empty()) {
    return absl::InvalidArgumentError(
        "parameters go in the query string, not in the body");
  }
  for (const std::string& name : required) {
    if (request.query.count(name) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "missing parameter \"", name, "\" (", request.path, " takes ",
          absl::StrJoin(required, ", "),
          optional.empty()
              ? ""
              : absl::StrCat(" [", absl::StrJoin(optional, ", "), "]"),
          ")"));
    }
  }
  for (const auto& [name, value] : request.query) {
    if (required.count(name) == 0 && optional.count(name) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown parameter \"", name, "\""));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int> IntParameter(const HttpRequest& request,
                                 const std::string& name) {
  int value = 0;
  if (!absl::SimpleAtoi(request.Query(name), &value)) {
    return absl::InvalidArgumentError(absl::StrCat("parameter ", name, "=\"",
                                                   request.Query(name),
                                                   "\" is not an integer"));
  }
  return value;
}

HttpResponse Changed(const absl::StatusOr<std::vector<std::string>>& links) {
  if (!links.ok()) return HttpResponse::Error(links.status());
  std::vector<std::string> quoted;
  for (const std::string& name : *links) quoted.push_back(JsonQuote(name));
  return HttpResponse::Json(
      200, absl::StrCat("{\"links\":[", absl::StrJoin(quoted, ","), "]}\n"));
}

absl::StatusOr<std::vector<std::string>> Pair(WanEmulator* emulator,
                                              const HttpRequest& request) {
  KESS_RETURN_IF_ERROR(CheckParameters(request, {"from", "to", "profile"}));
  KESS_ASSIGN_OR_RETURN(const LinkProfile profile,
                        ParseLinkProfile(request.Query("profile")));
  return emulator->SetPairProfile(request.Query("from"), request.Query("to"),
                                  profile);
}

absl::StatusOr<std::vector<std::string>> State(WanEmulator* emulator,
                                               const HttpRequest& request) {
  KESS_RETURN_IF_ERROR(
      CheckParameters(request, {"a", "b", "state"}, {"direction"}));
  KESS_ASSIGN_OR_RETURN(const LinkState state,
                        ParseLinkState(request.Query("state")));
  KESS_ASSIGN_OR_RETURN(const Ways ways, ParseWays(request.Query("direction")));
  return emulator->SetState(request.Query("a"), request.Query("b"), ways,
                            state);
}

absl::StatusOr<std::vector<std::string>> FlapLinks(WanEmulator* emulator,
                                                   const HttpRequest& request) {
  KESS_RETURN_IF_ERROR(CheckParameters(
      request, {"a", "b", "period_ms", "count"}, {"direction"}));
  KESS_ASSIGN_OR_RETURN(const int period_ms,
                        IntParameter(request, "period_ms"));
  KESS_ASSIGN_OR_RETURN(const int count, IntParameter(request, "count"));
  KESS_ASSIGN_OR_RETURN(const Ways ways, ParseWays(request.Query("direction")));
  return emulator->Flap(request.Query("a"), request.Query("b"), ways,
                        absl::Milliseconds(period_ms), count);
}

}  // namespace

std::optional<HttpResponse> AdmitControlRequest(const HttpRequest& request) {
  if (request.method == "POST" && request.Header("content-length").empty() &&
      request.Header("transfer-encoding").empty()) {
    HttpResponse r = HttpResponse::Json(
        411,
        absl::StrCat("{\"error\":{\"code\":\"LENGTH_REQUIRED\",\"message\":",
                     JsonQuote("a POST needs a Content-Length (the "
                               "parameters go in the query string; "
                               "with curl: curl -d '' URL)"),
                     "}}\n"));
    return r;
  }
  return std::nullopt;
}

void RegisterControlApi(WanEmulator* emulator, HttpServer* server) {
  server->Handle("GET", "/links", [emulator](const HttpRequest& request) {
    absl::Status ok = CheckParameters(request, {});
    if (!ok.ok()) return HttpResponse::Error(ok);
    return HttpResponse::Json(200, emulator->LinksJson());
  });
  server->Handle("POST", "/pair", [emulator](const HttpRequest& request) {
    return Changed(Pair(emulator, request));
  });
  server->Handle("POST", "/state", [emulator](const HttpRequest& request) {
    return Changed(State(emulator, request));
  });
  server->Handle("POST", "/flap", [emulator](const HttpRequest& request) {
    return Changed(FlapLinks(emulator, request));
  });
  // Replaces the server's built-in /metrics, whose text comes after ours.
  metrics::Registry* registry = &metrics::Registry::Default();
  server->Handle("GET", "/metrics", [emulator, registry](const HttpRequest&) {
    HttpResponse r = HttpResponse::Text(
        200, emulator->MetricsText() + registry->RenderText());
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    return r;
  });
}

}  // namespace wan
}  // namespace kess
