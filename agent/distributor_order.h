// Which distributor an agent uses: rendezvous (highest-random-weight)
// hashing of the host id over the DC's distributor list.
//
// Every host ranks all distributors by hash(host_id, address); it uses the
// first and fails over down its own list. Hence hosts spread evenly over the
// pool, the choice is stable across restarts, removing a distributor moves
// only the hosts that used it (spread evenly over the others), and when a
// distributor comes back its hosts return to it.
//
// Thread-safe: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace kess {
namespace agent {

// A stable 64-bit hash (FNV-1a followed by a mixer); the same in every
// process and build, unlike std::hash or absl::Hash.
uint64_t StableHash(absl::string_view data);

// `distributors` ranked for `host_id`, preferred first. Duplicates are
// removed; ties (never in practice) break by address.
std::vector<std::string> DistributorOrder(
    absl::string_view host_id, const std::vector<std::string>& distributors);

}  // namespace agent
}  // namespace kess
