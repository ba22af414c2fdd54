#include "sdk/policy/weighted_random.h"

namespace kess {
namespace sdk {
namespace policy {
namespace {

constexpr int kRejectionDraws = 8;

class WeightedRandomLoadBalancer : public LoadBalancer {
 public:
  absl::StatusOr<const RouteInstance*> Select(
      const RouteSnapshot& snapshot, const SelectContext& ctx) const override {
    const InstanceGroup& group = *ctx.group;
    if (group.empty()) return absl::NotFoundError("");
    FastRandom& random = ctx.Random();
    if (ctx.availability == nullptr) {
      return &snapshot.instance(group.members[group.Draw(random.Next())]);
    }
    for (int i = 0; i < kRejectionDraws; ++i) {
      const uint32_t index = group.members[group.Draw(random.Next())];
      const double factor = ctx.Factor(index);
      if (factor >= 1.0 || (factor > 0 && random.UnitDouble() < factor)) {
        return &snapshot.instance(index);
      }
    }
    return Exact(snapshot, ctx, random);
  }

 private:
  static absl::StatusOr<const RouteInstance*> Exact(
      const RouteSnapshot& snapshot, const SelectContext& ctx,
      FastRandom& random) {
    const InstanceGroup& group = *ctx.group;
    double total = 0;
    for (size_t i = 0; i < group.size(); ++i) {
      total += ctx.Factor(group.members[i]) / group.inverse_weight[i];
    }
    if (total <= 0) return absl::NotFoundError("");
    double r = random.UnitDouble() * total;
    size_t last = 0;
    for (size_t i = 0; i < group.size(); ++i) {
      const double w = ctx.Factor(group.members[i]) / group.inverse_weight[i];
      if (w <= 0) continue;
      last = i;
      if (r < w) break;
      r -= w;
    }
    return &snapshot.instance(group.members[last]);
  }
};

}  // namespace

std::unique_ptr<LoadBalancer> NewWeightedRandomLoadBalancer() {
  return std::make_unique<WeightedRandomLoadBalancer>();
}

}  // namespace policy
}  // namespace sdk
}  // namespace kess
