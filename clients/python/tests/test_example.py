"""kess_example.py, the example program of clients/README.md, run as a
process: pick and call on a cache directory, provider and watch against
the fake agent."""

import http.client
import http.server
import json
import os
import signal
import subprocess
import sys
import threading

from conftest import (PY_ROOT, entry_object, free_port, wait_for,
                      write_route)
from kess import Discovery, DiscoveryOptions

EXAMPLE = os.path.join(PY_ROOT, "kess_example.py")


def run(*args, timeout=60):
    p = subprocess.run([sys.executable, EXAMPLE] + list(args),
                       capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    return p.returncode, [json.loads(x) for x in p.stdout.splitlines()], \
        p.stderr


def test_pick_matches_hrw_local_first(cache_dir):
    write_route(cache_dir, "svc", [
        {"id": "a1", "datacenter": "dc1"}, {"id": "a2", "datacenter": "dc1"},
        {"id": "b1", "datacenter": "dc2"}, {"id": "b2", "datacenter": "dc2"}],
        3)
    keys = ["k%d" % i for i in range(20)]
    code, lines, err = run("pick", "--cache_dir", cache_dir, "--service",
                           "svc", "--local_dc", "dc2", "--keys",
                           ",".join(keys), "--wait_s", "5")
    assert code == 0, err
    d = Discovery(DiscoveryOptions(cache_dir=cache_dir, agent="",
                                   start_thread=False,
                                   balancer="local_first",
                                   local_datacenter="dc2",
                                   local_first_inner="hrw"))
    try:
        assert lines == [{"key": k, "instance": d.select("svc", k).id}
                         for k in keys]
    finally:
        d.close()
    assert {x["instance"] for x in lines} == {"b1", "b2"}


def test_pick_without_table_fails_after_wait(cache_dir):
    code, lines, _ = run("pick", "--cache_dir", cache_dir, "--service",
                         "none", "--local_dc", "dc1", "--keys", "a",
                         "--wait_s", "0.3")
    assert code == 1 and lines == []


class Server:
    def __init__(self, text):
        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                data = text.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_call_fails_over_from_a_dead_instance(cache_dir):
    good = Server("python good\n")
    dead_port = free_port()   # nothing listens there
    try:
        write_route(cache_dir, "svc", [
            {"id": "dead", "address": "127.0.0.1:%d" % dead_port},
            {"id": "good", "address": "127.0.0.1:%d" % good.port}], 4)
        code, lines, err = run("call", "--cache_dir", cache_dir,
                               "--service", "svc", "--local_dc", "dc1",
                               "--count", "40", "--wait_s", "5")
        assert code == 0, err
        assert len(lines) == 40
        for x in lines:
            if x["instance"] == "good":
                assert x["body"] == "python good\n"
            else:
                assert x["instance"] == "dead" and x["error"]
        # The dead one is ejected after its first failure (for 1 s, far
        # longer than the 40 calls take on a quiet machine): at most a
        # couple of errors.
        errors = sum(1 for x in lines if "error" in x)
        assert 0 <= errors <= 3
        assert sum(1 for x in lines if x["instance"] == "good") >= 37
    finally:
        good.stop()


def test_provider_registers_serves_and_deregisters(cache_dir, agent):
    port = free_port()
    p = subprocess.Popen(
        [sys.executable, EXAMPLE, "provider", "--agent", agent.address,
         "--service", "svc", "--id", "py-1", "--port", str(port),
         "--ttl_s", "0.6"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    try:
        assert p.stdout.readline() == "ready\n"
        body = agent.instances[("svc", "py-1")]
        assert body["address"] == "127.0.0.1:%d" % port
        assert body["owner"] == "kess-example-%d" % p.pid
        http_checks = [c for c in body["checks"] if c["kind"] == "http"]
        assert http_checks == [{"kind": "http",
                                "url": "http://127.0.0.1:%d/health" % port,
                                "interval": "1s", "timeout": "500ms"}]
        assert [c["kind"] for c in body["checks"]].count("ttl") == 1
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/")
        r = conn.getresponse()
        assert (r.status, r.read()) == (200, b"python py-1\n")
        conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/health")
        assert conn.getresponse().status == 200
        conn.close()
        # The TTL check is renewed (every ttl/3).
        assert wait_for(lambda: agent.ttl_passes.get("py-1-ttl", 0) >= 3)
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=20) == 0
        assert ("svc", "py-1") not in agent.instances
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()


def test_watch_prints_start_value_and_changes(cache_dir, agent):
    agent.publish(entry_object("config", ("shop", "motd"), b"hello", 7))
    p = subprocess.Popen(
        [sys.executable, EXAMPLE, "watch", "--agent", agent.address,
         "--namespace", "shop", "--key", "motd", "--timeout_s", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    try:
        first = json.loads(p.stdout.readline())
        assert first == {"revision": 7, "value": "hello"}
        agent.publish(entry_object("config", ("shop", "motd"), b"caf\xc3\xa9",
                                   9))
        second = json.loads(p.stdout.readline())
        assert second == {"revision": 9, "value": "caf\u00e9"}
        assert p.wait(timeout=20) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()
    owner = "kess-example-%d" % p.pid
    posts = agent.bodies("POST", "/v1/subscriptions")
    assert posts and all(b["app"] == owner for b in posts)
    assert {"namespace": "shop", "key": "motd"} in posts[0]["configs"]
    deletes = agent.bodies("DELETE", "/v1/subscriptions")
    assert deletes and deletes[-1]["app"] == owner
