#!/usr/bin/env python3
"""kess_bench: what the Python client costs. Prints one JSON line:

  {"language":"python","pick_wr_ns":..,"pick_hrw_ns":..,
   "pick_hrw_weighted_ns":..,"pick_hrw_cached_ns":..,
   "load_parse_5000_ms":..,"idle_rss_kib":..}

  pick_wr_ns            Discovery.select() by weighted random on a table
                        of --instances instances, weights 50..200 (after
                        it is loaded)
  pick_hrw_ns           Discovery.select() by HRW on a table of
                        --instances instances at the default weight, every
                        key new (all members hashed at once, packed)
  pick_hrw_weighted_ns  the same on the table with weights 50..200 (a
                        loop over the members)
  pick_hrw_cached_ns    keys seen before on the same table version
                        (answered from the per-version HRW cache)
  load_parse_5000_ms    read + verify + parse + build the snapshot of one
                        file of --table_instances instances (median)
  idle_rss_kib          the process's resident set after loading the
                        first table (the interpreter included)

  kess_bench.py --instances 1000 --table_instances 5000
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from kess import Discovery, DiscoveryOptions  # noqa: E402
from kess.cache_file import read_entry, CacheKey  # noqa: E402
from kess.route_table import parse_route_table  # noqa: E402
from kess.snapshot import RouteSnapshot  # noqa: E402


def write_table(cache_dir: str, service: str, n: int,
                weighted: bool = True) -> str:
    instances = [{
        "id": "%s-%05d" % (service, i), "host": "host-%d" % (i % 200),
        "address": "127.0.0.1:%d" % (10000 + i % 50000),
        "datacenter": "dc%d" % (i % 3 + 1),
        "weight": 50 + (i % 4) * 50 if weighted else 100,
        "state": "healthy" if i % 50 else "suspect", "health": "up",
        "metadata": {"version": "1.4.%d" % (i % 7)},
        "registered_ms": 1795314842000 + i} for i in range(n)]
    value = json.dumps({"format": 1, "service": service, "revision": 42,
                        "instances": instances},
                       separators=(",", ":")).encode("utf-8")
    doc = {"format": 1, "type": "route", "service": service, "revision": 42,
           "absent": False, "crc32": zlib.crc32(value), "encoding": "utf8",
           "value": value.decode("utf-8"), "content_type": "application/json",
           "mtime_ms": 1700000000000, "written_ms": 1700000000123}
    path = CacheKey.route(service).path(cache_dir)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def per_call_ns(fn, n: int) -> float:
    start = time.perf_counter_ns()
    fn(n)
    return (time.perf_counter_ns() - start) / n


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--instances", type=int, default=1000)
    p.add_argument("--table_instances", type=int, default=5000)
    p.add_argument("--picks", type=int, default=200000)
    p.add_argument("--hrw_keys", type=int, default=2000)
    p.add_argument("--load_rounds", type=int, default=5)
    args = p.parse_args()

    with tempfile.TemporaryDirectory() as cache_dir:
        # "bench": every instance at the default weight 100 (HRW's common
        # case); "weighted": weights 50..200 (HRW's weighted scan).
        write_table(cache_dir, "bench", args.instances, weighted=False)
        write_table(cache_dir, "weighted", args.instances, weighted=True)
        big_path = write_table(cache_dir, "big", args.table_instances)

        d = Discovery(DiscoveryOptions(cache_dir=cache_dir, agent="",
                                       poll_interval=60))
        try:
            d.select("bench")   # loads the table
            idle_rss = rss_kib()
            d.select("weighted")
            hrw = d.balancer("hrw")
            select = d.select
            keys = ["user-%d" % i for i in range(args.hrw_keys)]

            def wr(n: int) -> None:
                for _ in range(n):
                    select("weighted")

            def hrw_keys(service: str):
                def run(n: int) -> None:
                    for k in keys[:n]:
                        select(service, k, hrw)
                return run

            pick_wr = per_call_ns(wr, args.picks)
            pick_hrw = per_call_ns(hrw_keys("bench"), len(keys))
            pick_hrw_weighted = per_call_ns(hrw_keys("weighted"), len(keys))
            pick_hrw_cached = per_call_ns(hrw_keys("bench"), len(keys))
        finally:
            d.close()

        times = []
        key = CacheKey.route("big")
        for _ in range(args.load_rounds):
            start = time.perf_counter()
            entry = read_entry(big_path, key)
            RouteSnapshot(parse_route_table(entry.value))
            times.append((time.perf_counter() - start) * 1000)

    print(json.dumps({
        "language": "python",
        "pick_wr_ns": round(pick_wr),
        "pick_hrw_ns": round(pick_hrw),
        "pick_hrw_weighted_ns": round(pick_hrw_weighted),
        "pick_hrw_cached_ns": round(pick_hrw_cached),
        "load_parse_5000_ms": round(statistics.median(times), 1),
        "idle_rss_kib": idle_rss,
        "instances": args.instances,
        "table_instances": args.table_instances,
        "python": "%d.%d.%d" % sys.version_info[:3],
    }, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
