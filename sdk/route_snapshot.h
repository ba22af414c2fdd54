// RouteSnapshot: one version of a service's route table, prepared for
// picking. Built once when a new table is read (O(n log n)), then shared,
// immutable, by every Select() until the next version replaces it.
//
// Instances are split by state — `healthy` and `suspect` (disabled ones are
// never picked and appear in no group) — and each state again by
// datacenter. Every group carries what the load balancers need without
// further work: an alias table of the members' weights (weighted random in
// O(1)), their id hashes and inverse weights in contiguous arrays (HRW
// scans them linearly).
//
// Thread-safety: immutable after Build(); share freely.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "model/route_table.h"

namespace kess {
namespace sdk {

// Instances of one state (and possibly one datacenter). Member i is
// instance members[i] of the snapshot; every other array is indexed like
// `members`.
struct InstanceGroup {
  // Walker/Vose alias table: draw a column c uniformly, then take c if a
  // uniform 32-bit number is below threshold[c] (out of 2^32), else
  // alias[c]. Each member comes out with probability weight / total
  // (to within 2^-32).
  struct AliasColumn {
    uint64_t threshold;  // 0 .. 2^32
    uint32_t alias;      // a position in `members`
  };

  std::vector<uint32_t> members;  // indices into the table, in id order
  std::vector<AliasColumn> alias;
  std::vector<uint64_t> id_hash;       // StableHash(instance id)
  std::vector<double> inverse_weight;  // 1 / weight
  uint64_t total_weight = 0;
  bool uniform_weight = true;  // every member has the same weight

  size_t size() const { return members.size(); }
  bool empty() const { return members.empty(); }

  // A position in `members`, drawn by weight from one 64-bit random number
  // (the high half picks the column, the low half decides it).
  // REQUIRES: !empty().
  size_t Draw(uint64_t random) const {
    const uint64_t column = ((random >> 32) * members.size()) >> 32;
    const AliasColumn& c = alias[column];
    return (random & 0xffffffffULL) < c.threshold ? column : c.alias;
  }
};

// The groups of one state.
struct StateGroups {
  InstanceGroup all;
  std::vector<std::pair<std::string, InstanceGroup>> by_datacenter;  // sorted

  // The group of `datacenter`; nullptr if it has no instance in this state.
  const InstanceGroup* Datacenter(absl::string_view datacenter) const;
};

class RouteSnapshot {
 public:
  // REQUIRES: table != nullptr, instances sorted by id (RouteTableFromJson
  // guarantees it; Build sorts a copy otherwise).
  static std::shared_ptr<const RouteSnapshot> Build(
      std::shared_ptr<const RouteTable> table);

  const RouteTable& table() const { return *table_; }
  const std::shared_ptr<const RouteTable>& shared_table() const {
    return table_;
  }
  const RouteInstance& instance(uint32_t index) const {
    return table_->instances[index];
  }
  size_t size() const { return table_->instances.size(); }

  // REQUIRES: state != kDisabled.
  const StateGroups& groups(InstanceState state) const {
    return state == InstanceState::kHealthy ? healthy_ : suspect_;
  }

  // The index of the instance with this id, if any (binary search).
  std::optional<uint32_t> IndexOf(absl::string_view id) const;

 private:
  RouteSnapshot() = default;

  std::shared_ptr<const RouteTable> table_;
  StateGroups healthy_;
  StateGroups suspect_;
};

}  // namespace sdk
}  // namespace kess
