"""Hashes, cache file decoding, route table validation, balancers and
failure tracking: the parts that must give the C++ SDK's answers."""

import json
import math

import pytest

from conftest import entry_object, table_json
from kess import (FailoverOptions, FailureTracker, FastRandom, GarbledFile,
                  InvalidTable, NoInstance, RouteSnapshot, create_balancer,
                  decode_entry, hash_pair, hrw_neg_log2, parse_route_table,
                  select_instance, stable_hash)
from kess.cache_file import list_namespace
from kess.names import valid_name
from kess.snapshot import make_alias


# --- hashes -------------------------------------------------------------

def test_stable_hash_fixed_values():
    # The values sdk/load_balancer_test.cc pins for the C++ SDK.
    assert stable_hash("") == 0x552D3FB62B3C344F
    assert stable_hash("checkout-7f3a") == 0x216DA7A71B783D9C
    assert hash_pair(stable_hash("user-42"), stable_hash("checkout-7f3a")) \
        == 0xCB62CDF36D13EB96


def test_hrw_neg_log2_close_to_log2():
    r = FastRandom(7)
    for _ in range(2000):
        h = r.next()
        u = ((h >> 11) + 0.5) / 2.0 ** 53
        assert abs(hrw_neg_log2(h) - (-math.log2(u))) < 1e-10
    assert hrw_neg_log2(0) > 53  # the smallest u


def test_fast_random_is_reproducible_and_uniform():
    a, b = FastRandom(42), FastRandom(42)
    assert [a.next() for _ in range(5)] == [b.next() for _ in range(5)]
    r = FastRandom(1)
    xs = [r.unit_double() for _ in range(20000)]
    assert all(0 <= x < 1 for x in xs)
    assert abs(sum(xs) / len(xs) - 0.5) < 0.02
    assert all(0 <= r.uniform(7) < 7 for _ in range(1000))


def test_names():
    for ok in ("a", "db.timeout", "A-1_b", "x" * 128):
        assert valid_name(ok)
    for bad in ("", ".a", "a..b", "..", "a/b", "x" * 129, "é", "-a"):
        assert not valid_name(bad)


# --- cache files --------------------------------------------------------

def encode(obj):
    return json.dumps(obj).encode()


def test_decode_utf8_base64_tombstone():
    e = decode_entry(encode(entry_object("config", ("shop", "db"), b"30s",
                                         42)))
    assert (e.value, e.revision, e.absent) == (b"30s", 42, False)
    raw = bytes(range(256))
    obj = entry_object("config", ("shop", "bin"), raw, 43)
    assert obj["encoding"] == "base64"
    assert decode_entry(encode(obj)).value == raw
    t = decode_entry(encode(entry_object("config", ("shop", "gone"), b"", 45,
                                         absent=True)))
    assert t.absent and t.value == b"" and t.revision == 45


@pytest.mark.parametrize("mutate", [
    lambda d: d.update(crc32=d["crc32"] ^ 1),
    lambda d: d.update(format=2),
    lambda d: d.update(encoding="rot13"),
    lambda d: d.update(type="secret"),
    lambda d: d.update(namespace="../etc"),
    lambda d: d.pop("revision"),
    lambda d: d.update(revision="42"),
    lambda d: d.update(absent=0),
    lambda d: d.update(value="31s"),
])
def test_garbled_files_are_refused(mutate):
    d = entry_object("config", ("shop", "db"), b"30s", 42)
    mutate(d)
    with pytest.raises(GarbledFile):
        decode_entry(encode(d))


def test_partial_and_non_json_files_are_refused():
    data = encode(entry_object("config", ("shop", "db"), b"30s", 42))
    for bad in (data[:len(data) // 2], b"", b"\xff\xfe", b"[1]", b"null"):
        with pytest.raises(GarbledFile):
            decode_entry(bad)


def test_unknown_fields_are_ignored():
    d = entry_object("config", ("shop", "db"), b"v", 1)
    d["future_field"] = {"x": 1}
    assert decode_entry(encode(d)).value == b"v"


def test_listing_ignores_dot_files(tmp_path):
    d = tmp_path / "configs" / "shop"
    d.mkdir(parents=True)
    for n in ("a.json", ".a.json.tmp-1-2", ".hidden.json", "b.json.json",
              "notes.txt"):
        (d / n).write_text("{}")
    assert list_namespace(str(tmp_path), "shop") == ["a", "b.json"]


# --- route tables -------------------------------------------------------

def test_route_table_parses_and_sorts():
    t = parse_route_table(table_json("svc", [{"id": "b"}, {"id": "a"}], 7))
    assert [i.id for i in t.instances] == ["a", "b"]
    assert t.revision == 7 and t.service == "svc"


@pytest.mark.parametrize("bad", [
    {"weight": 0}, {"weight": 10001}, {"state": "gone"},
    {"address": "127.0.0.1"}, {"address": "127.0.0.1:0"},
    {"address": ":80"}, {"health": "Up"}, {"check_status": "dead"},
    {"check_output": "\x01"}, {"datacenter": "a/b"}, {"id": "a..b"},
    {"metadata": {"k": 1}}, {"metadata": {"bad/key": "v"}},
    {"weight": "100"},
])
def test_route_table_rules(bad):
    inst = {"id": "a"}
    inst.update(bad)
    with pytest.raises(InvalidTable):
        parse_route_table(table_json("svc", [inst]))


def test_route_table_refuses_duplicates_and_formats():
    with pytest.raises(InvalidTable):
        parse_route_table(table_json("svc", [{"id": "a"}, {"id": "a"}]))
    doc = json.loads(table_json("svc", [{"id": "a"}]))
    doc["format"] = 2
    with pytest.raises(InvalidTable):
        parse_route_table(json.dumps(doc))
    del doc["instances"]
    doc["format"] = 1
    with pytest.raises(InvalidTable):
        parse_route_table(json.dumps(doc))


# --- snapshots and balancers -------------------------------------------

def snapshot(instances, service="svc"):
    return RouteSnapshot(parse_route_table(table_json(service, instances)))


def test_alias_table_draws_by_weight_exactly():
    weights = [1, 2, 3, 10]
    total = sum(weights)
    threshold, alias = make_alias(weights, total)
    # Each column holds exactly total/n of probability mass.
    mass = [0.0] * len(weights)
    for c in range(len(weights)):
        p = threshold[c] / 2 ** 32
        mass[c] += p
        mass[alias[c]] += 1 - p
    for w, m in zip(weights, mass):
        assert abs(m / len(weights) - w / total) < 1e-9


def test_weighted_random_follows_weights():
    snap = snapshot([{"id": "a", "weight": 100}, {"id": "b", "weight": 300}])
    lb = create_balancer("weighted_random")
    r = FastRandom(3)
    counts = {"a": 0, "b": 0}
    for _ in range(20000):
        counts[select_instance(lb, snap, None, "", 0, r).id] += 1
    assert abs(counts["b"] / 20000 - 0.75) < 0.02


def test_tiers_healthy_then_suspect_never_disabled():
    lb = create_balancer("weighted_random")
    snap = snapshot([{"id": "s", "state": "suspect"},
                     {"id": "d", "state": "disabled"},
                     {"id": "h"}])
    assert {select_instance(lb, snap, None, "", 0).id
            for _ in range(200)} == {"h"}
    snap = snapshot([{"id": "s", "state": "suspect",
                      "check_status": "critical"},
                     {"id": "d", "state": "disabled"}])
    assert {select_instance(lb, snap, None, "", 0).id
            for _ in range(200)} == {"s"}
    snap = snapshot([{"id": "d", "state": "disabled"}])
    with pytest.raises(NoInstance):
        select_instance(lb, snap, None, "", 0)
    # A healthy instance whose checks are critical (beyond the protection
    # threshold kess keeps it healthy) is picked like any healthy one.
    snap = snapshot([{"id": "c", "check_status": "critical"}])
    assert select_instance(lb, snap, None, "", 0).id == "c"


def test_hrw_is_stable_and_moves_few_keys():
    insts = [{"id": "i%02d" % i} for i in range(20)]
    lb = create_balancer("hrw")
    before = {k: select_instance(lb, snapshot(insts), None, "k%d" % k, 0).id
              for k in range(2000)}
    again = {k: select_instance(lb, snapshot(insts), None, "k%d" % k, 0).id
             for k in range(2000)}
    assert before == again
    removed = [i for i in insts if i["id"] != "i07"]
    after = {k: select_instance(lb, snapshot(removed), None, "k%d" % k, 0).id
             for k in range(2000)}
    moved = [k for k in before if before[k] != after[k]]
    assert all(before[k] == "i07" for k in moved)
    assert 40 < len(moved) < 180


def test_hrw_packed_path_equals_the_member_loop():
    from kess.balancer import _best_uniform, _best_uniform_packed
    r = FastRandom(11)
    for n in (1, 2, 24, 25, 100, 1000):
        snap = snapshot([{"id": "m%04d" % i} for i in range(n)])
        g = snap.healthy.all
        for _ in range(50):
            kh = r.next()
            assert _best_uniform_packed(kh, g) == _best_uniform(kh, g.id_mul)
    # And through the balancer: the same as the formula.
    insts = [{"id": "u%d" % i} for i in range(300)]
    snap = snapshot(insts)
    lb = create_balancer("hrw")
    for k in range(200):
        kh = stable_hash("key-%d" % k)
        best = max(insts, key=lambda i: hash_pair(kh, stable_hash(i["id"])))
        assert select_instance(lb, snap, None, "key-%d" % k, 0).id == \
            best["id"]


def test_hrw_weighted_packed_path_equals_the_member_loop():
    from kess.balancer import _best_weighted, _best_weighted_packed
    r = FastRandom(12)
    for n, weights in ((30, (1, 2)), (200, (50, 100, 150, 200)),
                       (1000, (100, 100, 10000, 1)), (64, (7,))):
        snap = snapshot([{"id": "m%04d" % i, "weight": weights[i % len(
            weights)]} for i in range(n)])
        g = snap.healthy.all
        for _ in range(100):
            kh = r.next()
            assert _best_weighted_packed(g, kh) == \
                _best_weighted(g, kh, None, 0)


def _fmix64_inverse(h):
    """The x with fmix64(x) == h (each step of fmix64 is invertible)."""
    def unshift(x):
        return x ^ (x >> 33)   # its own inverse: 2 * 33 >= 64
    m = (1 << 64) - 1
    x = unshift(h)
    x = (x * pow(0xC4CEB9FE1A85EC53, -1, 1 << 64)) & m
    x = unshift(x)
    x = (x * pow(0xFF51AFD7ED558CCD, -1, 1 << 64)) & m
    return unshift(x)


def _group_with_hashes(weights, key_hash, hashes):
    """A group whose member i has hash_pair(key_hash, id) == hashes[i] (the
    id hashes set by hand, as far apart or as close as a test needs)."""
    from kess.hashing import GOLDEN, MASK64, fmix64
    snap = snapshot([{"id": "m%04d" % i, "weight": w}
                     for i, w in enumerate(weights)])
    g = snap.healthy.all
    g.id_mul = [key_hash ^ _fmix64_inverse(h) for h in hashes]
    assert all(fmix64(key_hash ^ m) == h for m, h in zip(g.id_mul, hashes))
    g.id_hash = [(m * pow(GOLDEN, -1, 1 << 64)) & MASK64 for m in g.id_mul]
    g._packed = g._classes = None   # rebuilt from id_mul
    return g


def test_hrw_packed_paths_on_close_and_equal_hashes():
    """The cases random keys almost never reach: hashes that differ in the
    last bits only, equal hashes (the smaller position wins), no top byte
    0xff, the largest hash just above a top-byte boundary."""
    from kess.balancer import (_best_uniform, _best_uniform_packed,
                               _best_weighted, _best_weighted_packed)
    top = (1 << 64) - 1
    r = FastRandom(13)
    cases = [
        [top - 5, 7, top - 6, top - 5, 1 << 63],          # equal largest
        [top, top - 1, 3, top - (1 << 30), 12345],        # within the window
        [(0x80 << 56) + 3, (0x7F << 56) + (1 << 55), 0x10, (0x80 << 56) + 1,
         (0x7F << 56) + 99],                               # no 0xff
        [(0xC0 << 56) + 10, (0xBF << 56) | ((1 << 56) - 2), 5,
         (0xBF << 56) | ((1 << 56) - 1), 9],               # boundary
        [r.next() for _ in range(40)],
    ]
    for hashes in cases:
        n = len(hashes)
        for key_hash in (0, 0x9E3779B97F4A7C15, r.next()):
            g = _group_with_hashes([100] * n, key_hash, hashes)
            best = max(range(n), key=lambda i: (hashes[i], -i))
            assert _best_uniform(key_hash, g.id_mul) == best
            assert _best_uniform_packed(key_hash, g) == best
            for weights in ([100, 200] * n, [1, 1, 10000, 50] * n):
                g = _group_with_hashes(weights[:n], key_hash, hashes)
                want = _best_weighted(g, key_hash, None, 0)
                assert _best_weighted_packed(g, key_hash) == want


def test_hrw_weighted_matches_the_formula():
    insts = [{"id": "w%d" % i, "weight": 10 * (i + 1)} for i in range(12)]
    snap = snapshot(insts)
    lb = create_balancer("hrw")
    for k in range(300):
        key = "user-%d" % k
        kh = stable_hash(key)
        best = min(insts, key=lambda i: (hrw_neg_log2(hash_pair(
            kh, stable_hash(i["id"]))) / i["weight"], i["id"]))
        assert select_instance(lb, snap, None, key, 0).id == best["id"]


def test_local_first():
    lb = create_balancer("local_first", "dc1", 2, "weighted_random")
    insts = [{"id": "a", "datacenter": "dc1"}, {"id": "b", "datacenter": "dc1"},
             {"id": "c", "datacenter": "dc2"}]
    assert {select_instance(lb, snapshot(insts), None, "", 0).id
            for _ in range(300)} == {"a", "b"}
    # Below min_local_healthy: every DC.
    picks = {select_instance(lb, snapshot(insts[1:]), None, "", 0).id
             for _ in range(300)}
    assert picks == {"b", "c"}
    # Ejected local instances do not count.
    snap = snapshot(insts)
    tracker = FailureTracker()
    tracker.report_failure("a", 1000)
    avail = tracker.build(snap, 1000)
    assert {select_instance(lb, snap, avail, "", 1001).id
            for _ in range(300)} == {"b", "c"}
    with pytest.raises(ValueError):
        create_balancer("local_first", "", 1, "hrw")
    with pytest.raises(ValueError):
        create_balancer("local_first", "dc1", 1, "local_first")
    with pytest.raises(ValueError):
        create_balancer("nope")


# --- failover -----------------------------------------------------------

def test_failure_tracker_backoff_and_ramp():
    t = FailureTracker(FailoverOptions())
    snap = snapshot([{"id": "a"}, {"id": "b"}])
    assert t.build(snap, 0) is None
    assert t.report_failure("a", 1000)
    assert not t.report_failure("a", 1500)   # ejected: ignored
    av = t.build(snap, 1000)
    assert av.factor(0, 1999) == 0.0
    assert av.factor(0, 2000) == pytest.approx(0.1)
    assert av.factor(0, 2500) == pytest.approx(0.55)
    assert av.factor(0, 3000) == 1.0 and av.factor(1, 1500) == 1.0
    assert t.report_failure("a", 2100)       # second: 2 s
    e = t.build(snap, 2100).entry(0)
    assert (e.until_ms, e.recovered_ms) == (4100, 6100)
    now = 4100
    durations = []
    for _ in range(7):   # each failure as soon as the ejection ends
        assert t.report_failure("a", now)
        e = t.build(snap, now).entry(0)
        durations.append(e.until_ms - e.ejected_ms)
        now = e.until_ms
    assert durations == [4000, 8000, 16000, 30000, 30000, 30000, 30000]
    assert not t.report_success("a", now + 1)
    assert not t.report_success("a", now + 2)
    assert t.report_success("a", now + 3)        # third success: forgotten
    assert t.failures("a") == 0
    t.report_failure("b", 0)
    assert t.build(snap, 2000 + 60000) is None  # forgotten after quiet
    # A quiet period forgets also without a build() in between: the next
    # failure ejects for initial_ejection again.
    t.report_failure("b", 100000)
    t.report_failure("b", 101000)
    assert t.failures("b") == 2
    assert t.report_failure("b", 101000 + 4000 + 60000)
    assert t.failures("b") == 1


def test_all_ejected_gives_least_recently_ejected():
    lb = create_balancer("hrw")
    snap = snapshot([{"id": "a"}, {"id": "b"}, {"id": "s",
                                                 "state": "suspect"}])
    t = FailureTracker()
    t.report_failure("b", 100)
    t.report_failure("a", 200)
    t.report_failure("s", 50)
    av = t.build(snap, 300)
    assert select_instance(lb, snap, av, "k", 300).id == "b"
    # Suspect ones are used while a healthy one is ejected.
    t2 = FailureTracker()
    t2.report_failure("a", 100)
    t2.report_failure("b", 100)
    assert select_instance(lb, snap, t2.build(snap, 150), "k", 150).id == "s"


def test_weighted_random_with_recovering_instance():
    snap = snapshot([{"id": "a"}, {"id": "b"}])
    t = FailureTracker()
    t.report_failure("a", 0)
    av = t.build(snap, 0)
    lb = create_balancer("weighted_random")
    r = FastRandom(5)
    # At 1500 ms "a" is half way up its ramp: factor 0.55.
    n = 20000
    a = sum(select_instance(lb, snap, av, "", 1500, r).id == "a"
            for _ in range(n))
    assert abs(a / n - 0.55 / 1.55) < 0.02
