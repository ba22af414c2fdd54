#!/usr/bin/env python3
"""echo_provider: a provider that knows nothing of kess but its host's agent.

An HTTP echo server (standard library only, python3 >= 3.9) that registers
itself through the local agent's API (docs/agent-api.md) with an HTTP health
check on its own /health, and deregisters on SIGTERM/SIGINT. The same
service as sdk/examples' demo_provider can have both kinds of instances: it
answers what demo_consumer sends, in the same form:

    GET /echo?msg=hi  ->  {"instance":"py-1","dc":"dc1","msg":"hi","served":17}
    GET /health       ->  {"status":"ok"}

    echo_provider.py --service=demo-echo --id=pyprovider-dc1-1 \\
        --agent=127.0.0.1:7310          # or --api_socket=/run/kess/agent.sock

Every --resync_interval_ms it asks the agent for its instance
(GET /v1/services/<service>/instances/<id>) and registers again (PUT is
idempotent) when the agent answers 404: an agent that restarted without its
state file, or one that was replaced, learns about it again. An agent that
does not answer is retried at the next turn. The instance's host and DC are
the agent's; --dc only labels the echo answers.

Exit status: 0 after a clean stop (deregistered, or the agent unreachable at
the end: logged), 1 if the first registration failed within
--register_timeout_ms, 2 on bad flags.
"""

import argparse
import http.client
import http.server
import json
import os
import signal
import socket
import sys
import tempfile
import threading
import time
import urllib.parse


def log(message):
    sys.stderr.write(time.strftime("%H:%M:%S ") + message + "\n")
    sys.stderr.flush()


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a unix-domain socket (the agent's --api_socket)."""

    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class Agent:
    """The local agent's HTTP API, over TCP or its unix socket."""

    def __init__(self, address, api_socket, timeout):
        self._address = address
        self._api_socket = api_socket
        self._timeout = timeout

    def where(self):
        return self._api_socket or self._address

    def call(self, method, path, body=None):
        """(status, parsed JSON or raw text); raises OSError if unreachable."""
        if self._api_socket:
            conn = UnixHTTPConnection(self._api_socket, self._timeout)
        else:
            host, _, port = self._address.rpartition(":")
            conn = http.client.HTTPConnection(host, int(port),
                                              timeout=self._timeout)
        try:
            data = None if body is None else json.dumps(body).encode()
            headers = {"Content-Type": "application/json"} if data else {}
            conn.request(method, path, body=data, headers=headers)
            reply = conn.getresponse()
            text = reply.read().decode("utf-8", "replace")
            try:
                return reply.status, json.loads(text)
            except ValueError:
                return reply.status, text
        except http.client.HTTPException as e:
            raise OSError(str(e)) from e
        finally:
            conn.close()


class Provider:
    def __init__(self, flags):
        self.flags = flags
        self.served = 0
        self.served_lock = threading.Lock()
        self.agent = Agent(flags.agent, flags.api_socket,
                           flags.agent_timeout_ms / 1000.0)
        quoted = (urllib.parse.quote(flags.service, safe=""),
                  urllib.parse.quote(flags.id, safe=""))
        self.path = "/v1/services/%s/instances/%s" % quoted
        self.stop = threading.Event()
        self.server = None
        self.address = ""

    # ---- the HTTP server ------------------------------------------------

    def serve(self):
        provider = self

        class Handler(http.server.BaseHTTPRequestHandler):
            server_version = "kess-echo-provider"

            def _json(self, status, obj):
                body = (json.dumps(obj, separators=(",", ":")) + "\n").encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                if url.path == "/echo":
                    msg = urllib.parse.parse_qs(url.query).get("msg", [""])[0]
                    with provider.served_lock:
                        provider.served += 1
                        served = provider.served
                    self._json(200, {"instance": provider.flags.id,
                                     "dc": provider.flags.dc, "msg": msg,
                                     "served": served})
                elif url.path == "/health":
                    self._json(200, {"status": "ok"})
                else:
                    self._json(404, {"error": "not found: " + url.path})

            def log_message(self, fmt, *args):  # one line per call: too many
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 128

            def handle_error(self, request, client_address):
                # A client that gave up (a call's timeout, a check's) before
                # the answer: expected after a pause, not worth a traceback.
                if isinstance(sys.exc_info()[1], ConnectionError):
                    return
                super().handle_error(request, client_address)

        self.server = Server((self.flags.listen_host, self.flags.port), Handler)
        port = self.server.server_address[1]
        self.address = "%s:%d" % (self.flags.listen_host, port)
        threading.Thread(target=self.server.serve_forever, name="http",
                         kwargs={"poll_interval": 0.2}, daemon=True).start()
        return port

    # ---- the agent ----------------------------------------------------------

    def registration(self):
        f = self.flags
        check = {"kind": "http",
                 "url": "http://%s/health" % self.address,
                 "interval": "%dms" % f.check_interval_ms,
                 "timeout": "%dms" % f.check_timeout_ms,
                 "failures_before_critical": f.failures_before_critical}
        return {"address": self.address, "weight": f.weight,
                "owner": f.owner or f.id,
                "metadata": {"example": "echo_provider.py",
                             "language": "python"},
                "checks": [check]}

    def register(self):
        """True once the agent accepted the PUT; logs why not."""
        try:
            status, answer = self.agent.call("PUT", self.path,
                                             self.registration())
        except OSError as e:
            log("PUT %s at %s: %s" % (self.path, self.agent.where(), e))
            return False
        if status != 200:
            log("PUT %s: %d %s" % (self.path, status, answer))
            return False
        return True

    def deregister(self):
        owner = urllib.parse.quote(self.flags.owner or self.flags.id, safe="")
        try:
            status, answer = self.agent.call(
                "DELETE", "%s?owner=%s" % (self.path, owner))
        except OSError as e:
            log("deregister at %s: %s (the instance stays registered until "
                "its checks fail)" % (self.agent.where(), e))
            return
        if status == 200:
            log("deregistered %s/%s" % (self.flags.service, self.flags.id))
        else:
            log("deregister: %d %s" % (status, answer))

    def resync(self):
        """Registers again whenever the agent does not know the instance."""
        interval = self.flags.resync_interval_ms / 1000.0
        reachable = True
        while not self.stop.wait(interval):
            try:
                status, _ = self.agent.call("GET", self.path)
            except OSError as e:
                if reachable:
                    log("agent %s unreachable: %s" % (self.agent.where(), e))
                reachable = False
                continue
            if not reachable:
                log("agent %s answers again" % self.agent.where())
                reachable = True
            if status == 404 and not self.stop.is_set():
                if self.register():
                    log("registered again: the agent did not know %s/%s" %
                        (self.flags.service, self.flags.id))

    # ---- main -----------------------------------------------------------

    def run(self):
        f = self.flags
        stop_signals = {signal.SIGTERM, signal.SIGINT}
        # Blocked here, before any thread starts, so sigwait below gets them.
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
        port = self.serve()
        deadline = time.monotonic() + f.register_timeout_ms / 1000.0
        pause = 0.2
        while not self.register():
            if time.monotonic() + pause > deadline:
                log("not registered within %d ms; giving up" %
                    f.register_timeout_ms)
                self.server.shutdown()
                return 1
            time.sleep(pause)
            pause = min(pause * 2, 2.0)
        log("echo_provider %s/%s serving on %s, registered through the agent "
            "at %s (HTTP check every %d ms, timeout %d ms)" %
            (f.service, f.id, self.address, self.agent.where(),
             f.check_interval_ms, f.check_timeout_ms))
        if f.port_file:
            directory = os.path.dirname(os.path.abspath(f.port_file))
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".port.")
            with os.fdopen(fd, "w") as out:
                out.write("%d\n" % port)
            os.replace(tmp, f.port_file)
        resync = threading.Thread(target=self.resync, name="resync",
                                  daemon=True)
        resync.start()
        sig = signal.sigwait(stop_signals)
        log("signal %d: deregistering after %d requests" % (sig, self.served))
        self.stop.set()
        resync.join(timeout=f.agent_timeout_ms / 1000.0 + 1)
        self.deregister()
        self.server.shutdown()
        self.server.server_close()
        return 0


def parse_flags(argv):
    p = argparse.ArgumentParser(
        description="An HTTP echo server registered through the kess agent.")
    p.add_argument("--service", default="demo-echo")
    p.add_argument("--id", required=True,
                   help="instance id, unique within the service")
    p.add_argument("--dc", default="", help="only labels the echo answers")
    p.add_argument("--agent", default="127.0.0.1:7310",
                   help="the agent's HTTP API, host:port")
    p.add_argument("--api_socket", default="",
                   help="the agent's unix socket instead of --agent")
    p.add_argument("--listen_host", default="127.0.0.1",
                   help="address to serve and register")
    p.add_argument("--port", type=int, default=0, help="0: any free port")
    p.add_argument("--port_file", default="",
                   help="the bound port is written here once registered")
    p.add_argument("--weight", type=int, default=100)
    p.add_argument("--owner", default="", help="default: the instance id")
    p.add_argument("--check_interval_ms", type=int, default=2000)
    p.add_argument("--check_timeout_ms", type=int, default=1000)
    p.add_argument("--failures_before_critical", type=int, default=1)
    p.add_argument("--resync_interval_ms", type=int, default=5000)
    p.add_argument("--register_timeout_ms", type=int, default=60000)
    p.add_argument("--agent_timeout_ms", type=int, default=5000)
    flags = p.parse_args(argv)
    if flags.check_timeout_ms >= flags.check_interval_ms:
        p.error("--check_timeout_ms must be shorter than --check_interval_ms")
    if not flags.api_socket and ":" not in flags.agent:
        p.error("--agent is host:port")
    return flags


def main(argv):
    return Provider(parse_flags(argv)).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
