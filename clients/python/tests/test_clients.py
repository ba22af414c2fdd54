"""ConfigClient, Discovery and Registration against real files and a fake
of the agent's HTTP API (a real local server)."""

import json
import os
import shutil
import tempfile
import threading
import time

import pytest

from conftest import (FakeAgent, entry_object, entry_path, wait_for,
                      write_config, write_raw, write_route)
from kess import (AgentClient, AgentError, ConfigClient, Discovery,
                  DiscoveryOptions, FailoverOptions, GarbledFile, NoInstance,
                  NotFoundError, Registration, WatcherOptions, http_check)


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.items = []

    def __call__(self, v):
        with self.lock:
            self.items.append(v)

    def revisions(self):
        with self.lock:
            return [v.revision for v in self.items]


# --- config reading, polling (no agent) ---------------------------------

def test_last_good_value_survives_garbled_partial_and_missing(cache_dir):
    write_config(cache_dir, "shop", "db", b"30s", 10)
    c = ConfigClient(WatcherOptions(cache_dir=cache_dir, agent="",
                                    poll_interval=0.05))
    try:
        rec = Recorder()
        h = c.watch("shop", "db", rec)
        assert c.get("shop", "db").value == b"30s"
        assert wait_for(lambda: rec.revisions() == [10])
        path = entry_path(cache_dir, "config", ("shop", "db"))
        good = json.dumps(entry_object("config", ("shop", "db"), b"31s", 11))
        # A garbled file (crc mismatch), a partial one, another key, an
        # unknown format: none replaces the good value.
        write_raw(path, good.replace("31s", "32s").encode())
        write_raw(path, good[:40].encode())
        d = entry_object("config", ("shop", "other"), b"x", 12)
        write_raw(path, json.dumps(d).encode())
        d = entry_object("config", ("shop", "db"), b"x", 13)
        d["format"] = 2
        write_raw(path, json.dumps(d).encode())
        c.poll_now()
        assert c.get("shop", "db").value == b"30s"
        assert c.watcher.read_errors["config"] >= 1
        # An older revision is ignored too.
        write_config(cache_dir, "shop", "db", b"old", 9)
        c.poll_now()
        assert c.get("shop", "db").revision == 10
        write_config(cache_dir, "shop", "db", b"31s", 11)
        assert wait_for(lambda: rec.revisions() == [10, 11])
        assert c.get("shop", "db").text == "31s"
        # A tombstone: delivered as deleted, get() says not found.
        write_config(cache_dir, "shop", "db", b"", 12, absent=True)
        assert wait_for(lambda: rec.revisions() == [10, 11, 12])
        assert rec.items[-1].deleted
        with pytest.raises(NotFoundError):
            c.get("shop", "db")
        h.close()
    finally:
        c.close()


def test_get_without_watch(cache_dir):
    c = ConfigClient(WatcherOptions(cache_dir=cache_dir, agent=""))
    try:
        with pytest.raises(NotFoundError):
            c.get("shop", "missing")
        write_raw(entry_path(cache_dir, "config", ("shop", "bad")), b"{")
        with pytest.raises(GarbledFile):
            c.get("shop", "bad")
        with pytest.raises(ValueError):
            c.get("shop", "../x")
        write_config(cache_dir, "shop", "bin", bytes([0, 255, 1]), 3)
        assert c.get("shop", "bin").value == bytes([0, 255, 1])
    finally:
        c.close()


def test_namespace_watch_by_polling(cache_dir):
    write_config(cache_dir, "ns", "a", b"1", 5)
    c = ConfigClient(WatcherOptions(cache_dir=cache_dir, agent="",
                                    poll_interval=0.05))
    try:
        seen = Recorder()
        c.watch_namespace("ns", seen)
        write_config(cache_dir, "ns", "b", b"2", 6)
        # A write in progress (dot-file) is never read.
        write_raw(os.path.join(cache_dir, "configs", "ns", ".c.json.tmp-1"),
                  b"{garbage")
        assert wait_for(lambda: sorted((v.key, v.revision)
                                       for v in seen.items)
                        == [("a", 5), ("b", 6)])
        assert c.get("ns", "b").text == "2"
    finally:
        c.close()


# --- through the agent --------------------------------------------------

def test_subscribes_with_owner_and_watches_through_agent(cache_dir, agent):
    agent.publish(entry_object("config", ("shop", "db"), b"v1", 1))
    c = ConfigClient(WatcherOptions(cache_dir=cache_dir, agent=agent.address,
                                    owner="app-1", poll_interval=30))
    try:
        rec = Recorder()
        c.watch("shop", "db", rec)
        assert wait_for(lambda: agent.count("POST", "/v1/subscriptions") >= 1)
        body = agent.bodies("POST", "/v1/subscriptions")[0]
        assert body == {"app": "app-1",
                        "configs": [{"namespace": "shop", "key": "db"}]}
        assert wait_for(lambda: c.watcher.using_blocking_watch)
        # Only the watch reports this version (the file is not written),
        # and polling is 30 s: it must come through GET /v1/watch.
        agent.publish(entry_object("config", ("shop", "db"), b"v2", 2),
                      write_file=False)
        assert wait_for(lambda: rec.revisions() == [1, 2], timeout=5)
        assert c.get("shop", "db").text == "v2"
        # A garbled change is ignored.
        bad = entry_object("config", ("shop", "db"), b"v3", 3)
        bad["crc32"] += 1
        agent.publish(bad, write_file=False)
        agent.publish(entry_object("config", ("shop", "db"), b"v4", 4),
                      write_file=False)
        assert wait_for(lambda: rec.revisions() == [1, 2, 4], timeout=5)
        # A namespace and a route table join the same long poll.
        ns = Recorder()
        c.watch_namespace("other", ns)
        agent.publish(entry_object("config", ("other", "k"), b"x", 5),
                      write_file=False)
        assert wait_for(lambda: [v.key for v in ns.items] == ["k"], timeout=5)
        watches = [p for m, p, _ in agent.requests if p.startswith("/v1/watch")]
        assert any("namespace=other" in p for p in watches)
    finally:
        c.close()
    # close() unsubscribes what it held, as its owner.
    deletes = agent.bodies("DELETE", "/v1/subscriptions")
    assert deletes and deletes[-1]["app"] == "app-1"
    assert {"namespace": "shop", "key": "db"} in deletes[-1]["configs"]
    assert deletes[-1]["namespaces"] == ["other"]


def test_closing_last_handle_unsubscribes(cache_dir, agent):
    c = ConfigClient(WatcherOptions(cache_dir=cache_dir, agent=agent.address,
                                    owner="app-2"))
    try:
        h1 = c.watch("shop", "k", lambda v: None)
        h2 = c.watch("shop", "k", lambda v: None)
        assert wait_for(lambda: agent.count("POST", "/v1/subscriptions") == 1)
        h1.close()
        time.sleep(0.3)
        assert agent.count("DELETE", "/v1/subscriptions") == 0
        h2.close()
        assert wait_for(lambda: agent.count("DELETE", "/v1/subscriptions")
                        == 1)
        assert agent.bodies("DELETE", "/v1/subscriptions")[0] == {
            "app": "app-2", "configs": [{"namespace": "shop", "key": "k"}]}
    finally:
        c.close()


def test_falls_back_to_polling_when_agent_is_unreachable(cache_dir):
    a = FakeAgent(cache_dir)
    address = a.address
    a.stop()   # nothing listens there now
    write_config(cache_dir, "shop", "db", b"v1", 1)
    c = ConfigClient(WatcherOptions(cache_dir=cache_dir, agent=address,
                                    poll_interval=0.05,
                                    subscribe_retry_initial=0.05))
    try:
        rec = Recorder()
        c.watch("shop", "db", rec)
        assert wait_for(lambda: rec.revisions() == [1])
        write_config(cache_dir, "shop", "db", b"v2", 2)
        assert wait_for(lambda: rec.revisions() == [1, 2])
        assert not c.watcher.using_blocking_watch
        assert c.watcher.subscribe_errors >= 1
    finally:
        c.close()


def test_watch_error_status_falls_back_to_polling(cache_dir, agent):
    agent.watch_status = 400   # an agent without the blocking watch
    write_config(cache_dir, "shop", "db", b"v1", 1)
    c = ConfigClient(WatcherOptions(cache_dir=cache_dir, agent=agent.address,
                                    poll_interval=0.05))
    try:
        rec = Recorder()
        c.watch("shop", "db", rec)
        assert wait_for(lambda: rec.revisions() == [1])
        write_config(cache_dir, "shop", "db", b"v2", 2)
        assert wait_for(lambda: rec.revisions() == [1, 2])
        assert c.watcher.watch_errors >= 1
    finally:
        c.close()


# --- discovery ----------------------------------------------------------

def revision(d, service):
    try:
        return d.get_table(service).revision
    except NoInstance:
        return -1


class Clock:
    def __init__(self):
        self.ms = 1000000

    def __call__(self):
        return self.ms


def test_discovery_picks_and_keeps_last_good_table(cache_dir):
    write_route(cache_dir, "pay", [{"id": "a", "datacenter": "dc1"},
                                   {"id": "b", "datacenter": "dc2"}], 5)
    clock = Clock()
    d = Discovery(DiscoveryOptions(cache_dir=cache_dir, agent="",
                                   balancer="local_first",
                                   local_datacenter="dc1", clock=clock,
                                   poll_interval=0.05))
    try:
        assert d.select("pay").id == "a"
        assert d.select("pay", "k", d.balancer("hrw")).id in ("a", "b")
        # Caller-side failover: "a" ejected, "b" takes over; then back.
        d.report_failure("pay", "a")
        assert {d.select("pay").id for _ in range(50)} == {"b"}
        clock.ms += 2001
        assert {d.select("pay").id for _ in range(50)} == {"a"}
        # An invalid table, and one for another service, change nothing.
        path = entry_path(cache_dir, "route", ("pay",))
        other = entry_object("route", ("pay",), json.dumps(
            {"format": 1, "service": "other", "revision": 6,
             "instances": []}).encode(), 6)
        write_raw(path, json.dumps(other).encode())
        bad = entry_object("route", ("pay",), b'{"format":1}', 7)
        write_raw(path, json.dumps(bad).encode())
        d.poll_now()
        assert d.get_table("pay").revision == 5
        assert d.route_read_errors >= 1
        # A new good version, then a tombstone (deleted: no instances).
        tables = []
        d.watch("pay", tables.append)
        write_route(cache_dir, "pay", [{"id": "c", "datacenter": "dc1"}], 8)
        assert wait_for(lambda: revision(d, "pay") == 8)
        assert d.select("pay").id == "c"
        write_raw(path, json.dumps(entry_object("route", ("pay",), b"", 9,
                                                absent=True)).encode())
        assert wait_for(lambda: revision(d, "pay") == 9)
        with pytest.raises(NoInstance):
            d.select("pay")
        # (The cached entry was the invalid revision 7 when the watch began,
        # so, as in the C++ SDK, the watch starts with revision 8.)
        assert wait_for(lambda: [t.revision for t in tables] == [8, 9])
        with pytest.raises(NoInstance):
            d.select("nothing-yet")
        with pytest.raises(ValueError):
            d.select("bad/name")
    finally:
        d.close()


def test_discovery_options_are_checked(cache_dir):
    with pytest.raises(ValueError):
        Discovery(DiscoveryOptions(cache_dir=cache_dir, agent="",
                                   balancer="local_first"))
    with pytest.raises(ValueError):
        Discovery(DiscoveryOptions(cache_dir=cache_dir, agent="",
                                   failover=FailoverOptions(
                                       recovering_weight=0)))


def test_discovery_subscribes_the_route_through_the_agent(cache_dir, agent):
    agent.publish(entry_object("route", ("pay",), json.dumps(
        {"format": 1, "service": "pay", "revision": 3, "instances": [
            {"id": "x", "host": "h", "address": "127.0.0.1:1",
             "datacenter": "dc1", "weight": 1}]}).encode(), 3),
        write_file=False)
    d = Discovery(DiscoveryOptions(cache_dir=cache_dir, agent=agent.address,
                                   owner="disc-1", poll_interval=30))
    try:
        with pytest.raises(NoInstance):
            d.select("pay")   # nothing in the cache yet
        assert wait_for(lambda: agent.count("POST", "/v1/subscriptions") >= 1)
        assert agent.bodies("POST", "/v1/subscriptions")[0] == {
            "app": "disc-1", "routes": ["pay"]}
        # The blocking watch's full answer carries the table.
        assert wait_for(lambda: revision(d, "pay") == 3, timeout=5)
        assert d.select("pay").id == "x"
    finally:
        d.close()


# --- registration -------------------------------------------------------

def test_registration_tcp_ttl_reregister_and_close(cache_dir, agent):
    reg = Registration(AgentClient(agent.address), "svc", "i-1",
                       "127.0.0.1:8080", weight=7, metadata={"v": "1"},
                       checks=[http_check("http://127.0.0.1:8080/health",
                                          interval=1)],
                       owner="deploy", ttl=0.3)
    reg.register()
    body = agent.instances[("svc", "i-1")]
    assert body["address"] == "127.0.0.1:8080" and body["weight"] == 7
    assert body["owner"] == "deploy" and body["metadata"] == {"v": "1"}
    kinds = [(c["kind"], c.get("interval"), c.get("ttl"))
             for c in body["checks"]]
    assert kinds == [("http", "1s", None), ("ttl", None, "300ms")]
    assert wait_for(lambda: agent.ttl_passes.get("i-1-ttl", 0) >= 3)
    assert all("owner=deploy" in p for m, p, _ in agent.requests
               if p.startswith("/v1/checks/"))
    # The agent loses the instance: the next beat registers it again.
    with agent.lock:
        del agent.instances[("svc", "i-1")]
    assert wait_for(lambda: ("svc", "i-1") in agent.instances)
    assert reg.reregistrations >= 1
    assert reg.close()
    assert ("svc", "i-1") not in agent.instances
    n = agent.ttl_passes["i-1-ttl"]
    time.sleep(0.5)
    assert agent.ttl_passes["i-1-ttl"] == n   # the heartbeat stopped
    assert reg.close()   # idempotent


def test_registration_over_unix_socket(cache_dir):
    # A short path: unix socket paths are limited to 107 bytes.
    sock_dir = tempfile.mkdtemp(prefix="kess-py-", dir="/tmp")
    sock = os.path.join(sock_dir, "agent.sock")
    a = FakeAgent(cache_dir, unix_path=sock)
    try:
        client = AgentClient("unix:" + sock)
        with Registration(client, "svc", "u-1", "127.0.0.1:9000",
                          ttl=5) as reg:
            reg.register()
            assert ("svc", "u-1") in a.instances
            assert a.ttl_passes.get("u-1-ttl") == 1
        assert ("svc", "u-1") not in a.instances
        # Another owner's instance: 409 from the agent.
        Registration(client, "svc", "u-2", "127.0.0.1:1",
                     owner="one").register()
        with pytest.raises(AgentError) as e:
            Registration(client, "svc", "u-2", "127.0.0.1:1",
                         owner="two").register()
        assert e.value.status == 409
    finally:
        a.stop()
        shutil.rmtree(sock_dir, ignore_errors=True)
