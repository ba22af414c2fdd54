#include "mandator/scheduler/clock.h"

#include <chrono>

namespace kess {
namespace scheduler {
namespace {

class SteadyClock : public MonotonicClock {
 public:
  int64_t NowMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace

const MonotonicClock* MonotonicClock::Real() {
  static const SteadyClock* clock = new SteadyClock();
  return clock;
}

}  // namespace scheduler
}  // namespace kess
