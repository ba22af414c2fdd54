"""ConfigClient: configs from the agent's file cache, with the last good
value, and a callback for every new version (sdk/config_client.h).

  client = ConfigClient(WatcherOptions(cache_dir="/var/cache/kess"))
  handle = client.watch("shop", "db.timeout", lambda v: reconfigure(v.text))
  value = client.get("shop", "db.timeout")        # ConfigValue
  client.close()

Subscribing, learning versions and the last good value are CacheWatcher's
(watcher.py). A deleted config arrives as a version with `deleted` set;
get() then raises NotFoundError.

Thread-safety: all methods are thread-safe; callbacks run on the client's
thread, one at a time.
"""

from dataclasses import dataclass
from typing import Callable, Optional

from kess.cache_file import CacheEntry, CacheKey
from kess.watcher import (CacheWatcher, NotFoundError, WatcherOptions,
                          WatchHandle)


@dataclass(frozen=True)
class ConfigValue:
    """One version of a config."""

    namespace: str
    key: str
    revision: int
    deleted: bool
    value: bytes          # raw bytes
    content_type: str
    mtime_ms: int         # committed upstream (Unix ms)

    @property
    def text(self) -> str:
        """The value as UTF-8 text (invalid bytes replaced)."""
        return self.value.decode("utf-8", errors="replace")

    @staticmethod
    def from_entry(entry: CacheEntry) -> "ConfigValue":
        return ConfigValue(entry.key.namespace, entry.key.key, entry.revision,
                           entry.absent, entry.value, entry.content_type,
                           entry.mtime_ms)


class ConfigClient:
    """Reads and watches configs."""

    def __init__(self, options: Optional[WatcherOptions] = None,
                 watcher: Optional[CacheWatcher] = None) -> None:
        """Uses `watcher` if given (shared, not closed by close()), else
        starts its own with `options`."""
        self._own = watcher is None
        self._watcher = watcher or CacheWatcher(options)

    @property
    def owner(self) -> str:
        """The owner of this client's subscriptions at the agent."""
        return self._watcher.owner

    @property
    def watcher(self) -> CacheWatcher:
        return self._watcher

    def watch(self, namespace: str, key: str,
              callback: Callable[[ConfigValue], None]) -> WatchHandle:
        """Subscribes the key and calls `callback` with the cached version
        (if any) and every later one. ValueError for an invalid name."""
        return self._watcher.watch(
            CacheKey.config(namespace, key),
            lambda e: callback(ConfigValue.from_entry(e)))

    def watch_namespace(self, namespace: str,
                        callback: Callable[[ConfigValue], None]
                        ) -> WatchHandle:
        """Every key of the namespace, also keys created later; deletions
        as versions with `deleted` set."""
        return self._watcher.watch_namespace(
            namespace, lambda e: callback(ConfigValue.from_entry(e)))

    def get(self, namespace: str, key: str) -> ConfigValue:
        """The last good version. NotFoundError if the cache has none or
        the config was deleted, GarbledFile if the file is unreadable and
        no good version was seen, ValueError for an invalid name."""
        k = CacheKey.config(namespace, key)
        entry = self._watcher.get(k)
        if entry.absent:
            raise NotFoundError("%s was deleted at revision %d" %
                                (k, entry.revision))
        return ConfigValue.from_entry(entry)

    def poll_now(self) -> None:
        self._watcher.poll_now()

    def close(self) -> None:
        if self._own:
            self._watcher.close()

    def __enter__(self) -> "ConfigClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
