#include "sdk/load_balancer.h"

#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "sdk/policy/hrw.h"
#include "sdk/policy/local_first.h"
#include "sdk/policy/weighted_random.h"

namespace kess {
namespace sdk {
namespace {

struct Registry {
  absl::Mutex mu;
  std::map<std::string, LoadBalancerFactory, std::less<>> factories
      ABSL_GUARDED_BY(mu);
};

Registry& TheRegistry() {
  static Registry* registry = [] {
    auto* r = new Registry();
    absl::MutexLock lock(&r->mu);
    r->factories["weighted_random"] = [](const LoadBalancerOptions&) {
      return absl::StatusOr<std::unique_ptr<LoadBalancer>>(
          policy::NewWeightedRandomLoadBalancer());
    };
    r->factories["hrw"] = [](const LoadBalancerOptions&) {
      return absl::StatusOr<std::unique_ptr<LoadBalancer>>(
          policy::NewHrwLoadBalancer());
    };
    r->factories["local_first"] = [](const LoadBalancerOptions& options)
        -> absl::StatusOr<std::unique_ptr<LoadBalancer>> {
      if (options.local_first_inner == "local_first") {
        return absl::InvalidArgumentError(
            "local_first cannot wrap local_first");
      }
      KESS_ASSIGN_OR_RETURN(
          std::unique_ptr<LoadBalancer> inner,
          LoadBalancerRegistry::Create(options.local_first_inner, options));
      return policy::NewLocalFirstLoadBalancer(std::move(inner),
                                               options.local_datacenter,
                                               options.min_local_healthy);
    };
    return r;
  }();
  return *registry;
}

// Every healthy or suspect instance is ejected: the one ejected longest
// ago (healthy before suspect), as it is the likeliest to be back.
const RouteInstance* LeastRecentlyEjected(const RouteSnapshot& snapshot,
                                          const Availability& availability) {
  for (InstanceState state :
       {InstanceState::kHealthy, InstanceState::kSuspect}) {
    const InstanceGroup& group = snapshot.groups(state).all;
    const RouteInstance* best = nullptr;
    int64_t best_ms = 0;
    for (uint32_t index : group.members) {
      const int64_t ejected_ms = availability.entry(index).ejected_ms;
      if (best == nullptr || ejected_ms < best_ms) {
        best = &snapshot.instance(index);
        best_ms = ejected_ms;
      }
    }
    if (best != nullptr) return best;
  }
  return nullptr;
}

}  // namespace

absl::Status LoadBalancerRegistry::Register(const std::string& name,
                                            LoadBalancerFactory factory) {
  if (name.empty()) return absl::InvalidArgumentError("empty balancer name");
  Registry& r = TheRegistry();
  absl::MutexLock lock(&r.mu);
  if (!r.factories.emplace(name, std::move(factory)).second) {
    return absl::AlreadyExistsError("load balancer \"" + name +
                                    "\" is already registered");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<LoadBalancer>> LoadBalancerRegistry::Create(
    absl::string_view name, const LoadBalancerOptions& options) {
  LoadBalancerFactory factory;
  {
    Registry& r = TheRegistry();
    absl::MutexLock lock(&r.mu);
    auto it = r.factories.find(name);
    if (it != r.factories.end()) factory = it->second;
  }
  if (!factory) {
    return absl::NotFoundError(
        absl::StrCat("no load balancer \"", name,
                     "\" (registered: ", absl::StrJoin(Names(), ", "), ")"));
  }
  return factory(options);  // outside the lock: it may call Create
}

std::vector<std::string> LoadBalancerRegistry::Names() {
  Registry& r = TheRegistry();
  absl::MutexLock lock(&r.mu);
  std::vector<std::string> names;
  for (const auto& entry : r.factories) names.push_back(entry.first);
  return names;
}

absl::StatusOr<const RouteInstance*> SelectInstance(
    const LoadBalancer& balancer, const RouteSnapshot& snapshot,
    const Availability* availability, absl::string_view key, int64_t now_ms,
    FastRandom* random) {
  SelectContext ctx;
  ctx.key = key;
  ctx.availability = availability != nullptr && availability->ActiveAt(now_ms)
                         ? availability
                         : nullptr;
  ctx.now_ms = now_ms;
  ctx.random = random;
  for (InstanceState state :
       {InstanceState::kHealthy, InstanceState::kSuspect}) {
    ctx.state = state;
    ctx.group = &snapshot.groups(state).all;
    if (ctx.group->empty()) continue;
    absl::StatusOr<const RouteInstance*> picked =
        balancer.Select(snapshot, ctx);
    if (picked.ok() || !absl::IsNotFound(picked.status())) return picked;
  }
  if (ctx.availability != nullptr) {
    if (const RouteInstance* last =
            LeastRecentlyEjected(snapshot, *availability)) {
      return last;
    }
  }
  return absl::NotFoundError(
      absl::StrCat("service ", snapshot.table().service,
                   " has no healthy or suspect instance (revision ",
                   snapshot.table().revision, ")"));
}

}  // namespace sdk
}  // namespace kess
