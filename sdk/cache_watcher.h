// CacheWatcher: the machinery every SDK reader of the agent's file cache
// shares — subscribing keys through the agent's HTTP API and polling their
// files. ConfigClient (configs) and Discovery (route tables) are thin layers
// over it.
//
//   CacheWatcher::Options options;            // cache_dir, agent address
//   KESS_ASSIGN_OR_RETURN(auto watcher, CacheWatcher::Create(options));
//   KESS_ASSIGN_OR_RETURN(auto watch, watcher->Watch(
//       CacheKey::Route("payments"),
//       [](const CacheEntry& e) { Rebuild(e); }));
//
// Watch subscribes the key through the agent (POST /v1/subscriptions with
// this watcher's owner id, retried in the background with backoff while the
// agent is down; the agent persists it), and a background thread re-reads the key's file
// (stat; parse only when it changed) as soon as inotify reports a change in
// its directory (the agent renames every new version into place), and
// every poll_interval as the backstop. Each version newer
// than the last one delivered to a callback is passed to it, once, in
// revision order; a revision never goes backwards. When the agent, the
// distributor or ZooKeeper is down, or a file is missing or unreadable, the
// last good entry stays: Get() keeps returning it and the error is counted
// (kess_sdk_<type>_read_errors_total, type "config" or "route") and logged
// (rate-limited). Without a running agent the watcher still serves what the
// cache holds (invariants 7 and 11 of docs/design.md). A tombstone
// (entry.absent) is a version like any other.
//
// WatchNamespace subscribes a whole config namespace the same way and
// learns its keys from the cache directory (configs/<ns>/: inotify, and the
// poll as the backstop), so keys created later reach the callback too.
//
// When the last handle of a key or namespace goes, the watcher tells the
// agent (DELETE /v1/subscriptions with its owner id, on the poll thread; a
// failure is logged and not retried: the agent keeps the subscription, and
// the cache keeps serving). The agent unsubscribes upstream only when no
// other application holds it; its cache files stay.
//
// Thread-safety: all methods are thread-safe. Callbacks run on the
// watcher's poll thread, one at a time; they must not block for long and
// must not destroy the CacheWatcher (they may create or drop watches).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "model/file_cache/env.h"
#include "model/file_cache/format.h"
#include "model/file_cache/reader.h"
#include "common/dir_watcher.h"
#include "common/metrics.h"
#include "common/status.h"

namespace kess {
namespace sdk {

class CacheWatcher {
 public:
  struct Options {
    std::string cache_dir = "/var/cache/kess";
    // The local agent's subscription API, "host:port"; "" = never
    // subscribe (read what the cache has, e.g. keys subscribed otherwise).
    std::string agent_http_address = "127.0.0.1:7310";
    // The backstop: every file is stat()ed this often even without an
    // inotify event (or when inotify is unavailable or off).
    absl::Duration poll_interval = absl::Seconds(1);
    // inotify on the watched files' directories, so that a new version
    // reaches the callback milliseconds after the agent wrote it instead
    // of up to poll_interval later. If inotify cannot be set up (e.g. the
    // per-user instance limit), a warning is logged and polling alone
    // continues.
    bool watch_directories = true;
    absl::Duration subscribe_retry_initial = absl::Milliseconds(500);
    absl::Duration subscribe_retry_max = absl::Seconds(30);
    absl::Duration http_timeout = absl::Seconds(5);
    // This watcher's name at the agent (the "app" of its subscriptions):
    // "" = "<program name>-<pid>-<random nonce>" (model/names.h characters
    // only), new for every CacheWatcher. Watchers given the same owner share
    // its subscriptions: dropping the last handle of a key in one removes
    // the key for all of them, so give each watcher its own.
    std::string owner;
    // DELETE /v1/subscriptions when the last handle of a key or namespace
    // goes.
    bool unsubscribe_unwatched = true;
    file_cache::Env* env = file_cache::Env::Default();  // must outlive
    metrics::Registry* registry = &metrics::Registry::Default();
  };

  using Callback = std::function<void(const file_cache::CacheEntry& entry)>;

  // Unregisters its callback when destroyed (after which it is not called
  // again; if it is running on the poll thread, destruction waits for it
  // unless it is destroyed from within the callback). Must not outlive the
  // CacheWatcher.
  class WatchHandle {
   public:
    ~WatchHandle();
    WatchHandle(const WatchHandle&) = delete;
    WatchHandle& operator=(const WatchHandle&) = delete;

   private:
    friend class CacheWatcher;
    WatchHandle(CacheWatcher* watcher, uint64_t id)
        : watcher_(watcher), id_(id) {}
    CacheWatcher* const watcher_;
    const uint64_t id_;
  };

  // InvalidArgument for an empty cache_dir or a non-positive poll interval.
  static absl::StatusOr<std::unique_ptr<CacheWatcher>> Create(Options options);
  // Stops the poll thread. REQUIRES: every WatchHandle is gone.
  ~CacheWatcher();

  // Starts watching: subscribes through the agent and calls `callback` with
  // the current version (if the cache has one) and every later one. The
  // file is read once before Watch returns, so Get() answers at once.
  // InvalidArgument for an invalid name (names.h); nothing else fails.
  absl::StatusOr<std::unique_ptr<WatchHandle>> Watch(
      const file_cache::CacheKey& key, Callback callback);
  // Watches every config key of namespace `ns`, also keys created later:
  // `callback` gets each key's current version and every later one
  // (tombstones included), per key in revision order. InvalidArgument for
  // an invalid name.
  absl::StatusOr<std::unique_ptr<WatchHandle>> WatchNamespace(
      const std::string& ns, Callback callback);

  // The last good entry (possibly a tombstone): for a watched key the
  // newest one read so far; otherwise read from the cache now. NotFound if
  // the cache has none, DataLoss if the file is unreadable and no good
  // version was read before, InvalidArgument for an invalid name.
  absl::StatusOr<file_cache::CacheEntry> Get(const file_cache::CacheKey& key);

  // Runs one poll on the calling thread (tests, or after a known change);
  // callbacks for new versions run on this thread then.
  void PollNow();

  const Options& options() const { return options_; }
  // Namespace directory listings so far: at Watch, on every full poll (the
  // poll_interval backstop, an inotify overflow), never for an inotify
  // wake-up that names its files.
  int64_t directory_listings() const { return listings_.load(); }
  // The owner id used at the agent (Options::owner or the default).
  const std::string& owner() const { return owner_; }

 private:
  struct Watcher {
    file_cache::CacheKey key;
    Callback callback;
    int64_t delivered = 0;  // newest revision passed to the callback
    // A namespace watcher: key.namespace_name only, and per key.
    bool whole_namespace = false;
    std::map<std::string, int64_t> delivered_keys;
  };
  struct KeyState {
    file_cache::FileInfo info;  // of the last file looked at
    bool have_info = false;
    bool have_good = false;
    file_cache::CacheEntry good;
    absl::Status last_error;  // of the last read that failed
    bool subscribed = false;
    int64_t next_subscribe_ms = 0;
    int subscribe_failures = 0;
  };
  // A watched namespace: its subscription, and the keys found in its
  // directory.
  struct NamespaceState {
    bool subscribed = false;
    int64_t next_subscribe_ms = 0;
    int subscribe_failures = 0;
    std::map<std::string, KeyState> keys;
  };
  struct TypeCounters {
    metrics::Counter* read_errors;
    metrics::Counter* updates;
  };

  explicit CacheWatcher(Options options);
  void Run();
  void Wake();
  // The directory watcher's report: the files named are refreshed on the
  // next wake-up; a rescan (or too many names) makes it a full poll.
  void OnDirChanges(const DirChanges& changes);
  // A full poll: every watched key, and every namespace directory listed.
  void PollOnce();
  // After an inotify wake-up: only the files named (a new file of a watched
  // namespace is added from its name), no directory listing.
  void PollChanged(const std::map<std::string, std::set<std::string>>& files);
  void SubscribePending();
  void Refresh(const file_cache::CacheKey& key, KeyState* state)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Deliver();
  absl::Status PostSubscriptions(const std::string& method,
                                 const std::string& body);
  void UnsubscribePending();
  // Adds the keys that appeared in the namespace's directory.
  void ListNamespace(const std::string& ns, NamespaceState* state)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WatchDirectory(const std::string& dir);
  void Unwatch(uint64_t id);
  const TypeCounters& CountersFor(const file_cache::CacheKey& key) const;

  const Options options_;
  const std::string owner_;
  const file_cache::FileCacheReader reader_;
  TypeCounters config_counters_;
  TypeCounters route_counters_;
  metrics::Counter* subscribe_errors_;

  // Serializes polls and callbacks; held while a callback runs.
  absl::Mutex poll_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable absl::Mutex mu_;
  std::map<uint64_t, Watcher> watchers_ ABSL_GUARDED_BY(mu_);
  std::map<file_cache::CacheKey, KeyState> keys_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, NamespaceState> namespaces_ ABSL_GUARDED_BY(mu_);
  // Unwatched, to be unsubscribed at the agent by the poll thread.
  std::set<file_cache::CacheKey> unsubscribe_keys_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> unsubscribe_namespaces_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  // Files the directory watcher named since the last poll (directory ->
  // names), and whether the next poll must be a full one instead.
  std::map<std::string, std::set<std::string>> changed_files_
      ABSL_GUARDED_BY(mu_);
  size_t changed_count_ ABSL_GUARDED_BY(mu_) = 0;
  bool full_poll_ ABSL_GUARDED_BY(mu_) = false;
  // Directory listings made (tests: an inotify wake-up lists nothing).
  std::atomic<int64_t> listings_{0};
  int64_t last_error_log_ms_ ABSL_GUARDED_BY(mu_) = 0;
  // The thread running a poll (and its callbacks) right now.
  std::atomic<std::thread::id> polling_thread_{};
  std::thread thread_;
  // Null when off or unavailable; destroyed first (it calls Wake()).
  std::unique_ptr<DirWatcher> dir_watcher_;
};

}  // namespace sdk
}  // namespace kess
