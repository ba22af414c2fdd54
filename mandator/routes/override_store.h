// OverrideStore: operators' overrides of single instances (weight,
// disabled), kept in the main DC's ZooKeeper so that they survive
// heartbeats and leader changes: one node per service,
// <root>/overrides/<service>, holding JSON
//   {"instances": {"<id>": {"weight": 50, "disabled": true}, ...}}
// The main-DC leader writes them (fenced by its election node, so a leader
// whose session ended cannot write) and passes them to Merge() every cycle,
// which applies them last (merger.h). They are not part of the global
// revision: they only change route tables, and those are committed with a
// revision as usual. Slave DCs never read them (the main leader builds every
// table).
//
// The store caches what it read: Current() reads ZooKeeper the first time
// (and after Invalidate(), e.g. on demotion), then answers from memory; Set()
// updates ZooKeeper, then the cache.
//
// Thread-safe.
#pragma once

#include <optional>
#include <string>

#include "absl/synchronization/mutex.h"
#include "common/status.h"
#include "mandator/routes/merger.h"
#include "zk_schema/layout.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace mandator {
namespace routes {

// {"instances": {...}} of one service <-> its overrides. Parsing checks
// names and weights (1..kMaxInstanceWeight).
std::string OverridesToJson(
    const std::map<std::string, InstanceOverride>& overrides);
absl::StatusOr<std::map<std::string, InstanceOverride>> OverridesFromJson(
    const std::string& json);

class OverrideStore {
 public:
  // `zk` must outlive the store. `acl`: of created nodes (empty = the
  // client's default).
  OverrideStore(zk::ZkApi* zk, zk::Layout layout, zk::AclList acl);

  std::string Dir() const { return layout_.root() + "/overrides"; }

  // Every service's overrides (cached after the first successful read).
  absl::StatusOr<Overrides> Current();
  // The next Current() reads ZooKeeper again.
  void Invalidate();

  // Sets (or, with nullopt or an override that changes nothing, removes)
  // the override of one instance. `fence`: a node that must exist (the
  // election node); NotFound-like races with another writer are retried.
  absl::Status Set(const std::string& service, const std::string& id,
                   std::optional<InstanceOverride> override_value,
                   const std::string& fence);

 private:
  absl::StatusOr<Overrides> Load();

  zk::ZkApi* const zk_;
  const zk::Layout layout_;
  const zk::AclList acl_;
  absl::Mutex mu_;
  std::optional<Overrides> cache_ ABSL_GUARDED_BY(mu_);
};

}  // namespace routes
}  // namespace mandator
}  // namespace kess
