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
  if (streak_ > 0 && streak_status_ == result) {
    ++streak_;
  } else {
    streak_status_ = result;
    streak_ = 1;
  }
  const int needed = result == CheckStatus::kPassing
                         ? success_before_passing_
                         : failures_before_critical_;
  if (streak_ < needed) return false;
  status_ = result;
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
