// "local_first": keeps calls inside the caller's datacenter while it has
// enough instances. With `local` = the available (not ejected) members of
// the caller's datacenter in the tier being picked (healthy, or suspect
// when no healthy instance is left):
//
//   local >= max(min_local_healthy, 1)  ->  inner picks among the local ones
//   otherwise                           ->  inner picks among all
//                                           datacenters (local included)
//
// Thread-safety: as thread-safe as `inner` (the built-ins are).
#pragma once

#include <memory>
#include <string>

#include "sdk/load_balancer.h"

namespace kess {
namespace sdk {
namespace policy {

std::unique_ptr<LoadBalancer> NewLocalFirstLoadBalancer(
    std::unique_ptr<LoadBalancer> inner, std::string local_datacenter,
    int min_local_healthy);

}  // namespace policy
}  // namespace sdk
}  // namespace kess
