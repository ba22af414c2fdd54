// Rendezvous (highest-random-weight, HRW) hashing: every key ranks all
// candidates by StableHash(key, candidate) and uses them in that order.
// Keys spread evenly over the candidates, a key's order is stable across
// processes and restarts, removing a candidate moves only the keys that
// used it (spread evenly over the others), and when it returns they move
// back. Agents rank distributors by host id; the SDK ranks mandators by
// instance.
//
// Thread-safe: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace kess {

// A stable 64-bit hash (FNV-1a followed by a mixer); the same in every
// process and build, unlike std::hash or absl::Hash.
uint64_t StableHash(absl::string_view data);

// `candidates` ranked for `key`, preferred first. Duplicates are removed;
// ties (never in practice) break by candidate.
std::vector<std::string> RendezvousOrder(
    absl::string_view key, const std::vector<std::string>& candidates);

}  // namespace kess
