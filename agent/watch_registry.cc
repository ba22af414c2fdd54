#include "agent/watch_registry.h"

#include <algorithm>
#include <chrono>
#include <random>

#include "absl/strings/str_format.h"
#include "common/steady_await.h"

namespace kess {
namespace agent {

using file_cache::CacheEntry;
using file_cache::CacheKey;

namespace {

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string NewEpoch() {
  std::random_device rd;
  uint64_t a = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  uint64_t b = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  return absl::StrFormat("%016x", a ^ (b * 0x9e3779b97f4a7c15ULL));
}

}  // namespace

bool WatchSelection::Matches(const CacheKey& key) const {
  if (key.type == CacheKey::Type::kRoute) return services.count(key.service) > 0;
  return namespaces.count(key.namespace_name) > 0 ||
         configs.count({key.namespace_name, key.key}) > 0;
}

WatchRegistry::WatchRegistry(Options options)
    : options_(std::move(options)),
      epoch_(options_.epoch.empty() ? NewEpoch() : options_.epoch) {
  timer_ = std::thread([this] { TimerLoop(); });
  if (options_.registry != nullptr) {
    options_.registry->SetCallbackGauge(
        "kess_agent_watch_waiters", "GET /v1/watch requests waiting.", {},
        [this] { return static_cast<double>(waiters()); });
    options_.registry->SetCallbackGauge(
        "kess_agent_watch_index",
        "The agent's change index (since this process started).", {},
        [this] { return static_cast<double>(index()); });
  }
}

WatchRegistry::~WatchRegistry() {
  if (options_.registry != nullptr) {
    options_.registry->RemoveCallbackGauge("kess_agent_watch_waiters", {});
    options_.registry->RemoveCallbackGauge("kess_agent_watch_index", {});
  }
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  timer_.join();
}

void WatchRegistry::Publish(const CacheEntry& entry) {
  WatchAnswer answer;
  std::vector<Callback> woken;
  {
    absl::MutexLock lock(&mu_);
    Latest& latest = latest_[entry.key];
    if (latest.entry != nullptr && latest.entry->revision >= entry.revision) {
      return;
    }
    latest.index = ++index_;
    // Kept without its value: a catch-up answer reads the file again.
    auto meta = std::make_shared<CacheEntry>();
    meta->key = entry.key;
    meta->revision = entry.revision;
    meta->absent = entry.absent;
    meta->content_type = entry.content_type;
    meta->mtime_ms = entry.mtime_ms;
    meta->written_ms = entry.written_ms;
    latest.entry = std::move(meta);
    answer.epoch = epoch_;
    answer.index = index_;
    answer.changes.push_back(std::make_shared<const CacheEntry>(entry));
    answer.memo = std::make_shared<WatchRenderMemo>();
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (it->second.selection.Matches(entry.key)) {
        deadlines_.erase({it->second.deadline_ms, it->first});
        woken.push_back(std::move(it->second.callback));
        it = waiters_.erase(it);
      } else {
        ++it;
      }
    }
    // Answered on the registry's thread, not on the caller's (the cache
    // writer's): rendering and handing thousands of bodies to the HTTP
    // loop must not hold up the next write.
    if (!woken.empty()) {
      woken_.emplace_back(std::move(woken), std::move(answer));
    }
  }
}

absl::StatusOr<uint64_t> WatchRegistry::Watch(WatchRequest request,
                                              Callback callback) {
  if (request.selection.empty()) {
    return absl::InvalidArgumentError(
        "nothing to watch: give config=<ns>/<key>, namespace=<ns> and/or "
        "service=<svc>");
  }
  if (request.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("timeout must be positive");
  }
  const absl::Duration timeout = std::min(request.timeout, options_.max_timeout);
  WatchAnswer answer;
  {
    absl::MutexLock lock(&mu_);
    answer.epoch = epoch_;
    answer.index = index_;
    if (request.epoch != epoch_ || request.index == 0 ||
        request.index > index_) {
      answer.full = true;
    } else {
      std::vector<std::pair<uint64_t, std::shared_ptr<const CacheEntry>>> found;
      for (const auto& [key, latest] : latest_) {
        if (latest.index > request.index && request.selection.Matches(key)) {
          found.emplace_back(latest.index, latest.entry);
        }
      }
      std::sort(found.begin(), found.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      for (auto& f : found) answer.changes.push_back(std::move(f.second));
      answer.without_values = !answer.changes.empty();
    }
    if (!answer.full && answer.changes.empty()) {
      if (waiters_.size() >= options_.max_waiters) {
        return absl::ResourceExhaustedError(absl::StrFormat(
            "%d watches are waiting already", waiters_.size()));
      }
      const uint64_t id = next_waiter_++;
      Waiter& w = waiters_[id];
      w.selection = std::move(request.selection);
      w.index = request.index;
      // Up to timeout/16 more, at random, so that clients that started
      // together (after an agent restart) do not all come back together.
      const int64_t timeout_ms = absl::ToInt64Milliseconds(
          absl::Ceil(timeout, absl::Milliseconds(1)));
      const uint64_t spread = static_cast<uint64_t>(timeout_ms / 16 + 1);
      const int64_t jitter_ms =
          timeout_ms >= 16 ? static_cast<int64_t>(rng_() % spread) : 0;
      w.deadline_ms = SteadyMs() + timeout_ms + jitter_ms;
      w.callback = std::move(callback);
      deadlines_.insert({w.deadline_ms, id});
      return id;
    }
  }
  callback(std::move(answer));
  return 0;
}

void WatchRegistry::Cancel(uint64_t id) {
  absl::MutexLock lock(&mu_);
  auto it = waiters_.find(id);
  if (it == waiters_.end()) return;
  deadlines_.erase({it->second.deadline_ms, id});
  waiters_.erase(it);
}

uint64_t WatchRegistry::index() const {
  absl::MutexLock lock(&mu_);
  return index_;
}

size_t WatchRegistry::waiters() const {
  absl::MutexLock lock(&mu_);
  return waiters_.size();
}

void WatchRegistry::TimerLoop() {
  absl::MutexLock lock(&mu_);
  while (!stop_) {
    if (!woken_.empty()) {
      std::deque<std::pair<std::vector<Callback>, WatchAnswer>> woken;
      woken.swap(woken_);
      mu_.Unlock();
      for (auto& [callbacks, answer] : woken) {
        for (Callback& callback : callbacks) callback(answer);
      }
      mu_.Lock();
      continue;
    }
    const int64_t now = SteadyMs();
    std::vector<std::pair<Callback, WatchAnswer>> expired;
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      uint64_t id = deadlines_.begin()->second;
      deadlines_.erase(deadlines_.begin());
      auto it = waiters_.find(id);
      if (it == waiters_.end()) continue;
      WatchAnswer answer;
      answer.epoch = epoch_;
      answer.index = it->second.index;
      answer.timed_out = true;
      expired.emplace_back(std::move(it->second.callback), std::move(answer));
      waiters_.erase(it);
    }
    if (!expired.empty()) {
      mu_.Unlock();
      for (auto& [callback, answer] : expired) callback(std::move(answer));
      mu_.Lock();
      continue;
    }
    // Sleep until the earliest deadline (at most 1 s, so a new earlier one
    // is seen soon even without a wake-up) or until the set changes.
    int64_t wait_ms = 1000;
    if (!deadlines_.empty()) {
      wait_ms = std::clamp<int64_t>(deadlines_.begin()->first - now, 1, 1000);
    }
    const int64_t first =
        deadlines_.empty() ? int64_t{-1} : deadlines_.begin()->first;
    auto changed = [this, first]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      if (stop_ || !woken_.empty()) return true;
      return (deadlines_.empty() ? int64_t{-1}
                                 : deadlines_.begin()->first) != first;
    };
    AwaitWithSteadyTimeout(&mu_, absl::Condition(&changed),
                           absl::Milliseconds(wait_ms));
  }
}

}  // namespace agent
}  // namespace kess
