"""Registration: makes an instance discoverable through the host's agent
(PUT/DELETE /v1/services/<service>/instances/<id>, docs/agent-api.md), over
TCP or over the agent's unix socket.

  reg = Registration(AgentClient("unix:/run/kess/agent.sock"),
                     "checkout", "checkout-7f3a", "127.0.0.1:8080",
                     checks=[http_check("http://127.0.0.1:8080/health")],
                     ttl=30.0)
  reg.register()          # raises AgentError / AgentUnavailable
  ...
  reg.close()             # stops the heartbeat, deregisters

With `ttl` set, the instance gets a TTL check "<id>-ttl" that a background
thread passes (PUT /v1/checks/<id>/pass) every ttl/3. If the agent answers
a heartbeat with 404 (it lost the instance: restarted without its state
file, or replaced), the thread registers the instance again. An agent that
does not answer is retried at the next beat. close() stops the thread and
deregisters (once; failures are logged and returned as False).

Thread-safety: all methods are thread-safe.
"""

import logging
import threading
from typing import Any, Dict, List, Optional

from kess.agent import AgentClient, AgentError, AgentUnavailable
from kess.names import check_name

log = logging.getLogger("kess")


def duration(seconds: float) -> str:
    """The agent's duration syntax: "500ms", "10s"."""
    ms = int(round(seconds * 1000))
    return "%ds" % (ms // 1000) if ms % 1000 == 0 else "%dms" % ms


def http_check(url: str, interval: float = 10.0, timeout: float = 2.0,
               **extra: Any) -> Dict[str, Any]:
    """An HTTP check definition (GET url, 2xx passes)."""
    d = {"kind": "http", "url": url, "interval": duration(interval),
         "timeout": duration(timeout)}
    d.update(extra)
    return d


def tcp_check(target: str = "", interval: float = 10.0,
              timeout: float = 2.0) -> Dict[str, Any]:
    """A TCP connect check (default target: the instance's address)."""
    d: Dict[str, Any] = {"kind": "tcp", "interval": duration(interval),
                         "timeout": duration(timeout)}
    if target:
        d["target"] = target
    return d


def ttl_check(check_id: str, ttl: float) -> Dict[str, Any]:
    """A TTL check the application renews itself."""
    return {"id": check_id, "kind": "ttl", "ttl": duration(ttl)}


class Registration:
    """One instance registered through the agent."""

    def __init__(self, agent: AgentClient, service: str, instance_id: str,
                 address: str, weight: int = 100,
                 metadata: Optional[Dict[str, str]] = None,
                 checks: Optional[List[Dict[str, Any]]] = None,
                 owner: str = "", ttl: Optional[float] = None,
                 ttl_check_id: str = "") -> None:
        """`ttl` (seconds) adds a TTL check renewed by a background thread;
        ValueError for invalid names."""
        check_name("service", service)
        check_name("key", instance_id)
        if owner:
            check_name("owner", owner)
        self.agent = agent
        self.service = service
        self.instance_id = instance_id
        self.owner = owner
        self.ttl = ttl
        self.ttl_check_id = ttl_check_id or (instance_id + "-ttl"
                                             if ttl else "")
        self._body: Dict[str, Any] = {"address": address, "weight": weight,
                                      "metadata": dict(metadata or {}),
                                      "checks": list(checks or [])}
        if owner:
            self._body["owner"] = owner
        if ttl:
            if ttl <= 0:
                raise ValueError("ttl must be positive")
            self._body["checks"].append(ttl_check(self.ttl_check_id, ttl))
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._registered = False
        self._closed = False
        self.heartbeats = 0
        self.heartbeat_errors = 0
        self.reregistrations = 0

    @property
    def body(self) -> Dict[str, Any]:
        """What register() sends."""
        return dict(self._body)

    def register(self) -> Any:
        """PUT the instance (idempotent); starts the TTL heartbeat thread.
        Returns the agent's answer; raises AgentError or AgentUnavailable."""
        answer = self.agent.register(self.service, self.instance_id,
                                     self._body)
        with self._lock:
            self._registered = True
            if self.ttl and self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._beat, daemon=True,
                    name="kess-ttl-%s" % self.instance_id)
                self._thread.start()
        if self.ttl:
            self.pass_ttl()
        return answer

    def pass_ttl(self, status: str = "pass", output: str = "") -> bool:
        """Reports the TTL check now (pass, warn or fail); re-registers if
        the agent lost the instance. Returns whether the agent took it."""
        if not self.ttl_check_id:
            raise ValueError("no TTL check")
        try:
            self.agent.check_update(self.ttl_check_id, status, output,
                                    self.owner)
            self.heartbeats += 1
            return True
        except AgentError as e:
            self.heartbeat_errors += 1
            if e.status == 404 and not self._stop.is_set():
                log.warning("kess: the agent lost %s/%s; registering again",
                            self.service, self.instance_id)
                try:
                    self.agent.register(self.service, self.instance_id,
                                        self._body)
                    self.reregistrations += 1
                    self.agent.check_update(self.ttl_check_id, status,
                                            output, self.owner)
                    return True
                except (AgentError, AgentUnavailable) as e2:
                    log.warning("kess: registering %s again failed: %s",
                                self.instance_id, e2)
            else:
                log.warning("kess: TTL update of %s failed: %s",
                            self.ttl_check_id, e)
        except AgentUnavailable as e:
            self.heartbeat_errors += 1
            log.warning("kess: TTL update of %s failed (agent unreachable): "
                        "%s", self.ttl_check_id, e)
        return False

    def _beat(self) -> None:
        period = max(0.05, float(self.ttl) / 3)
        while not self._stop.wait(period):
            self.pass_ttl()

    def deregister(self) -> bool:
        """DELETE the instance; returns whether the agent took it (404
        counts as done)."""
        try:
            self.agent.deregister(self.service, self.instance_id, self.owner)
            return True
        except AgentError as e:
            if e.status == 404:
                return True
            log.warning("kess: deregistering %s failed: %s",
                        self.instance_id, e)
        except AgentUnavailable as e:
            log.warning("kess: deregistering %s failed: %s",
                        self.instance_id, e)
        return False

    def close(self) -> bool:
        """Stops the heartbeat and deregisters (if registered). Idempotent;
        returns whether the instance is gone (or was never registered)."""
        with self._lock:
            if self._closed:
                return True
            self._closed = True
            thread = self._thread
            registered = self._registered
        self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self.agent.timeout * 3 + 1)
        return self.deregister() if registered else True

    def __enter__(self) -> "Registration":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
