#include "sdk/fast_random.h"

#include <random>

namespace kess {
namespace sdk {

FastRandom& FastRandom::ThreadLocal() {
  thread_local FastRandom random([] {
    std::random_device device;
    return (static_cast<uint64_t>(device()) << 32) ^ device();
  }());
  return random;
}

}  // namespace sdk
}  // namespace kess
