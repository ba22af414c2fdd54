#include "sdk/route_snapshot.h"

#include <algorithm>
#include <map>

#include "sdk/stable_hash.h"

namespace kess {
namespace sdk {
namespace {

// Vose's alias method in integers: every member's weight times n is
// compared with the total, so the table is the same on every machine.
std::vector<InstanceGroup::AliasColumn> MakeAlias(
    const std::vector<int32_t>& weights, uint64_t total) {
  const size_t n = weights.size();
  std::vector<InstanceGroup::AliasColumn> alias(n);
  std::vector<uint64_t> scaled(n);     // weight * n; an average column
  std::vector<uint32_t> small, large;  // holds exactly `total`
  for (size_t i = 0; i < n; ++i) {
    scaled[i] = static_cast<uint64_t>(weights[i]) * n;
    (scaled[i] < total ? small : large).push_back(i);
  }
  while (!small.empty() && !large.empty()) {
    const uint32_t s = small.back(), l = large.back();
    small.pop_back();
    alias[s].threshold = static_cast<uint64_t>(
        (static_cast<unsigned __int128>(scaled[s]) << 32) / total);
    alias[s].alias = l;
    scaled[l] -= total - scaled[s];  // l fills the rest of s's column
    if (scaled[l] < total) {
      large.pop_back();
      small.push_back(l);
    }
  }
  // What is left holds exactly `total`: always itself.
  for (uint32_t i : small) alias[i] = {1ULL << 32, i};
  for (uint32_t i : large) alias[i] = {1ULL << 32, i};
  return alias;
}

InstanceGroup MakeGroup(const RouteTable& table,
                        const std::vector<uint32_t>& members) {
  InstanceGroup group;
  group.members = members;
  group.id_hash.reserve(members.size());
  group.inverse_weight.reserve(members.size());
  std::vector<int32_t> weights;
  for (uint32_t index : members) {
    const RouteInstance& instance = table.instances[index];
    // The parser guarantees 1..kMaxInstanceWeight; a hand-built table with
    // a weight below 1 still gets picked, rarely.
    const int32_t weight = std::max<int32_t>(instance.weight, 1);
    weights.push_back(weight);
    group.total_weight += weight;
    group.id_hash.push_back(StableHash(instance.id));
    group.inverse_weight.push_back(1.0 / weight);
    group.uniform_weight &= weight == weights[0];
  }
  group.alias = MakeAlias(weights, group.total_weight);
  return group;
}

StateGroups MakeStateGroups(const RouteTable& table, InstanceState state) {
  std::vector<uint32_t> all;
  std::map<std::string, std::vector<uint32_t>> by_dc;
  for (uint32_t i = 0; i < table.instances.size(); ++i) {
    const RouteInstance& instance = table.instances[i];
    if (instance.state != state) continue;
    all.push_back(i);
    by_dc[instance.datacenter].push_back(i);
  }
  StateGroups groups;
  groups.all = MakeGroup(table, all);
  for (const auto& [dc, members] : by_dc) {
    groups.by_datacenter.emplace_back(dc, MakeGroup(table, members));
  }
  return groups;
}

}  // namespace

const InstanceGroup* StateGroups::Datacenter(
    absl::string_view datacenter) const {
  auto it = std::lower_bound(
      by_datacenter.begin(), by_datacenter.end(), datacenter,
      [](const auto& entry, absl::string_view dc) { return entry.first < dc; });
  if (it == by_datacenter.end() || it->first != datacenter) return nullptr;
  return &it->second;
}

std::shared_ptr<const RouteSnapshot> RouteSnapshot::Build(
    std::shared_ptr<const RouteTable> table) {
  auto by_id = [](const RouteInstance& a, const RouteInstance& b) {
    return a.id < b.id;
  };
  if (!std::is_sorted(table->instances.begin(), table->instances.end(),
                      by_id)) {
    auto sorted = std::make_shared<RouteTable>(*table);
    std::sort(sorted->instances.begin(), sorted->instances.end(), by_id);
    table = std::move(sorted);
  }
  std::shared_ptr<RouteSnapshot> snapshot(new RouteSnapshot());
  snapshot->healthy_ = MakeStateGroups(*table, InstanceState::kHealthy);
  snapshot->suspect_ = MakeStateGroups(*table, InstanceState::kSuspect);
  snapshot->table_ = std::move(table);
  return snapshot;
}

std::optional<uint32_t> RouteSnapshot::IndexOf(absl::string_view id) const {
  const auto& instances = table_->instances;
  auto it = std::lower_bound(
      instances.begin(), instances.end(), id,
      [](const RouteInstance& a, absl::string_view b) { return a.id < b; });
  if (it == instances.end() || it->id != id) return std::nullopt;
  return static_cast<uint32_t>(it - instances.begin());
}

}  // namespace sdk
}  // namespace kess
