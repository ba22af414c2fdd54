#include "agent/check_state.h"

#include <utility>

namespace kess {
namespace agent {

CheckState::CheckState(CheckStatus initial, int success_before_passing,
                       int failures_before_critical)
    : success_before_passing_(success_before_passing < 1
                                  ? 1
                                  : success_before_passing),
      failures_before_critical_(failures_before_critical < 1
                                    ? 1
                                    : failures_before_critical),
      status_(initial) {}

bool CheckState::Record(CheckStatus result, std::string output) {
  ++results_;
  output_ = std::move(output);
  if (result == status_) {
    streak_ = 0;
    return false;
  }
  // Warning and critical results count in one failure streak, so that a
  // check alternating between them still trips the threshold.
  const bool failing = result != CheckStatus::kPassing;
  if (streak_ > 0 && streak_failing_ == failing) {
    ++streak_;
    if (result > streak_worst_) streak_worst_ = result;
  } else {
    streak_failing_ = failing;
    streak_worst_ = result;
    streak_ = 1;
  }
  const int needed =
      failing ? failures_before_critical_ : success_before_passing_;
  if (streak_ < needed) return false;
  status_ = streak_worst_;
  streak_ = 0;
  change_output_ = output_;
  return true;
}

bool CheckState::Set(CheckStatus status, std::string output) {
  ++results_;
  output_ = std::move(output);
  streak_ = 0;
  if (status == status_) return false;
  status_ = status;
  change_output_ = output_;
  return true;
}

}  // namespace agent
}  // namespace kess
