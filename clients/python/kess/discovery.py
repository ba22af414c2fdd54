"""Discovery: the consumer side of service discovery (sdk/discovery.h).

  d = Discovery(DiscoveryOptions(cache_dir="/var/cache/kess",
                                 balancer="local_first",
                                 local_datacenter="dc1"))
  inst = d.select("payments")                  # a RouteInstance
  try:
      call(inst.address)
      d.report_success("payments", inst.id)
  except OSError:
      d.report_failure("payments", inst.id)

The first use of a service (select, watch, get_table, a report) starts
tracking it: it is subscribed through the agent and its cache file read at
once; new versions come through the CacheWatcher (blocking watch, or file
polling). Each good new version becomes an immutable RouteSnapshot swapped
in whole. A missing or garbled file, or an invalid table (or one for
another service), changes nothing: the last good table stays (counted in
route_read_errors). A tombstone means the service was deleted: no
instances.

Failover: report_failure ejects the instance (failure_tracker.py rules);
report_success forgets failures. Ejected instances are picked only when
nothing else is left.

Thread-safety: all methods are thread-safe; select() takes no lock apart
from the first call for a service.
"""

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Tuple

from kess.balancer import (LoadBalancer, NoInstance, create_balancer,
                           select_instance)
from kess.cache_file import CacheEntry, CacheKey, GarbledFile
from kess.failure_tracker import Availability, FailoverOptions, FailureTracker
from kess.names import check_name
from kess.route_table import InvalidTable, RouteInstance, RouteTable, \
    parse_route_table
from kess.snapshot import RouteSnapshot
from kess.watcher import CacheWatcher, WatcherOptions, WatchHandle

import logging

log = logging.getLogger("kess")


def monotonic_ms() -> int:
    return int(time.monotonic() * 1000)


@dataclass
class DiscoveryOptions(WatcherOptions):
    """The watcher's options plus the balancer and failover settings."""

    balancer: str = "weighted_random"   # the default of select()
    local_datacenter: str = ""          # for local_first
    min_local_healthy: int = 1
    local_first_inner: str = "weighted_random"
    failover: FailoverOptions = field(default_factory=FailoverOptions)
    clock: Callable[[], int] = monotonic_ms   # milliseconds


_View = Tuple[Optional[RouteSnapshot], Optional[Availability]]


class _Service:
    def __init__(self, name: str, failover: FailoverOptions) -> None:
        self.name = name
        self.lock = threading.Lock()
        self.snapshot: Optional[RouteSnapshot] = None
        self.revision = 0
        self.tracker = FailureTracker(failover)
        self.view: _View = (None, None)     # replaced whole
        self.handle: Optional[WatchHandle] = None
        self.logged_error = ""


class Discovery:
    """Picks instances of services from the route tables in the cache."""

    def __init__(self, options: Optional[DiscoveryOptions] = None) -> None:
        self.options = options or DiscoveryOptions()
        self.options.failover.validate()
        self._lock = threading.Lock()
        self._balancers: Dict[str, LoadBalancer] = {}
        self._services: Dict[str, _Service] = {}
        self.route_read_errors = 0
        self._default = self.balancer(self.options.balancer)
        self._watcher = CacheWatcher(self.options)

    @property
    def owner(self) -> str:
        return self._watcher.owner

    @property
    def watcher(self) -> CacheWatcher:
        return self._watcher

    def balancer(self, name: str) -> LoadBalancer:
        """A balancer of a registered strategy with this Discovery's
        options, created once per name. ValueError for an unknown one."""
        with self._lock:
            b = self._balancers.get(name)
            if b is None:
                o = self.options
                b = create_balancer(name, o.local_datacenter,
                                    o.min_local_healthy, o.local_first_inner)
                self._balancers[name] = b
            return b

    def select(self, service: str, key: str = "",
               balancer: Optional[LoadBalancer] = None) -> RouteInstance:
        """One instance for a call. NoInstance when the cache has no table
        for the service yet or it has no healthy or suspect instance;
        ValueError for an invalid name."""
        s = self._services.get(service)
        if s is None:
            s = self._track(service)
        snapshot, availability = s.view
        if snapshot is None:
            raise NoInstance("no route table for service %s in the cache yet"
                             % service)
        now = 0 if availability is None else self.options.clock()
        return select_instance(balancer or self._default, snapshot,
                               availability, key, now)

    def report_failure(self, service: str, instance_id: str) -> bool:
        """Ejects the instance (by id) for a while; invalid names are
        ignored. Returns whether the availability changed (False for a
        failure while it is ejected already)."""
        return self._report(service, instance_id, True)

    def report_success(self, service: str, instance_id: str) -> bool:
        """Counts towards forgetting its failures; returns whether the
        availability changed."""
        return self._report(service, instance_id, False)

    def view(self, service: str
             ) -> Tuple[Optional[RouteSnapshot], Optional[Availability]]:
        """What select() reads now: the snapshot (None before the first
        table) and the availability (None while nothing is ejected or
        recovering). For tools and tests, e.g. select_instance() with a
        seeded FastRandom."""
        return self._track(service).view

    def failures(self, service: str, instance_id: str) -> int:
        """Consecutive failures on record for the instance."""
        s = self._services.get(service)
        if s is None:
            return 0
        with s.lock:
            return s.tracker.failures(instance_id)

    def watch(self, service: str,
              callback: Callable[[RouteTable], None]) -> WatchHandle:
        """Calls `callback` with the current table (if any) and then each
        newer good version, on the watcher's thread."""
        s = self._track(service)

        def on_entry(entry: CacheEntry) -> None:
            table, is_entry = self._apply(s, entry)
            if is_entry and table is not None:
                callback(table)
        return self._watcher.watch(CacheKey.route(s.name), on_entry)

    def get_table(self, service: str) -> RouteTable:
        """The last good table; NoInstance if there is none yet."""
        s = self._track(service)
        snapshot = s.view[0]
        if snapshot is None:
            raise NoInstance("no route table for service %s in the cache yet"
                             % service)
        return snapshot.table

    def poll_now(self) -> None:
        self._watcher.poll_now()

    def close(self) -> None:
        with self._lock:
            services = list(self._services.values())
        for s in services:
            if s.handle is not None:
                s.handle.close()
        self._watcher.close()

    def __enter__(self) -> "Discovery":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals -----------------------------------------------------

    def _track(self, name: str) -> _Service:
        s = self._services.get(name)
        if s is not None:
            return s
        check_name("service", name)
        with self._lock:
            s = self._services.get(name)
            if s is not None:
                return s
            s = _Service(name, self.options.failover)
            key = CacheKey.route(name)
            svc = s
            s.handle = self._watcher.watch(key,
                                           lambda e: self._apply(svc, e))
            try:
                self._apply(s, self._watcher.get(key))
            except (LookupError, ValueError, GarbledFile):
                pass   # no table yet (a garbled file is counted by get())
            services = dict(self._services)
            services[name] = s
            self._services = services   # copied on write: select reads it
            return s

    def _apply(self, s: _Service,
               entry: CacheEntry) -> Tuple[Optional[RouteTable], bool]:
        with s.lock:
            current = None if s.snapshot is None else s.snapshot.table
            if entry.revision < s.revision:
                return current, False
            if entry.revision == s.revision:
                return current, s.snapshot is not None
            if entry.absent:
                table = RouteTable(s.name, entry.revision, ())
            else:
                try:
                    table = parse_route_table(entry.value)
                    if table.service != s.name:
                        raise InvalidTable('the table is for service "%s"' %
                                           table.service)
                except InvalidTable as e:
                    self.route_read_errors += 1
                    if str(e) != s.logged_error:
                        s.logged_error = str(e)
                        log.warning("kess: route table of %s at revision %d "
                                    "is invalid; keeping the last good one "
                                    "(revision %d): %s", s.name,
                                    entry.revision, s.revision, e)
                    return current, False
            s.revision = entry.revision
            s.snapshot = RouteSnapshot(table)
            self._publish(s)
            return s.snapshot.table, True

    def _publish(self, s: _Service) -> None:
        """Holds s.lock."""
        availability = None
        if s.snapshot is not None:
            availability = s.tracker.build(s.snapshot, self.options.clock())
        s.view = (s.snapshot, availability)

    def _report(self, service: str, instance_id: str, failure: bool) -> bool:
        try:
            s = self._track(service)
        except ValueError:
            return False
        with s.lock:
            now = self.options.clock()
            changed = (s.tracker.report_failure(instance_id, now) if failure
                       else s.tracker.report_success(instance_id, now))
            if changed:
                self._publish(s)
            return changed
