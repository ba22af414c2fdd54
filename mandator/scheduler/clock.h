// The monotonic clock the scheduler measures ages on, behind an interface so
// tests drive time by hand. Monotonic on purpose: a wall-clock jump (NTP,
// an operator's `date -s`) must not make every instance look silent or
// fresh.
//
// Thread-safety: NowMs() may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>

namespace kess {
namespace scheduler {

class MonotonicClock {
 public:
  virtual ~MonotonicClock() = default;
  // Milliseconds since an arbitrary fixed point; never goes back.
  virtual int64_t NowMs() const = 0;

  // std::chrono::steady_clock. Lives for the whole process.
  static const MonotonicClock* Real();
};

// For tests: time moves only when Advance() is called.
class FakeClock : public MonotonicClock {
 public:
  explicit FakeClock(int64_t start_ms = 1000000) : now_ms_(start_ms) {}
  int64_t NowMs() const override { return now_ms_.load(); }
  // REQUIRES: ms >= 0.
  void Advance(int64_t ms) { now_ms_.fetch_add(ms); }

 private:
  std::atomic<int64_t> now_ms_;
};

}  // namespace scheduler
}  // namespace kess
