#include "agent/subscription_set.h"

#include <algorithm>
#include <utility>

#include "Poco/Exception.h"
#include "Poco/JSON/Array.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "common/json_util.h"
#include "model/names.h"

namespace kess {
namespace agent {
namespace {

// Parses configs/routes/namespaces of `obj` into `out` (keys in body order
// into `ordered` too).
absl::Status ParseInto(const Poco::JSON::Object::Ptr& obj, Subscription* out,
                       std::vector<CacheKey>* ordered) {
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
        ordered->push_back(
            CacheKey::Config(c->getValue<std::string>("namespace"),
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
        ordered->push_back(CacheKey::Route(routes->getElement<std::string>(i)));
      }
    }
    if (obj->has("namespaces")) {
      Poco::JSON::Array::Ptr namespaces = obj->getArray("namespaces");
      if (namespaces.isNull()) {
        return absl::InvalidArgumentError("\"namespaces\" must be an array");
      }
      for (size_t i = 0; i < namespaces->size(); ++i) {
        if (!namespaces->get(i).isString()) {
          return absl::InvalidArgumentError(
              absl::StrCat("namespaces[", i, "] must be a string"));
        }
        const std::string ns = namespaces->getElement<std::string>(i);
        KESS_RETURN_IF_ERROR(ValidateName(NameKind::kNamespace, ns));
        out->namespaces.insert(ns);
      }
    }
  } catch (const Poco::Exception& e) {
    return absl::InvalidArgumentError("bad subscription list: " +
                                      e.displayText());
  }
  for (const CacheKey& key : *ordered) {
    KESS_RETURN_IF_ERROR(file_cache::ValidateKey(key));
    out->keys.insert(key);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Subscription> ParseSubscription(const std::string& json) {
  KESS_ASSIGN_OR_RETURN(Poco::JSON::Object::Ptr obj, ParseJsonObject(json));
  Subscription out;
  std::vector<CacheKey> ordered;
  KESS_RETURN_IF_ERROR(ParseInto(obj, &out, &ordered));
  return out;
}

absl::StatusOr<std::vector<CacheKey>> ParseKeyList(const std::string& json) {
  KESS_ASSIGN_OR_RETURN(Poco::JSON::Object::Ptr obj, ParseJsonObject(json));
  Subscription out;
  std::vector<CacheKey> ordered;
  KESS_RETURN_IF_ERROR(ParseInto(obj, &out, &ordered));
  return ordered;
}

std::string SubscriptionToJson(const Subscription& subscription) {
  std::vector<std::string> configs, routes, namespaces;
  for (const CacheKey& k : subscription.keys) {
    if (k.type == CacheKey::Type::kConfig) {
      configs.push_back(absl::StrCat("{\"namespace\":",
                                     JsonQuote(k.namespace_name),
                                     ",\"key\":", JsonQuote(k.key), "}"));
    } else {
      routes.push_back(JsonQuote(k.service));
    }
  }
  for (const std::string& ns : subscription.namespaces) {
    namespaces.push_back(JsonQuote(ns));
  }
  return absl::StrCat("{\"configs\":[", absl::StrJoin(configs, ","),
                      "],\"routes\":[", absl::StrJoin(routes, ","),
                      "],\"namespaces\":[", absl::StrJoin(namespaces, ","),
                      "]}");
}

absl::Status ValidateOwner(const std::string& owner) {
  // The same character rules as every kess name.
  absl::Status valid = ValidateName(NameKind::kKey, owner);
  if (valid.ok()) return valid;
  return absl::InvalidArgumentError(
      absl::StrCat("app ", JsonQuote(owner.substr(0, kMaxNameLength)),
                   " is invalid (allowed: A-Z a-z 0-9 . _ -, 1..",
                   kMaxNameLength, " bytes): ", valid.message()));
}

absl::StatusOr<std::unique_ptr<SubscriptionSet>> SubscriptionSet::Load(
    file_cache::Env* env, const std::string& cache_dir, absl::Duration grace) {
  std::unique_ptr<SubscriptionSet> set(
      new SubscriptionSet(env, cache_dir + "/subscriptions.json", grace));
  absl::StatusOr<std::string> text = env->ReadFile(set->path_);
  if (absl::IsNotFound(text.status())) return set;
  KESS_RETURN_IF_ERROR(text.status());
  set->loaded_from_file_ = true;
  auto corrupt = [&set](const absl::Status& status) {
    return absl::DataLossError(
        absl::StrCat(set->path_, ": ", status.message()));
  };
  absl::StatusOr<Poco::JSON::Object::Ptr> obj = ParseJsonObject(*text);
  if (!obj.ok()) return corrupt(obj.status());
  std::map<std::string, Subscription> owners;
  LingerSet lingering;
  const int64_t now_ms = env->NowMs();
  const int64_t grace_ms = absl::ToInt64Milliseconds(grace);
  try {
    if ((*obj)->has("lingering")) {
      Poco::JSON::Object::Ptr by_deadline = (*obj)->getObject("lingering");
      if (by_deadline.isNull()) {
        return corrupt(
            absl::InvalidArgumentError("\"lingering\" is no object"));
      }
      for (const auto& [deadline, value] : *by_deadline) {
        int64_t until_ms = 0;
        if (!absl::SimpleAtoi(deadline, &until_ms)) {
          return corrupt(absl::InvalidArgumentError(
              absl::StrCat("lingering deadline ", deadline, " is no number")));
        }
        Poco::JSON::Object::Ptr one = by_deadline->getObject(deadline);
        if (one.isNull()) {
          return corrupt(absl::InvalidArgumentError(
              absl::StrCat("lingering ", deadline, " is no object")));
        }
        Subscription s;
        std::vector<CacheKey> ordered;
        absl::Status parsed = ParseInto(one, &s, &ordered);
        if (!parsed.ok()) return corrupt(parsed);
        // Due while the agent was down: released (the new session does not
        // subscribe it). A deadline beyond now + grace (the clock went
        // back, or a shorter grace now) is brought within it.
        if (until_ms <= now_ms) continue;
        until_ms = std::min(until_ms, now_ms + grace_ms);
        for (const CacheKey& k : s.keys) lingering.keys[k] = until_ms;
        for (const std::string& ns : s.namespaces) {
          lingering.namespaces[ns] = until_ms;
        }
      }
    }
    if ((*obj)->has("owners")) {
      Poco::JSON::Object::Ptr by_owner = (*obj)->getObject("owners");
      if (by_owner.isNull()) {
        return corrupt(absl::InvalidArgumentError("\"owners\" is no object"));
      }
      for (const auto& [owner, value] : *by_owner) {
        absl::Status owner_ok = ValidateOwner(owner);
        if (!owner_ok.ok()) return corrupt(owner_ok);
        Poco::JSON::Object::Ptr one = by_owner->getObject(owner);
        if (one.isNull()) {
          return corrupt(absl::InvalidArgumentError(
              absl::StrCat("owner ", owner, " is no object")));
        }
        std::vector<CacheKey> ordered;
        absl::Status parsed = ParseInto(one, &owners[owner], &ordered);
        if (!parsed.ok()) return corrupt(parsed);
      }
    } else {
      // Written before owners: everything belongs to the default owner.
      std::vector<CacheKey> ordered;
      absl::Status parsed = ParseInto(*obj, &owners[kDefaultOwner], &ordered);
      if (!parsed.ok()) return corrupt(parsed);
    }
  } catch (const Poco::Exception& e) {
    return corrupt(absl::InvalidArgumentError(e.displayText()));
  }
  for (auto it = owners.begin(); it != owners.end();) {
    it = it->second.empty() ? owners.erase(it) : std::next(it);
  }
  // What an owner holds does not linger.
  for (const auto& [owner, s] : owners) {
    for (const CacheKey& k : s.keys) lingering.keys.erase(k);
    for (const std::string& ns : s.namespaces) lingering.namespaces.erase(ns);
  }
  absl::MutexLock lock(&set->mu_);
  set->all_ = Union(owners, lingering);
  set->owners_ = std::move(owners);
  set->lingering_ = std::move(lingering);
  return set;
}

Subscription SubscriptionSet::Union(
    const std::map<std::string, Subscription>& owners,
    const LingerSet& lingering) {
  Subscription all;
  for (const auto& [owner, s] : owners) {
    all.keys.insert(s.keys.begin(), s.keys.end());
    all.namespaces.insert(s.namespaces.begin(), s.namespaces.end());
  }
  for (const auto& [k, until] : lingering.keys) all.keys.insert(k);
  for (const auto& [ns, until] : lingering.namespaces) {
    all.namespaces.insert(ns);
  }
  return all;
}

std::string SubscriptionSet::ToFileJson(
    const std::map<std::string, Subscription>& owners,
    const LingerSet& lingering) const {
  std::string all = SubscriptionToJson(Union(owners, {}));
  all.pop_back();  // the closing brace
  std::vector<std::string> parts;
  for (const auto& [owner, s] : owners) {
    parts.push_back(
        absl::StrCat(JsonQuote(owner), ":", SubscriptionToJson(s)));
  }
  std::string out = absl::StrCat(all, ",\"owners\":{",
                                 absl::StrJoin(parts, ","), "}");
  if (lingering.size() > 0) {
    std::map<int64_t, Subscription> by_deadline;
    for (const auto& [k, until] : lingering.keys) {
      by_deadline[until].keys.insert(k);
    }
    for (const auto& [ns, until] : lingering.namespaces) {
      by_deadline[until].namespaces.insert(ns);
    }
    std::vector<std::string> deadlines;
    for (const auto& [until, s] : by_deadline) {
      deadlines.push_back(
          absl::StrCat("\"", until, "\":", SubscriptionToJson(s)));
    }
    absl::StrAppend(&out, ",\"lingering\":{", absl::StrJoin(deadlines, ","),
                    "}");
  }
  return absl::StrCat(out, "}\n");
}

absl::Status SubscriptionSet::Commit(std::map<std::string, Subscription> next,
                                     LingerSet lingering) {
  for (auto it = next.begin(); it != next.end();) {
    it = it->second.empty() ? next.erase(it) : std::next(it);
  }
  KESS_RETURN_IF_ERROR(file_cache::WriteFileAtomically(
      env_, path_, ToFileJson(next, lingering)));
  all_ = Union(next, lingering);
  owners_ = std::move(next);
  lingering_ = std::move(lingering);
  return absl::OkStatus();
}

absl::StatusOr<Subscription> SubscriptionSet::Add(const std::string& owner,
                                                  const Subscription& what) {
  absl::MutexLock lock(&mu_);
  Subscription added;
  for (const CacheKey& k : what.keys) {
    if (!all_.keys.count(k)) added.keys.insert(k);
  }
  for (const std::string& ns : what.namespaces) {
    if (!all_.namespaces.count(ns)) added.namespaces.insert(ns);
  }
  auto current = owners_.find(owner);
  // Taken again within the grace period: no longer lingering (and already
  // subscribed upstream, so not in `added`).
  LingerSet lingering = lingering_;
  for (const CacheKey& k : what.keys) lingering.keys.erase(k);
  for (const std::string& ns : what.namespaces) lingering.namespaces.erase(ns);
  if (current != owners_.end() && lingering.size() == lingering_.size()) {
    const Subscription& mine = current->second;
    if (std::includes(mine.keys.begin(), mine.keys.end(), what.keys.begin(),
                      what.keys.end()) &&
        std::includes(mine.namespaces.begin(), mine.namespaces.end(),
                      what.namespaces.begin(), what.namespaces.end())) {
      return added;  // nothing new for this owner: no write
    }
  }
  if (current == owners_.end() && owners_.size() >= kMaxOwners) {
    return absl::ResourceExhaustedError(absl::StrCat(
        owners_.size(), " applications hold subscriptions already (at most ",
        kMaxOwners, "); unsubscribe the ones that are gone"));
  }
  std::map<std::string, Subscription> next = owners_;
  Subscription& mine = next[owner];
  mine.keys.insert(what.keys.begin(), what.keys.end());
  mine.namespaces.insert(what.namespaces.begin(), what.namespaces.end());
  if (mine.size() > kMaxPerOwner) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "app ", owner, " would hold ", mine.size(),
        " keys and namespaces (at most ", kMaxPerOwner, ")"));
  }
  KESS_RETURN_IF_ERROR(Commit(std::move(next), std::move(lingering)));
  return added;
}

absl::StatusOr<Subscription> SubscriptionSet::Remove(
    const std::string& owner, const Subscription& what) {
  absl::MutexLock lock(&mu_);
  Subscription removed;
  auto current = owners_.find(owner);
  if (current == owners_.end()) return removed;
  std::map<std::string, Subscription> next = owners_;
  Subscription& mine = next[owner];
  size_t erased = 0;
  for (const CacheKey& k : what.keys) erased += mine.keys.erase(k);
  for (const std::string& ns : what.namespaces) {
    erased += mine.namespaces.erase(ns);
  }
  if (erased == 0) return removed;
  const Subscription rest = Union(next, {});
  for (const CacheKey& k : what.keys) {
    if (all_.keys.count(k) && !rest.keys.count(k)) removed.keys.insert(k);
  }
  for (const std::string& ns : what.namespaces) {
    if (all_.namespaces.count(ns) && !rest.namespaces.count(ns)) {
      removed.namespaces.insert(ns);
    }
  }
  LingerSet lingering = lingering_;
  if (grace_ > absl::ZeroDuration()) {
    const int64_t until = env_->NowMs() + absl::ToInt64Milliseconds(grace_);
    for (const CacheKey& k : removed.keys) lingering.keys[k] = until;
    for (const std::string& ns : removed.namespaces) {
      lingering.namespaces[ns] = until;
    }
  }
  KESS_RETURN_IF_ERROR(Commit(std::move(next), std::move(lingering)));
  return removed;
}

absl::StatusOr<Subscription> SubscriptionSet::Expire() {
  absl::MutexLock lock(&mu_);
  Subscription expired;
  if (lingering_.size() == 0) return expired;
  const int64_t now_ms = env_->NowMs();
  // Beyond kMaxLingering, the ones due first go now.
  int64_t cutoff = now_ms;
  if (lingering_.size() > kMaxLingering) {
    std::vector<int64_t> deadlines;
    for (const auto& [k, until] : lingering_.keys) deadlines.push_back(until);
    for (const auto& [ns, until] : lingering_.namespaces) {
      deadlines.push_back(until);
    }
    const size_t over = lingering_.size() - kMaxLingering;
    std::nth_element(deadlines.begin(), deadlines.begin() + (over - 1),
                     deadlines.end());
    cutoff = std::max(cutoff, deadlines[over - 1]);
  }
  LingerSet rest;
  for (const auto& [k, until] : lingering_.keys) {
    if (until <= cutoff) {
      expired.keys.insert(k);
    } else {
      rest.keys[k] = until;
    }
  }
  for (const auto& [ns, until] : lingering_.namespaces) {
    if (until <= cutoff) {
      expired.namespaces.insert(ns);
    } else {
      rest.namespaces[ns] = until;
    }
  }
  if (expired.empty()) return expired;
  KESS_RETURN_IF_ERROR(Commit(owners_, std::move(rest)));
  return expired;
}

int64_t SubscriptionSet::NextExpiryMs() const {
  absl::MutexLock lock(&mu_);
  int64_t next = 0;
  for (const auto& [k, until] : lingering_.keys) {
    if (next == 0 || until < next) next = until;
  }
  for (const auto& [ns, until] : lingering_.namespaces) {
    if (next == 0 || until < next) next = until;
  }
  if (lingering_.size() > kMaxLingering) next = std::min<int64_t>(next, 1);
  return next;
}

Subscription SubscriptionSet::Lingering() const {
  absl::MutexLock lock(&mu_);
  Subscription out;
  for (const auto& [k, until] : lingering_.keys) out.keys.insert(k);
  for (const auto& [ns, until] : lingering_.namespaces) {
    out.namespaces.insert(ns);
  }
  return out;
}

void SubscriptionSet::AddLoaded(const CacheKey& key) {
  absl::MutexLock lock(&mu_);
  owners_[kDefaultOwner].keys.insert(key);
  all_.keys.insert(key);
}

std::set<CacheKey> SubscriptionSet::Keys() const {
  absl::MutexLock lock(&mu_);
  return all_.keys;
}

std::set<std::string> SubscriptionSet::Namespaces() const {
  absl::MutexLock lock(&mu_);
  return all_.namespaces;
}

std::map<std::string, Subscription> SubscriptionSet::Owners() const {
  absl::MutexLock lock(&mu_);
  return owners_;
}

std::vector<std::string> SubscriptionSet::OwnersOf(const CacheKey& key) const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const auto& [owner, s] : owners_) {
    if (s.keys.count(key)) out.push_back(owner);
  }
  return out;
}

std::vector<std::string> SubscriptionSet::OwnersOfNamespace(
    const std::string& ns) const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const auto& [owner, s] : owners_) {
    if (s.namespaces.count(ns)) out.push_back(owner);
  }
  return out;
}

bool SubscriptionSet::Contains(const CacheKey& key) const {
  absl::MutexLock lock(&mu_);
  return all_.keys.count(key) > 0 ||
         (key.type == CacheKey::Type::kConfig &&
          all_.namespaces.count(key.namespace_name) > 0);
}

bool SubscriptionSet::ContainsNamespace(const std::string& ns) const {
  absl::MutexLock lock(&mu_);
  return all_.namespaces.count(ns) > 0;
}

size_t SubscriptionSet::size() const {
  absl::MutexLock lock(&mu_);
  return all_.size();
}

}  // namespace agent
}  // namespace kess
