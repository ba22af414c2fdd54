#include "sdk/cache_watcher.h"

#include <errno.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
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

// "<program>-<pid>-<nonce>", in the characters of model/names.h. The
// random nonce makes every CacheWatcher its own owner at the agent: two
// watchers of one process (a ConfigClient and a Discovery, or two of either)
// holding the same key do not remove each other's subscription, and neither
// do processes of two containers with the same pid sharing one host agent.
std::string DefaultOwner() {
  std::string name = program_invocation_short_name != nullptr
                         ? program_invocation_short_name
                         : "";
  for (char& c : name) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '_' && c != '-') c = '_';
  }
  if (name.empty() || !absl::ascii_isalnum(name[0])) name = "p" + name;
  if (name.size() > 100) name.resize(100);
  while (absl::StrContains(name, "..")) {
    name = absl::StrReplaceAll(name, {{"..", "._"}});
  }
  std::random_device rd;
  const uint64_t nonce = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^
                         static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  return absl::StrCat(name, "-", getpid(), "-",
                      absl::Hex(nonce & 0xffffffffffULL, absl::kZeroPad10));
}

// {"configs":[{"namespace":..,"key":..}],"routes":["svc"],"namespaces":[..],
// "app":owner}; a list that would be empty is left out.
std::string SubscriptionBody(const std::vector<CacheKey>& keys,
                             const std::vector<std::string>& namespaces,
                             const std::string& owner) {
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
  std::string ns;
  for (const std::string& n : namespaces) {
    absl::StrAppend(&ns, ns.empty() ? "" : ",", JsonQuote(n));
  }
  std::string body = absl::StrCat("{\"app\":", JsonQuote(owner));
  if (!configs.empty()) absl::StrAppend(&body, ",\"configs\":[", configs, "]");
  if (!routes.empty()) absl::StrAppend(&body, ",\"routes\":[", routes, "]");
  if (!ns.empty()) absl::StrAppend(&body, ",\"namespaces\":[", ns, "]");
  return body + "}";
}

// The backoff of a failed subscription (KeyState, NamespaceState).
template <typename State>
void SubscribeDone(const absl::Status& status, int64_t now,
                   const CacheWatcher::Options& options, State* state) {
  if (status.ok()) {
    state->subscribed = true;
    return;
  }
  absl::Duration delay = options.subscribe_retry_initial;
  for (int i = 0;
       i < state->subscribe_failures && delay < options.subscribe_retry_max;
       ++i) {
    delay *= 2;
  }
  ++state->subscribe_failures;
  state->next_subscribe_ms =
      now + CeilMs(std::min(delay, options.subscribe_retry_max));
}

}  // namespace

CacheWatcher::WatchHandle::~WatchHandle() { watcher_->Unwatch(id_); }

CacheWatcher::CacheWatcher(Options options)
    : options_(std::move(options)),
      owner_(options_.owner.empty() ? DefaultOwner() : options_.owner),
      reader_(options_.cache_dir, options_.env) {
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
  if (!options.owner.empty()) {
    absl::Status valid = ValidateName(NameKind::kKey, options.owner);
    if (!valid.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("owner: ", valid.message()));
    }
  }
  std::unique_ptr<CacheWatcher> client(new CacheWatcher(std::move(options)));
  if (client->options_.watch_directories) {
    absl::StatusOr<std::unique_ptr<DirWatcher>> dirs =
        DirWatcher::Create([c = client.get()](const DirChanges& changes) {
          c->OnDirChanges(changes);
        });
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
  UnsubscribePending();  // handles dropped just before
}

void CacheWatcher::WatchDirectory(const std::string& dir) {
  if (dir_watcher_ == nullptr) return;
  absl::Status watched = dir_watcher_->Watch(dir);
  if (!watched.ok()) {
    LOG_FIRST_N(WARNING, 1) << "kess: " << watched << " (polling every "
                            << options_.poll_interval
                            << " still sees changes)";
  }
}

absl::StatusOr<std::unique_ptr<CacheWatcher::WatchHandle>> CacheWatcher::Watch(
    const CacheKey& key, Callback callback) {
  KESS_RETURN_IF_ERROR(file_cache::ValidateKey(key));
  const std::string path =
      absl::StrCat(options_.cache_dir, "/", file_cache::RelativePath(key));
  WatchDirectory(path.substr(0, path.rfind('/')));
  absl::MutexLock lock(&mu_);
  const uint64_t id = next_id_++;
  watchers_[id] = Watcher{key, std::move(callback), 0};
  unsubscribe_keys_.erase(key);
  auto inserted = keys_.emplace(key, KeyState());
  if (inserted.second) {
    inserted.first->second.subscribed = options_.agent_http_address.empty();
    Refresh(key, &inserted.first->second);  // Get() works at once
  }
  wake_ = true;  // deliver the current version and subscribe soon
  return std::unique_ptr<WatchHandle>(new WatchHandle(this, id));
}

absl::StatusOr<std::unique_ptr<CacheWatcher::WatchHandle>>
CacheWatcher::WatchNamespace(const std::string& ns, Callback callback) {
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kNamespace, ns));
  WatchDirectory(absl::StrCat(options_.cache_dir, "/configs/", ns));
  absl::MutexLock lock(&mu_);
  const uint64_t id = next_id_++;
  Watcher watcher{CacheKey::Config(ns, ""), std::move(callback), 0};
  watcher.whole_namespace = true;
  watchers_[id] = std::move(watcher);
  unsubscribe_namespaces_.erase(ns);
  auto inserted = namespaces_.emplace(ns, NamespaceState());
  if (inserted.second) {
    NamespaceState& state = inserted.first->second;
    state.subscribed = options_.agent_http_address.empty();
    ListNamespace(ns, &state);
    for (auto& [key, key_state] : state.keys) {
      Refresh(CacheKey::Config(ns, key), &key_state);
    }
  }
  wake_ = true;
  return std::unique_ptr<WatchHandle>(new WatchHandle(this, id));
}

void CacheWatcher::ListNamespace(const std::string& ns, NamespaceState* state) {
  ++listings_;
  absl::StatusOr<std::vector<std::string>> names =
      options_.env->ListDir(absl::StrCat(options_.cache_dir, "/configs/", ns));
  if (!names.ok()) return;  // no key fetched yet (or unreadable: polled again)
  for (absl::string_view name : *names) {
    // Temp files of writes in progress start with '.'.
    if (absl::StartsWith(name, ".") || !absl::ConsumeSuffix(&name, ".json")) {
      continue;
    }
    if (!ValidateName(NameKind::kKey, name).ok()) continue;
    state->keys.emplace(std::string(name), KeyState());
  }
}

void CacheWatcher::Unwatch(uint64_t id) {
  // Wait for a running callback unless this is that callback's thread.
  const bool on_poll_thread =
      std::this_thread::get_id() == polling_thread_.load();
  auto remove = [this, id] {
    absl::MutexLock lock(&mu_);
    auto it = watchers_.find(id);
    if (it != watchers_.end()) {
      const CacheKey key = it->second.key;
      const bool whole_namespace = it->second.whole_namespace;
      watchers_.erase(it);
      bool still_watched = false;
      for (const auto& [other, w] : watchers_) {
        still_watched |= w.key == key && w.whole_namespace == whole_namespace;
      }
      if (still_watched) return;
      const bool tell_agent = options_.unsubscribe_unwatched &&
                              !options_.agent_http_address.empty();
      if (whole_namespace) {
        namespaces_.erase(key.namespace_name);
        if (tell_agent) unsubscribe_namespaces_.insert(key.namespace_name);
      } else {
        keys_.erase(key);
        if (tell_agent) unsubscribe_keys_.insert(key);
      }
      if (tell_agent) wake_ = true;
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
  bool full = true;
  std::map<std::string, std::set<std::string>> changed;
  int64_t last_full_ms = 0;
  while (true) {
    // Wake-ups more often than poll_interval still get the backstop.
    if (full || MonotonicMs() - last_full_ms >=
                    absl::ToInt64Milliseconds(options_.poll_interval)) {
      last_full_ms = MonotonicMs();
      PollOnce();
    } else {
      PollChanged(changed);
    }
    absl::MutexLock lock(&mu_);
    auto woken = [this]()
                     ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stop_ || wake_; };
    AwaitWithSteadyTimeout(&mu_, absl::Condition(&woken),
                           options_.poll_interval);
    if (stop_) return;
    // The poll_interval backstop (nothing woke it), or a rescan: list all.
    full = !wake_ || full_poll_;
    wake_ = false;
    full_poll_ = false;
    changed = std::move(changed_files_);
    changed_files_.clear();
    changed_count_ = 0;
  }
}

void CacheWatcher::PollNow() { PollOnce(); }

void CacheWatcher::Wake() {
  absl::MutexLock lock(&mu_);
  wake_ = true;
}

void CacheWatcher::OnDirChanges(const DirChanges& changes) {
  // Beyond this many names a full poll is cheaper than remembering them.
  constexpr size_t kMaxChangedFiles = 10000;
  absl::MutexLock lock(&mu_);
  wake_ = true;
  if (full_poll_) return;
  if (changes.rescan) {
    full_poll_ = true;
    changed_files_.clear();
    return;
  }
  for (const auto& [dir, names] : changes.files) {
    std::set<std::string>& mine = changed_files_[dir];
    for (const std::string& name : names) {
      changed_count_ += mine.insert(name).second;
    }
  }
  if (changed_count_ > kMaxChangedFiles) {
    full_poll_ = true;
    changed_files_.clear();
  }
}

void CacheWatcher::PollChanged(
    const std::map<std::string, std::set<std::string>>& files) {
  absl::MutexLock poll(&poll_mu_);
  polling_thread_ = std::this_thread::get_id();
  SubscribePending();
  UnsubscribePending();
  {
    absl::MutexLock lock(&mu_);
    std::string root = options_.cache_dir;
    while (root.size() > 1 && root.back() == '/') root.pop_back();
    const std::string routes = root + "/routes";
    const std::string configs = root + "/configs/";
    for (const auto& [dir, names] : files) {
      const bool is_routes = dir == routes;
      if (!is_routes && !absl::StartsWith(dir, configs)) continue;
      const std::string ns = is_routes ? "" : dir.substr(configs.size());
      auto ns_state = is_routes ? namespaces_.end() : namespaces_.find(ns);
      for (absl::string_view name : names) {
        // Temp files of writes in progress start with '.'.
        if (absl::StartsWith(name, ".") ||
            !absl::ConsumeSuffix(&name, ".json")) {
          continue;
        }
        const CacheKey key = is_routes
                                 ? CacheKey::Route(std::string(name))
                                 : CacheKey::Config(ns, std::string(name));
        if (!file_cache::ValidateKey(key).ok()) continue;
        auto it = keys_.find(key);
        if (it != keys_.end()) Refresh(key, &it->second);
        if (ns_state != namespaces_.end()) {
          // A key created after the namespace's last listing.
          KeyState& state = ns_state->second.keys[std::string(name)];
          Refresh(key, &state);
        }
      }
    }
  }
  Deliver();
  polling_thread_ = std::thread::id();
}

void CacheWatcher::PollOnce() {
  absl::MutexLock poll(&poll_mu_);
  polling_thread_ = std::this_thread::get_id();
  SubscribePending();
  UnsubscribePending();
  {
    absl::MutexLock lock(&mu_);
    for (auto& [key, state] : keys_) Refresh(key, &state);
    for (auto& [ns, ns_state] : namespaces_) {
      ListNamespace(ns, &ns_state);
      for (auto& [key, state] : ns_state.keys) {
        Refresh(CacheKey::Config(ns, key), &state);
      }
    }
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
      if (watcher.whole_namespace) {
        auto ns = namespaces_.find(watcher.key.namespace_name);
        if (ns == namespaces_.end()) continue;
        for (const auto& [key, state] : ns->second.keys) {
          if (!state.have_good) continue;
          int64_t& delivered = watcher.delivered_keys[key];
          if (state.good.revision <= delivered) continue;
          delivered = state.good.revision;
          calls.push_back({id, watcher.callback, state.good});
        }
        continue;
      }
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
  std::vector<std::string> due_namespaces;
  const int64_t now = MonotonicMs();
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [key, state] : keys_) {
      if (!state.subscribed && state.next_subscribe_ms <= now) {
        due.push_back(key);
      }
    }
    for (const auto& [ns, state] : namespaces_) {
      if (!state.subscribed && state.next_subscribe_ms <= now) {
        due_namespaces.push_back(ns);
      }
    }
  }
  if (due.empty() && due_namespaces.empty()) return;
  absl::Status status = PostSubscriptions(
      "POST", SubscriptionBody(due, due_namespaces, owner_));
  absl::MutexLock lock(&mu_);
  for (const CacheKey& key : due) {
    auto it = keys_.find(key);
    if (it != keys_.end()) SubscribeDone(status, now, options_, &it->second);
  }
  for (const std::string& ns : due_namespaces) {
    auto it = namespaces_.find(ns);
    if (it != namespaces_.end()) {
      SubscribeDone(status, now, options_, &it->second);
    }
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

void CacheWatcher::UnsubscribePending() {
  std::vector<CacheKey> keys;
  std::vector<std::string> namespaces;
  {
    absl::MutexLock lock(&mu_);
    keys.assign(unsubscribe_keys_.begin(), unsubscribe_keys_.end());
    namespaces.assign(unsubscribe_namespaces_.begin(),
                      unsubscribe_namespaces_.end());
    unsubscribe_keys_.clear();
    unsubscribe_namespaces_.clear();
  }
  if (keys.empty() && namespaces.empty()) return;
  absl::Status status = PostSubscriptions(
      "DELETE", SubscriptionBody(keys, namespaces, owner_));
  if (!status.ok()) {
    subscribe_errors_->Increment();
    LOG_EVERY_N(WARNING, 10)
        << "kess agent at " << options_.agent_http_address
        << " did not take the unsubscription of " << keys.size()
        << " keys and " << namespaces.size()
        << " namespaces (it keeps them): " << status;
  }
}

absl::Status CacheWatcher::PostSubscriptions(const std::string& method,
                                             const std::string& body) {
  absl::StatusOr<HttpReply> reply =
      HttpCall(options_.agent_http_address, method, "/v1/subscriptions", body,
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
