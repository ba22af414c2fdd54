#include "mandator/routes/override_store.h"

#include <utility>

#include "Poco/JSON/Object.h"
#include "absl/strings/str_cat.h"
#include "common/json_util.h"
#include "model/names.h"
#include "model/route_table.h"
#include "glog/logging.h"
#include "zk_schema/zk_errors.h"

namespace kess {
namespace mandator {
namespace routes {
namespace {

constexpr int kAttempts = 5;

bool Empty(const InstanceOverride& o) {
  return !o.weight.has_value() && !o.disabled;
}

}  // namespace

std::string OverridesToJson(
    const std::map<std::string, InstanceOverride>& overrides) {
  std::string out = "{\"instances\":{";
  bool first = true;
  for (const auto& [id, o] : overrides) {
    absl::StrAppend(&out, first ? "" : ",", JsonQuote(id), ":{");
    first = false;
    bool first_field = true;
    if (o.weight.has_value()) {
      absl::StrAppend(&out, "\"weight\":", *o.weight);
      first_field = false;
    }
    if (o.disabled)
      absl::StrAppend(&out, first_field ? "" : ",", "\"disabled\":true");
    out += "}";
  }
  out += "}}";
  return out;
}

absl::StatusOr<std::map<std::string, InstanceOverride>> OverridesFromJson(
    const std::string& json) {
  KESS_ASSIGN_OR_RETURN(Poco::JSON::Object::Ptr root, ParseJsonObject(json));
  std::map<std::string, InstanceOverride> out;
  Poco::JSON::Object::Ptr instances = root->getObject("instances");
  if (instances.isNull()) return out;
  for (const auto& [id, value] : *instances) {
    KESS_RETURN_IF_ERROR(ValidateName(NameKind::kKey, id));
    Poco::JSON::Object::Ptr o = instances->getObject(id);
    if (o.isNull()) {
      return absl::InvalidArgumentError(
          absl::StrCat("override of ", id, " is not an object"));
    }
    InstanceOverride parsed;
    try {
      if (o->has("weight") && !o->isNull("weight")) {
        const int weight = o->getValue<int>("weight");
        if (weight < 1 || weight > kMaxInstanceWeight) {
          return absl::InvalidArgumentError(
              absl::StrCat("weight ", weight, " of ", id, " is not in 1..",
                           kMaxInstanceWeight));
        }
        parsed.weight = weight;
      }
      if (o->has("disabled")) parsed.disabled = o->getValue<bool>("disabled");
    } catch (const Poco::Exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat("override of ", id, ": ", e.displayText()));
    }
    if (!Empty(parsed)) out[id] = parsed;
  }
  return out;
}

OverrideStore::OverrideStore(zk::ZkApi* zk, zk::Layout layout, zk::AclList acl)
    : zk_(zk), layout_(std::move(layout)), acl_(std::move(acl)) {}

absl::StatusOr<Overrides> OverrideStore::Current() {
  {
    absl::MutexLock lock(&mu_);
    if (cache_.has_value()) return *cache_;
  }
  KESS_ASSIGN_OR_RETURN(Overrides loaded, Load());
  absl::MutexLock lock(&mu_);
  cache_ = loaded;
  return loaded;
}

void OverrideStore::Invalidate() {
  absl::MutexLock lock(&mu_);
  cache_.reset();
}

absl::StatusOr<Overrides> OverrideStore::Load() {
  Overrides out;
  absl::StatusOr<zk::ChildrenResult> children = zk_->GetChildren(Dir());
  if (absl::IsNotFound(children.status())) return out;
  KESS_RETURN_IF_ERROR(children.status());
  for (const std::string& service : children->children) {
    const std::string path = absl::StrCat(Dir(), "/", service);
    absl::StatusOr<zk::GetResult> node = zk_->Get(path);
    if (absl::IsNotFound(node.status())) continue;
    KESS_RETURN_IF_ERROR(node.status());
    absl::StatusOr<std::map<std::string, InstanceOverride>> parsed =
        OverridesFromJson(node->data);
    if (!parsed.ok()) {
      // Never silently drop an operator's decision: the leader must not
      // build tables without it.
      return absl::DataLossError(
          absl::StrCat("override record ", path,
                       " is unreadable: ", parsed.status().message()));
    }
    if (!parsed->empty()) out[service] = *std::move(parsed);
  }
  return out;
}

absl::Status OverrideStore::Set(const std::string& service,
                                const std::string& id,
                                std::optional<InstanceOverride> value,
                                const std::string& fence) {
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kService, service));
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kKey, id));
  if (value.has_value() && value->weight.has_value() &&
      (*value->weight < 1 || *value->weight > kMaxInstanceWeight)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "weight ", *value->weight, " is not in 1..", kMaxInstanceWeight));
  }
  if (fence.empty()) {
    return absl::UnavailableError(
        "this mandator is not the leader; nothing was written");
  }
  absl::Status created =
      zk_->Create(Dir(), "", zk::CreateMode::kPersistent, acl_).status();
  if (!created.ok() && !absl::IsAlreadyExists(created)) return created;
  const std::string path = absl::StrCat(Dir(), "/", service);
  absl::Status last;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    std::map<std::string, InstanceOverride> current;
    int version = -1;  // -1: the node does not exist
    absl::StatusOr<zk::GetResult> node = zk_->Get(path);
    if (node.ok()) {
      KESS_ASSIGN_OR_RETURN(current, OverridesFromJson(node->data));
      version = node->stat.version;
    } else if (!absl::IsNotFound(node.status())) {
      return node.status();
    }
    if (value.has_value() && !Empty(*value)) {
      current[id] = *value;
    } else {
      current.erase(id);
    }
    zk::MultiOps ops;
    ops.Check(fence, zk::kAnyVersion);
    if (version < 0) {
      if (current.empty()) break;  // nothing to remove
      ops.Create(path, OverridesToJson(current), zk::CreateMode::kPersistent,
                 acl_);
    } else if (current.empty()) {
      ops.Delete(path, version);
    } else {
      ops.Set(path, OverridesToJson(current), version);
    }
    absl::StatusOr<std::vector<zk::OpResult>> done = zk_->Multi(ops);
    if (done.ok()) {
      last = absl::OkStatus();
      break;
    }
    std::optional<int> failed = zk::MultiFailedOp(done.status());
    if (failed.has_value() && *failed == 0) {
      return absl::UnavailableError(
          "this mandator is no longer the leader; the override was not "
          "written");
    }
    last = done.status();
    if (!absl::IsAborted(last) && !absl::IsAlreadyExists(last) &&
        !absl::IsNotFound(last)) {
      return last;  // not a race with another writer
    }
  }
  KESS_RETURN_IF_ERROR(last);
  Invalidate();  // re-read once, so the cache is exactly what ZK holds
  return Current().status();
}

}  // namespace routes
}  // namespace mandator
}  // namespace kess
