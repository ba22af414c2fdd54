#include "mandator/ui/auth_throttle.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace kess {
namespace mandator {
namespace ui {

std::string ClientKey(const std::string& remote_address) {
  std::string host = remote_address;
  if (!host.empty() && host[0] == '[') {
    const size_t close = host.find(']');
    host = host.substr(1, close == std::string::npos ? std::string::npos
                                                     : close - 1);
  } else if (std::count(host.begin(), host.end(), ':') == 1) {
    host = host.substr(0, host.find(':'));  // IPv4 with a port
  }
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return host;
  in6_addr v6;
  if (inet_pton(AF_INET6, host.c_str(), &v6) != 1) return host;
  char text[INET6_ADDRSTRLEN];
  if (IN6_IS_ADDR_V4MAPPED(&v6)) {
    std::memcpy(&v4, &v6.s6_addr[12], 4);
    return inet_ntop(AF_INET, &v4, text, sizeof(text)) != nullptr ? text
                                                                   : host;
  }
  std::memset(&v6.s6_addr[8], 0, 8);
  if (inet_ntop(AF_INET6, &v6, text, sizeof(text)) == nullptr) return host;
  return absl::StrCat(text, "/64");
}

AuthThrottle::AuthThrottle(AuthThrottleOptions options)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : Clock::Steady()),
      refill_ms_(std::max<double>(
          1.0, absl::ToDoubleMilliseconds(options_.refill))) {}

void AuthThrottle::Refill(Bucket& b, int64_t now) const {
  if (now > b.updated_ms) {
    b.tokens = std::min<double>(
        options_.burst, b.tokens + (now - b.updated_ms) / refill_ms_);
    b.updated_ms = now;
  }
}

absl::Duration AuthThrottle::RetryAfter(const std::string& client) {
  const int64_t now = clock_->NowMs();
  absl::MutexLock lock(&mu_);
  auto it = buckets_.find(client);
  if (it == buckets_.end()) return absl::ZeroDuration();
  Bucket& b = it->second;
  Refill(b, now);
  if (b.tokens >= options_.burst) {  // as good as never seen
    lru_.erase(b.lru);
    buckets_.erase(it);
    return absl::ZeroDuration();
  }
  if (b.tokens >= 1) return absl::ZeroDuration();
  return absl::Milliseconds(std::ceil((1 - b.tokens) * refill_ms_));
}

void AuthThrottle::Failed(const std::string& client) {
  const int64_t now = clock_->NowMs();
  absl::MutexLock lock(&mu_);
  auto it = buckets_.find(client);
  if (it == buckets_.end()) {
    while (buckets_.size() >= std::max<size_t>(1, options_.max_addresses)) {
      buckets_.erase(lru_.front());
      lru_.pop_front();
    }
    lru_.push_back(client);
    Bucket fresh;
    fresh.tokens = options_.burst;
    fresh.updated_ms = now;
    fresh.lru = std::prev(lru_.end());
    it = buckets_.emplace(client, fresh).first;
  } else {
    lru_.splice(lru_.end(), lru_, it->second.lru);
  }
  Bucket& b = it->second;
  Refill(b, now);
  b.tokens = std::max(0.0, b.tokens - 1);
}

size_t AuthThrottle::tracked() {
  absl::MutexLock lock(&mu_);
  return buckets_.size();
}

}  // namespace ui
}  // namespace mandator
}  // namespace kess
