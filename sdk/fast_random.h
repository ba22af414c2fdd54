// FastRandom: a small, fast PRNG (wyrand) for load-balancer picks. Not
// cryptographic. One per thread (ThreadLocal(), seeded once per thread from
// std::random_device), or a seeded one for reproducible tests.
//
// Thread-safety: an instance is not thread-safe; ThreadLocal() returns the
// calling thread's own instance.
#pragma once

#include <cstdint>

namespace kess {
namespace sdk {

class FastRandom {
 public:
  explicit FastRandom(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    state_ += 0xa0761d6478bd642fULL;
    const unsigned __int128 t = static_cast<unsigned __int128>(state_) *
                                (state_ ^ 0xe7037ed1a0b428dbULL);
    return static_cast<uint64_t>(t >> 64) ^ static_cast<uint64_t>(t);
  }

  // Uniform in [0, n). REQUIRES: n > 0. Multiply-shift: the bias is below
  // n / 2^64, far below anything measurable for n < 2^40.
  uint64_t Uniform(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(Next()) * n) >>
                                 64);
  }

  // Uniform in [0, 1).
  double UnitDouble() { return (Next() >> 11) * 0x1.0p-53; }

  // The calling thread's instance.
  static FastRandom& ThreadLocal();

 private:
  uint64_t state_;
};

}  // namespace sdk
}  // namespace kess
