#include "distributor/read_guard.h"

#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "distributor/payload.h"
#include "glog/logging.h"
#include "model/names.h"
#include "zk_schema/gray.h"

namespace kess {
namespace distributor {
namespace {

constexpr int64_t kRegisterOnly = std::numeric_limits<int64_t>::max();
constexpr char kDeniedReason[] =
    "read denied: the namespace's read ACL does not allow this connection's "
    "principal";

void AppendVarint(uint64_t value, std::string* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

// Appends a length-delimited field to a serialized message (a repeated
// field gains an element; a singular one that appears last wins).
void AppendBytesField(int field, const std::string& bytes, std::string* out) {
  AppendVarint((static_cast<uint64_t>(field) << 3) | 2, out);
  AppendVarint(bytes.size(), out);
  out->append(bytes);
}

// The host_id (1) and auth_token (3) of a serialized SubscribeRequest,
// found by walking its fields without parsing the keys (a request from a
// connection that has not authenticated may be a frame bomb of keys).
std::optional<protocol::SubscribeRequest> PeekHeader(const std::string& payload) {
  google::protobuf::io::CodedInputStream in(
      reinterpret_cast<const uint8_t*>(payload.data()),
      static_cast<int>(payload.size()));
  protocol::SubscribeRequest header;
  while (true) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) return in.ConsumedEntireMessage() ? std::optional(header)
                                                    : std::nullopt;
    const int field = google::protobuf::internal::WireFormatLite::GetTagFieldNumber(tag);
    std::string value;
    if ((field == 1 || field == 3) &&
        google::protobuf::internal::WireFormatLite::GetTagWireType(tag) ==
            google::protobuf::internal::WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      if (!google::protobuf::internal::WireFormatLite::ReadString(&in, &value)) {
        return std::nullopt;
      }
      if (field == 1) header.set_host_id(std::move(value));
      if (field == 3) header.set_auth_token(std::move(value));
      continue;
    }
    if (!google::protobuf::internal::WireFormatLite::SkipField(&in, tag)) {
      return std::nullopt;
    }
  }
}

}  // namespace

ReadGuard::ReadGuard(const DataSet* data, SubscriptionHub* hub,
                     std::function<bool()> stale, PushFn push,
                     ReadGuardOptions options)
    : data_(data),
      hub_(hub),
      stale_(std::move(stale)),
      push_(std::move(push)),
      options_(options),
      access_(data, options.access),
      registry_(options.registry != nullptr ? options.registry
                                            : &metrics::Registry::Default()) {
  for (const char* kind : {"config", "route", "namespace"}) {
    registry_->GetCounter(
        "kess_distributor_read_denied_total",
        "Keys refused to a connection by a read ACL (answers and "
        "revocations).",
        {{"kind", kind}});
  }
}

void ReadGuard::CountDenied(const std::string& key) {
  registry_
      ->GetCounter("kess_distributor_read_denied_total",
                   "Keys refused to a connection by a read ACL (answers and "
                   "revocations).",
                   {{"kind", AccessKindOf(key)}})
      ->Increment();
}

Answer ReadGuard::Subscribe(uint64_t connection, const std::string& payload,
                            const std::optional<zk::Reader>& reader) {
  if (!access_.enforce()) return hub_->Subscribe(connection, payload);
  if (!hub_->Authenticated(connection)) {
    // The hub checks the token first (without the keys), as it does for
    // every request of a connection that has not authenticated.
    std::optional<protocol::SubscribeRequest> header = PeekHeader(payload);
    if (!header.has_value()) return hub_->Subscribe(connection, payload);
    Answer checked = hub_->Subscribe(connection, header->SerializeAsString());
    if (!checked.response.ok()) return checked;
  }
  absl::MutexLock lock(&mu_);
  return Filter(connection, payload, reader, /*subscribe=*/true);
}

Answer ReadGuard::Pull(uint64_t connection, const std::string& payload,
                       const std::optional<zk::Reader>& reader) {
  if (!access_.enforce()) return hub_->Pull(connection, payload);
  absl::MutexLock lock(&mu_);
  return Filter(connection, payload, reader, /*subscribe=*/false);
}

ItemPtr ReadGuard::Current(const std::string& key,
                           const std::string& host) const {
  ItemPtr item = data_->Find(key);
  if (host.empty()) return item;
  const std::string gray_key = GrayKeyOf(key);
  if (gray_key.empty()) return item;
  ItemPtr gray = data_->Find(gray_key);
  if (gray == nullptr || gray->absent || gray->gray == nullptr) return item;
  if (gray->revision <= (item != nullptr ? item->revision : 0)) return item;
  return zk::GraySelects(*gray->gray, host) ? gray : item;
}

Answer ReadGuard::Filter(uint64_t connection, const std::string& payload,
                         const std::optional<zk::Reader>& reader,
                         bool subscribe) {
  if (!subscribe) {
    auto known = conns_.find(connection);
    if (known != conns_.end() &&
        known->second.generation == acl_generation_ &&
        known->second.last_pull == payload) {
      return hub_->Pull(connection, payload);
    }
  }
  protocol::SubscribeRequest sub;
  protocol::PullRequest pull;
  google::protobuf::RepeatedPtrField<protocol::Known>* keys = nullptr;
  if (subscribe) {
    if (!sub.ParseFromString(payload)) return hub_->Subscribe(connection, payload);
    keys = sub.mutable_keys();
  } else {
    if (!pull.ParseFromString(payload)) return hub_->Pull(connection, payload);
    keys = pull.mutable_keys();
  }
  // The request goes to the hub as it came unless something is taken out
  // or changed (the common case of a periodic pull costs no re-encoding).
  bool modified = false;
  const bool existed = conns_.contains(connection);
  Conn& c = conns_[connection];
  const bool host_principal = reader.has_value() && reader->kind == "host";
  if (!existed) {  // a connection's principal never changes
    c.reader = reader;
    c.host = host_principal ? reader->name : std::string();
  }
  if (options_.claimed_host) {
    // No principals at all: the claimed host id, as the hub takes it.
    if (subscribe) c.host = sub.host_id();
  } else if (subscribe && sub.host_id() != c.host) {
    // Gray versions go by the proven host id only.
    if (!sub.host_id().empty()) {
      LOG_EVERY_N(WARNING, 100)
          << "distributor: connection " << connection << " claims host \""
          << sub.host_id().substr(0, kMaxNameLength) << "\" but is "
          << (host_principal ? "host " + reader->name
                             : std::string("not a host principal"))
          << "; its principal's host id is used";
    }
    sub.set_host_id(c.host);
    modified = true;
  }

  // One decision per ACL key (namespace or service) of the request.
  struct Decision {
    ReadRule rule;
    bool ok = true;
    int64_t stamp = 0;
    Group* group = nullptr;
  };
  absl::flat_hash_map<std::string, Decision> decisions;
  const int64_t data_revision = data_->revision();
  std::vector<ItemPtr> extra;   // versions answered here (Stamp)
  std::vector<ItemPtr> denied;  // denied Resources
  std::vector<protocol::ResourceKey> denied_namespaces;
  std::vector<int> dropped;  // indices of refused keys
  for (int i = 0; i < keys->size(); ++i) {
    protocol::Known& k = (*keys)[i];
    const protocol::ResourceKey& rk = k.key();
    std::string key;  // canonical, unvalidated (the hub validates)
    std::string acl_key;
    switch (rk.type()) {
      case protocol::ResourceKey::CONFIG:
        key = ConfigKeyString(rk.namespace_name(), rk.key());
        acl_key = NamespaceAclKeyString(rk.namespace_name());
        break;
      case protocol::ResourceKey::NAMESPACE:
        key = NamespaceKeyString(rk.namespace_name());
        acl_key = NamespaceAclKeyString(rk.namespace_name());
        break;
      case protocol::ResourceKey::ROUTE:
        key = RouteKeyString(rk.service());
        acl_key = ServiceAclKeyString(rk.service());
        break;
      default:
        continue;  // the hub rejects it and says why
    }
    auto [it, fresh] = decisions.try_emplace(acl_key);
    Decision& d = it->second;
    if (fresh) {
      ItemPtr acl_item = data_->Find(acl_key);
      d.rule = access_.RuleOf(acl_item);
      d.ok = access_.Allows(d.rule, reader);
      d.stamp = ReadAccess::Stamp(d.rule);
      auto existing = c.groups.find(acl_key);
      if (existing != c.groups.end() && existing->second.allowed != d.ok &&
          !existing->second.keys.empty()) {
        // The ACL changed and its change has not reached OnChanges yet:
        // move every connection's keys under it now (OnChanges then finds
        // nothing left to do).
        if (acl_item == nullptr) acl_item = MakeAbsent(acl_key, data_revision);
        ApplyAclChange(acl_item);
      }
      d.group = &c.groups[acl_key];
      d.group->allowed = d.ok;
      by_acl_[acl_key].insert(connection);
    }
    if (!d.group->keys.contains(key)) d.group->keys.insert(key);
    const bool is_namespace = rk.type() == protocol::ResourceKey::NAMESPACE;
    if (!d.ok) {
      if (!CanonicalKey(rk).ok()) continue;  // the hub rejects it
      modified = true;
      dropped.push_back(i);
      CountDenied(key);
      const int64_t at = d.stamp > 0 ? d.stamp : data_revision;
      if (is_namespace) {
        denied_namespaces.push_back(rk);
        for (const protocol::HeldKey& h : k.held()) {
          if (h.revision() <= 0 || h.revision() >= at || h.absent()) continue;
          if (!ValidateName(NameKind::kKey, h.key()).ok()) continue;
          denied.push_back(
              MakeDenied(ConfigKeyString(rk.namespace_name(), h.key()), at));
        }
      } else {
        // At `at` to drop a copy older than the refusal; at 0 (nothing to
        // drop) otherwise, so repeated pulls rewrite nothing.
        denied.push_back(MakeDenied(
            key, k.revision() > 0 && k.revision() < at ? at : 0));
      }
      continue;
    }
    if (d.stamp <= 0) continue;
    // A version older than the ACL and than the agent's copy (a tombstone
    // from an earlier refusal): answered here at the ACL's revision. Only
    // a copy older than the ACL can need it, so most keys skip the lookup.
    auto stamped = [&](const ItemPtr& item, int64_t have) {
      return item != nullptr && !item->absent && item->revision < d.stamp &&
             have > item->revision && have < d.stamp;
    };
    if (is_namespace) {
      for (protocol::HeldKey& h : *k.mutable_held()) {
        if (h.revision() <= 0 || h.revision() >= d.stamp) continue;
        if (!ValidateName(NameKind::kKey, h.key()).ok()) continue;
        ItemPtr item =
            Current(ConfigKeyString(rk.namespace_name(), h.key()), c.host);
        if (stamped(item, h.revision())) {
          extra.push_back(Restamp(item, d.stamp));
          h.set_revision(kRegisterOnly);
          h.set_absent(false);
          modified = true;
        }
      }
    } else if (k.revision() > 0 && k.revision() < d.stamp) {
      ItemPtr item = Current(key, c.host);
      if (stamped(item, k.revision())) {
        extra.push_back(Restamp(item, d.stamp));
        k.set_revision(kRegisterOnly);
        modified = true;
      }
    }
  }
  if (!dropped.empty()) {
    google::protobuf::RepeatedPtrField<protocol::Known> kept;
    size_t next = 0;
    for (int i = 0; i < keys->size(); ++i) {
      if (next < dropped.size() && dropped[next] == i) {
        ++next;
        continue;
      }
      *kept.Add() = std::move((*keys)[i]);
    }
    *keys = std::move(kept);
  }
  // The parsed request goes on (no second parse, no re-encoding).
  Answer answer = subscribe ? hub_->SubscribeParsed(connection, sub)
                            : hub_->PullParsed(connection, pull);
  if (!answer.response.ok()) {
    if (!existed) {
      for (const auto& [acl_key, group] : c.groups) {
        auto it = by_acl_.find(acl_key);
        if (it == by_acl_.end()) continue;
        it->second.erase(connection);
        if (it->second.empty()) by_acl_.erase(it);
      }
      conns_.erase(connection);
    }
    return answer;
  }
  if (!subscribe && !modified) {
    c.last_pull = payload;
    c.generation = acl_generation_;
  } else {
    c.last_pull.clear();
  }
  if (!denied_namespaces.empty()) {
    for (const protocol::ResourceKey& k : denied_namespaces) {
      AppendBytesField(4, k.SerializeAsString(), &answer.response.value());
    }
    AppendBytesField(5, kDeniedReason, &answer.response.value());
  }
  for (std::vector<ItemPtr>* items : {&extra, &denied}) {
    for (std::string& p : Pack(*items)) answer.followups.push_back(std::move(p));
  }
  return answer;
}

std::vector<std::string> ReadGuard::Pack(
    const std::vector<ItemPtr>& items) const {
  if (items.empty()) return {};
  protocol::UpdatePush header;
  header.set_revision(data_->revision());
  header.set_stale(stale_());
  const std::string h = header.SerializeAsString();
  Packed packed =
      PackResources(h, h, items, options_.max_payload_bytes - kMaxVarintFieldBytes,
                    options_.budget_bytes);
  if (packed.deferred > 0) MarkDeferred(&packed, /*first_is_response=*/false);
  return std::move(packed.payloads);
}

void ReadGuard::SubscribeAtHub(uint64_t connection,
                               const absl::flat_hash_set<std::string>& keys) {
  protocol::PullRequest request;
  for (const std::string& key : keys) {
    protocol::Known* k = request.add_keys();
    *k->mutable_key() = ParseKeyString(key);
    const std::string ns = NamespaceOfKey(key);
    if (ns.empty()) {
      k->set_revision(kRegisterOnly);
      continue;
    }
    k->mutable_key()->set_type(protocol::ResourceKey::NAMESPACE);
    k->mutable_key()->set_namespace_name(ns);
    for (const ItemPtr& item : data_->FindNamespace(ns)) {
      protocol::HeldKey* h = k->add_held();
      h->set_key(ParseKeyString(item->key).key());
      h->set_revision(kRegisterOnly);
    }
  }
  Answer ignored = hub_->Pull(connection, request.SerializeAsString());
  LOG_IF(WARNING, !ignored.response.ok())
      << "distributor: connection " << connection
      << " could not be subscribed after a read ACL allowed it: "
      << ignored.response.status();
}

void ReadGuard::UnsubscribeAtHub(uint64_t connection,
                                 const absl::flat_hash_set<std::string>& keys) {
  protocol::UnsubscribeRequest request;
  for (const std::string& key : keys) {
    protocol::ResourceKey* k = request.add_keys();
    const std::string ns = NamespaceOfKey(key);
    if (ns.empty()) {
      *k = ParseKeyString(key);
    } else {
      k->set_type(protocol::ResourceKey::NAMESPACE);
      k->set_namespace_name(ns);
    }
  }
  hub_->Unsubscribe(connection, request.SerializeAsString()).IgnoreError();
}

void ReadGuard::ApplyAclChange(const ItemPtr& acl_item) {
  auto users = by_acl_.find(acl_item->key);
  if (users == by_acl_.end()) return;
  const ReadRule rule = access_.RuleOf(acl_item);
  const int64_t at = acl_item->revision;
  for (uint64_t connection : users->second) {
    auto c = conns_.find(connection);
    if (c == conns_.end()) continue;
    auto g = c->second.groups.find(acl_item->key);
    if (g == c->second.groups.end()) continue;
    Group& group = g->second;
    const bool now = access_.Allows(rule, c->second.reader);
    if (now == group.allowed) continue;
    group.allowed = now;
    std::vector<ItemPtr> items;
    for (const std::string& key : group.keys) {
      const std::string ns = NamespaceOfKey(key);
      std::vector<ItemPtr> versions;
      if (ns.empty()) {
        versions.push_back(Current(key, c->second.host));
      } else {
        for (const ItemPtr& item : data_->FindNamespace(ns)) {
          versions.push_back(Current(item->key, c->second.host));
        }
      }
      if (!now) CountDenied(key);
      for (const ItemPtr& item : versions) {
        if (!now) {
          // Every key it may hold: a tombstone above anything it was sent.
          const std::string& k = item != nullptr ? item->key : key;
          if (item == nullptr && !ns.empty()) continue;
          const std::string config_key =
              IsGrayKey(k) ? ConfigKeyOfGray(k) : k;
          items.push_back(MakeDenied(
              config_key,
              std::max(at, item != nullptr ? item->revision + 1 : at)));
        } else if (item != nullptr && !item->absent) {
          items.push_back(Restamp(item, at));
        }
      }
    }
    if (now) {
      SubscribeAtHub(connection, group.keys);
    } else {
      UnsubscribeAtHub(connection, group.keys);
    }
    LOG_EVERY_N(INFO, 100) << "distributor: read ACL " << acl_item->key
                           << " at revision " << at
                           << (now ? " allows" : " no longer allows")
                           << " connection " << connection;
    for (const std::string& payload : Pack(items)) push_(connection, payload);
  }
}

void ReadGuard::OnChanges(const std::vector<ItemPtr>& changes,
                          int64_t revision) {
  if (access_.enforce()) {
    absl::MutexLock lock(&mu_);
    for (const ItemPtr& item : changes) {
      if (!IsAclKey(item->key)) continue;
      ++acl_generation_;
      ApplyAclChange(item);
    }
  }
  hub_->OnChanges(changes, revision);
}

absl::StatusOr<std::string> ReadGuard::Unsubscribe(uint64_t connection,
                                                   const std::string& payload) {
  if (access_.enforce()) {
    protocol::UnsubscribeRequest request;
    if (request.ParseFromString(payload)) {
      absl::MutexLock lock(&mu_);
      auto c = conns_.find(connection);
      if (c != conns_.end()) {
        for (const protocol::ResourceKey& k : request.keys()) {
          absl::StatusOr<std::string> key = CanonicalKey(k);
          if (!key.ok()) continue;
          const std::string acl_key = AclKeyOf(*key);
          auto g = c->second.groups.find(acl_key);
          if (g == c->second.groups.end()) continue;
          g->second.keys.erase(*key);
          if (!g->second.keys.empty()) continue;
          c->second.groups.erase(g);
          auto users = by_acl_.find(acl_key);
          if (users == by_acl_.end()) continue;
          users->second.erase(connection);
          if (users->second.empty()) by_acl_.erase(users);
        }
      }
    }
  }
  return hub_->Unsubscribe(connection, payload);
}

void ReadGuard::Disconnected(uint64_t connection) {
  if (access_.enforce()) {
    absl::MutexLock lock(&mu_);
    auto c = conns_.find(connection);
    if (c != conns_.end()) {
      for (const auto& [acl_key, group] : c->second.groups) {
        auto users = by_acl_.find(acl_key);
        if (users == by_acl_.end()) continue;
        users->second.erase(connection);
        if (users->second.empty()) by_acl_.erase(users);
      }
      conns_.erase(c);
    }
  }
  hub_->Disconnected(connection);
}

}  // namespace distributor
}  // namespace kess
