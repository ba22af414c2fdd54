// The state of one health check: passing, warning or critical, with flap
// damping. A result moves the state only after `success_before_passing`
// consecutive passing results, or `failures_before_critical` consecutive
// non-passing results (warning and critical count in the same streak; at
// the threshold the state becomes the worst status of the streak); a
// result equal to the state resets the count. Set() (a TTL check's update from
// the application, its expiry) moves it at once.
//
// Thread-compatible: a value type; pure, no clock.
#pragma once

#include <cstdint>
#include <string>

#include "agent/check_spec.h"

namespace kess {
namespace agent {

class CheckState {
 public:
  CheckState(CheckStatus initial, int success_before_passing,
             int failures_before_critical);

  // Records one result and its output; true if the state changed.
  bool Record(CheckStatus result, std::string output);
  // Moves to `status` at once; true if the state changed.
  bool Set(CheckStatus status, std::string output);

  CheckStatus status() const { return status_; }
  // The output of the latest result.
  const std::string& output() const { return output_; }
  // The output of the result that last changed the state (the initial
  // state's is empty).
  const std::string& change_output() const { return change_output_; }
  int64_t results() const { return results_; }
  // Consecutive results that disagree with the state (0..threshold-1).
  int pending() const { return streak_; }

 private:
  const int success_before_passing_;
  const int failures_before_critical_;
  CheckStatus status_;
  bool streak_failing_ = false;  // the streak is of non-passing results
  CheckStatus streak_worst_ = CheckStatus::kPassing;
  int streak_ = 0;
  int64_t results_ = 0;
  std::string output_;
  std::string change_output_;
};

}  // namespace agent
}  // namespace kess
