// Helpers shared by the SDK's tests: bounded waits, a temp cache dir, a
// port nobody listens on.
#pragma once

#include <functional>
#include <string>

namespace kess {
namespace sdk {
namespace testing {

// "Did not hang", never a speed claim.
inline constexpr int64_t kLongMs = 30000;

// Polls `condition` every 10 ms for up to kLongMs; its last value.
bool WaitFor(const std::function<bool()>& condition);

// A new empty directory under $TEST_TMPDIR (or /tmp); "" on failure.
std::string MakeTempDir(const std::string& prefix);

// A loopback port nothing listens on (bound, then closed).
int DeadPort();

}  // namespace testing
}  // namespace sdk
}  // namespace kess
