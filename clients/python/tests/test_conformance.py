"""The shared conformance vectors (clients/conformance/README.md), run
against the Python client: hashes, PRNG and alias tables; config files and
the last good value; route files and the last good route table; the
scenarios' tables; HRW, weighted-random, local-first and
tier scenarios; failover sequences. The C++ SDK runs the same files."""

import base64
import json
import math
import os
import shutil
from collections import Counter
from typing import Any, Dict, List, Optional

import pytest

from conftest import PY_ROOT
from kess import (CacheKey, CacheWatcher, Discovery, DiscoveryOptions,
                  FailoverOptions, FailureTracker, FastRandom, GarbledFile,
                  InvalidTable, NoInstance, NotFoundError, RouteSnapshot,
                  WatcherOptions, create_balancer, hash_pair, hrw_neg_log2,
                  parse_route_table, read_entry, select_instance, stable_hash)
from kess.snapshot import make_alias

VECTORS = os.path.join(os.path.dirname(PY_ROOT), "conformance", "vectors")

# The Bazel test sets KESS_REQUIRE_VECTORS=1: there, missing vectors fail.
pytestmark = pytest.mark.skipif(
    not os.path.exists(os.path.join(VECTORS, "MANIFEST")) and
    os.environ.get("KESS_REQUIRE_VECTORS") != "1",
    reason="clients/conformance/vectors is not there")


def load(name: str) -> Any:
    with open(os.path.join(VECTORS, name)) as f:
        return json.load(f)


def h64(s: str) -> int:
    return int(s, 16)


def all_named(name: str, key: str) -> List[Any]:
    if not os.path.exists(os.path.join(VECTORS, "MANIFEST")):
        return []
    return load(name)[key]


def names(items: List[Any]) -> List[str]:
    return [i["name"] for i in items]


def test_manifest_lists_every_file():
    with open(os.path.join(VECTORS, "MANIFEST")) as f:
        listed = [line.strip() for line in f if line.strip()]
    assert listed and all(os.path.exists(os.path.join(VECTORS, p))
                          for p in listed)


# --- 3.8 hashes ---------------------------------------------------------

def test_hashes():
    d = load("hashes.json")
    for c in d["stable_hash"]:
        assert stable_hash(base64.b64decode(c["input_b64"])) == \
            h64(c["stable_hash"])
    for c in d["hash_pair"]:
        kh, ih = stable_hash(c["key"]), stable_hash(c["id"])
        assert (kh, ih) == (h64(c["key_hash"]), h64(c["id_hash"]))
        assert hash_pair(kh, ih) == h64(c["pair"])
        assert abs(hrw_neg_log2(hash_pair(kh, ih)) - c["neg_log2"]) < 1e-9
    for c in d["neg_log2"]:
        # The same doubles as the C++ code: compare exactly.
        assert hrw_neg_log2(h64(c["h"])) == c["neg_log2"], c
    for c in d["fast_random"]:
        r = FastRandom(h64(c["seed"]))
        assert [r.next() for _ in c["next"]] == [h64(x) for x in c["next"]]
        assert [r.unit_double() for _ in c["then_unit_double"]] == \
            c["then_unit_double"]
    for c in d["alias_tables"]:
        w = c["weights"]
        threshold, alias = make_alias(w, sum(w))
        assert (threshold, alias) == (c["threshold"], c["alias"])
        r = FastRandom(0x000000006B657373)
        n = len(w)
        draws = []
        for _ in c["draws_seeded"]:
            x = r.next()
            col = ((x >> 32) * n) >> 32
            draws.append(col if (x & 0xFFFFFFFF) < threshold[col]
                         else alias[col])
        assert draws == c["draws_seeded"]


# --- 3.4 config files ---------------------------------------------------

def check_outcome(entry, expect: Dict[str, Any]) -> None:
    if expect["outcome"] == "absent":
        assert entry.absent and entry.revision == expect["revision"]
        return
    assert expect["outcome"] == "value"
    assert not entry.absent
    assert entry.revision == expect["revision"]
    assert entry.value == base64.b64decode(expect["value_b64"])
    assert entry.content_type == expect["content_type"]
    assert entry.mtime_ms == expect["mtime_ms"]


def put(cache_dir: str, path: str, src: Optional[str]) -> None:
    """Puts a vector file at `path` as the agent does (a dot temp file
    renamed over), or removes it for None."""
    if src is None:
        if os.path.exists(path):
            os.remove(path)
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = os.path.join(os.path.dirname(path),
                       "." + os.path.basename(path) + ".tmp-1")
    shutil.copyfile(os.path.join(VECTORS, src), tmp)
    os.rename(tmp, path)


@pytest.mark.parametrize("case", all_named("config_files.json", "cases"),
                         ids=lambda c: c["name"])
def test_config_file(case, tmp_path):
    cache = str(tmp_path)
    key = CacheKey.config(case["namespace"], case["key"])
    put(cache, key.path(cache), case["file"])
    w = CacheWatcher(WatcherOptions(cache_dir=cache, agent="",
                                    start_thread=False))
    try:
        expect = case["expect"]
        if expect["outcome"] == "rejected":
            with pytest.raises(GarbledFile) as e:
                w.get(key)
            assert e.value.reason == expect["reason"], str(e.value)
        else:
            check_outcome(w.get(key), expect)
    finally:
        w.close()


# --- 3.5 config sequences (the last good value) -------------------------

@pytest.mark.parametrize("seq", all_named("config_sequences.json",
                                          "sequences"),
                         ids=lambda s: s["name"])
def test_config_sequence(seq, tmp_path):
    cache = str(tmp_path)
    key = CacheKey.config(seq["namespace"], seq["key"])
    w = CacheWatcher(WatcherOptions(cache_dir=cache, agent="",
                                    start_thread=False))
    delivered: List[int] = []
    try:
        w.watch(key, lambda e: delivered.append(e.revision))
        for i, step in enumerate(seq["steps"]):
            put(cache, key.path(cache), step["file"])
            del delivered[:]
            w.poll_now()
            where = "%s step %d (%s)" % (seq["name"], i, step["description"])
            assert delivered == step["delivered"], where
            held = step["held"]
            if held["outcome"] == "none":
                if held["error"] == "not_found":
                    with pytest.raises(NotFoundError):
                        w.get(key)
                else:
                    with pytest.raises(GarbledFile) as e:
                        w.get(key)
                    assert e.value.reason == held["reason"], where
            else:
                check_outcome(w.get(key), held)
    finally:
        w.close()


# --- 3.6 route files ----------------------------------------------------

@pytest.mark.parametrize("case", all_named("route_files.json", "cases"),
                         ids=lambda c: c["name"])
def test_route_file(case, tmp_path):
    cache = str(tmp_path)
    service = case["service"]
    key = CacheKey.route(service)
    put(cache, key.path(cache), case["file"])
    d = Discovery(DiscoveryOptions(cache_dir=cache, agent="",
                                   start_thread=False))
    try:
        expect = case["expect"]
        if expect["outcome"] == "table":
            t = d.get_table(service)
            assert t.revision == expect["revision"]
            assert [i.id for i in t.instances] == expect["ids"]
            return
        with pytest.raises(NoInstance):
            d.get_table(service)
        # Which rule refused it, by the functions Discovery applies.
        try:
            entry = read_entry(key.path(cache), key)
        except GarbledFile:
            reason = "garbled_file"
        else:
            try:
                table = parse_route_table(entry.value)
                reason = ("wrong_service" if table.service != service
                          else "accepted")
            except InvalidTable:
                reason = "invalid_table"
        assert reason == expect["reason"]
        assert d.route_read_errors + d.watcher.read_errors["route"] >= 1
    finally:
        d.close()


# --- 3.7 route sequences (the last good table) --------------------------

@pytest.mark.parametrize("seq", all_named("route_sequences.json",
                                          "sequences"),
                         ids=lambda s: s["name"])
def test_route_sequence(seq, tmp_path):
    cache = str(tmp_path)
    service = seq["service"]
    key = CacheKey.route(service)
    d = Discovery(DiscoveryOptions(cache_dir=cache, agent="",
                                   start_thread=False))
    seen: List[int] = []
    try:
        d.watch(service, lambda t: seen.append(t.revision))
        d.poll_now()
        for i, step in enumerate(seq["steps"]):
            where = "%s step %d (%s)" % (seq["name"], i, step["description"])
            put(cache, key.path(cache), step["file"])
            before = len(seen)
            d.poll_now()
            assert seen[before:] == step["delivered"], where
            held = step["held"]
            if held["outcome"] == "none":
                with pytest.raises(NoInstance):
                    d.get_table(service)
                with pytest.raises(NoInstance):
                    d.select(service)
                continue
            assert held["outcome"] == "table", where
            t = d.get_table(service)
            assert t.revision == held["revision"], where
            assert [x.id for x in t.instances] == held["ids"], where
            # What select() picks from is that same table.
            snapshot, _ = d.view(service)
            assert snapshot is not None and snapshot.table is t, where
            if held["ids"]:
                assert d.select(service).id in held["ids"], where
            else:
                with pytest.raises(NoInstance):
                    d.select(service)
    finally:
        d.close()


# --- 3.1 the route tables of the scenarios ------------------------------

@pytest.mark.parametrize("t", all_named("tables.json", "tables"),
                         ids=lambda t: t["service"])
def test_table(t):
    service = t["service"]
    key = CacheKey.route(service)
    cache = os.path.join(VECTORS, "cache")
    assert os.path.join(VECTORS, t["file"]) == key.path(cache)
    entry = read_entry(key.path(cache), key)
    assert entry.revision == t["revision"]
    assert entry.absent == t["tombstone"]
    d = Discovery(DiscoveryOptions(cache_dir=cache, agent="",
                                   start_thread=False))
    try:
        table = d.get_table(service)
        assert table.service == service
        assert table.revision == t["revision"]
        assert len(table.instances) == t["instances"]
        ids = [i.id for i in table.instances]
        assert ids == sorted(ids, key=lambda s: s.encode())
    finally:
        d.close()


# --- 3.2 pick scenarios and 3.3 failover sequences ----------------------

class Clock:
    def __init__(self) -> None:
        self.ms = 0

    def __call__(self) -> int:
        return self.ms


def failover_options(o: Dict[str, Any]) -> FailoverOptions:
    return FailoverOptions(
        initial_ejection=o["initial_ejection_ms"] / 1000.0,
        max_ejection=o["max_ejection_ms"] / 1000.0,
        recovering_weight=o["recovering_weight"],
        successes_to_reset=o["successes_to_reset"],
        forget_after=o["forget_after_ms"] / 1000.0)


def policy_args(policy: Dict[str, Any]) -> Dict[str, Any]:
    if policy["name"] == "local_first":
        return {"balancer": "local_first",
                "local_datacenter": policy["local_datacenter"],
                "min_local_healthy": policy["min_local_healthy"],
                "local_first_inner": policy["inner"]}
    return {"balancer": policy["name"]}


def picker(policy: Dict[str, Any]) -> str:
    return policy.get("inner", policy["name"])


def check_expect(pick, snapshot: RouteSnapshot, availability, now_ms: int,
                 policy: Dict[str, Any], keys: List[str],
                 expect: Dict[str, Any], empirical: Dict[str, Any],
                 where: str) -> None:
    """`pick(key, random)` picks like the client; checks one `expect`."""
    tier = expect["tier"]
    eligible = {e["id"]: e["share"] for e in expect["eligible"]}
    if tier == "none":
        with pytest.raises(NoInstance):
            pick("", None)
        for k in keys:
            with pytest.raises(NoInstance):
                pick(k, None)
        return
    if "factors" in expect:
        got = {}
        if availability is not None and availability.active_at(now_ms):
            for i, inst in enumerate(snapshot.table.instances):
                f = availability.factor(i, now_ms)
                if f != 1.0:
                    got[inst.id] = f
        assert set(got) == set(expect["factors"]), where
        for k, f in expect["factors"].items():
            assert abs(got[k] - f) <= 1e-9, where
    if "hrw_picks" in expect:
        picks = [pick(k, None).id for k in keys]
        assert picks == expect["hrw_picks"], where
        assert set(picks) <= set(eligible), where
    if "random_sequence" in expect:
        seq = expect["random_sequence"]
        r = FastRandom(h64(seq["seed"]))
        assert [pick("", r).id for _ in seq["picks"]] == seq["picks"], where
    if len(eligible) == 1:
        only = next(iter(eligible))
        assert pick("", None).id == only, where
        for k in keys[:5]:
            assert pick(k, None).id == only, where
    if picker(policy) == "weighted_random" and empirical and \
            len(eligible) > 1:
        draws = empirical["draws"]
        r = FastRandom(12345)
        counts = Counter(pick("", r).id for _ in range(draws))
        assert set(counts) <= set(eligible), where
        for iid, p in eligible.items():
            o = counts.get(iid, 0) / draws
            bound = empirical["sigmas"] * math.sqrt(p * (1 - p) / draws) + \
                1 / draws
            assert abs(o - p) <= bound, (where, iid, o, p)


SCENARIO_FILES = ["hrw.json", "weighted_random.json", "local_first.json",
                  "tiers.json"]


def all_scenarios() -> List[Any]:
    out = []
    for f in SCENARIO_FILES:
        if os.path.exists(os.path.join(VECTORS, f)):
            d = load(f)
            out += [(d.get("empirical"), s) for s in d["scenarios"]]
    return out


@pytest.mark.parametrize("item", all_scenarios(),
                         ids=lambda i: i[1]["name"])
def test_scenario(item):
    empirical, sc = item
    clock = Clock()
    fo = sc.get("failover")
    options = failover_options(fo["options"]) if fo else FailoverOptions()
    d = Discovery(DiscoveryOptions(
        cache_dir=os.path.join(VECTORS, "cache"), agent="",
        start_thread=False, clock=clock, failover=options,
        **policy_args(sc["policy"])))
    try:
        service = sc["service"]
        if fo:
            for rep in fo["reports"]:
                clock.ms = rep["t_ms"]
                if rep["result"] == "failure":
                    d.report_failure(service, rep["id"])
                else:
                    d.report_success(service, rep["id"])
            clock.ms = fo["now_ms"]
        snapshot, availability = d.view(service)
        balancer = d.balancer(sc["policy"]["name"])

        def pick(key: str, random: Optional[FastRandom]):
            if random is None:
                return d.select(service, key)
            if snapshot is None:
                raise NoInstance("no table")
            return select_instance(balancer, snapshot, availability, key,
                                   clock.ms, random)
        if snapshot is None:
            assert sc["expect"]["tier"] == "none"
        check_expect(pick, snapshot, availability, clock.ms, sc["policy"],
                     sc.get("keys", []), sc["expect"], empirical, sc["name"])
    finally:
        d.close()


# Every vector file this runner runs: the index files of section 3 (the
# files under cache/, configs/, config_sequences/, route_files/ and
# route_sequences/ are read through them).
RUN_FILES = {"hashes.json", "config_files.json", "config_sequences.json",
             "route_files.json", "route_sequences.json", "tables.json",
             "failover.json"} | set(SCENARIO_FILES)


def test_runner_runs_every_vector_file():
    """A vector file added to MANIFEST fails here until this runner runs
    it."""
    with open(os.path.join(VECTORS, "MANIFEST")) as f:
        top = {line.strip() for line in f
               if line.strip() and "/" not in line.strip()}
    assert top == RUN_FILES


def test_every_kind_of_vector_ran():
    """The parametrized tests above are empty lists if a file is missing."""
    for f, key in (("config_files.json", "cases"),
                   ("config_sequences.json", "sequences"),
                   ("route_files.json", "cases"),
                   ("route_sequences.json", "sequences"),
                   ("tables.json", "tables"),
                   ("failover.json", "sequences")):
        assert all_named(f, key), f
    assert len(all_scenarios()) >= 4


@pytest.mark.parametrize("seq", all_named("failover.json", "sequences"),
                         ids=lambda s: s["name"])
def test_failover_sequence(seq):
    entry = read_entry(os.path.join(VECTORS, "cache", "routes",
                                    seq["service"] + ".json"),
                       CacheKey.route(seq["service"]))
    snapshot = RouteSnapshot(parse_route_table(entry.value))
    tracker = FailureTracker(failover_options(seq["options"]))
    p = seq["policy"]
    balancer = create_balancer(p["name"], p.get("local_datacenter", ""),
                               p.get("min_local_healthy", 1),
                               p.get("inner", "weighted_random"))
    reported = set()
    for i, step in enumerate(seq["steps"]):
        t = step["t_ms"]
        where = "%s step %d" % (seq["name"], i)
        if "report" in step:
            reported.add(step["id"])
            if step["report"] == "failure":
                changed = tracker.report_failure(step["id"], t)
            else:
                changed = tracker.report_success(step["id"], t)
            assert changed == step["changed"], where
            continue
        check = step["check"]
        availability = tracker.build(snapshot, t)

        def pick(key, random, availability=availability, t=t):
            return select_instance(balancer, snapshot, availability, key, t,
                                   random)
        check_expect(pick, snapshot, availability, t, p, seq.get("keys", []),
                     check, {}, where)
        failures = {iid: tracker.failures(iid) for iid in reported
                    if tracker.failures(iid) > 0}
        assert failures == check["failures"], where
