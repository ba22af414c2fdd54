// The SDK's clock is common/clock.h (shared with the mandator's scheduler).
#pragma once

#include "common/clock.h"

namespace kess {
namespace sdk {

using Clock = ::kess::Clock;
using ManualClock = ::kess::ManualClock;

}  // namespace sdk
}  // namespace kess
