"""Shared helpers of the Python client's tests: cache files written as the
agent writes them, route tables, and a fake of the agent's HTTP API (a real
http.server on 127.0.0.1, port 0, or on a unix socket)."""

import base64
import http.server
import json
import os
import socket
import socketserver
import sys
import threading
import time
import urllib.parse
import zlib
from typing import Any, Callable, Dict, List, Tuple

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PY_ROOT = os.path.dirname(HERE)
sys.path.insert(0, PY_ROOT)


def entry_object(kind: str, name: Tuple[str, ...], value: bytes,
                 revision: int, absent: bool = False,
                 content_type: str = "text/plain") -> Dict[str, Any]:
    """One cache file's JSON object (docs/file-cache.md)."""
    try:
        text = value.decode("utf-8")
        encoding = "utf8" if "\x00" not in text else "base64"
    except UnicodeDecodeError:
        encoding = "base64"
    if encoding == "base64":
        text = base64.b64encode(value).decode("ascii")
    d: Dict[str, Any] = {"format": 1, "type": kind}
    if kind == "config":
        d["namespace"], d["key"] = name
    else:
        d["service"] = name[0]
    d.update({"revision": revision, "absent": absent,
              "crc32": zlib.crc32(value), "encoding": encoding,
              "value": text, "content_type": content_type,
              "mtime_ms": 1700000000000, "written_ms": 1700000000123})
    return d


def entry_path(cache_dir: str, kind: str, name: Tuple[str, ...]) -> str:
    if kind == "config":
        return os.path.join(cache_dir, "configs", name[0], name[1] + ".json")
    return os.path.join(cache_dir, "routes", name[0] + ".json")


def write_raw(path: str, data: bytes) -> None:
    """Atomically, like the agent: a dot temp file renamed into place."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = os.path.join(os.path.dirname(path),
                       ".%s.tmp-%d" % (os.path.basename(path), os.getpid()))
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


def write_config(cache_dir: str, ns: str, key: str, value: bytes,
                 revision: int, absent: bool = False) -> Dict[str, Any]:
    obj = entry_object("config", (ns, key), value, revision, absent)
    write_raw(entry_path(cache_dir, "config", (ns, key)),
              json.dumps(obj).encode("utf-8"))
    return obj


def table_json(service: str, instances: List[Dict[str, Any]],
               revision: int = 1) -> bytes:
    full = []
    for i in instances:
        d = {"host": "h1", "datacenter": "dc1", "weight": 100,
             "state": "healthy", "health": "up", "metadata": {},
             "registered_ms": 0}
        d.update(i)
        d.setdefault("address", "127.0.0.1:%d" % (10000 + len(full)))
        full.append(d)
    return json.dumps({"format": 1, "service": service, "revision": revision,
                       "instances": full}).encode("utf-8")


def write_route(cache_dir: str, service: str,
                instances: List[Dict[str, Any]],
                revision: int) -> Dict[str, Any]:
    obj = entry_object("route", (service,),
                       table_json(service, instances, revision), revision)
    write_raw(entry_path(cache_dir, "route", (service,)),
              json.dumps(obj).encode("utf-8"))
    return obj


def wait_for(cond: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


class FakeAgent:
    """The agent's local API as far as the client uses it. Records every
    request; serves subscriptions, the blocking watch (index/epoch), and
    registrations with TTL checks."""

    def __init__(self, cache_dir: str, unix_path: str = "") -> None:
        self.cache_dir = cache_dir
        self.lock = threading.Condition()
        self.requests: List[Tuple[str, str, Any]] = []
        self.subs: Dict[str, Dict[str, set]] = {}   # owner -> kind -> set
        self.epoch = "e%d" % os.getpid()
        self.index = 1
        self.versions: List[Tuple[int, Dict[str, Any]]] = []  # (index, obj)
        self.instances: Dict[Tuple[str, str], Dict[str, Any]] = {}
        self.ttl_passes: Dict[str, int] = {}
        self.watch_status = 200
        agent = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: object) -> None:
                pass

            def _reply(self, status: int, obj: Any) -> None:
                data = json.dumps(obj).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)
                self.close_connection = True

            def _handle(self, method: str) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                body = json.loads(raw) if raw else None
                status, obj = agent.handle(method, self.path, body)
                self._reply(status, obj)

            def do_GET(self) -> None:  # noqa: N802
                self._handle("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._handle("POST")

            def do_PUT(self) -> None:  # noqa: N802
                self._handle("PUT")

            def do_DELETE(self) -> None:  # noqa: N802
                self._handle("DELETE")

        if unix_path:
            class Server(socketserver.ThreadingMixIn,
                         socketserver.UnixStreamServer):
                daemon_threads = True

                def get_request(self):  # type: ignore[override]
                    conn, _ = super().get_request()
                    return conn, ("local", 0)
            self.server = Server(unix_path, Handler)
            self.address = "unix:" + unix_path
        else:
            self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                          Handler)
            self.server.daemon_threads = True
            self.address = "http://127.0.0.1:%d" % \
                self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        with self.lock:
            self.lock.notify_all()

    # --- state changes the tests make ----------------------------------

    def publish(self, obj: Dict[str, Any], write_file: bool = True) -> None:
        """A new version: written to the cache and reported to watches."""
        kind = obj["type"]
        name = ((obj["namespace"], obj["key"]) if kind == "config"
                else (obj["service"],))
        if write_file:
            write_raw(entry_path(self.cache_dir, kind, name),
                      json.dumps(obj).encode("utf-8"))
        with self.lock:
            self.index += 1
            self.versions.append((self.index, obj))
            self.lock.notify_all()

    def count(self, method: str, prefix: str) -> int:
        with self.lock:
            return sum(1 for m, p, _ in self.requests
                       if m == method and p.startswith(prefix))

    def bodies(self, method: str, prefix: str) -> List[Any]:
        with self.lock:
            return [b for m, p, b in self.requests
                    if m == method and p.startswith(prefix)]

    # --- the API -------------------------------------------------------

    def handle(self, method: str, path: str, body: Any) -> Tuple[int, Any]:
        with self.lock:
            self.requests.append((method, path, body))
        url = urllib.parse.urlparse(path)
        q = urllib.parse.parse_qs(url.query)
        if url.path == "/v1/subscriptions":
            return self._subscriptions(method, body)
        if url.path == "/v1/watch" and method == "GET":
            return self._watch(q)
        parts = url.path.strip("/").split("/")
        if len(parts) == 5 and parts[:2] == ["v1", "services"] and \
                parts[3] == "instances":
            return self._instance(method, parts[2], parts[4], body, q)
        if len(parts) == 4 and parts[:2] == ["v1", "checks"] and \
                method == "PUT":
            return self._check(parts[2], parts[3], q)
        return 404, {"error": {"code": "NOT_FOUND", "message": path}}

    def _subscriptions(self, method: str, body: Any) -> Tuple[int, Any]:
        owner = (body or {}).get("app", "default")
        with self.lock:
            s = self.subs.setdefault(owner, {"configs": set(),
                                             "routes": set(),
                                             "namespaces": set()})
            configs = {(c["namespace"], c["key"])
                       for c in (body or {}).get("configs", [])}
            routes = set((body or {}).get("routes", []))
            nss = set((body or {}).get("namespaces", []))
            if method == "POST":
                s["configs"] |= configs
                s["routes"] |= routes
                s["namespaces"] |= nss
            elif method == "DELETE":
                s["configs"] -= configs
                s["routes"] -= routes
                s["namespaces"] -= nss
        subs = [{"type": "config", "namespace": n, "key": k,
                 "path": entry_path(self.cache_dir, "config", (n, k))}
                for n, k in sorted(configs)]
        subs += [{"type": "route", "service": r,
                  "path": entry_path(self.cache_dir, "route", (r,))}
                 for r in sorted(routes)]
        return 200, {"app": owner, "subscriptions": subs, "namespaces": []}

    def _matches(self, obj: Dict[str, Any], configs: set, nss: set,
                 services: set) -> bool:
        if obj["type"] == "config":
            return (obj["namespace"], obj["key"]) in configs or \
                obj["namespace"] in nss
        return obj["service"] in services

    def _watch(self, q: Dict[str, List[str]]) -> Tuple[int, Any]:
        if self.watch_status != 200:
            return self.watch_status, {"error": {"code": "UNAVAILABLE",
                                                 "message": "test"}}
        configs = {tuple(c.split("/", 1)) for v in q.get("config", [])
                   for c in v.split(",")}
        nss = {n for v in q.get("namespace", []) for n in v.split(",")}
        services = {s for v in q.get("service", []) for s in v.split(",")}
        timeout_ms = int(q.get("timeout", ["60000ms"])[0].rstrip("ms"))
        index = int(q.get("index", ["0"])[0])
        epoch = q.get("epoch", [""])[0]
        deadline = time.monotonic() + timeout_ms / 1000.0
        with self.lock:
            if index == 0 or epoch != self.epoch:
                newest: Dict[str, Dict[str, Any]] = {}
                for _, obj in self.versions:
                    if self._matches(obj, configs, nss, services):
                        newest[json.dumps([obj.get("namespace"),
                                           obj.get("key"),
                                           obj.get("service")])] = obj
                return 200, {"epoch": self.epoch, "index": self.index,
                             "full": True, "timed_out": False,
                             "changes": list(newest.values())}
            while True:
                changes = [obj for i, obj in self.versions
                           if i > index and
                           self._matches(obj, configs, nss, services)]
                if changes:
                    return 200, {"epoch": self.epoch, "index": self.index,
                                 "full": False, "timed_out": False,
                                 "changes": changes}
                left = deadline - time.monotonic()
                if left <= 0:
                    return 200, {"epoch": self.epoch, "index": index,
                                 "full": False, "timed_out": True,
                                 "changes": []}
                self.lock.wait(min(left, 0.2))

    def _instance(self, method: str, service: str, iid: str, body: Any,
                  q: Dict[str, List[str]]) -> Tuple[int, Any]:
        key = (service, iid)
        owner = q.get("owner", [""])[0]
        with self.lock:
            current = self.instances.get(key)
            if method == "PUT":
                if current is not None and current.get("owner", "") != \
                        body.get("owner", ""):
                    return 409, {"error": {"code": "ALREADY_EXISTS",
                                           "message": "owned"}}
                self.instances[key] = body
                return 200, dict(body, service=service, id=iid)
            if current is None:
                return 404, {"error": {"code": "NOT_FOUND",
                                       "message": "no instance"}}
            if current.get("owner", "") != owner:
                return 409, {"error": {"code": "ALREADY_EXISTS",
                                       "message": "owned"}}
            if method == "DELETE":
                del self.instances[key]
                return 200, {"deregistered": "%s/%s" % key}
            return 200, dict(current, service=service, id=iid)

    def _check(self, check_id: str, status: str,
               q: Dict[str, List[str]]) -> Tuple[int, Any]:
        owner = q.get("owner", [""])[0]
        with self.lock:
            for inst in self.instances.values():
                for c in inst.get("checks", []):
                    if c.get("id") == check_id and c.get("kind") == "ttl":
                        if inst.get("owner", "") != owner:
                            return 409, {"error": {"code": "ALREADY_EXISTS",
                                                   "message": "owner"}}
                        self.ttl_passes[check_id] = \
                            self.ttl_passes.get(check_id, 0) + 1
                        return 200, {"check": check_id, "status": status}
        return 404, {"error": {"code": "NOT_FOUND", "message": check_id}}


@pytest.fixture
def cache_dir(tmp_path):
    d = tmp_path / "cache"
    d.mkdir()
    return str(d)


@pytest.fixture
def agent(cache_dir):
    a = FakeAgent(cache_dir)
    yield a
    a.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
