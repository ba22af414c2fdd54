#include "sdk/config_client.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace kess {
namespace sdk {

using file_cache::CacheEntry;
using file_cache::CacheKey;

absl::StatusOr<std::unique_ptr<ConfigClient>> ConfigClient::Create(
    Options options) {
  KESS_ASSIGN_OR_RETURN(std::unique_ptr<CacheWatcher> watcher,
                        CacheWatcher::Create(std::move(options)));
  return std::unique_ptr<ConfigClient>(new ConfigClient(std::move(watcher)));
}

absl::StatusOr<std::unique_ptr<ConfigClient::WatchHandle>> ConfigClient::Watch(
    const std::string& namespace_name, const std::string& key,
    Callback callback) {
  return watcher_->Watch(
      CacheKey::Config(namespace_name, key),
      [callback = std::move(callback)](const CacheEntry& entry) {
        callback(ToValue(entry));
      });
}

absl::StatusOr<std::unique_ptr<ConfigClient::WatchHandle>>
ConfigClient::WatchNamespace(const std::string& ns, Callback callback) {
  return watcher_->WatchNamespace(
      ns, [callback = std::move(callback)](const CacheEntry& entry) {
        callback(ToValue(entry));
      });
}

absl::StatusOr<ConfigValue> ConfigClient::Get(const std::string& namespace_name,
                                              const std::string& key) {
  CacheKey k = CacheKey::Config(namespace_name, key);
  KESS_ASSIGN_OR_RETURN(CacheEntry entry, watcher_->Get(k));
  if (entry.absent) {
    return absl::NotFoundError(absl::StrCat(
        k.ToString(), " was deleted at revision ", entry.revision));
  }
  return ToValue(entry);
}

ConfigValue ConfigClient::ToValue(const CacheEntry& entry) {
  ConfigValue v;
  v.namespace_name = entry.key.namespace_name;
  v.key = entry.key.key;
  v.revision = entry.revision;
  v.deleted = entry.absent;
  v.value = entry.value;
  v.content_type = entry.content_type;
  v.mtime_ms = entry.mtime_ms;
  return v;
}

}  // namespace sdk
}  // namespace kess
