#include "common/testing/wait_for.h"

#include <chrono>
#include <thread>

namespace kess {
namespace testing {

bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout,
             absl::Duration poll) {
  // The monotonic clock: a wall-clock step must not stretch or cut a wait.
  const auto deadline =
      std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(timeout);
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return condition();
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(poll));
  }
}

}  // namespace testing
}  // namespace kess
