// The one bounded wait of kess's tests and benchmarks: poll a condition
// until it holds or a timeout passes.
//
//   ASSERT_TRUE(kess::testing::WaitFor([&] { return Revision() >= 7; },
//                                      absl::Seconds(30)));
//
// A timeout in a test only means "did not hang", never a speed claim: give
// it a generous bound. Thread-safe; `condition` runs on the calling thread.
#pragma once

#include <functional>

#include "absl/time/time.h"

namespace kess {
namespace testing {

// How often WaitFor asks `condition` by default.
inline constexpr absl::Duration kWaitForPollInterval = absl::Milliseconds(5);

// Calls `condition` every `poll` until it returns true (then true) or
// `timeout` has passed on the monotonic clock (then false, after one last
// call). `condition` is called at least once, also with a zero or negative
// `timeout`. Pass a longer `poll` only when `condition` is expensive (an
// HTTP request, a ZooKeeper read).
bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout,
             absl::Duration poll = kWaitForPollInterval);

}  // namespace testing
}  // namespace kess
