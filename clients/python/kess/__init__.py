"""kess: the Python client of kess (standard library only, Python >= 3.9).

Reads configs and route tables from the host agent's file cache, watches
them through the agent's blocking watch (or by polling the files), picks
instances like the C++ SDK (weighted random, HRW affinity, local first,
caller-side failover) and registers instances through the agent.
See docs/clients/python.md.
"""

from kess.agent import AgentClient, AgentError, AgentUnavailable
from kess.balancer import (Hrw, LoadBalancer, LocalFirst, NoInstance,
                           WeightedRandom, balancer_names, create_balancer,
                           register_balancer, select_instance)
from kess.cache_file import (CacheEntry, CacheKey, GarbledFile, decode_entry,
                             read_entry)
from kess.config import ConfigClient, ConfigValue
from kess.discovery import Discovery, DiscoveryOptions
from kess.failure_tracker import Availability, FailoverOptions, FailureTracker
from kess.hashing import FastRandom, hash_pair, hrw_neg_log2, stable_hash
from kess.registration import (Registration, http_check, tcp_check,
                               ttl_check)
from kess.route_table import (InvalidTable, RouteInstance, RouteTable,
                              parse_route_table)
from kess.snapshot import RouteSnapshot
from kess.watcher import (CacheWatcher, NotFoundError, WatcherOptions,
                          WatchHandle)

__all__ = [
    "AgentClient", "AgentError", "AgentUnavailable", "Availability",
    "CacheEntry", "CacheKey", "CacheWatcher", "ConfigClient", "ConfigValue",
    "Discovery", "DiscoveryOptions", "FailoverOptions", "FailureTracker",
    "FastRandom", "GarbledFile", "Hrw", "InvalidTable", "LoadBalancer",
    "LocalFirst", "NoInstance", "NotFoundError", "Registration",
    "RouteInstance", "RouteSnapshot", "RouteTable", "WatchHandle",
    "WatcherOptions", "WeightedRandom", "balancer_names", "create_balancer",
    "decode_entry", "hash_pair", "hrw_neg_log2", "http_check",
    "parse_route_table", "read_entry", "register_balancer", "select_instance",
    "stable_hash", "tcp_check", "ttl_check",
]
