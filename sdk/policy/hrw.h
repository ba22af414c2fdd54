// "hrw": weighted rendezvous (highest random weight) hashing of the
// request key. Every process maps a key to the same instance of the same
// table; adding or removing one instance moves only the keys that go to
// (or went to) that instance, ~1/n of them.
//
// For each candidate i with weight w_i and failover factor f_i > 0:
//
//   h_i     = HashPair(StableHash(key), StableHash(id_i))   (stable_hash.h)
//   u_i     = ((h_i >> 11) + 0.5) / 2^53                    in (0, 1)
//   score_i = -log2(u_i) / (w_i * f_i)
//
// and the key goes to the smallest score (ties: the smaller id). -log2(u)
// is an exponential variate, so instance i wins with probability
// w_i f_i / sum(w f) ("weighted rendezvous hashing", Schindelhauer &
// Schomaker). -log2 is NegLog2() below — a fixed polynomial, not libm, so
// the result does not depend on the C library. When every candidate has
// the same weight and none is recovering, the smallest score is the
// largest h_i, and no logarithm is computed.
//
// An empty key picks at random, by weight (a fresh random key per call).
//
// Cost: O(n) per pick: one 64-bit mix per candidate, plus, when weights
// differ, a multiply and compare against a cheap lower bound of the score;
// the logarithm is computed only for the few candidates that pass it.
//
// Thread-safety: stateless.
#pragma once

#include <cstdint>
#include <memory>

#include "sdk/load_balancer.h"

namespace kess {
namespace sdk {
namespace policy {

std::unique_ptr<LoadBalancer> NewHrwLoadBalancer();

// -log2(((h >> 11) + 0.5) / 2^53): exponent plus a degree-11 odd series of
// atanh on the mantissa; absolute error below 1e-10. Exposed for tests.
double HrwNegLog2(uint64_t h);

}  // namespace policy

}  // namespace sdk
}  // namespace kess
