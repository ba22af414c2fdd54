#include "mandator/routes/peer_timeout_policy.h"

namespace kess {
namespace mandator {
namespace routes {

absl::Duration PeerTimeoutPolicy::timeout() const {
  if (!degraded_) return options_.normal_timeout;
  const bool probe =
      options_.probe_every > 0 &&
      degraded_misses_ % options_.probe_every == options_.probe_every - 1;
  const absl::Duration learned =
      answered_ ? std::max(slowest_, slowest_previous_) *
                      options_.degraded_rtt_factor
                : (probe ? options_.degraded_max_timeout
                         : options_.degraded_timeout);
  return std::min({options_.normal_timeout, options_.degraded_max_timeout,
                   std::max(options_.degraded_timeout, learned)});
}

void PeerTimeoutPolicy::OnSuccess(absl::Duration took) {
  answered_ = true;
  slowest_ = std::max(slowest_, took);
  if (++answers_in_window_ >= kLatencyWindow) {
    slowest_previous_ = slowest_;
    slowest_ = absl::ZeroDuration();
    answers_in_window_ = 0;
  }
  timeouts_in_a_row_ = 0;
  if (!degraded_) return;
  if (++successes_in_a_row_ >= options_.successes_to_recover) {
    degraded_ = false;
    successes_in_a_row_ = 0;
  }
}

void PeerTimeoutPolicy::OnTimeout() {
  if (degraded_) ++degraded_misses_;
  successes_in_a_row_ = 0;
  if (++timeouts_in_a_row_ >= options_.timeouts_to_degrade) degraded_ = true;
}

void PeerTimeoutPolicy::OnError() {
  if (degraded_) ++degraded_misses_;
  successes_in_a_row_ = 0;
}

}  // namespace routes
}  // namespace mandator
}  // namespace kess
