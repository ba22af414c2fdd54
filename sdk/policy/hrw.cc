#include "sdk/policy/hrw.h"

#include <cstring>
#include <limits>

#include "sdk/stable_hash.h"

namespace kess {
namespace sdk {

double HrwNegLog2(uint64_t h) {
  const double u = (static_cast<double>(h >> 11) + 0.5) * 0x1.0p-53;
  uint64_t bits;
  std::memcpy(&bits, &u, sizeof(bits));
  int exponent = static_cast<int>((bits >> 52) & 0x7ff) - 1023;
  bits = (bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
  double m;  // u = m * 2^exponent, m in [1, 2)
  std::memcpy(&m, &bits, sizeof(m));
  if (m > 1.4142135623730951) {  // keep m in [0.71, 1.42] for the series
    m *= 0.5;
    ++exponent;
  }
  // ln(m) = 2 atanh(t), t = (m - 1) / (m + 1), |t| <= 0.1716.
  const double t = (m - 1.0) / (m + 1.0);
  const double t2 = t * t;
  const double ln_m =
      2.0 * t *
      (1.0 + t2 * (1.0 / 3 +
                   t2 * (1.0 / 5 +
                         t2 * (1.0 / 7 + t2 * (1.0 / 9 + t2 * (1.0 / 11))))));
  return -(exponent + ln_m * 1.4426950408889634);  // 1 / ln 2
}

namespace {

class HrwLoadBalancer : public LoadBalancer {
 public:
  absl::StatusOr<const RouteInstance*> Select(
      const RouteSnapshot& snapshot, const SelectContext& ctx) const override {
    const InstanceGroup& group = *ctx.group;
    if (group.empty()) return absl::NotFoundError("");
    const uint64_t key_hash =
        ctx.key.empty() ? ctx.Random().Next() : StableHash(ctx.key);
    const size_t n = group.size();
    size_t best = n;
    if (ctx.availability == nullptr && group.uniform_weight) {
      // Same weights: the largest hash has the smallest score. Members are
      // in id order, so `>` keeps the smaller id on a tie.
      uint64_t best_hash = 0;
      for (size_t i = 0; i < n; ++i) {
        const uint64_t h = HashPair(key_hash, group.id_hash[i]);
        if (best == n || h > best_hash) {
          best = i;
          best_hash = h;
        }
      }
    } else {
      double best_score = std::numeric_limits<double>::infinity();
      for (size_t i = 0; i < n; ++i) {
        const double factor = ctx.Factor(group.members[i]);
        if (factor <= 0) continue;
        const double score = HrwNegLog2(HashPair(key_hash, group.id_hash[i])) *
                             group.inverse_weight[i] / factor;
        if (score < best_score) {
          best = i;
          best_score = score;
        }
      }
      if (best == n) return absl::NotFoundError("");
    }
    return &snapshot.instance(group.members[best]);
  }
};

}  // namespace

std::unique_ptr<LoadBalancer> NewHrwLoadBalancer() {
  return std::make_unique<HrwLoadBalancer>();
}

}  // namespace sdk
}  // namespace kess
