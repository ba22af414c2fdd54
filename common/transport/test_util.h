// Deprecated: the old place of common/transport/testing/test_util.h, kept
// only for mandator/scheduler/scheduler_test.cc until the mandator tests
// move to the testing/ helpers. New code includes
// "common/transport/testing/test_util.h" and "common/testing/wait_for.h".
#pragma once

#include <cstdint>
#include <functional>

#include "absl/time/time.h"
#include "common/testing/wait_for.h"
#include "common/transport/testing/test_util.h"

namespace kess {
namespace transport {
namespace testing {

// Deprecated: kess::testing::WaitFor(condition, absl::Milliseconds(ms)).
inline bool WaitFor(const std::function<bool()>& condition,
                    int64_t timeout_ms) {
  return kess::testing::WaitFor(condition, absl::Milliseconds(timeout_ms));
}

}  // namespace testing
}  // namespace transport
}  // namespace kess
