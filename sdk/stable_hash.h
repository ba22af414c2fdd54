// Fixed 64-bit hashes for HRW (rendezvous) load balancing. Every process,
// on every machine and in every language, must map a request key to the
// same instance, so these never depend on a per-process seed (absl::Hash
// and std::hash do, or may) and never change: changing them remaps keys
// across a fleet that runs mixed SDK versions.
//
//   StableHash(bytes)   common/rendezvous.h, the one string hash of kess:
//                       FNV-1a-64 with offset basis 1469598103934665603
//                       (0x14650fb0739d0383: the standard FNV basis
//                       14695981039346656037 without its last digit, fixed
//                       forever like the rest) and prime 0x100000001b3, a
//                       byte at a time, then splitmix64's finalizer.
//   Fmix64(x)           MurmurHash3's 64-bit finalizer (below).
//   HashPair(key, id)   Fmix64(key ^ (id * 0x9e3779b97f4a7c15)), both
//                       arguments StableHash values.
//
// Thread-safe: pure functions.
#pragma once

#include <cstdint>

#include "common/rendezvous.h"

namespace kess {
namespace sdk {

using ::kess::StableHash;

inline constexpr uint64_t Fmix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

// The score input of one (request key, instance id) pair.
inline constexpr uint64_t HashPair(uint64_t key_hash, uint64_t id_hash) {
  return Fmix64(key_hash ^ (id_hash * 0x9e3779b97f4a7c15ULL));
}

}  // namespace sdk
}  // namespace kess
