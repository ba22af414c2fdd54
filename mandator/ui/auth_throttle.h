// AuthThrottle: a token bucket per client address for failed
// authentication attempts (wrong login passwords, wrong Bearer tokens).
//
//   AuthThrottle throttle({});                     // 5 at once, then 1/s
//   const std::string client = ClientKey(request.remote_address);
//   absl::Duration wait = throttle.RetryAfter(client);
//   if (wait > absl::ZeroDuration()) -> 429, "Retry-After: <ceil seconds>"
//   if (wrong credential) throttle.Failed(client);
//
// Each address starts with `burst` tokens; every failure takes one, and one
// comes back every `refill` (never more than `burst`). An address without a
// token is refused until one is back: it may guess at most `burst` times at
// once and then once per `refill`. Successes take nothing. There is no
// global limit: one address's failures never slow another address down.
//
// At most `max_addresses` buckets are kept; a new address beyond that
// evicts the least recently failed one (whose bucket is then full again:
// the bound costs an attacker with that many addresses nothing he did not
// have already). A bucket that has filled up again is dropped when seen.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <list>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace kess {
namespace mandator {
namespace ui {

struct AuthThrottleOptions {
  int burst = 5;                              // failures allowed at once
  absl::Duration refill = absl::Seconds(1);   // one more failure per refill
  size_t max_addresses = 10000;
  const Clock* clock = nullptr;  // nullptr: Clock::Steady()
};

// The throttle's key for an HttpRequest::remote_address ("1.2.3.4:5678",
// "[2001:db8::1]:5678", or an address without a port): the IPv4 address,
// an IPv4-mapped IPv6 address as IPv4, another IPv6 address as its /64
// ("2001:db8::/64", since one host usually holds a whole /64). Anything
// unparsable is returned as is, without a port.
std::string ClientKey(const std::string& remote_address);

class AuthThrottle {
 public:
  // REQUIRES: burst >= 1, refill > 0, max_addresses >= 1.
  explicit AuthThrottle(AuthThrottleOptions options);
  AuthThrottle(const AuthThrottle&) = delete;
  AuthThrottle& operator=(const AuthThrottle&) = delete;

  // Zero if `client` may try now; otherwise how long until it may.
  absl::Duration RetryAfter(const std::string& client);
  // One failed attempt of `client`: takes a token.
  void Failed(const std::string& client);
  // Addresses with a bucket that is not full (for tests and metrics).
  size_t tracked();

 private:
  struct Bucket {
    double tokens = 0;
    int64_t updated_ms = 0;
    std::list<std::string>::iterator lru;  // position in lru_
  };
  // Tops `b` up to now.
  void Refill(Bucket& b, int64_t now) const;

  const AuthThrottleOptions options_;
  const Clock* const clock_;
  const double refill_ms_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
  // Least recently failed first.
  std::list<std::string> lru_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ui
}  // namespace mandator
}  // namespace kess
