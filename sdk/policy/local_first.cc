#include "sdk/policy/local_first.h"

#include <algorithm>
#include <utility>

namespace kess {
namespace sdk {
namespace policy {
namespace {

class LocalFirstLoadBalancer : public LoadBalancer {
 public:
  LocalFirstLoadBalancer(std::unique_ptr<LoadBalancer> inner,
                         std::string local_datacenter, int min_local_healthy)
      : inner_(std::move(inner)),
        local_datacenter_(std::move(local_datacenter)),
        min_local_(std::max(min_local_healthy, 1)) {}

  absl::StatusOr<const RouteInstance*> Select(
      const RouteSnapshot& snapshot, const SelectContext& ctx) const override {
    const InstanceGroup* local =
        snapshot.groups(ctx.state).Datacenter(local_datacenter_);
    if (local != nullptr && Available(*local, ctx) >= min_local_) {
      SelectContext narrowed = ctx;
      narrowed.group = local;
      return inner_->Select(snapshot, narrowed);
    }
    return inner_->Select(snapshot, ctx);
  }

 private:
  size_t Available(const InstanceGroup& group, const SelectContext& ctx) const {
    if (ctx.availability == nullptr) return group.size();
    size_t available = 0;
    for (uint32_t index : group.members) available += ctx.Factor(index) > 0;
    return available;
  }

  const std::unique_ptr<LoadBalancer> inner_;
  const std::string local_datacenter_;
  const size_t min_local_;
};

}  // namespace

std::unique_ptr<LoadBalancer> NewLocalFirstLoadBalancer(
    std::unique_ptr<LoadBalancer> inner, std::string local_datacenter,
    int min_local_healthy) {
  return std::make_unique<LocalFirstLoadBalancer>(
      std::move(inner), std::move(local_datacenter), min_local_healthy);
}

}  // namespace policy
}  // namespace sdk
}  // namespace kess
