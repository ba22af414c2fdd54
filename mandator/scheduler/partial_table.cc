#include "mandator/scheduler/partial_table.h"

#include <algorithm>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"

namespace kess {
namespace mandator {
namespace scheduler {
namespace {

void SplitKey(absl::string_view key, protocol::InstanceRef* ref) {
  const size_t zero = key.find('\0');
  ref->set_service(std::string(key.substr(0, zero)));
  ref->set_id(std::string(key.substr(zero + 1)));
}

}  // namespace

PartialTable::PartialTable(const Clock* clock, PartialTableOptions options)
    : clock_(clock), options_(options), start_ms_(clock->NowMs()) {}

void PartialTable::AppendKey(absl::string_view service, absl::string_view id,
                             std::string* key) {
  key->clear();
  key->append(service.data(), service.size());
  key->push_back('\0');
  key->append(id.data(), id.size());
}

PartialTable::Shard& PartialTable::ShardFor(absl::string_view key) {
  // The top bits: the map itself uses the low ones.
  return shards_[absl::Hash<absl::string_view>{}(key) >> 60 & (kShards - 1)];
}

const PartialTable::Shard& PartialTable::ShardFor(absl::string_view key) const {
  return const_cast<PartialTable*>(this)->ShardFor(key);
}

namespace {
// Carried by no entry: the owner of a principal that never registered.
const std::string* const kNoOwner = new std::string("\0none", 5);
}  // namespace

const std::string* PartialTable::InternOwner(absl::string_view owner) {
  if (owner.empty()) return nullptr;
  {
    absl::ReaderMutexLock lock(&owners_mu_);
    auto it = owners_.find(owner);
    if (it != owners_.end()) return &*it;
  }
  absl::MutexLock lock(&owners_mu_);
  return &*owners_.emplace(owner).first;
}

const std::string* PartialTable::FindOwner(absl::string_view owner) const {
  if (owner.empty()) return nullptr;
  absl::ReaderMutexLock lock(&owners_mu_);
  auto it = owners_.find(owner);
  return it != owners_.end() ? &*it : kNoOwner;
}

absl::Status PartialTable::CheckOwner(absl::string_view service,
                                      absl::string_view id,
                                      absl::string_view owner) const {
  const std::string* interned = FindOwner(owner);
  std::string key;
  AppendKey(service, id, &key);
  const Shard& shard = ShardFor(key);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.entries.find(key);
  if (it == shard.entries.end() || it->second.owner == interned) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "instance \"", id, "\" of service \"", service, "\" is bound to ",
      it->second.owner == nullptr ? std::string("an unauthenticated peer")
                                  : *it->second.owner,
      ", which registered it"));
}

absl::Status PartialTable::Register(
    const google::protobuf::RepeatedPtrField<protocol::InstanceInfo>& infos,
    absl::string_view owner_uri) {
  const std::string* owner = InternOwner(owner_uri);
  const int64_t now = clock_->NowMs();
  std::string key;
  size_t refused = 0;
  for (const protocol::InstanceInfo& info : infos) {
    AppendKey(info.service(), info.id(), &key);
    Shard& shard = ShardFor(key);
    absl::MutexLock lock(&shard.mu);
    auto it = shard.entries.find(key);
    if (it != shard.entries.end() && it->second.owner != owner) {
      continue;  // bound to another principal (lost a race with CheckOwner)
    }
    if (it == shard.entries.end()) {
      if (live_.load() + tombstones_.load() >= options_.max_instances) {
        ++refused;
        continue;
      }
      it = shard.entries.emplace(key, Entry()).first;
      it->second.first_seen_ms = now;
      it->second.owner = owner;
      ++live_;
    } else if (it->second.deregistered_ms >= 0) {
      it->second.deregistered_ms = -1;
      it->second.first_seen_ms = now;
      --tombstones_;
      ++live_;
    }
    it->second.info = info;
    it->second.last_heartbeat_ms = now;
  }
  if (refused > 0) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "this mandator holds its maximum of ", options_.max_instances,
        " instances; ", refused, " new instance(s) were not registered"));
  }
  return absl::OkStatus();
}

size_t PartialTable::Heartbeat(const InstanceRefs& refs,
                               absl::string_view health,
                               InstanceRefs* unknown,
                               std::optional<absl::string_view> owner_uri,
                               size_t* foreign) {
  const bool check = owner_uri.has_value();
  const std::string* owner = check ? FindOwner(*owner_uri) : nullptr;
  const int64_t now = clock_->NowMs();
  std::string key;
  size_t refreshed = 0;
  for (const protocol::InstanceRef& ref : refs) {
    AppendKey(ref.service(), ref.id(), &key);
    Shard& shard = ShardFor(key);
    {
      absl::MutexLock lock(&shard.mu);
      auto it = shard.entries.find(key);
      if (check && it != shard.entries.end() && it->second.owner != owner) {
        if (foreign != nullptr) ++*foreign;
        continue;
      }
      if (it != shard.entries.end() && it->second.deregistered_ms < 0) {
        it->second.last_heartbeat_ms = now;
        if (!health.empty()) {
          it->second.info.set_health(std::string(health));
        }
        ++refreshed;
        continue;
      }
    }
    *unknown->Add() = ref;
  }
  return refreshed;
}

size_t PartialTable::Deregister(const InstanceRefs& refs) {
  const int64_t now = clock_->NowMs();
  std::string key;
  size_t removed = 0;
  for (const protocol::InstanceRef& ref : refs) {
    AppendKey(ref.service(), ref.id(), &key);
    Shard& shard = ShardFor(key);
    absl::MutexLock lock(&shard.mu);
    auto it = shard.entries.find(key);
    if (it == shard.entries.end() || it->second.deregistered_ms >= 0) continue;
    it->second.deregistered_ms = now;
    --live_;
    ++tombstones_;
    ++removed;
  }
  return removed;
}

bool PartialTable::HostHeartbeat(const std::string& host_id,
                                 const std::string& distributor,
                                 int64_t revision, int64_t synced_revision,
                                 const std::string& agent_version) {
  const int64_t now = clock_->NowMs();
  absl::MutexLock lock(&hosts_mu_);
  auto it = hosts_.find(host_id);
  if (it == hosts_.end()) {
    if (hosts_.size() >= options_.max_hosts) return false;
    it = hosts_.emplace(host_id, HostEntry()).first;
    it->second.synced_revision = synced_revision;
    it->second.synced_since_ms = now;
  }
  if (it->second.synced_revision != synced_revision) {
    it->second.synced_revision = synced_revision;
    it->second.synced_since_ms = now;
  }
  it->second.last_heartbeat_ms = now;
  it->second.distributor = distributor;
  it->second.revision = revision;
  it->second.agent_version = agent_version;
  return true;
}

std::vector<PartialTable::HostView> PartialTable::Hosts() const {
  const int64_t now = clock_->NowMs();
  std::vector<HostView> out;
  {
    absl::MutexLock lock(&hosts_mu_);
    out.reserve(hosts_.size());
    for (const auto& [host, e] : hosts_) {
      out.push_back(HostView{host, e.distributor, e.revision,
                             now - e.last_heartbeat_ms, e.synced_revision,
                             now - e.synced_since_ms, e.agent_version});
    }
  }
  std::sort(out.begin(), out.end(), [](const HostView& a, const HostView& b) {
    return a.host_id < b.host_id;
  });
  return out;
}

size_t PartialTable::host_count() const {
  absl::MutexLock lock(&hosts_mu_);
  return hosts_.size();
}

protocol::PartialTable PartialTable::Snapshot(
    size_t max_instances, const protocol::InstanceRef* after) const {
  std::string after_key;
  if (after != nullptr) AppendKey(after->service(), after->id(), &after_key);
  // Keys first (cheap to copy and sort), then the entries they name.
  std::vector<std::pair<std::string, int>> keys;
  keys.reserve(live_.load() + tombstones_.load());
  for (int i = 0; i < kShards; ++i) {
    absl::MutexLock lock(&shards_[i].mu);
    for (const auto& [key, entry] : shards_[i].entries) {
      if (after == nullptr || key > after_key) keys.emplace_back(key, i);
    }
  }
  const bool more = max_instances > 0 && keys.size() > max_instances;
  if (more) {
    std::nth_element(keys.begin(), keys.begin() + max_instances, keys.end());
    keys.resize(max_instances);
  }
  std::sort(keys.begin(), keys.end());

  protocol::PartialTable table;
  const int64_t now = clock_->NowMs();
  table.mutable_instances()->Reserve(static_cast<int>(keys.size()));
  for (const auto& [key, shard_index] : keys) {
    const Shard& shard = shards_[shard_index];
    absl::MutexLock lock(&shard.mu);
    auto it = shard.entries.find(key);
    if (it == shard.entries.end()) continue;  // expired meanwhile
    const Entry& e = it->second;
    protocol::InstanceSeen* seen = table.add_instances();
    *seen->mutable_info() = e.info;
    seen->set_last_heartbeat_age_ms(now - e.last_heartbeat_ms);
    seen->set_first_seen_age_ms(now - e.first_seen_ms);
    seen->set_deregistered(e.deregistered_ms >= 0);
    if (e.owner != nullptr) seen->set_owner(*e.owner);
  }
  if (more) SplitKey(keys.back().first, table.mutable_next_after());
  if (after == nullptr) {
    absl::MutexLock lock(&hosts_mu_);
    table.mutable_hosts()->Reserve(static_cast<int>(hosts_.size()));
    for (const auto& [host, e] : hosts_) {
      protocol::HostSeen* h = table.add_hosts();
      h->set_host_id(host);
      h->set_last_heartbeat_age_ms(now - e.last_heartbeat_ms);
    }
  }
  table.set_uptime_ms(now - start_ms_);
  return table;
}

PartialTable::Expired PartialTable::Expire() {
  const int64_t now = clock_->NowMs();
  // The Clock and the entries count in ms.
  const int64_t expire_after_ms =
      absl::ToInt64Milliseconds(options_.expire_after);
  const int64_t tombstone_ms =
      absl::ToInt64Milliseconds(options_.tombstone_ttl);
  Expired expired;
  for (Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    for (auto it = shard.entries.begin(); it != shard.entries.end();) {
      const Entry& e = it->second;
      if (e.deregistered_ms >= 0 && now - e.deregistered_ms > tombstone_ms) {
        ++expired.tombstones;
        --tombstones_;
        shard.entries.erase(it++);
      } else if (e.deregistered_ms < 0 &&
                 now - e.last_heartbeat_ms > expire_after_ms) {
        ++expired.instances;
        --live_;
        shard.entries.erase(it++);
      } else {
        ++it;
      }
    }
  }
  absl::MutexLock lock(&hosts_mu_);
  for (auto it = hosts_.begin(); it != hosts_.end();) {
    if (now - it->second.last_heartbeat_ms > expire_after_ms) {
      ++expired.hosts;
      hosts_.erase(it++);
    } else {
      ++it;
    }
  }
  return expired;
}

}  // namespace scheduler
}  // namespace mandator
}  // namespace kess
