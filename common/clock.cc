#include "common/clock.h"

#include <chrono>

namespace kess {
namespace {

class SteadyClock : public Clock {
 public:
  int64_t NowMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace

absl::Time MonotonicNow() {
  return absl::UnixEpoch() +
         absl::FromChrono(std::chrono::steady_clock::now().time_since_epoch());
}

const Clock* Clock::Steady() {
  static const SteadyClock* clock = new SteadyClock();
  return clock;
}

}  // namespace kess
