// Clock: milliseconds of a monotonic clock, behind an interface so tests
// drive time by hand (ManualClock) instead of sleeping. Monotonic on
// purpose: ages and deadlines must not move when the wall clock jumps (NTP,
// an operator's `date -s`). Used by the SDK (failure backoff) and the
// mandator's scheduler (ages of heartbeats).
//
// Thread-safety: both implementations are thread-safe.
#pragma once

#include <atomic>
#include <cstdint>

#include "absl/time/time.h"

namespace kess {

// The monotonic clock (std::chrono::steady_clock) as an absl::Time, for
// intervals, ages and loop pacing that must not move when the wall clock
// steps: `MonotonicNow() - start`, `deadline - MonotonicNow()`. Its epoch is
// arbitrary (usually boot), so never print it, store it, send it or compare
// it with absl::Now(); a value that leaves the process is wall time.
absl::Time MonotonicNow();

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since an arbitrary fixed point; never goes back.
  virtual int64_t NowMs() const = 0;
  // std::chrono::steady_clock; never destroyed.
  static const Clock* Steady();
};

// Time stands still until a test moves it.
class ManualClock : public Clock {
 public:
  explicit ManualClock(int64_t now_ms = 1000000) : now_ms_(now_ms) {}
  int64_t NowMs() const override { return now_ms_.load(); }
  void Advance(int64_t ms) { now_ms_ += ms; }
  void Set(int64_t ms) { now_ms_ = ms; }

 private:
  std::atomic<int64_t> now_ms_;
};

}  // namespace kess
