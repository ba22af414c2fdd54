#include "agent/http_api.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "agent/subscription_set.h"
#include "agent/subscriptions_api.h"
#include "common/json_util.h"
#include "common/version.h"

namespace kess {
namespace agent {
namespace {

HttpResponse CacheFile(Agent* agent, const CacheKey& key) {
  absl::Status valid = file_cache::ValidateKey(key);
  if (!valid.ok()) return HttpResponse::Error(valid);
  std::string path =
      absl::StrCat(agent->cache_dir(), "/", file_cache::RelativePath(key));
  absl::StatusOr<std::string> text = file_cache::Env::Default()->ReadFile(path);
  if (absl::IsNotFound(text.status())) {
    return HttpResponse::Error(absl::NotFoundError(
        key.ToString() + " is not in the cache (subscribe it first)"));
  }
  if (!text.ok()) return HttpResponse::Error(text.status());
  return HttpResponse::Json(200, *text);
}

std::string StatusJson(const AgentStatus& s) {
  std::vector<std::string> order;
  for (const std::string& d : s.order) order.push_back(JsonQuote(d));
  return absl::StrCat(
      "{\"distributor\":", JsonQuote(s.distributor),
      ",\"connected\":", s.connected ? "true" : "false",
      ",\"stale\":", s.stale ? "true" : "false",
      ",\"distributor_revision\":", s.distributor_revision,
      ",\"cache_revision\":", s.cache_revision, ",\"keys\":", s.keys,
      ",\"pending_writes\":", s.pending_writes,
      ",\"failing_writes\":", s.failing_writes, ",\"switches\":", s.switches,
      ",\"reconnect_attempts\":", s.reconnect_attempts,
      ",\"distributor_order\":[", absl::StrJoin(order, ","), "],",
      BuildVersionJsonMembers(), "}\n");
}

}  // namespace

void RegisterHttpApi(HttpRoutes* server, Agent* agent,
                     HttpApiOptions options) {
  RegisterSubscriptionsApi(server, agent, options.subscribe_wait);
  server->HandlePrefix(
      "GET", "/v1/configs/", [agent](const HttpRequest& request) {
        std::vector<std::string> parts = absl::StrSplit(
            request.path.substr(std::string("/v1/configs/").size()), '/');
        if (parts.size() != 2) {
          return HttpResponse::Error(absl::InvalidArgumentError(
              "expected /v1/configs/<namespace>/<key>"));
        }
        return CacheFile(agent, CacheKey::Config(parts[0], parts[1]));
      });
  server->HandlePrefix(
      "GET", "/v1/routes/", [agent](const HttpRequest& request) {
        return CacheFile(agent, CacheKey::Route(request.path.substr(
                                    std::string("/v1/routes/").size())));
      });
  server->Handle("GET", "/v1/status", [agent](const HttpRequest&) {
    return HttpResponse::Json(200, StatusJson(agent->Status()));
  });
}

}  // namespace agent
}  // namespace kess
