// ConfigClient: reads configs from the agent's file cache and tells the
// application about every new version.
//
//   ConfigClient::Options options;            // cache_dir, agent address
//   KESS_ASSIGN_OR_RETURN(auto client, ConfigClient::Create(options));
//   KESS_ASSIGN_OR_RETURN(auto watch, client->Watch("shop", "db.timeout",
//       [](const ConfigValue& v) { Reconfigure(v.value); }));
//   absl::StatusOr<ConfigValue> now = client->Get("shop", "db.timeout");
//
// Subscribing, polling and the last good value are CacheWatcher's (see
// cache_watcher.h): Watch subscribes the key through the agent's HTTP API
// (retried in the background while the agent is down), a background thread
// polls the key's file, and each version newer than the last one delivered
// is passed to the callback, once, in revision order. When the agent, the
// distributor or ZooKeeper is down, or a file is missing or unreadable, the
// last good value stays: Get() keeps returning it and the error is counted
// (kess_sdk_config_read_errors_total) and logged (rate-limited). Without a
// running agent the client still serves what the cache holds.
//
// A deleted config arrives as a version with `deleted` set (the file is a
// tombstone); Get() then returns NotFound.
//
// Thread-safety: all methods are thread-safe. Callbacks run on the
// client's poll thread, one at a time; they must not block for long and
// must not destroy the ConfigClient (they may create or drop watches).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "model/file_cache/format.h"
#include "common/status.h"
#include "sdk/cache_watcher.h"

namespace kess {
namespace sdk {

struct ConfigValue {
  std::string namespace_name;
  std::string key;
  int64_t revision = 0;
  bool deleted = false;
  std::string value;  // raw bytes
  std::string content_type;
  int64_t mtime_ms = 0;  // when the change was committed upstream
};

class ConfigClient {
 public:
  using Options = CacheWatcher::Options;
  using Callback = std::function<void(const ConfigValue& value)>;
  // Unregisters its callback when destroyed (after which it is not called
  // again; destruction waits for a running callback unless it is destroyed
  // from within the callback). Must not outlive the ConfigClient.
  using WatchHandle = CacheWatcher::WatchHandle;

  static absl::StatusOr<std::unique_ptr<ConfigClient>> Create(Options options);
  // Stops the poll thread. REQUIRES: every WatchHandle is gone.
  ~ConfigClient() = default;

  // Starts watching: subscribes through the agent and calls `callback` with
  // the current version (if the cache has one) and every later one.
  // InvalidArgument for an invalid name (names.h); nothing else fails.
  absl::StatusOr<std::unique_ptr<WatchHandle>> Watch(
      const std::string& namespace_name, const std::string& key,
      Callback callback);

  // Watches every key of config namespace `ns`, also keys created later
  // (the agent subscribes the namespace as a whole; its keys are learnt
  // from the cache directory): `callback` gets each key's current version
  // and every later one, deletions as versions with `deleted` set.
  // Dropping the last handle of the namespace unsubscribes it at the agent
  // for this process (Options::owner); the cache files stay.
  // InvalidArgument for an invalid name.
  absl::StatusOr<std::unique_ptr<WatchHandle>> WatchNamespace(
      const std::string& ns, Callback callback);

  // The last good version: for a watched key the newest one read so far;
  // otherwise read from the cache now. NotFound if the cache has none (or
  // the config was deleted), DataLoss if the file is unreadable and no good
  // version was read before, InvalidArgument for an invalid name.
  absl::StatusOr<ConfigValue> Get(const std::string& namespace_name,
                                  const std::string& key);

  // This client's owner id at the agent (Options::owner or
  // "<program>-<pid>-<nonce>", new for every client).
  const std::string& owner() const { return watcher_->owner(); }

  // Runs one poll on the calling thread (tests, or after a known change);
  // callbacks for new versions run on this thread then.
  void PollNow() { watcher_->PollNow(); }
  // Namespace directory listings so far (CacheWatcher::directory_listings).
  int64_t directory_listings() const {
    return watcher_->directory_listings();
  }

 private:
  explicit ConfigClient(std::unique_ptr<CacheWatcher> watcher)
      : watcher_(std::move(watcher)) {}
  static ConfigValue ToValue(const file_cache::CacheEntry& entry);

  const std::unique_ptr<CacheWatcher> watcher_;
};

}  // namespace sdk
}  // namespace kess
