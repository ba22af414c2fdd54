#include "agent/backoff.h"

#include <algorithm>

namespace kess {
namespace agent {
namespace {

// Whole milliseconds, rounded up.
int64_t CeilMs(absl::Duration d) {
  return absl::ToInt64Milliseconds(absl::Ceil(d, absl::Milliseconds(1)));
}

}  // namespace

Backoff::Backoff(absl::Duration initial, absl::Duration max, uint64_t seed)
    : initial_ms_(std::max<int64_t>(1, CeilMs(initial))),
      max_ms_(std::max(CeilMs(max), initial_ms_)),
      random_(seed) {}

absl::Duration Backoff::NextDelay() {
  int64_t cap = initial_ms_;
  for (int i = 0; i < failures_ && cap < max_ms_; ++i) cap *= 2;
  cap = std::min(cap, max_ms_);
  ++failures_;
  std::uniform_int_distribution<int64_t> dist(cap / 2, cap);
  return absl::Milliseconds(dist(random_));
}

absl::Duration Backoff::Jitter(absl::Duration base, double fraction) {
  std::uniform_real_distribution<double> dist(1 - fraction, 1 + fraction);
  return absl::Milliseconds(
      std::max<int64_t>(1, static_cast<int64_t>(CeilMs(base) * dist(random_))));
}

}  // namespace agent
}  // namespace kess
