#include "agent/subscriptions_api.h"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "Poco/Exception.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/subscription_set.h"
#include "common/json_util.h"

namespace kess {
namespace agent {
namespace {

std::string OwnersJson(const std::vector<std::string>& owners) {
  std::vector<std::string> quoted;
  for (const std::string& o : owners) quoted.push_back(JsonQuote(o));
  return absl::StrCat("[", absl::StrJoin(quoted, ","), "]");
}

std::string KeyStateJson(const KeyState& s) {
  std::string out = "{";
  if (s.key.type == CacheKey::Type::kConfig) {
    absl::StrAppend(&out, "\"type\":\"config\",\"namespace\":",
                    JsonQuote(s.key.namespace_name),
                    ",\"key\":", JsonQuote(s.key.key));
  } else {
    absl::StrAppend(
        &out, "\"type\":\"route\",\"service\":", JsonQuote(s.key.service));
  }
  absl::StrAppend(&out, ",\"path\":", JsonQuote(s.path),
                  ",\"revision\":", s.revision,
                  ",\"cached\":", s.revision > 0 ? "true" : "false",
                  ",\"owners\":", OwnersJson(s.owners), "}");
  return out;
}

std::string NamespaceStateJson(const NamespaceState& s) {
  return absl::StrCat("{\"namespace\":", JsonQuote(s.namespace_name),
                      ",\"path\":", JsonQuote(s.path),
                      ",\"cached_keys\":", s.cached_keys,
                      ",\"revision\":", s.revision,
                      ",\"owners\":", OwnersJson(s.owners), "}");
}

std::string StatesJson(const std::string& owner,
                       const std::vector<KeyState>& keys,
                       const std::vector<NamespaceState>& namespaces,
                       const std::string& extra) {
  std::vector<std::string> k, n;
  for (const KeyState& s : keys) k.push_back(KeyStateJson(s));
  for (const NamespaceState& s : namespaces) n.push_back(NamespaceStateJson(s));
  return absl::StrCat("{", owner.empty() ? "" : "\"app\":",
                      owner.empty() ? "" : JsonQuote(owner) + ",",
                      "\"subscriptions\":[", absl::StrJoin(k, ","),
                      "],\"namespaces\":[", absl::StrJoin(n, ","), "]", extra,
                      "}\n");
}

// The request's owner: the body's "app", else the header, else "default"
// unless `explicit_only` (then neither is an error).
absl::StatusOr<std::string> OwnerOf(const HttpRequest& request,
                                    bool explicit_only) {
  const std::string header = request.Header(kOwnerHeader);
  std::string owner;
  KESS_ASSIGN_OR_RETURN(Poco::JSON::Object::Ptr obj,
                        ParseJsonObject(request.body));
  try {
    if (obj->has("app")) {
      if (!obj->get("app").isString()) {
        return absl::InvalidArgumentError("\"app\" must be a string");
      }
      owner = obj->getValue<std::string>("app");
    }
  } catch (const Poco::Exception& e) {
    return absl::InvalidArgumentError("bad \"app\": " + e.displayText());
  }
  if (!owner.empty() && !header.empty() && owner != header) {
    return absl::InvalidArgumentError(
        "\"app\" and the X-Kess-App header name different applications");
  }
  if (owner.empty()) owner = header;
  if (owner.empty() && explicit_only) {
    return absl::InvalidArgumentError(
        "say whose subscriptions to remove: \"app\" in the body or the "
        "X-Kess-App header (\"default\" for subscriptions made without one)");
  }
  if (owner.empty()) owner = kDefaultOwner;
  KESS_RETURN_IF_ERROR(ValidateOwner(owner));
  return owner;
}

// Owner and subscription of a POST or DELETE body; `what` must name
// something.
absl::Status ParseRequest(const HttpRequest& request, bool explicit_owner,
                          std::string* owner, Subscription* what) {
  KESS_ASSIGN_OR_RETURN(*what, ParseSubscription(request.body));
  if (what->empty()) {
    return absl::InvalidArgumentError(
        "nothing to (un)subscribe: give \"configs\", \"routes\" and/or "
        "\"namespaces\"");
  }
  KESS_ASSIGN_OR_RETURN(*owner, OwnerOf(request, explicit_owner));
  return absl::OkStatus();
}

}  // namespace

void RegisterSubscriptionsApi(HttpRoutes* server, Agent* agent,
                              absl::Duration subscribe_wait) {
  server->Handle(
      "POST", "/v1/subscriptions",
      [agent, subscribe_wait,
       waiting = std::make_shared<std::atomic<int>>(0)](
          const HttpRequest& request) {
        std::string owner;
        Subscription what;
        absl::Status parsed = ParseRequest(request, false, &owner, &what);
        if (!parsed.ok()) return HttpResponse::Error(parsed);
        // A blocking handler holds a worker thread while it waits; the
        // workers are shared with every other endpoint (TTL check updates).
        // Beyond kMaxSubscribeWaits at once a POST answers without waiting
        // (its keys are fetched all the same; "cached" says what is there).
        const bool wait = waiting->fetch_add(1) < kMaxSubscribeWaits;
        absl::Status status = agent->Subscribe(
            owner, what, wait ? subscribe_wait : absl::ZeroDuration());
        waiting->fetch_sub(1);
        if (!status.ok()) return HttpResponse::Error(status);
        return HttpResponse::Json(
            200, StatesJson(owner,
                            agent->Keys(std::vector<CacheKey>(
                                what.keys.begin(), what.keys.end())),
                            agent->Namespaces(what.namespaces), ""));
      });
  server->Handle(
      "DELETE", "/v1/subscriptions", [agent](const HttpRequest& request) {
        std::string owner;
        Subscription what;
        // No default owner here: one application must not remove another's
        // subscriptions by leaving its name out.
        absl::Status parsed = ParseRequest(request, true, &owner, &what);
        if (!parsed.ok()) return HttpResponse::Error(parsed);
        absl::StatusOr<Subscription> removed = agent->Unsubscribe(owner, what);
        if (!removed.ok()) return HttpResponse::Error(removed.status());
        // What another owner still holds stays subscribed (and listed).
        std::vector<CacheKey> held;
        for (const CacheKey& k : what.keys) {
          if (!removed->keys.count(k) && !agent->OwnersOfKey(k).empty()) {
            held.push_back(k);
          }
        }
        std::set<std::string> held_namespaces;
        for (const std::string& ns : what.namespaces) {
          if (!removed->namespaces.count(ns) &&
              !agent->OwnersOfNamespace(ns).empty()) {
            held_namespaces.insert(ns);
          }
        }
        return HttpResponse::Json(
            200, StatesJson(owner, agent->Keys(held),
                            agent->Namespaces(held_namespaces),
                            absl::StrCat(",\"unsubscribed\":",
                                         SubscriptionToJson(*removed))));
      });
  server->Handle("GET", "/v1/subscriptions", [agent](const HttpRequest&) {
    std::vector<std::string> owners;
    for (const auto& [owner, s] : agent->Owners()) {
      owners.push_back(
          absl::StrCat(JsonQuote(owner), ":", SubscriptionToJson(s)));
    }
    return HttpResponse::Json(
        200, StatesJson("", agent->Keys(), agent->Namespaces(),
                        absl::StrCat(",\"owners\":{",
                                     absl::StrJoin(owners, ","), "}")));
  });
}

}  // namespace agent
}  // namespace kess
