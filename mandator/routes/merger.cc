#include "mandator/routes/merger.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "common/identity/principal.h"
#include "model/instance_info.h"

namespace kess {
namespace mandator {
namespace routes {
namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

// Everything the answering mandators said about one instance.
struct Seen {
  const protocol::InstanceSeen* freshest = nullptr;  // not deregistered
  int64_t heartbeat_age_ms = kNever;                 // of `freshest`
  int64_t deregistered_age_ms = kNever;  // youngest deregistered report
  int64_t first_seen_age_ms = 0;         // oldest
};

using ServiceSeen = absl::flat_hash_map<std::string, Seen>;  // by id

struct Index {
  absl::flat_hash_map<std::string, ServiceSeen> services;
  absl::flat_hash_map<std::string, int64_t> host_age_ms;
  absl::flat_hash_map<std::string, bool> complete;  // by DC
};

// The host `id` of `service` is published on in the baseline; nullptr if
// it is not published.
const std::string* PublishedHost(const RouteTables& baseline,
                                 const std::string& service,
                                 const std::string& id) {
  auto table = baseline.find(service);
  if (table == baseline.end()) return nullptr;
  const std::vector<RouteInstance>& instances = table->second.instances;
  auto it = std::lower_bound(
      instances.begin(), instances.end(), id,
      [](const RouteInstance& a, const std::string& b) { return a.id < b; });
  return it != instances.end() && it->id == id ? &it->host : nullptr;
}

// Whether a report bound to `owner` may speak for an instance of `service`
// published on `host`: its host's principal or the service's own (the
// rule of the scheduler's published-host check). An empty owner (rights
// off, or a mandator older than InstanceSeen.owner) is taken as before.
bool OwnerMaySpeak(const std::string& owner, const std::string& service,
                   const std::string& host) {
  if (owner.empty()) return true;
  return owner == identity::PrincipalUri(identity::Kind::kHost, host) ||
         owner == identity::PrincipalUri(identity::Kind::kService, service);
}

Index BuildIndex(const MergeInput& input, const RouteTables& baseline,
                 const MergeOptions& options, MergeStats* stats) {
  Index index;
  const bool leader_warm = input.collector_uptime >= options.warmup;
  const int64_t warmup_ms = absl::ToInt64Milliseconds(options.warmup);
  for (const std::string& dc : input.settled_datacenters) {
    index.complete[dc] = leader_warm;
  }
  absl::flat_hash_map<std::string, int> peers_per_dc;
  for (const PeerReport& peer : input.peers) {
    ++peers_per_dc[peer.datacenter];
    if (!peer.answered || peer.table.uptime_ms() < warmup_ms) {
      index.complete[peer.datacenter] = false;
    }
    if (!peer.answered) continue;
    for (const protocol::HostSeen& host : peer.table.hosts()) {
      auto [it, added] = index.host_age_ms.try_emplace(
          host.host_id(), host.last_heartbeat_age_ms());
      if (!added) {
        it->second = std::min(it->second, host.last_heartbeat_age_ms());
      }
    }
    for (const protocol::InstanceSeen& seen : peer.table.instances()) {
      if (!seen.owner().empty()) {
        const std::string* host =
            PublishedHost(baseline, seen.info().service(), seen.info().id());
        if (host != nullptr &&
            !OwnerMaySpeak(seen.owner(), seen.info().service(), *host)) {
          ++stats->foreign_reports;  // neither its report nor its tombstone
          continue;
        }
      }
      Seen& s = index.services[seen.info().service()][seen.info().id()];
      const int64_t age = std::max<int64_t>(0, seen.last_heartbeat_age_ms());
      s.first_seen_age_ms =
          std::max(s.first_seen_age_ms, seen.first_seen_age_ms());
      if (seen.deregistered()) {
        s.deregistered_age_ms = std::min(s.deregistered_age_ms, age);
      } else if (age < s.heartbeat_age_ms) {
        s.heartbeat_age_ms = age;
        s.freshest = &seen;
      }
    }
  }
  // A DC without any mandator listed has no evidence at all.
  for (auto& [dc, complete] : index.complete) {
    if (peers_per_dc[dc] == 0) complete = false;
  }
  return index;
}

// Deregistered after its last heartbeat anywhere.
bool Deregistered(const Seen& s) {
  return s.deregistered_age_ms != kNever &&
         s.deregistered_age_ms <= s.heartbeat_age_ms;
}

struct Candidate {
  RouteInstance instance;
  int64_t silent_ms;  // youngest heartbeat age, kNever if unreported
};

class ServiceMerge {
 public:
  ServiceMerge(const Index& index, const MergeInput& input,
               const MergeOptions& options, MergeStats* stats)
      : index_(index), input_(input), options_(options), stats_(stats) {}

  // The new instance list of `service` (sorted by id).
  std::vector<RouteInstance> Run(const std::string& service,
                                 const RouteTable* base,
                                 const ServiceSeen* seen) {
    std::vector<RouteInstance> out;
    std::vector<Candidate> candidates;
    const int64_t instance_timeout_ms =
        absl::ToInt64Milliseconds(options_.instance_timeout);
    if (base != nullptr) {
      for (const RouteInstance& old : base->instances) {
        const Seen* s = Find(seen, old.id);
        if (s != nullptr && Deregistered(*s)) {
          ++stats_->deregistered;
          continue;
        }
        if (s != nullptr && s->heartbeat_age_ms <= instance_timeout_ms) {
          std::optional<RouteInstance> fresh = FromReport(*s, &old);
          if (fresh.has_value()) {
            out.push_back(*std::move(fresh));
            continue;
          }
        }
        // Stale (or unreported): degrade only on complete evidence.
        if (!Complete(old.datacenter)) {
          ++stats_->kept_unproven;
          out.push_back(old);
          if (out.back().state == InstanceState::kDisabled) {
            out.back().state = InstanceState::kHealthy;  // override re-applies
          }
          continue;
        }
        RouteInstance suspect = old;
        suspect.state = InstanceState::kSuspect;
        if (HostAlive(old.host)) {
          out.push_back(std::move(suspect));
          continue;
        }
        candidates.push_back(
            {std::move(suspect), s == nullptr ? kNever : s->heartbeat_age_ms});
      }
    }
    if (seen != nullptr) {
      for (const auto& [id, s] : *seen) {
        if (base != nullptr && Contains(*base, id)) continue;
        if (Deregistered(s) || s.heartbeat_age_ms > instance_timeout_ms) {
          continue;
        }
        std::optional<RouteInstance> fresh = FromReport(s, nullptr);
        if (fresh.has_value()) out.push_back(*std::move(fresh));
      }
    }
    const size_t removed = Protect(base, &candidates, &out);
    DemoteCritical(base, removed, &out);
    std::sort(out.begin(), out.end(),
              [](const RouteInstance& a, const RouteInstance& b) {
                return a.id < b.id;
              });
    return out;
  }

 private:
  static const Seen* Find(const ServiceSeen* seen, const std::string& id) {
    if (seen == nullptr) return nullptr;
    auto it = seen->find(id);
    return it == seen->end() ? nullptr : &it->second;
  }

  static bool Contains(const RouteTable& table, const std::string& id) {
    auto it = std::lower_bound(
        table.instances.begin(), table.instances.end(), id,
        [](const RouteInstance& a, const std::string& b) { return a.id < b; });
    return it != table.instances.end() && it->id == id;
  }

  bool Complete(const std::string& dc) const {
    auto it = index_.complete.find(dc);
    return it != index_.complete.end() && it->second;
  }

  bool HostAlive(const std::string& host) const {
    auto it = index_.host_age_ms.find(host);
    return it != index_.host_age_ms.end() &&
           it->second <= absl::ToInt64Milliseconds(options_.host_timeout);
  }

  // The instance as its freshest report describes it; nullopt if that
  // report is invalid (the scheduler validates, this is a second fence).
  std::optional<RouteInstance> FromReport(const Seen& s,
                                          const RouteInstance* old) const {
    const protocol::InstanceInfo& info = s.freshest->info();
    if (!ValidateInstanceInfo(info).ok()) return std::nullopt;
    RouteInstance r = ToRouteInstance(info);
    r.state = InstanceState::kHealthy;
    // Stable across cycles and leaders: ages differ per mandator and call.
    r.registered_ms = old != nullptr && old->registered_ms != 0
                          ? old->registered_ms
                          : input_.now_ms - s.first_seen_age_ms;
    return r;
  }

  // Removes at most the allowed share of the baseline (the longest silent
  // first); never empties the service. The rest stays as suspect. Returns
  // how many it removed.
  size_t Protect(const RouteTable* base, std::vector<Candidate>* candidates,
                 std::vector<RouteInstance>* out) {
    if (candidates->empty()) return 0;
    const size_t base_size = base == nullptr ? 0 : base->instances.size();
    size_t allowed = std::max<size_t>(
        1, static_cast<size_t>(
               std::floor(options_.max_removal_share * base_size)));
    if (out->empty()) {
      // Never empty: the freshest candidate stays.
      allowed = std::min(allowed, candidates->size() - 1);
    }
    std::sort(candidates->begin(), candidates->end(),
              [](const Candidate& a, const Candidate& b) {
                if (a.silent_ms != b.silent_ms)
                  return a.silent_ms > b.silent_ms;
                return a.instance.id < b.instance.id;
              });
    size_t removed = 0;
    for (size_t i = 0; i < candidates->size(); ++i) {
      if (i < allowed) {
        ++stats_->removed;
        ++removed;
      } else {
        ++stats_->held_back;
        out->push_back(std::move((*candidates)[i].instance));
      }
    }
    return removed;
  }

  // Fresh instances whose checks are critical become suspect, within the
  // threshold (merger.h), which the `removed` instances and those already
  // not healthy (suspect for their heartbeats) use up first; the rest stay
  // healthy.
  void DemoteCritical(const RouteTable* base, size_t removed,
                      std::vector<RouteInstance>* out) {
    struct Critical {
      RouteInstance* instance;
      bool was_demoted;  // suspect for its checks in the baseline
    };
    std::vector<Critical> critical;
    size_t healthy = 0;
    for (RouteInstance& r : *out) {
      if (r.state != InstanceState::kHealthy) continue;
      ++healthy;
      if (r.check_status == "critical") critical.push_back({&r, false});
    }
    if (critical.empty()) return;
    const size_t unavailable = removed + (out->size() - healthy);
    const size_t budget = std::max<size_t>(
        1, static_cast<size_t>(std::floor(options_.max_removal_share *
                                          (out->size() + removed))));
    const size_t allowed =
        std::min(healthy - 1, budget > unavailable ? budget - unavailable : 0);
    if (base != nullptr) {
      // The baseline is sorted by id (route_table.h): one binary search
      // per candidate.
      for (Critical& c : critical) {
        auto it = std::lower_bound(
            base->instances.begin(), base->instances.end(), c.instance->id,
            [](const RouteInstance& a, const std::string& id) {
              return a.id < id;
            });
        c.was_demoted = it != base->instances.end() &&
                        it->id == c.instance->id &&
                        it->state == InstanceState::kSuspect &&
                        it->check_status == "critical";
      }
    }
    std::sort(critical.begin(), critical.end(),
              [](const Critical& a, const Critical& b) {
                if (a.was_demoted != b.was_demoted) return a.was_demoted;
                return a.instance->id < b.instance->id;
              });
    for (size_t i = 0; i < critical.size(); ++i) {
      if (i < allowed) {
        critical[i].instance->state = InstanceState::kSuspect;
        ++stats_->critical;
      } else {
        ++stats_->critical_held_back;
      }
    }
  }

  const Index& index_;
  const MergeInput& input_;
  const MergeOptions& options_;
  MergeStats* stats_;
};

void ApplyOverrides(const std::map<std::string, InstanceOverride>* overrides,
                    std::vector<RouteInstance>* instances) {
  if (overrides == nullptr) return;
  for (RouteInstance& instance : *instances) {
    auto it = overrides->find(instance.id);
    if (it == overrides->end()) continue;
    if (it->second.weight.has_value()) instance.weight = *it->second.weight;
    if (it->second.disabled) instance.state = InstanceState::kDisabled;
  }
}

}  // namespace

bool SameInstances(const RouteTable& a, const RouteTable& b) {
  return a.service == b.service && a.instances == b.instances;
}

MergeResult Merge(const MergeInput& input, const RouteTables& baseline,
                  const Overrides& overrides, const MergeOptions& options) {
  MergeResult result;
  const Index index = BuildIndex(input, baseline, options, &result.stats);
  ServiceMerge merge(index, input, options, &result.stats);

  std::vector<std::string> services;
  services.reserve(baseline.size() + index.services.size());
  for (const auto& [service, table] : baseline) services.push_back(service);
  for (const auto& [service, seen] : index.services) {
    if (baseline.count(service) == 0) services.push_back(service);
  }
  std::sort(services.begin(), services.end());

  for (const std::string& service : services) {
    auto base_it = baseline.find(service);
    const RouteTable* base =
        base_it == baseline.end() ? nullptr : &base_it->second;
    auto seen_it = index.services.find(service);
    const ServiceSeen* seen =
        seen_it == index.services.end() ? nullptr : &seen_it->second;
    if (seen != nullptr) {
      auto& ages = result.heartbeat_age_ms[service];
      for (const auto& [id, s] : *seen) {
        ages[id] = std::min(s.heartbeat_age_ms, s.deregistered_age_ms);
      }
    }

    RouteTable table;
    table.service = service;
    table.instances = merge.Run(service, base, seen);
    auto overrides_it = overrides.find(service);
    ApplyOverrides(
        overrides_it == overrides.end() ? nullptr : &overrides_it->second,
        &table.instances);
    for (const RouteInstance& instance : table.instances) {
      ++result.stats.instances;
      switch (instance.state) {
        case InstanceState::kHealthy:
          ++result.stats.healthy;
          break;
        case InstanceState::kSuspect:
          ++result.stats.suspect;
          break;
        case InstanceState::kDisabled:
          ++result.stats.disabled;
          break;
      }
    }
    if (table.instances.empty()) {
      // Only deregistrations empty a service (Protect holds back the rest).
      if (base != nullptr) result.changes.push_back({service, std::nullopt});
      continue;
    }
    if (base != nullptr && SameInstances(*base, table)) continue;
    if (base != nullptr) table.revision = base->revision;
    result.changes.push_back({service, std::move(table)});
  }
  result.stats.services_changed = static_cast<int64_t>(result.changes.size());
  return result;
}

}  // namespace routes
}  // namespace mandator
}  // namespace kess
