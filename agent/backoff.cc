#include "agent/backoff.h"

#include <algorithm>

namespace kess {
namespace agent {

Backoff::Backoff(int64_t initial_ms, int64_t max_ms, uint64_t seed)
    : initial_ms_(std::max<int64_t>(1, initial_ms)),
      max_ms_(std::max(max_ms, initial_ms_)),
      random_(seed) {}

int64_t Backoff::NextDelayMs() {
  int64_t cap = initial_ms_;
  for (int i = 0; i < failures_ && cap < max_ms_; ++i) cap *= 2;
  cap = std::min(cap, max_ms_);
  ++failures_;
  std::uniform_int_distribution<int64_t> dist(cap / 2, cap);
  return dist(random_);
}

int64_t Backoff::Jitter(int64_t base_ms, double fraction) {
  std::uniform_real_distribution<double> dist(1 - fraction, 1 + fraction);
  return std::max<int64_t>(1, static_cast<int64_t>(base_ms * dist(random_)));
}

}  // namespace agent
}  // namespace kess
