"""The local kess agent's HTTP API (docs/agent-api.md), over TCP or over
the agent's unix socket (--api_socket).

AgentClient(address) takes "http://127.0.0.1:7310", "127.0.0.1:7310" or
"unix:/run/kess/agent.sock" (or a bare absolute socket path). Every call
opens one connection (no keep-alive: calls come from several threads and
are rare, apart from the blocking watch, which holds its own).

Errors: AgentUnavailable (an OSError) when the agent cannot be reached or
answers garbage; AgentError with the HTTP status and the agent's error
code and message for a 4xx/5xx answer.

Thread-safety: an AgentClient is immutable; calls from many threads are
fine. A Call object (the blocking watch's) may be aborted from another
thread.
"""

import http.client
import json
import socket
import threading
import urllib.parse
from typing import Any, Dict, List, Optional, Tuple


class AgentUnavailable(OSError):
    """The agent could not be reached, or its answer was not HTTP/JSON."""


class AgentError(Exception):
    """The agent answered with an error status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__("agent answered %d %s: %s" % (status, code, message))
        self.status = status
        self.code = code
        self.message = message


class _UnixConnection(http.client.HTTPConnection):
    """HTTP over a unix-domain socket."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def parse_agent_address(address: str) -> Tuple[str, Any]:
    """("tcp", (host, port)) or ("unix", path); ValueError if malformed."""
    a = address.strip()
    if a.startswith("unix:"):
        path = a[len("unix:"):]
        if path.startswith("//"):
            path = path[2:]
        if not path:
            raise ValueError("empty unix socket path in %r" % address)
        return "unix", path
    if a.startswith("/"):
        return "unix", a
    if a.startswith("http://"):
        a = a[len("http://"):]
    a = a.rstrip("/")
    host, sep, port = a.rpartition(":")
    if not sep or not host or not port.isdigit() or \
            not 0 < int(port) < 65536:
        raise ValueError("agent address %r is not host:port, "
                         "http://host:port or unix:PATH" % address)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return "tcp", (host, int(port))


class Call:
    """One HTTP exchange that another thread may abort (abort() shuts the
    socket down, so a blocked read returns at once)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conn: Optional[http.client.HTTPConnection] = None
        self._aborted = False

    def _attach(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            self._conn = conn
            if self._aborted:
                raise AgentUnavailable("aborted")

    def _sock_ready(self) -> None:
        with self._lock:
            if self._aborted:
                raise AgentUnavailable("aborted")

    def abort(self) -> None:
        with self._lock:
            self._aborted = True
            conn = self._conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    @property
    def aborted(self) -> bool:
        with self._lock:
            return self._aborted


class AgentClient:
    """The agent's local API."""

    def __init__(self, address: str = "http://127.0.0.1:7310",
                 timeout: float = 5.0) -> None:
        self._kind, self._where = parse_agent_address(address)
        self.address = address
        self.timeout = timeout

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        if self._kind == "unix":
            return _UnixConnection(self._where, timeout)
        host, port = self._where
        return http.client.HTTPConnection(host, port, timeout=timeout)

    def request(self, method: str, path: str, body: Any = None,
                headers: Optional[Dict[str, str]] = None,
                timeout: Optional[float] = None,
                call: Optional[Call] = None) -> Any:
        """One call; returns the parsed JSON answer of a 2xx.
        Raises AgentUnavailable or AgentError."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        conn = self._connect(self.timeout if timeout is None else timeout)
        hdrs = {"Connection": "close"}
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        if headers:
            hdrs.update(headers)
        try:
            if call is not None:
                call._attach(conn)
            conn.connect()
            if call is not None:
                call._sock_ready()
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
            status = resp.status
        except (OSError, http.client.HTTPException) as e:
            if isinstance(e, AgentUnavailable):
                raise
            raise AgentUnavailable("agent at %s: %s" % (self.address, e))
        finally:
            conn.close()
        try:
            answer = json.loads(raw.decode("utf-8")) if raw else {}
        except (UnicodeDecodeError, ValueError):
            if 200 <= status < 300:
                raise AgentUnavailable("agent at %s: answer is not JSON" %
                                       self.address)
            answer = {}
        if not 200 <= status < 300:
            err = answer.get("error", {}) if isinstance(answer, dict) else {}
            raise AgentError(status, str(err.get("code", "")),
                             str(err.get("message", raw[:200])))
        return answer

    # --- subscriptions -------------------------------------------------

    @staticmethod
    def subscription_body(owner: str, configs: List[Tuple[str, str]] = (),
                          routes: List[str] = (),
                          namespaces: List[str] = ()) -> Dict[str, Any]:
        body: Dict[str, Any] = {"app": owner}
        if configs:
            body["configs"] = [{"namespace": n, "key": k} for n, k in configs]
        if routes:
            body["routes"] = list(routes)
        if namespaces:
            body["namespaces"] = list(namespaces)
        return body

    def subscribe(self, owner: str, configs: List[Tuple[str, str]] = (),
                  routes: List[str] = (), namespaces: List[str] = (),
                  timeout: Optional[float] = None) -> Any:
        """POST /v1/subscriptions as `owner`."""
        return self.request("POST", "/v1/subscriptions",
                            self.subscription_body(owner, configs, routes,
                                                   namespaces),
                            timeout=timeout)

    def unsubscribe(self, owner: str, configs: List[Tuple[str, str]] = (),
                    routes: List[str] = (), namespaces: List[str] = (),
                    timeout: Optional[float] = None) -> Any:
        """DELETE /v1/subscriptions as `owner` (the files stay)."""
        return self.request("DELETE", "/v1/subscriptions",
                            self.subscription_body(owner, configs, routes,
                                                   namespaces),
                            timeout=timeout)

    def subscriptions(self) -> Any:
        """GET /v1/subscriptions."""
        return self.request("GET", "/v1/subscriptions")

    # --- blocking watch ------------------------------------------------

    def watch(self, configs: List[Tuple[str, str]] = (),
              namespaces: List[str] = (), services: List[str] = (),
              index: int = 0, epoch: str = "", timeout_s: float = 60.0,
              values: bool = True, call: Optional[Call] = None) -> Any:
        """GET /v1/watch: waits up to timeout_s (plus the agent's jitter of
        up to 1/16) for a change of the selection; index 0 (or no epoch)
        asks for a full answer."""
        q: List[Tuple[str, str]] = []
        q += [("config", "%s/%s" % (n, k)) for n, k in configs]
        q += [("namespace", n) for n in namespaces]
        q += [("service", s) for s in services]
        if index > 0 and epoch:
            q += [("index", str(index)), ("epoch", epoch)]
        q.append(("timeout", "%dms" % max(1, int(timeout_s * 1000))))
        if not values:
            q.append(("values", "false"))
        path = "/v1/watch?" + urllib.parse.urlencode(q)
        return self.request("GET", path, timeout=timeout_s * 17 / 16 + 10,
                            call=call)

    # --- registration --------------------------------------------------

    def register(self, service: str, instance_id: str,
                 body: Dict[str, Any]) -> Any:
        """PUT /v1/services/<service>/instances/<id>."""
        return self.request("PUT", "/v1/services/%s/instances/%s" %
                            (urllib.parse.quote(service, safe=""),
                             urllib.parse.quote(instance_id, safe="")), body)

    def deregister(self, service: str, instance_id: str,
                   owner: str = "") -> Any:
        """DELETE /v1/services/<service>/instances/<id>[?owner=]."""
        path = "/v1/services/%s/instances/%s" % (
            urllib.parse.quote(service, safe=""),
            urllib.parse.quote(instance_id, safe=""))
        if owner:
            path += "?" + urllib.parse.urlencode({"owner": owner})
        return self.request("DELETE", path)

    def instance(self, service: str, instance_id: str) -> Any:
        """GET /v1/services/<service>/instances/<id>."""
        return self.request("GET", "/v1/services/%s/instances/%s" % (
            urllib.parse.quote(service, safe=""),
            urllib.parse.quote(instance_id, safe="")))

    def check_update(self, check_id: str, status: str = "pass",
                     output: str = "", owner: str = "") -> Any:
        """PUT /v1/checks/<id>/pass|warn|fail[?owner=]."""
        if status not in ("pass", "warn", "fail"):
            raise ValueError("status must be pass, warn or fail")
        path = "/v1/checks/%s/%s" % (urllib.parse.quote(check_id, safe=""),
                                     status)
        if owner:
            path += "?" + urllib.parse.urlencode({"owner": owner})
        return self.request("PUT", path,
                            {"output": output} if output else None)
