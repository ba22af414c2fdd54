// Load balancers: pick one instance of a service's RouteSnapshot for a
// call. Strategies are pluggable behind LoadBalancer and registered by
// name in LoadBalancerRegistry (brpc-style); the built-in ones, each in
// sdk/policy/, are:
//
//   "weighted_random"  probability proportional to weight; O(log n)
//   "hrw"              rendezvous hashing of the request key: a key maps to
//                      the same instance in every process, and adding or
//                      removing one instance remaps only that instance's
//                      share of keys; weighted; O(n)
//   "local_first"      the caller's datacenter only, unless it has fewer
//                      than min_local_healthy available instances, then
//                      all datacenters; picks with an inner balancer
//                      (LoadBalancerOptions::local_first_inner)
//
// Which instances a balancer sees is decided once, for all of them, by
// SelectInstance(): healthy instances; if none of those is available,
// suspect ones; disabled ones never. Instances ejected by caller-side
// failover (FailureTracker) are skipped — a balancer sees them with
// Factor() == 0 — and recovering ones count with a lowered weight. Only
// when every healthy and suspect instance is ejected does SelectInstance
// return the least recently ejected one, so it never answers "no instance"
// while a non-disabled instance exists.
//
// Thread-safety: LoadBalancer::Select is const and must be thread-safe
// (many threads pick concurrently on one balancer). The registry is
// thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "model/route_table.h"
#include "common/status.h"
#include "sdk/failure_tracker.h"
#include "sdk/fast_random.h"
#include "sdk/route_snapshot.h"

namespace kess {
namespace sdk {

// What one pick is about.
struct SelectContext {
  // The request key, for key-affine balancers (HRW); may be empty (HRW
  // then picks at random by weight).
  absl::string_view key;
  // The candidates: a group of `snapshot.groups(state)`. SelectInstance
  // sets it to that state's `all`; a wrapping balancer (local_first) may
  // narrow it to a datacenter's group before calling its inner balancer.
  InstanceState state = InstanceState::kHealthy;
  const InstanceGroup* group = nullptr;
  // Caller-side failover; nullptr: every candidate at full weight.
  const Availability* availability = nullptr;
  int64_t now_ms = 0;
  // nullptr: FastRandom::ThreadLocal(). Tests pass a seeded one.
  FastRandom* random = nullptr;

  // The share of its weight the snapshot's instance `index` gets now
  // (0 = ejected, skip it).
  double Factor(uint32_t index) const {
    return availability == nullptr ? 1.0 : availability->Factor(index, now_ms);
  }
  FastRandom& Random() const {
    return random != nullptr ? *random : FastRandom::ThreadLocal();
  }
};

class LoadBalancer {
 public:
  virtual ~LoadBalancer() = default;

  // Picks one member of *ctx.group whose Factor() is above 0, in proportion
  // to weight x Factor() (or by the balancer's own rule). Returns a pointer
  // into snapshot.table(); NotFound (without a message: it is the normal
  // way to say "try the next tier") when no member is available.
  // REQUIRES: ctx.group points into snapshot.groups(ctx.state).
  virtual absl::StatusOr<const RouteInstance*> Select(
      const RouteSnapshot& snapshot, const SelectContext& ctx) const = 0;
};

// What factories may use to configure a balancer.
struct LoadBalancerOptions {
  std::string local_datacenter;  // local_first: the caller's datacenter
  int min_local_healthy = 1;     // local_first: fall over below this
  std::string local_first_inner = "weighted_random";  // local_first: picks
};

using LoadBalancerFactory =
    std::function<absl::StatusOr<std::unique_ptr<LoadBalancer>>(
        const LoadBalancerOptions& options)>;

class LoadBalancerRegistry {
 public:
  // Adds a strategy. AlreadyExists if the name is taken (the built-ins are
  // always registered), InvalidArgument for an empty name.
  static absl::Status Register(const std::string& name,
                               LoadBalancerFactory factory);
  // A new balancer of the named strategy. NotFound (listing the registered
  // names) for an unknown one; the factory's error for bad options.
  static absl::StatusOr<std::unique_ptr<LoadBalancer>> Create(
      absl::string_view name, const LoadBalancerOptions& options = {});
  static std::vector<std::string> Names();
};

// The tiers described at the top: healthy, then suspect, then the least
// recently ejected. NotFound only when the snapshot has no healthy or
// suspect instance. `availability` may be nullptr.
absl::StatusOr<const RouteInstance*> SelectInstance(
    const LoadBalancer& balancer, const RouteSnapshot& snapshot,
    const Availability* availability, absl::string_view key, int64_t now_ms,
    FastRandom* random = nullptr);

}  // namespace sdk
}  // namespace kess
