#include "sdk/cache_watcher.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/http_client.h"
#include "common/json_util.h"
#include "model/names.h"
#include "common/steady_await.h"
#include "glog/logging.h"

namespace kess {
namespace sdk {

using file_cache::CacheEntry;
using file_cache::CacheKey;

namespace {

int64_t MonotonicMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Whole milliseconds, rounded up: a positive delay never becomes "now".
int64_t CeilMs(absl::Duration d) {
  return absl::ToInt64Milliseconds(absl::Ceil(d, absl::Milliseconds(1)));
}

// {"configs":[{"namespace":..,"key":..}],"routes":["svc"]}; a list that
// would be empty is left out.
std::string SubscriptionBody(const std::vector<CacheKey>& keys) {
  std::string configs, routes;
  for (const CacheKey& key : keys) {
    if (key.type == CacheKey::Type::kRoute) {
      absl::StrAppend(&routes, routes.empty() ? "" : ",",
                      JsonQuote(key.service));
    } else {
      absl::StrAppend(&configs, configs.empty() ? "" : ",",
                      "{\"namespace\":", JsonQuote(key.namespace_name),
                      ",\"key\":", JsonQuote(key.key), "}");
    }
  }
  std::string body = "{";
  if (!configs.empty()) absl::StrAppend(&body, "\"configs\":[", configs, "]");
  if (!routes.empty()) {
    absl::StrAppend(&body, configs.empty() ? "" : ",", "\"routes\":[", routes,
                    "]");
  }
  return body + "}";
}

}  // namespace

CacheWatcher::WatchHandle::~WatchHandle() { watcher_->Unwatch(id_); }

CacheWatcher::CacheWatcher(Options options)
    : options_(std::move(options)), reader_(options_.cache_dir, options_.env) {
  for (auto [counters, type] : {std::make_pair(&config_counters_, "config"),
                                std::make_pair(&route_counters_, "route")}) {
    counters->read_errors = options_.registry->GetCounter(
        absl::StrCat("kess_sdk_", type, "_read_errors_total"),
        absl::StrCat("Cache files of ", type,
                     "s that could not be read (the last good version was "
                     "kept)."));
    counters->updates = options_.registry->GetCounter(
        absl::StrCat("kess_sdk_", type, "_updates_total"),
        absl::StrCat("New ", type, " versions read."));
  }
  subscribe_errors_ = options_.registry->GetCounter(
      "kess_sdk_subscribe_errors_total",
      "Failed subscription calls to the local agent (retried).");
}

absl::StatusOr<std::unique_ptr<CacheWatcher>> CacheWatcher::Create(
    Options options) {
  if (options.cache_dir.empty()) {
    return absl::InvalidArgumentError("cache_dir is empty");
  }
  if (options.poll_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("poll_interval must be positive");
  }
  std::unique_ptr<CacheWatcher> client(new CacheWatcher(std::move(options)));
  if (client->options_.watch_directories) {
    absl::StatusOr<std::unique_ptr<DirWatcher>> dirs =
        DirWatcher::Create([c = client.get()] { c->Wake(); });
    if (dirs.ok()) {
      client->dir_watcher_ = *std::move(dirs);
    } else {
      LOG(WARNING) << "kess: no inotify on " << client->options_.cache_dir
                   << " (changes are seen by polling every "
                   << client->options_.poll_interval << "): "
                   << dirs.status();
    }
  }
  client->thread_ = std::thread([c = client.get()] { c->Run(); });
  return client;
}

CacheWatcher::~CacheWatcher() {
  dir_watcher_.reset();  // no Wake() after this
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

absl::StatusOr<std::unique_ptr<CacheWatcher::WatchHandle>> CacheWatcher::Watch(
    const CacheKey& key, Callback callback) {
  KESS_RETURN_IF_ERROR(file_cache::ValidateKey(key));
  if (dir_watcher_ != nullptr) {
    const std::string path =
        absl::StrCat(options_.cache_dir, "/", file_cache::RelativePath(key));
    absl::Status watched = dir_watcher_->Watch(path.substr(0, path.rfind('/')));
    if (!watched.ok()) {
      LOG_FIRST_N(WARNING, 1) << "kess: " << watched
                              << " (polling every " << options_.poll_interval
                              << " still sees changes)";
    }
  }
  absl::MutexLock lock(&mu_);
  const uint64_t id = next_id_++;
  watchers_[id] = Watcher{key, std::move(callback), 0};
  auto inserted = keys_.emplace(key, KeyState());
  if (inserted.second) {
    inserted.first->second.subscribed = options_.agent_http_address.empty();
    Refresh(key, &inserted.first->second);  // Get() works at once
  }
  wake_ = true;  // deliver the current version and subscribe soon
  return std::unique_ptr<WatchHandle>(new WatchHandle(this, id));
}

void CacheWatcher::Unwatch(uint64_t id) {
  // Wait for a running callback unless this is that callback's thread.
  const bool on_poll_thread =
      std::this_thread::get_id() == polling_thread_.load();
  auto remove = [this, id] {
    absl::MutexLock lock(&mu_);
    auto it = watchers_.find(id);
    if (it != watchers_.end()) {
      CacheKey key = it->second.key;
      watchers_.erase(it);
      bool still_watched = false;
      for (const auto& [other, w] : watchers_) still_watched |= w.key == key;
      if (!still_watched) keys_.erase(key);
    }
  };
  if (on_poll_thread) {  // it holds poll_mu_ already
    remove();
    return;
  }
  absl::MutexLock poll(&poll_mu_);
  remove();
}

absl::StatusOr<CacheEntry> CacheWatcher::Get(const CacheKey& key) {
  KESS_RETURN_IF_ERROR(file_cache::ValidateKey(key));
  absl::MutexLock lock(&mu_);
  auto it = keys_.find(key);
  if (it == keys_.end()) return reader_.Read(key);  // not watched: read now
  KeyState& state = it->second;
  if (!state.have_good) Refresh(key, &state);
  if (!state.have_good) {
    return state.last_error.ok()
               ? absl::NotFoundError(key.ToString() +
                                     " is not in the cache yet")
               : state.last_error;
  }
  return state.good;
}

const CacheWatcher::TypeCounters& CacheWatcher::CountersFor(
    const CacheKey& key) const {
  return key.type == CacheKey::Type::kRoute ? route_counters_
                                            : config_counters_;
}

void CacheWatcher::Run() {
  while (true) {
    PollOnce();
    absl::MutexLock lock(&mu_);
    auto woken = [this]()
                     ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stop_ || wake_; };
    AwaitWithSteadyTimeout(&mu_, absl::Condition(&woken),
                           options_.poll_interval);
    if (stop_) return;
    wake_ = false;
  }
}

void CacheWatcher::PollNow() { PollOnce(); }

void CacheWatcher::Wake() {
  absl::MutexLock lock(&mu_);
  wake_ = true;
}

void CacheWatcher::PollOnce() {
  absl::MutexLock poll(&poll_mu_);
  polling_thread_ = std::this_thread::get_id();
  SubscribePending();
  {
    absl::MutexLock lock(&mu_);
    for (auto& [key, state] : keys_) Refresh(key, &state);
  }
  Deliver();
  polling_thread_ = std::thread::id();
}

void CacheWatcher::Refresh(const CacheKey& key, KeyState* state) {
  absl::StatusOr<file_cache::FileInfo> info = reader_.Stat(key);
  absl::Status error;
  if (info.ok() && state->have_info && *info == state->info) return;
  absl::StatusOr<CacheEntry> entry =
      info.ok() ? reader_.Read(key) : absl::StatusOr<CacheEntry>(info.status());
  if (info.ok()) {
    state->info = *info;
    state->have_info = true;
  } else {
    state->have_info = false;
  }
  if (!entry.ok()) {
    state->last_error = entry.status();
    // No file yet is normal until the agent fetched it; anything else
    // (garbled, permissions, or a file that vanished) is an error.
    if (absl::IsNotFound(entry.status()) && !state->have_good) return;
    CountersFor(key).read_errors->Increment();
    const int64_t now = MonotonicMs();
    if (now - last_error_log_ms_ >= 10000) {
      last_error_log_ms_ = now;
      LOG(WARNING) << "kess " << key.ToString()
                   << ": keeping the last good version"
                   << (state->have_good
                           ? absl::StrCat(" (revision ", state->good.revision,
                                          ")")
                           : std::string(" (none yet)"))
                   << ": " << entry.status();
    }
    return;
  }
  state->last_error = absl::OkStatus();
  if (state->have_good && entry->revision <= state->good.revision) return;
  state->good = *std::move(entry);
  state->have_good = true;
  CountersFor(key).updates->Increment();
}

void CacheWatcher::Deliver() {
  struct Call {
    uint64_t id;
    Callback callback;
    CacheEntry entry;
  };
  std::vector<Call> calls;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [id, watcher] : watchers_) {
      auto it = keys_.find(watcher.key);
      if (it == keys_.end() || !it->second.have_good) continue;
      const CacheEntry& good = it->second.good;
      if (good.revision <= watcher.delivered) continue;
      watcher.delivered = good.revision;
      calls.push_back({id, watcher.callback, good});
    }
  }
  for (const Call& call : calls) {
    {
      absl::MutexLock lock(&mu_);
      if (watchers_.count(call.id) == 0) continue;  // dropped by a callback
    }
    call.callback(call.entry);
  }
}

void CacheWatcher::SubscribePending() {
  std::vector<CacheKey> due;
  const int64_t now = MonotonicMs();
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [key, state] : keys_) {
      if (!state.subscribed && state.next_subscribe_ms <= now) {
        due.push_back(key);
      }
    }
  }
  if (due.empty()) return;
  absl::Status status = PostSubscriptions(SubscriptionBody(due));
  absl::MutexLock lock(&mu_);
  for (const CacheKey& key : due) {
    auto it = keys_.find(key);
    if (it == keys_.end()) continue;
    KeyState& state = it->second;
    if (status.ok()) {
      state.subscribed = true;
      continue;
    }
    absl::Duration delay = options_.subscribe_retry_initial;
    for (int i = 0;
         i < state.subscribe_failures && delay < options_.subscribe_retry_max;
         ++i) {
      delay *= 2;
    }
    ++state.subscribe_failures;
    state.next_subscribe_ms =
        now + CeilMs(std::min(delay, options_.subscribe_retry_max));
  }
  if (!status.ok()) {
    subscribe_errors_->Increment();
    if (now - last_error_log_ms_ >= 10000) {
      last_error_log_ms_ = now;
      LOG(WARNING) << "kess agent at " << options_.agent_http_address
                   << " did not take the subscription (retrying; cached "
                      "values are still served): "
                   << status;
    }
  }
}

absl::Status CacheWatcher::PostSubscriptions(const std::string& body) {
  absl::StatusOr<HttpReply> reply =
      HttpCall(options_.agent_http_address, "POST", "/v1/subscriptions", body,
               options_.http_timeout);
  if (!reply.ok()) {
    return absl::Status(reply.status().code(),
                        absl::StrCat("agent: ", reply.status().message()));
  }
  if (reply->status != 200) {
    return absl::UnavailableError(
        absl::StrCat("agent answered ", reply->status, ": ", reply->body));
  }
  return absl::OkStatus();
}

}  // namespace sdk
}  // namespace kess
