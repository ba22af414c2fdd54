#include "agent/subscription_set.h"

#include "Poco/Exception.h"
#include "Poco/JSON/Array.h"
#include "absl/strings/str_cat.h"
#include "common/json_util.h"

namespace kess {
namespace agent {

absl::StatusOr<std::vector<CacheKey>> ParseKeyList(const std::string& json) {
  KESS_ASSIGN_OR_RETURN(Poco::JSON::Object::Ptr obj, ParseJsonObject(json));
  std::vector<CacheKey> keys;
  try {
    if (obj->has("configs")) {
      Poco::JSON::Array::Ptr configs = obj->getArray("configs");
      if (configs.isNull()) {
        return absl::InvalidArgumentError("\"configs\" must be an array");
      }
      for (size_t i = 0; i < configs->size(); ++i) {
        Poco::JSON::Object::Ptr c = configs->getObject(i);
        if (c.isNull() || !c->has("namespace") || !c->has("key") ||
            !c->get("namespace").isString() || !c->get("key").isString()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "configs[", i,
              "] must be {\"namespace\": string, \"key\": string}"));
        }
        keys.push_back(CacheKey::Config(c->getValue<std::string>("namespace"),
                                        c->getValue<std::string>("key")));
      }
    }
    if (obj->has("routes")) {
      Poco::JSON::Array::Ptr routes = obj->getArray("routes");
      if (routes.isNull()) {
        return absl::InvalidArgumentError("\"routes\" must be an array");
      }
      for (size_t i = 0; i < routes->size(); ++i) {
        if (!routes->get(i).isString()) {
          return absl::InvalidArgumentError(
              absl::StrCat("routes[", i, "] must be a string"));
        }
        keys.push_back(CacheKey::Route(routes->getElement<std::string>(i)));
      }
    }
  } catch (const Poco::Exception& e) {
    return absl::InvalidArgumentError("bad subscription list: " +
                                      e.displayText());
  }
  for (const CacheKey& key : keys) {
    KESS_RETURN_IF_ERROR(file_cache::ValidateKey(key));
  }
  return keys;
}

std::string KeyListToJson(const std::set<CacheKey>& keys) {
  std::string configs, routes;
  for (const CacheKey& k : keys) {
    if (k.type == CacheKey::Type::kConfig) {
      absl::StrAppend(&configs, configs.empty() ? "" : ",",
                      "{\"namespace\":", JsonQuote(k.namespace_name),
                      ",\"key\":", JsonQuote(k.key), "}");
    } else {
      absl::StrAppend(&routes, routes.empty() ? "" : ",", JsonQuote(k.service));
    }
  }
  return absl::StrCat("{\"configs\":[", configs, "],\"routes\":[", routes,
                      "]}\n");
}

absl::StatusOr<std::unique_ptr<SubscriptionSet>> SubscriptionSet::Load(
    file_cache::Env* env, const std::string& cache_dir) {
  std::unique_ptr<SubscriptionSet> set(
      new SubscriptionSet(env, cache_dir + "/subscriptions.json"));
  absl::StatusOr<std::string> text = env->ReadFile(set->path_);
  if (absl::IsNotFound(text.status())) return set;
  KESS_RETURN_IF_ERROR(text.status());
  absl::StatusOr<std::vector<CacheKey>> keys = ParseKeyList(*text);
  if (!keys.ok()) {
    return absl::DataLossError(
        absl::StrCat(set->path_, ": ", keys.status().message()));
  }
  absl::MutexLock lock(&set->mu_);
  set->keys_.insert(keys->begin(), keys->end());
  return set;
}

absl::StatusOr<std::vector<CacheKey>> SubscriptionSet::Add(
    const std::vector<CacheKey>& keys) {
  absl::MutexLock lock(&mu_);
  std::set<CacheKey> next = keys_;
  std::vector<CacheKey> added;
  for (const CacheKey& k : keys) {
    if (next.insert(k).second) added.push_back(k);
  }
  if (added.empty()) return added;
  KESS_RETURN_IF_ERROR(
      file_cache::WriteFileAtomically(env_, path_, KeyListToJson(next)));
  keys_ = std::move(next);
  return added;
}

void SubscriptionSet::AddLoaded(const CacheKey& key) {
  absl::MutexLock lock(&mu_);
  keys_.insert(key);
}

std::set<CacheKey> SubscriptionSet::Keys() const {
  absl::MutexLock lock(&mu_);
  return keys_;
}

bool SubscriptionSet::Contains(const CacheKey& key) const {
  absl::MutexLock lock(&mu_);
  return keys_.count(key) > 0;
}

size_t SubscriptionSet::size() const {
  absl::MutexLock lock(&mu_);
  return keys_.size();
}

}  // namespace agent
}  // namespace kess
