// Which distributor an agent uses: rendezvous (highest-random-weight)
// hashing of the host id over the DC's distributor list
// (common/rendezvous.h).
//
// Every host ranks all distributors by hash(host_id, address); it uses the
// first and fails over down its own list. Hence hosts spread evenly over the
// pool, the choice is stable across restarts, removing a distributor moves
// only the hosts that used it (spread evenly over the others), and when a
// distributor comes back its hosts return to it.
//
// Thread-safe: pure functions.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/rendezvous.h"

namespace kess {
namespace agent {

// `distributors` ranked for `host_id`, preferred first. Duplicates are
// removed; ties (never in practice) break by address.
inline std::vector<std::string> DistributorOrder(
    absl::string_view host_id, const std::vector<std::string>& distributors) {
  return RendezvousOrder(host_id, distributors);
}

}  // namespace agent
}  // namespace kess
