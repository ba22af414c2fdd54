#include "distributor/subscription_hub.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "model/names.h"
#include "distributor/payload.h"
#include "distributor/route_deltas.h"
#include "zk_schema/gray.h"
#include "glog/logging.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"

namespace kess {
namespace distributor {
namespace {

// At most this many rejection messages are spelled out in rejected_reason.
constexpr int kReasonsListed = 3;

bool TokenMatches(const std::string& given, const std::string& expected) {
  // Constant time in the content (the length is not secret).
  if (given.size() != expected.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < given.size(); ++i) diff |= given[i] ^ expected[i];
  return diff == 0;
}

// The host_id and auth_token of a serialized SubscribeRequest, read by a
// walk over its fields without parsing its keys: a request of 32,000 empty
// `Known` messages costs a skip per key, not 32,000 allocations. nullopt if
// the bytes are not a well-formed message at the top level.
struct SubscribeHeader {
  std::string host_id;
  std::string auth_token;
};
std::optional<SubscribeHeader> PeekSubscribeHeader(const std::string& payload) {
  using google::protobuf::internal::WireFormatLite;
  google::protobuf::io::CodedInputStream in(
      reinterpret_cast<const uint8_t*>(payload.data()),
      static_cast<int>(payload.size()));
  SubscribeHeader header;
  while (true) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) break;
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    const bool bytes = WireFormatLite::GetTagWireType(tag) ==
                       WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
    if (bytes && field == protocol::SubscribeRequest::kAuthTokenFieldNumber) {
      if (!WireFormatLite::ReadString(&in, &header.auth_token)) {
        return std::nullopt;
      }
    } else if (bytes &&
               field == protocol::SubscribeRequest::kHostIdFieldNumber) {
      if (!WireFormatLite::ReadString(&in, &header.host_id)) {
        return std::nullopt;
      }
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return std::nullopt;
    }
  }
  // Ended at a field boundary at the end of the bytes, not on a bad tag.
  if (!in.ConsumedEntireMessage()) return std::nullopt;
  return header;
}

int64_t MonotonicNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Marks an index into OnChanges' `changes` whose route delta is pushed
// (NewestDelta) instead of the item.
constexpr uint32_t kDeltaBit = 1u << 31;

// Adds a group of connections that get the changes `key` names, to either
// form of a group list.
template <typename K>
void AddGroup(absl::flat_hash_map<K, std::vector<uint64_t>>* groups, K key,
              std::vector<uint64_t> connections) {
  std::vector<uint64_t>& to = (*groups)[std::move(key)];
  to.insert(to.end(), connections.begin(), connections.end());
}
template <typename K>
void AddGroup(std::vector<std::pair<K, std::vector<uint64_t>>>* groups, K key,
              std::vector<uint64_t> connections) {
  groups->emplace_back(std::move(key), std::move(connections));
}

std::string UpdateHeader(int64_t revision, bool stale) {
  protocol::UpdatePush header;
  header.set_revision(revision);
  header.set_stale(stale);
  return header.SerializeAsString();
}

}  // namespace

SubscriptionHub::SubscriptionHub(const DataSet* data,
                                 std::function<bool()> stale, Pusher* pusher,
                                 HubOptions options,
                                 DistributorMetrics* metrics)
    : data_(data),
      stale_(std::move(stale)),
      pusher_(pusher),
      options_(std::move(options)),
      metrics_(metrics) {}

Answer SubscriptionHub::Reject(const char* reason, absl::Status status) {
  metrics_->Rejected(reason)->Increment();
  return Answer{std::move(status), {}};
}

Answer SubscriptionHub::RejectWrongToken(uint64_t connection,
                                         const std::string& host_id) {
  LOG_EVERY_N(WARNING, 20) << "distributor: connection " << connection
                           << " (host \"" << host_id.substr(0, kMaxNameLength)
                           << "\") subscribed with a wrong auth token";
  return Reject("auth",
                absl::PermissionDeniedError("wrong or missing auth token"));
}

bool SubscriptionHub::Authenticated(uint64_t connection) const {
  if (options_.auth_token.empty()) return true;
  absl::MutexLock lock(&mu_);
  auto it = connections_.find(connection);
  return it != connections_.end() && it->second.authenticated;
}

Answer SubscriptionHub::Subscribe(uint64_t connection,
                                  const std::string& payload) {
  metrics_->subscribe_requests->Increment();
  // Before the connection authenticated, the token is checked before the
  // keys are parsed: a request without the token (e.g. a frame bomb of
  // empty keys under the untrusted frame limit) costs a walk over its
  // fields, however many keys it holds.
  if (!options_.auth_token.empty() && !Authenticated(connection)) {
    std::optional<SubscribeHeader> header = PeekSubscribeHeader(payload);
    if (!header) {
      return Reject("malformed_request",
                    absl::InvalidArgumentError("malformed SubscribeRequest"));
    }
    if (!TokenMatches(header->auth_token, options_.auth_token)) {
      return RejectWrongToken(connection, header->host_id);
    }
  }
  protocol::SubscribeRequest request;
  if (!request.ParseFromString(payload)) {
    return Reject("malformed_request",
                  absl::InvalidArgumentError("malformed SubscribeRequest"));
  }
  return SubscribeChecked(connection, request);
}

Answer SubscriptionHub::SubscribeParsed(
    uint64_t connection, const protocol::SubscribeRequest& request) {
  metrics_->subscribe_requests->Increment();
  return SubscribeChecked(connection, request);
}

Answer SubscriptionHub::SubscribeChecked(
    uint64_t connection, const protocol::SubscribeRequest& request) {
  if (!options_.auth_token.empty() &&
      !TokenMatches(request.auth_token(), options_.auth_token)) {
    return RejectWrongToken(connection, request.host_id());
  }
  if (!request.host_id().empty()) {
    absl::Status host = ValidateName(NameKind::kHost, request.host_id());
    if (!host.ok()) return Reject("invalid_host", host);
  }
  if (!data_->loaded()) {
    return Reject("not_loaded", absl::UnavailableError(
                                    "distributor has not loaded its data yet"));
  }
  if (request.route_deltas() && options_.route_deltas) {
    absl::MutexLock lock(&mu_);
    connections_[connection].route_deltas = true;
  }
  return SubscribeAndAnswer(connection, request.keys(), /*authenticate=*/true,
                            &request.host_id());
}

Answer SubscriptionHub::Pull(uint64_t connection, const std::string& payload) {
  metrics_->pull_requests->Increment();
  // Checked before the keys are parsed (see Subscribe).
  if (!Authenticated(connection)) {
    return Reject("auth", absl::PermissionDeniedError(
                              "subscribe with the auth token first"));
  }
  protocol::PullRequest request;
  if (!request.ParseFromString(payload)) {
    return Reject("malformed_request",
                  absl::InvalidArgumentError("malformed PullRequest"));
  }
  return PullChecked(connection, request);
}

Answer SubscriptionHub::PullParsed(uint64_t connection,
                                   const protocol::PullRequest& request) {
  metrics_->pull_requests->Increment();
  if (!Authenticated(connection)) {
    return Reject("auth", absl::PermissionDeniedError(
                              "subscribe with the auth token first"));
  }
  return PullChecked(connection, request);
}

Answer SubscriptionHub::PullChecked(uint64_t connection,
                                    const protocol::PullRequest& request) {
  if (!data_->loaded()) {
    return Reject("not_loaded", absl::UnavailableError(
                                    "distributor has not loaded its data yet"));
  }
  return SubscribeAndAnswer(connection, request.keys(),
                            /*authenticate=*/false);
}

Answer SubscriptionHub::SubscribeAndAnswer(
    uint64_t connection,
    const google::protobuf::RepeatedPtrField<protocol::Known>& known,
    bool authenticate, const std::string* host_id) {
  protocol::SubscribeResponse header;
  std::vector<std::string> reasons;
  std::vector<Wanted> wanted;
  std::vector<WantedNamespace> namespaces;
  wanted.reserve(known.size());
  size_t invalid = 0;
  for (const protocol::Known& k : known) {
    absl::StatusOr<std::string> key = CanonicalKey(k.key());
    if (!key.ok()) {
      ++invalid;
      *header.add_rejected() = k.key();
      reasons.push_back(std::string(key.status().message()));
      continue;
    }
    if (k.key().type() == protocol::ResourceKey::NAMESPACE) {
      WantedNamespace ns;
      ns.ns = k.key().namespace_name();
      for (const protocol::HeldKey& h : k.held()) {
        // An invalid held name cannot match a key; it is ignored.
        if (!ValidateName(NameKind::kKey, h.key()).ok()) continue;
        ns.held[ConfigKeyString(ns.ns, h.key())] =
            Held{h.revision(), h.absent()};
      }
      namespaces.push_back(std::move(ns));
      continue;
    }
    wanted.push_back(Wanted{*std::move(key), k.revision()});
  }
  if (invalid > 0) metrics_->Rejected("invalid_name")->Increment(invalid);

  // 1. Register (before reading the data, see the header).
  size_t over_limit = 0;
  std::string host;
  bool deltas = false;
  {
    absl::MutexLock lock(&mu_);
    Connection& c = connections_[connection];
    if (authenticate) c.authenticated = true;
    if (host_id != nullptr && !host_id->empty()) c.host_id = *host_id;
    host = c.host_id;
    deltas = c.route_deltas;
    const bool was_subscribed = c.size() > 0;
    std::vector<WantedNamespace> accepted_namespaces;
    for (WantedNamespace& ns : namespaces) {
      if (!c.namespaces.contains(ns.ns)) {
        if (c.size() >= options_.max_keys_per_connection) {
          ++over_limit;
          *header.add_rejected() = ParseKeyString(NamespaceKeyString(ns.ns));
          continue;
        }
        c.namespaces.insert(ns.ns);
        ns_index_[ns.ns].insert(connection);
      }
      accepted_namespaces.push_back(std::move(ns));
    }
    namespaces = std::move(accepted_namespaces);
    std::vector<Wanted> accepted;
    accepted.reserve(wanted.size());
    for (Wanted& w : wanted) {
      if (!c.keys.contains(w.key)) {
        if (c.size() >= options_.max_keys_per_connection) {
          ++over_limit;
          *header.add_rejected() = ParseKeyString(w.key);
          continue;
        }
        c.keys.insert(w.key);
        index_[w.key].insert(connection);
      }
      accepted.push_back(std::move(w));
    }
    wanted = std::move(accepted);
    if (!was_subscribed && c.size() > 0) ++subscribed_;
    metrics_->subscribed_agents->Set(subscribed_);
  }
  if (over_limit > 0) {
    metrics_->Rejected("too_many_keys")->Increment(over_limit);
    reasons.push_back(absl::StrCat(over_limit, " keys over the limit of ",
                                   options_.max_keys_per_connection,
                                   " keys per connection"));
  }
  if (!reasons.empty()) {
    std::string text;
    for (size_t i = 0; i < reasons.size() && i < kReasonsListed; ++i) {
      absl::StrAppend(&text, i > 0 ? "; " : "", reasons[i]);
    }
    if (reasons.size() > kReasonsListed) {
      absl::StrAppend(&text, "; and ", reasons.size() - kReasonsListed,
                      " more");
    }
    header.set_rejected_reason(std::move(text));
  }

  // 2. Read and compare.
  std::vector<std::string> keys;
  keys.reserve(wanted.size());
  for (const Wanted& w : wanted) keys.push_back(w.key);
  const int64_t revision = data_->revision();
  const bool stale = stale_();
  std::vector<ItemPtr> found = data_->FindAll(keys);
  std::vector<ItemPtr> updates;
  absl::flat_hash_set<std::string> answered;
  for (size_t i = 0; i < wanted.size(); ++i) {
    const int64_t have = wanted[i].have;
    if (!namespaces.empty()) answered.insert(wanted[i].key);
    const ItemPtr item = Choose(wanted[i].key, found[i], host);
    if (item != nullptr) {
      if (item->revision > have) {
        ItemPtr sent = deltas ? DeltaOrWhole(item, have) : item;
        if (sent != item) metrics_->route_delta_resources->Increment();
        updates.push_back(std::move(sent));
      }
    } else if (have == 0) {
      updates.push_back(MakeAbsent(wanted[i].key, 0));
    } else if (have < revision) {
      updates.push_back(MakeAbsent(wanted[i].key, revision));
    }
  }
  for (const WantedNamespace& ns : namespaces) {
    AnswerNamespace(ns, host, revision, &answered, &updates);
  }
  SortByRevision(&updates);

  header.set_revision(revision);
  header.set_stale(stale);
  Packed packed =
      PackResources(header.SerializeAsString(), UpdateHeader(revision, stale),
                    updates, options_.max_payload_bytes - kMaxVarintFieldBytes,
                    options_.budget_bytes);
  if (packed.deferred > 0) {
    metrics_->deferred_resources->Increment(packed.deferred);
    MarkDeferred(&packed, /*first_is_response=*/true);
  }
  Answer answer;
  answer.response = std::move(packed.payloads.front());
  for (size_t i = 1; i < packed.payloads.size(); ++i) {
    metrics_->pushes->Increment();
    metrics_->push_bytes->Increment(packed.payloads[i].size());
    answer.followups.push_back(std::move(packed.payloads[i]));
  }
  return answer;
}

void SubscriptionHub::AnswerNamespace(
    const WantedNamespace& wanted, const std::string& host, int64_t revision,
    absl::flat_hash_set<std::string>* answered,
    std::vector<ItemPtr>* updates) const {
  for (const ItemPtr& found : data_->FindNamespace(wanted.ns)) {
    if (!answered->insert(found->key).second) continue;
    auto held = wanted.held.find(found->key);
    const Held have =
        held == wanted.held.end() ? Held{} : held->second;
    const ItemPtr item = Choose(found->key, found, host);
    // A tombstone only for a key the agent holds: a new subscriber gets no
    // files for keys deleted before it came.
    if (item->absent && have.revision == 0) continue;
    if (item->revision > have.revision) updates->push_back(item);
  }
  for (const auto& [key, have] : wanted.held) {
    if (!answered->insert(key).second) continue;
    // Held live, unknown here: deleted while this distributor was not
    // watching (it keeps no tombstones from before its start).
    if (!have.absent && have.revision > 0 && have.revision < revision) {
      updates->push_back(MakeAbsent(key, revision));
    }
  }
}

absl::StatusOr<std::string> SubscriptionHub::Unsubscribe(
    uint64_t connection, const std::string& payload) {
  protocol::UnsubscribeRequest request;
  if (!request.ParseFromString(payload)) {
    metrics_->Rejected("malformed_request")->Increment();
    return absl::InvalidArgumentError("malformed UnsubscribeRequest");
  }
  if (!Authenticated(connection)) {
    metrics_->Rejected("auth")->Increment();
    return absl::PermissionDeniedError("subscribe with the auth token first");
  }
  absl::MutexLock lock(&mu_);
  auto it = connections_.find(connection);
  if (it == connections_.end()) return std::string();
  Connection& c = it->second;
  const bool was_subscribed = c.size() > 0;
  for (const protocol::ResourceKey& k : request.keys()) {
    absl::StatusOr<std::string> key = CanonicalKey(k);
    if (!key.ok()) continue;
    const bool is_namespace = k.type() == protocol::ResourceKey::NAMESPACE;
    const std::string& name = is_namespace ? k.namespace_name() : *key;
    auto& set = is_namespace ? c.namespaces : c.keys;
    auto& index = is_namespace ? ns_index_ : index_;
    if (set.erase(name) == 0) continue;
    auto entry = index.find(name);
    if (entry == index.end()) continue;
    entry->second.erase(connection);
    if (entry->second.empty()) index.erase(entry);
  }
  if (was_subscribed && c.size() == 0) --subscribed_;
  metrics_->subscribed_agents->Set(subscribed_);
  return protocol::UnsubscribeResponse().SerializeAsString();
}

void SubscriptionHub::Disconnected(uint64_t connection) {
  absl::MutexLock lock(&mu_);
  auto it = connections_.find(connection);
  if (it == connections_.end()) return;
  for (const std::string& key : it->second.keys) {
    auto entry = index_.find(key);
    if (entry == index_.end()) continue;
    entry->second.erase(connection);
    if (entry->second.empty()) index_.erase(entry);
  }
  for (const std::string& ns : it->second.namespaces) {
    auto entry = ns_index_.find(ns);
    if (entry == ns_index_.end()) continue;
    entry->second.erase(connection);
    if (entry->second.empty()) ns_index_.erase(entry);
  }
  if (it->second.size() > 0) --subscribed_;
  connections_.erase(it);
  metrics_->subscribed_agents->Set(subscribed_);
}

ItemPtr SubscriptionHub::Choose(const std::string& key, const ItemPtr& base,
                                const std::string& host) const {
  if (host.empty()) return base;
  const std::string gray_key = GrayKeyOf(key);
  if (gray_key.empty()) return base;
  ItemPtr gray = data_->Find(gray_key);
  if (gray == nullptr || gray->absent || gray->gray == nullptr) return base;
  if (gray->revision <= (base != nullptr ? base->revision : 0)) return base;
  return zk::GraySelects(*gray->gray, host) ? gray : base;
}

void SubscriptionHub::OnChanges(const std::vector<ItemPtr>& changes,
                                 int64_t revision) {
  const int64_t started_ns = MonotonicNs();
  // Per change, looked up once: its config key, what a host gets without a
  // gray release (`base`) and the active gray item (newer than `base`), if
  // any. Choose() per connection would look the gray item up again for
  // every subscriber.
  struct Plan {
    std::string key;
    ItemPtr base;
    ItemPtr gray;  // active gray release of `key`, or nullptr
  };
  std::vector<Plan> plans(changes.size());
  for (uint32_t i = 0; i < changes.size(); ++i) {
    const ItemPtr& change = changes[i];
    Plan& plan = plans[i];
    const bool gray = IsGrayKey(change->key);
    if (gray && (change->absent || change->gray == nullptr)) continue;
    plan.key = gray ? ConfigKeyOfGray(change->key) : change->key;
    plan.base = gray ? data_->Find(plan.key) : change;
    const std::string gray_key = GrayKeyOf(plan.key);
    ItemPtr current = gray_key.empty() ? nullptr : data_->Find(gray_key);
    if (current != nullptr && !current->absent && current->gray != nullptr &&
        current->revision >
            (plan.base != nullptr ? plan.base->revision : 0)) {
      plan.gray = std::move(current);
    }
  }
  // Does `host` get changes[i]? (Choose() with the lookups above.)
  auto gets = [&](uint32_t i, const std::string& host) {
    const Plan& plan = plans[i];
    ItemPtr chosen = plan.base;
    if (!host.empty() && plan.gray != nullptr &&
        zk::GraySelects(*plan.gray->gray, host)) {
      chosen = plan.gray;
    }
    return chosen == changes[i];
  };

  // Groups of connections that get the same changes (indices into
  // `changes`, in order), each group one payload.
  using Indices = absl::InlinedVector<uint32_t, 4>;
  std::vector<std::pair<Indices, std::vector<uint64_t>>> groups;
  {
    absl::MutexLock lock(&mu_);
    auto host_of = [&](uint64_t connection)
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> const std::string& {
      static const std::string* const kNone = new std::string();
      auto c = connections_.find(connection);
      return c == connections_.end() ? *kNone : c->second.host_id;
    };
    if (changes.size() == 1) {
      // The common case: one change, one list, no per-connection state.
      const Plan& plan = plans[0];
      auto entry = plan.key.empty() ? index_.end() : index_.find(plan.key);
      auto ns_entry = plan.key.empty()
                          ? ns_index_.end()
                          : ns_index_.find(NamespaceOfConfigKey(plan.key));
      const bool by_key = entry != index_.end();
      const bool by_ns = ns_entry != ns_index_.end();
      if (by_key || by_ns) {
        std::vector<uint64_t> targets;
        targets.reserve((by_key ? entry->second.size() : 0) +
                        (by_ns ? ns_entry->second.size() : 0));
        // Every subscriber gets it unless a gray release is active.
        const bool same_for_all = plan.gray == nullptr && plan.base == changes[0];
        auto add = [&](uint64_t connection) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          if (same_for_all || gets(0, host_of(connection))) {
            targets.push_back(connection);
          }
        };
        if (by_key) {
          for (uint64_t connection : entry->second) add(connection);
        }
        if (by_ns) {
          // Subscribed to the key and to its namespace: once.
          for (uint64_t connection : ns_entry->second) {
            if (!by_key || !entry->second.contains(connection)) add(connection);
          }
        }
        if (!targets.empty()) groups.emplace_back(Indices{0}, std::move(targets));
      }
    } else {
      absl::flat_hash_map<uint64_t, Indices> per_connection;
      for (uint32_t i = 0; i < changes.size(); ++i) {
        const Plan& plan = plans[i];
        if (plan.key.empty()) continue;
        auto entry = index_.find(plan.key);
        auto ns_entry = ns_index_.find(NamespaceOfConfigKey(plan.key));
        if (entry == index_.end() && ns_entry == ns_index_.end()) continue;
        auto add = [&](uint64_t connection) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          if (!gets(i, host_of(connection))) return;
          Indices& indices = per_connection[connection];
          // Subscribed to the key and to its namespace: once.
          if (indices.empty() || indices.back() != i) indices.push_back(i);
        };
        if (entry != index_.end()) {
          for (uint64_t connection : entry->second) add(connection);
        }
        if (ns_entry != ns_index_.end()) {
          for (uint64_t connection : ns_entry->second) add(connection);
        }
      }
      absl::flat_hash_map<Indices, std::vector<uint64_t>> by_indices;
      for (auto& [connection, indices] : per_connection) {
        by_indices[std::move(indices)].push_back(connection);
      }
      for (auto& [indices, connections] : by_indices) {
        groups.emplace_back(indices, std::move(connections));
      }
    }
  }
  if (groups.empty()) return;
  // Connections that take route deltas get, for a route table that has
  // one, its delta from the version before (route_deltas.h): they are
  // split off into groups of their own with those changes marked.
  bool any_delta = false;
  for (const ItemPtr& change : changes) {
    if (NewestDelta(*change) != nullptr) any_delta = true;
  }
  if (any_delta) {
    std::decay_t<decltype(groups)> split;
    absl::MutexLock lock(&mu_);
    for (auto& [indices, connections] : groups) {
      auto marked = indices;
      size_t marks = 0;
      for (auto& i : marked) {
        if (NewestDelta(*changes[i]) != nullptr) {
          i |= kDeltaBit;
          ++marks;
        }
      }
      std::vector<uint64_t> whole, delta;
      if (marks > 0) {
        for (uint64_t connection : connections) {
          auto c = connections_.find(connection);
          const bool takes = c != connections_.end() && c->second.route_deltas;
          (takes ? delta : whole).push_back(connection);
        }
      }
      if (delta.empty()) {
        AddGroup(&split, indices, connections);
        continue;
      }
      metrics_->route_delta_resources->Increment(marks * delta.size());
      if (!whole.empty()) AddGroup(&split, indices, std::move(whole));
      AddGroup(&split, std::move(marked), std::move(delta));
    }
    groups = std::move(split);
  }
  const std::string header = UpdateHeader(revision, stale_());
  std::vector<std::pair<const std::vector<uint64_t>*, std::string>> pushes;
  FanoutRecord record;
  record.revision = revision;
  record.changes = changes.size();
  record.started_ns = started_ns;
  for (const auto& [indices, connections] : groups) {
    std::vector<ItemPtr> items;
    items.reserve(indices.size());
    for (uint32_t i : indices) {
      items.push_back((i & kDeltaBit) != 0 ? NewestDelta(*changes[i & ~kDeltaBit])
                                           : changes[i]);
    }
    Packed packed =
        PackResources(header, header, items,
                      options_.max_payload_bytes - kMaxVarintFieldBytes,
                      options_.budget_bytes);
    const double n = connections.size();
    if (packed.deferred > 0) {
      metrics_->deferred_resources->Increment(packed.deferred * n);
      MarkDeferred(&packed, /*first_is_response=*/false);
    }
    metrics_->pushed_resources->Increment(packed.packed * n);
    for (std::string& payload : packed.payloads) {
      metrics_->pushes->Increment(n);
      metrics_->push_bytes->Increment(payload.size() * n);
      record.deliveries += connections.size();
      record.bytes += payload.size() * connections.size();
      pushes.emplace_back(&connections, std::move(payload));
    }
  }
  // The last frame handed to its connection completes the record.
  struct Pending {
    std::atomic<size_t> left;
    FanoutRecord record;
  };
  auto pending = std::make_shared<Pending>();
  pending->left = pushes.size();
  pending->record = record;
  for (auto& [connections, payload] : pushes) {
    pusher_->Push(*connections, payload, [this, pending] {
      if (pending->left.fetch_sub(1) != 1) return;
      pending->record.written_ns = MonotonicNs();
      absl::MutexLock lock(&fanout_mu_);
      if (pending->record.started_ns >= last_fanout_.started_ns) {
        last_fanout_ = pending->record;
      }
    });
  }
}

FanoutRecord SubscriptionHub::last_fanout() const {
  absl::MutexLock lock(&fanout_mu_);
  return last_fanout_;
}

size_t SubscriptionHub::subscribed_connections() const {
  absl::MutexLock lock(&mu_);
  return subscribed_;
}

size_t SubscriptionHub::subscribers(const std::string& key) const {
  absl::MutexLock lock(&mu_);
  auto it = index_.find(key);
  return it == index_.end() ? 0 : it->second.size();
}

size_t SubscriptionHub::namespace_subscribers(const std::string& ns) const {
  absl::MutexLock lock(&mu_);
  auto it = ns_index_.find(ns);
  return it == ns_index_.end() ? 0 : it->second.size();
}

}  // namespace distributor
}  // namespace kess
