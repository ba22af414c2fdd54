"""CacheWatcher: what every reader of the agent's file cache shares —
subscribing keys through the agent, learning new versions, and keeping the
last good one. ConfigClient and Discovery are thin layers over it.

  watcher = CacheWatcher(WatcherOptions(cache_dir="/var/cache/kess",
                                        agent="http://127.0.0.1:7310"))
  handle = watcher.watch(CacheKey.route("payments"), on_entry)
  ...
  handle.close(); watcher.close()

watch() subscribes the key through the agent (POST /v1/subscriptions with
this watcher's owner, retried with backoff while the agent is down) and
reads the key's file once before it returns, so get() answers at once. A
background thread then learns new versions:

  - through the agent's blocking watch (GET /v1/watch) while the agent
    answers: one long poll for every watched key and namespace; its
    changes are the cache files' own JSON objects, verified the same way;
  - by polling the files (stat every poll_interval, re-read when inode,
    size or mtime changed) while the agent is unreachable or answers the
    watch with an error, or when no agent is configured; the watch is
    tried again every agent_retry_interval.

Each version newer than the last one delivered to a callback is passed to
it once, in revision order (a revision never goes backwards). A missing,
garbled or partial file, a wrong CRC, an unknown format, a file holding
another key: none replaces the good entry (counted in read_errors). A
tombstone (entry.absent) is a version like any other.

watch_namespace() subscribes a whole config namespace and learns its keys
from the blocking watch, or by listing configs/<ns>/ (names starting with
'.' are ignored). When the last handle of a key or namespace is closed, the
watcher sends DELETE /v1/subscriptions for it (once, not retried; the files
stay). close() stops the thread and unsubscribes what is still watched.

Thread-safety: all methods are thread-safe. Callbacks run on the
watcher's thread, one at a time; they must not block for long and must not
call close() on the watcher (they may open and close watches).
"""

import logging
import os
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Set, Tuple

from kess.agent import AgentClient, AgentError, AgentUnavailable, Call
from kess.cache_file import (CONFIG, ROUTE, CacheEntry, CacheKey, FileInfo,
                             GarbledFile, decode_object, list_namespace,
                             read_entry, stat_file)
from kess.names import check_name

log = logging.getLogger("kess")

Callback = Callable[[CacheEntry], None]


class NotFoundError(LookupError):
    """The cache has no version of the key (or, for configs, it was
    deleted)."""


def default_owner() -> str:
    """"<program>-<pid>-<random nonce>" in the name characters."""
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    name = "".join(c if (c.isascii() and (c.isalnum() or c in "._-"))
                   else "_" for c in prog)
    if not name or not name[0].isalnum():
        name = "p" + name
    name = name[:100]
    while ".." in name:
        name = name.replace("..", "._")
    return "%s-%d-%010x" % (name, os.getpid(), random.getrandbits(40))


def _by_type(keys) -> Tuple[List[Tuple[str, str]], List[str]]:
    """The (namespace, key) of the config keys and the service of the route
    keys among `keys`, in their order: the agent's subscribe arguments."""
    return ([(k.namespace, k.key) for k in keys if k.type == CONFIG],
            [k.service for k in keys if k.type == ROUTE])


@dataclass
class WatcherOptions:
    """Durations in seconds."""

    cache_dir: str = "/var/cache/kess"
    # The local agent: "http://127.0.0.1:7310", "unix:/run/kess/agent.sock";
    # "" = never talk to an agent (read what the cache has).
    agent: str = "http://127.0.0.1:7310"
    # Polling: every file is stat()ed this often while the blocking watch
    # is not in use.
    poll_interval: float = 1.0
    # Use GET /v1/watch while the agent answers it.
    use_blocking_watch: bool = True
    watch_timeout: float = 60.0
    # After a failed watch call: poll files, try the watch again after this.
    agent_retry_interval: float = 1.0
    subscribe_retry_initial: float = 0.5
    subscribe_retry_max: float = 30.0
    http_timeout: float = 5.0
    # The owner of this watcher's subscriptions; "" = default_owner().
    owner: str = ""
    unsubscribe_unwatched: bool = True
    # False: no background thread; new versions are learnt only by
    # poll_now() (deterministic tests and tools).
    start_thread: bool = True


@dataclass
class _KeyState:
    info: Optional[FileInfo] = None
    good: Optional[CacheEntry] = None
    last_error: str = ""


@dataclass
class _Subscription:
    subscribed: bool = False
    next_try: float = 0.0
    failures: int = 0


@dataclass
class _Namespace:
    sub: _Subscription = field(default_factory=_Subscription)
    keys: Dict[str, _KeyState] = field(default_factory=dict)


@dataclass
class _Watcher:
    key: CacheKey                      # a namespace watch: key.namespace only
    callback: Callback
    whole_namespace: bool = False
    delivered: int = 0
    delivered_keys: Dict[str, int] = field(default_factory=dict)


class WatchHandle:
    """Stops its callback when closed (also as a context manager)."""

    def __init__(self, watcher: "CacheWatcher", wid: int) -> None:
        self._watcher = watcher
        self._id = wid
        self._closed = False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._watcher._unwatch(self._id)

    def __enter__(self) -> "WatchHandle":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CacheWatcher:
    """See the module docstring."""

    def __init__(self, options: Optional[WatcherOptions] = None) -> None:
        self.options = options or WatcherOptions()
        o = self.options
        if not o.cache_dir:
            raise ValueError("cache_dir is empty")
        if o.poll_interval <= 0:
            raise ValueError("poll_interval must be positive")
        if o.owner:
            check_name("owner", o.owner)
        self.owner = o.owner or default_owner()
        self._agent = (AgentClient(o.agent, timeout=o.http_timeout)
                       if o.agent else None)
        self._lock = threading.RLock()
        self._poll_lock = threading.Lock()  # one poll / delivery at a time
        self._wake = threading.Event()
        self._keys: Dict[CacheKey, _KeyState] = {}
        self._key_subs: Dict[CacheKey, _Subscription] = {}
        self._namespaces: Dict[str, _Namespace] = {}
        self._watchers: Dict[int, _Watcher] = {}
        self._unsub_keys: Set[CacheKey] = set()
        self._unsub_namespaces: Set[str] = set()
        self._next_id = 1
        self._stop = False
        self._selection_grew = False
        self._restart = False
        self._call: Optional[Call] = None
        self._epoch = ""
        self._index = 0
        self._watch_ok_until = 0.0   # blocking watch failed: poll till then
        self.read_errors = {CONFIG: 0, ROUTE: 0}
        self.subscribe_errors = 0
        self.watch_errors = 0
        self.using_blocking_watch = False
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="kess-watcher")
        if o.start_thread:
            self._thread.start()

    # --- public API ----------------------------------------------------

    def watch(self, key: CacheKey, callback: Callback) -> WatchHandle:
        """Watches one config or route table. ValueError for an invalid
        name."""
        key.validate()
        with self._lock:
            if key not in self._keys:
                self._keys[key] = _KeyState()
                self._key_subs[key] = _Subscription()
                self._selection_grew = True
            self._unsub_keys.discard(key)
            self._refresh(key, self._keys[key])
            wid = self._next_id
            self._next_id += 1
            self._watchers[wid] = _Watcher(key, callback)
        self._kick()
        return WatchHandle(self, wid)

    def watch_namespace(self, namespace: str,
                        callback: Callback) -> WatchHandle:
        """Watches every config key of `namespace`, also keys created
        later. ValueError for an invalid name."""
        check_name("namespace", namespace)
        with self._lock:
            if namespace not in self._namespaces:
                self._namespaces[namespace] = _Namespace()
                self._selection_grew = True
            self._unsub_namespaces.discard(namespace)
            self._list_namespace(namespace, self._namespaces[namespace])
            wid = self._next_id
            self._next_id += 1
            self._watchers[wid] = _Watcher(CacheKey.config(namespace, ""),
                                           callback, whole_namespace=True)
        self._kick()
        return WatchHandle(self, wid)

    def get(self, key: CacheKey) -> CacheEntry:
        """The last good entry (possibly a tombstone): for a watched key
        the newest one seen; otherwise read from the cache now.
        NotFoundError if there is none, GarbledFile if the file is
        unreadable and no good version was seen, ValueError for an invalid
        name."""
        key.validate()
        with self._lock:
            state = self._keys.get(key)
            if state is None and key.type == CONFIG:
                ns = self._namespaces.get(key.namespace)
                if ns is not None:
                    state = ns.keys.get(key.key)
            if state is not None and state.good is not None:
                return state.good
        try:
            return read_entry(key.path(self.options.cache_dir), key)
        except FileNotFoundError:
            raise NotFoundError("%s is not in the cache at %s" %
                                (key, self.options.cache_dir))
        except GarbledFile:
            with self._lock:
                self.read_errors[key.type] += 1
            raise

    def poll_now(self) -> None:
        """Reads every watched file now and delivers new versions on the
        calling thread (tests, or after a known change)."""
        with self._poll_lock:
            with self._lock:
                self._poll_files()
            self._deliver()

    def close(self) -> None:
        """Stops the thread; unsubscribes what is still watched (when
        unsubscribe_unwatched). Idempotent."""
        with self._lock:
            if self._stop:
                return
            self._stop = True
            call = self._call
            if self.options.unsubscribe_unwatched:
                self._unsub_keys |= {k for k, s in self._key_subs.items()
                                     if s.subscribed}
                self._unsub_namespaces |= {n for n, s in
                                           self._namespaces.items()
                                           if s.sub.subscribed}
            self._watchers.clear()
        self._wake.set()
        if call is not None:
            call.abort()
        if self._thread.is_alive() and \
                threading.current_thread() is not self._thread:
            self._thread.join(timeout=self.options.http_timeout * 2 + 5)
        self._unsubscribe_pending()

    def __enter__(self) -> "CacheWatcher":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals -----------------------------------------------------

    def _kick(self) -> None:
        """Restarts the long poll (a new selection, or something to send)."""
        with self._lock:
            self._restart = True
            call = self._call
        self._wake.set()
        if call is not None:
            call.abort()

    def _unwatch(self, wid: int) -> None:
        kick = False
        with self._lock:
            w = self._watchers.pop(wid, None)
            if w is None:
                return
            if w.whole_namespace:
                ns = w.key.namespace
                if not any(x.whole_namespace and x.key.namespace == ns
                           for x in self._watchers.values()):
                    state = self._namespaces.pop(ns, None)
                    if state is not None and state.sub.subscribed and \
                            self.options.unsubscribe_unwatched:
                        self._unsub_namespaces.add(ns)
                        kick = True
            elif not any(not x.whole_namespace and x.key == w.key
                         for x in self._watchers.values()):
                self._keys.pop(w.key, None)
                sub = self._key_subs.pop(w.key, None)
                if sub is not None and sub.subscribed and \
                        self.options.unsubscribe_unwatched:
                    self._unsub_keys.add(w.key)
                    kick = True
        if kick:
            self._kick()

    def _refresh(self, key: CacheKey, state: _KeyState) -> None:
        """Re-reads the key's file if it changed. Holds _lock."""
        path = key.path(self.options.cache_dir)
        info = stat_file(path)
        if info is None or info == state.info:
            return
        try:
            entry = read_entry(path, key)
        except FileNotFoundError:
            return
        except (GarbledFile, OSError) as e:
            state.info = info
            self._count_error(key, state, str(e))
            return
        state.info = info
        self._offer(key, state, entry)

    def _offer(self, key: CacheKey, state: _KeyState,
               entry: CacheEntry) -> None:
        if state.good is None or entry.revision > state.good.revision:
            state.good = entry
            state.last_error = ""

    def _count_error(self, key: CacheKey, state: _KeyState,
                     error: str) -> None:
        self.read_errors[key.type] += 1
        if error != state.last_error:
            state.last_error = error
            log.warning("kess: %s is unreadable; keeping the last good "
                        "version (%s): %s", key,
                        "none" if state.good is None else
                        "revision %d" % state.good.revision, error)

    def _list_namespace(self, ns: str, state: _Namespace) -> None:
        for k in list_namespace(self.options.cache_dir, ns):
            ks = state.keys.get(k)
            if ks is None:
                ks = state.keys[k] = _KeyState()
            self._refresh(CacheKey.config(ns, k), ks)

    def _poll_files(self) -> None:
        for key, state in self._keys.items():
            self._refresh(key, state)
        for ns, state in self._namespaces.items():
            self._list_namespace(ns, state)

    def _apply_change(self, obj: object) -> None:
        """One change of the blocking watch. Holds _lock."""
        try:
            entry = decode_object(obj)
        except GarbledFile as e:
            kind = obj.get("type") if isinstance(obj, dict) else None
            if kind in (CONFIG, ROUTE):
                self.read_errors[kind] += 1
            log.warning("kess: a change from the agent's watch is unusable:"
                        " %s", e)
            return
        key = entry.key
        state = self._keys.get(key)
        if state is not None:
            self._offer(key, state, entry)
        if key.type == CONFIG:
            ns = self._namespaces.get(key.namespace)
            if ns is not None:
                ks = ns.keys.get(key.key)
                if ks is None:
                    ks = ns.keys[key.key] = _KeyState()
                self._offer(key, ks, entry)

    def _deliver(self) -> None:
        """Calls the callbacks for versions they have not had. Holds
        _poll_lock, not _lock."""
        calls: List[Tuple[int, Callback, CacheEntry]] = []
        with self._lock:
            for wid, w in self._watchers.items():
                if w.whole_namespace:
                    ns = self._namespaces.get(w.key.namespace)
                    if ns is None:
                        continue
                    for k, ks in sorted(ns.keys.items()):
                        if ks.good is not None and \
                                ks.good.revision > w.delivered_keys.get(k, 0):
                            w.delivered_keys[k] = ks.good.revision
                            calls.append((wid, w.callback, ks.good))
                else:
                    ks = self._keys.get(w.key)
                    if ks is not None and ks.good is not None and \
                            ks.good.revision > w.delivered:
                        w.delivered = ks.good.revision
                        calls.append((wid, w.callback, ks.good))
        for wid, callback, entry in calls:
            with self._lock:
                if wid not in self._watchers:
                    continue  # closed by an earlier callback
            try:
                callback(entry)
            except Exception:  # a callback's bug must not stop the thread
                log.exception("kess: watch callback for %s raised",
                              entry.key)

    def _subscribe_pending(self) -> float:
        """Sends due subscriptions; returns seconds until the next retry
        (inf when nothing is pending)."""
        if self._agent is None:
            return float("inf")
        now = time.monotonic()
        with self._lock:
            keys = [k for k, s in self._key_subs.items()
                    if not s.subscribed and s.next_try <= now]
            nss = [n for n, s in self._namespaces.items()
                   if not s.sub.subscribed and s.sub.next_try <= now]
        if keys or nss:
            error = None
            configs, routes = _by_type(keys)
            try:
                self._agent.subscribe(self.owner, configs=configs,
                                      routes=routes, namespaces=nss)
            except (AgentUnavailable, AgentError) as e:
                error = e
                self.subscribe_errors += 1
            with self._lock:
                subs = [self._key_subs.get(k) for k in keys] + \
                    [self._namespaces[n].sub if n in self._namespaces
                     else None for n in nss]
                for s in subs:
                    if s is None:
                        continue
                    if error is None:
                        s.subscribed, s.failures = True, 0
                    else:
                        s.failures += 1
                        delay = min(self.options.subscribe_retry_initial *
                                    2 ** (s.failures - 1),
                                    self.options.subscribe_retry_max)
                        s.next_try = now + delay
            if error is not None and (self.subscribe_errors == 1 or
                                      self.subscribe_errors % 30 == 0):
                log.warning("kess: the agent did not take the subscription "
                            "(retrying; cached values are still served): "
                            "%s", error)
        with self._lock:
            pending = [s.next_try for s in self._key_subs.values()
                       if not s.subscribed] + \
                [s.sub.next_try for s in self._namespaces.values()
                 if not s.sub.subscribed]
        return max(0.0, min(pending) - time.monotonic()) if pending \
            else float("inf")

    def _unsubscribe_pending(self) -> None:
        if self._agent is None:
            with self._lock:
                self._unsub_keys.clear()
                self._unsub_namespaces.clear()
            return
        with self._lock:
            keys = sorted(self._unsub_keys, key=str)
            nss = sorted(self._unsub_namespaces)
            self._unsub_keys.clear()
            self._unsub_namespaces.clear()
        if not keys and not nss:
            return
        configs, routes = _by_type(keys)
        try:
            self._agent.unsubscribe(self.owner, configs=configs,
                                    routes=routes, namespaces=nss)
        except (AgentUnavailable, AgentError) as e:
            log.warning("kess: could not unsubscribe %d keys and %d "
                        "namespaces (the agent keeps them): %s", len(keys),
                        len(nss), e)

    def _selection(self) -> Tuple[List[Tuple[str, str]], List[str],
                                  List[str]]:
        with self._lock:
            configs = sorted((k.namespace, k.key) for k in self._keys
                             if k.type == CONFIG)
            services = sorted(k.service for k in self._keys
                              if k.type == ROUTE)
            nss = sorted(self._namespaces)
        return configs, nss, services

    def _watch_once(self, timeout: float) -> bool:
        """One blocking-watch call; False if it failed (poll instead)."""
        with self._lock:
            self._restart = False
        configs, nss, services = self._selection()
        if not configs and not nss and not services:
            self._wake.wait(timeout)
            self._wake.clear()
            return True
        call = Call()
        with self._lock:
            if self._stop or self._restart:
                return True
            if self._selection_grew:
                self._selection_grew = False
                self._index, self._epoch = 0, ""
            self._call = call
            self._wake.clear()
        try:
            answer = self._agent.watch(configs, nss, services,
                                       index=self._index, epoch=self._epoch,
                                       timeout_s=timeout, call=call)
        except (AgentUnavailable, AgentError) as e:
            with self._lock:
                self._call = None
            if call.aborted:
                return True  # restarted on purpose
            self.watch_errors += 1
            if self.using_blocking_watch or self.watch_errors == 1:
                log.warning("kess: the agent's blocking watch failed; "
                            "polling the cache files: %s", e)
            self.using_blocking_watch = False
            retry = self.options.agent_retry_interval
            if isinstance(e, AgentError):
                retry = max(retry, 10.0)
            self._watch_ok_until = time.monotonic() + retry
            return False
        with self._poll_lock:
            with self._lock:
                self._call = None
                if not isinstance(answer, dict):
                    return False
                self.using_blocking_watch = True
                for change in answer.get("changes") or []:
                    self._apply_change(change)
                idx = answer.get("index")
                epoch = answer.get("epoch")
                if isinstance(idx, int) and isinstance(epoch, str) and \
                        not self._selection_grew:
                    self._index, self._epoch = idx, epoch
            self._deliver()
        return True

    def _run(self) -> None:
        o = self.options
        while True:
            with self._lock:
                if self._stop:
                    return
            try:
                next_sub = self._subscribe_pending()
                self._unsubscribe_pending()
                use_watch = (self._agent is not None and o.use_blocking_watch
                             and time.monotonic() >= self._watch_ok_until)
                if use_watch:
                    timeout = max(0.05, min(o.watch_timeout, next_sub))
                    if self._watch_once(timeout):
                        continue
                with self._poll_lock:
                    with self._lock:
                        self._poll_files()
                    self._deliver()
                wait = min(o.poll_interval, next_sub)
                if self._agent is not None and o.use_blocking_watch:
                    wait = min(wait, max(0.0, self._watch_ok_until -
                                         time.monotonic()))
                self._wake.wait(max(0.01, wait))
                self._wake.clear()
            except Exception:  # never let the thread die
                log.exception("kess: watcher thread error")
                time.sleep(min(1.0, o.poll_interval))
