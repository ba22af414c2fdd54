#include "sdk/policy/hrw.h"

#include <cstring>
#include <limits>

#include "sdk/stable_hash.h"

namespace kess {
namespace sdk {
namespace policy {

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
 private:
  // The position with the smallest score, or group.size() if every member
  // is ejected. -log2(u) >= (1 - u) / ln 2, and 1 - u is exact and cheap;
  // once a good score is found almost every other member loses on that
  // bound alone, so the logarithm is computed for a few members only. The
  // bound is lowered by 1e-9 (far above NegLog2's error), so skipping never
  // changes the result.
  template <bool kWithAvailability>
  static size_t Weighted(const InstanceGroup& group, const SelectContext& ctx,
                         uint64_t key_hash) {
    constexpr double kInverseLn2 = 1.4426950408889634;
    const size_t n = group.size();
    size_t best = n;
    double best_score = std::numeric_limits<double>::infinity();
    for (size_t i = 0; i < n; ++i) {
      double scale = group.inverse_weight[i];
      if (kWithAvailability) {
        const double factor = ctx.Factor(group.members[i]);
        if (factor <= 0) continue;
        scale /= factor;
      }
      const uint64_t h = HashPair(key_hash, group.id_hash[i]);
      const double one_minus_u =
          (static_cast<double>(~h >> 11) + 0.5) * 0x1.0p-53;
      if ((one_minus_u * kInverseLn2 - 1e-9) * scale >= best_score) continue;
      const double score = HrwNegLog2(h) * scale;
      if (score < best_score) {
        best = i;
        best_score = score;
      }
    }
    return best;
  }

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
    } else if (ctx.availability == nullptr) {
      best = Weighted<false>(group, ctx, key_hash);
    } else {
      best = Weighted<true>(group, ctx, key_hash);
    }
    if (best == n) return absl::NotFoundError("");
    return &snapshot.instance(group.members[best]);
  }
};

}  // namespace

std::unique_ptr<LoadBalancer> NewHrwLoadBalancer() {
  return std::make_unique<HrwLoadBalancer>();
}

}  // namespace policy
}  // namespace sdk
}  // namespace kess
