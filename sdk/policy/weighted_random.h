// "weighted_random": picks a member with probability proportional to its
// weight (times its failover Factor()).
//
// Cost: O(1) — one PRNG draw into the group's alias table
// (InstanceGroup::Draw). While some instances are ejected or recovering, a
// draw is accepted with probability Factor() (rejection sampling, up to 8
// draws, which keeps the distribution exact), then an exact O(n) pass.
//
// Thread-safety: stateless; the PRNG is thread-local (or ctx.random).
#pragma once

#include <memory>

#include "sdk/load_balancer.h"

namespace kess {
namespace sdk {
namespace policy {

std::unique_ptr<LoadBalancer> NewWeightedRandomLoadBalancer();

}  // namespace policy
}  // namespace sdk
}  // namespace kess
