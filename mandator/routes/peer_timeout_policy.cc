#include "mandator/routes/peer_timeout_policy.h"

namespace kess {
namespace mandator {
namespace routes {

void PeerTimeoutPolicy::OnSuccess() {
  timeouts_in_a_row_ = 0;
  if (!degraded_) return;
  if (++successes_in_a_row_ >= options_.successes_to_recover) {
    degraded_ = false;
    successes_in_a_row_ = 0;
  }
}

void PeerTimeoutPolicy::OnTimeout() {
  successes_in_a_row_ = 0;
  if (++timeouts_in_a_row_ >= options_.timeouts_to_degrade) degraded_ = true;
}

void PeerTimeoutPolicy::OnError() { successes_in_a_row_ = 0; }

}  // namespace routes
}  // namespace mandator
}  // namespace kess
