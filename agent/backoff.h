// Jittered exponential backoff ("full jitter"): the n-th consecutive
// failure waits a uniformly random time in [cap/2, cap] with
// cap = min(max, initial * 2^n). The random part spreads the reconnects of
// thousands of agents after a distributor restart, so they do not arrive as
// one storm. Delays are whole milliseconds: `initial` and `max` are rounded
// up to them (`initial` to at least 1 ms).
//
// Thread-compatible (one owner).
#pragma once

#include <cstdint>
#include <random>

#include "absl/time/time.h"

namespace kess {
namespace agent {

class Backoff {
 public:
  // `seed` makes tests deterministic; agents seed with their host id and
  // the time, so hosts do not move in lockstep.
  Backoff(absl::Duration initial, absl::Duration max, uint64_t seed);

  // The delay before the next attempt; grows with each call.
  absl::Duration NextDelay();
  // After a success: the next delay starts small again.
  void Reset() { failures_ = 0; }
  int failures() const { return failures_; }

  // `base` +- `fraction` (e.g. 0.2 = +-20%), for periodic timers.
  absl::Duration Jitter(absl::Duration base, double fraction);

 private:
  const int64_t initial_ms_;
  const int64_t max_ms_;
  int failures_ = 0;
  std::mt19937_64 random_;
};

}  // namespace agent
}  // namespace kess
