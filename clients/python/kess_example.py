#!/usr/bin/env python3
"""kess-example: the example program every kess client ships
(clients/README.md), in Python.

  kess_example.py provider --agent http://127.0.0.1:PORT --service SVC \\
      --id ID --port P
  kess_example.py pick --cache_dir DIR --service SVC --local_dc DC \\
      --keys k1,k2 [--wait_s 30]
  kess_example.py call --cache_dir DIR --service SVC --local_dc DC \\
      --count N [--wait_s 30]
  kess_example.py watch --agent http://127.0.0.1:PORT --namespace NS \\
      --key K [--timeout_s 30]

pick and call read the cache only unless --agent is given too (then they
subscribe the service through it); watch takes --cache_dir or learns it
from the agent's subscription answer. --agent also takes unix:PATH.

Exit status: 0 on success, 1 on failure (no instance within wait_s, the
agent refused the registration), 2 on bad flags.
"""

import argparse
import http.client
import http.server
import json
import os
import signal
import sys
import threading
import time
from typing import List, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from kess import (AgentClient, AgentError, AgentUnavailable,  # noqa: E402
                  ConfigClient, Discovery, DiscoveryOptions, NoInstance,
                  Registration, WatcherOptions, http_check)

LANGUAGE = "python"


def emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def provider(args: argparse.Namespace) -> int:
    body = ("%s %s\n" % (LANGUAGE, args.id)).encode("utf-8")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            if self.path in ("/", "/health"):
                data = body if self.path == "/" else b"ok\n"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            else:
                self.send_error(404)

        def log_message(self, *a: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port),
                                             Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    reg = Registration(
        AgentClient(args.agent), args.service, args.id,
        "127.0.0.1:%d" % port,
        checks=[http_check("http://127.0.0.1:%d/health" % port, interval=1.0,
                           timeout=0.5)],
        owner="kess-example-%d" % os.getpid(), ttl=args.ttl_s)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    deadline = time.monotonic() + args.register_timeout_s
    while True:
        try:
            reg.register()
            break
        except (AgentError, AgentUnavailable) as e:
            if time.monotonic() >= deadline or stop.is_set() or \
                    (isinstance(e, AgentError) and 400 <= e.status < 500
                     and e.status not in (409, 429)):
                sys.stderr.write("registration failed: %s\n" % e)
                server.shutdown()
                return 1
            time.sleep(0.5)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while not stop.wait(0.5):
        pass
    ok = reg.close()
    server.shutdown()
    if not ok:
        sys.stderr.write("deregistration failed\n")
    return 0


def _discovery(args: argparse.Namespace, inner: str) -> Discovery:
    return Discovery(DiscoveryOptions(
        cache_dir=args.cache_dir, agent=args.agent or "",
        balancer="local_first", local_datacenter=args.local_dc,
        min_local_healthy=1, local_first_inner=inner, poll_interval=0.2))


def _wait_for_instance(d: Discovery, service: str, wait_s: float) -> bool:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            d.select(service)
            return True
        except NoInstance:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)


def pick(args: argparse.Namespace) -> int:
    d = _discovery(args, "hrw")
    try:
        if not _wait_for_instance(d, args.service, args.wait_s):
            sys.stderr.write("no instance of %s within %gs\n" %
                             (args.service, args.wait_s))
            return 1
        for key in [k for k in args.keys.split(",") if k]:
            emit({"key": key, "instance": d.select(args.service, key).id})
        return 0
    finally:
        d.close()


def _get(address: str, timeout: float) -> str:
    host, _, port = address.rpartition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("GET", "/")
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise OSError("HTTP %d" % resp.status)
        return data.decode("utf-8", errors="replace")
    finally:
        conn.close()


def call(args: argparse.Namespace) -> int:
    d = _discovery(args, "weighted_random")
    try:
        if not _wait_for_instance(d, args.service, args.wait_s):
            sys.stderr.write("no instance of %s within %gs\n" %
                             (args.service, args.wait_s))
            return 1
        for _ in range(args.count):
            inst = d.select(args.service)
            try:
                text = _get(inst.address, args.call_timeout_s)
                d.report_success(args.service, inst.id)
                emit({"instance": inst.id, "body": text})
            except (OSError, http.client.HTTPException, ValueError) as e:
                d.report_failure(args.service, inst.id)
                emit({"instance": inst.id,
                      "error": str(e) or type(e).__name__})
        return 0
    finally:
        d.close()


def watch(args: argparse.Namespace) -> int:
    owner = "kess-example-%d" % os.getpid()
    cache_dir = args.cache_dir
    agent = AgentClient(args.agent)
    if not cache_dir:
        # The agent's answer names the file; the cache dir is three up.
        try:
            answer = agent.subscribe(owner, configs=[(args.namespace,
                                                      args.key)])
            path = answer["subscriptions"][0]["path"]
            cache_dir = os.path.dirname(os.path.dirname(os.path.dirname(
                path)))
        except (AgentError, AgentUnavailable, KeyError, IndexError,
                TypeError) as e:
            sys.stderr.write("cannot learn the cache dir from the agent (%s);"
                             " give --cache_dir\n" % e)
            return 1
    client = ConfigClient(WatcherOptions(cache_dir=cache_dir,
                                         agent=args.agent, owner=owner,
                                         poll_interval=0.5))
    lock = threading.Lock()

    def on_value(v) -> None:
        with lock:
            line = {"revision": v.revision, "value": v.text}
            if v.deleted:
                line["deleted"] = True
            emit(line)

    handle = client.watch(args.namespace, args.key, on_value)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait(args.timeout_s)
    handle.close()
    client.close()
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="kess-example")
    sub = p.add_subparsers(dest="command", required=True)

    pp = sub.add_parser("provider")
    pp.add_argument("--agent", required=True)
    pp.add_argument("--service", required=True)
    pp.add_argument("--id", required=True)
    pp.add_argument("--port", type=int, required=True)
    pp.add_argument("--ttl_s", type=float, default=10.0)
    pp.add_argument("--register_timeout_s", type=float, default=30.0)

    for name in ("pick", "call"):
        q = sub.add_parser(name)
        q.add_argument("--cache_dir", required=True)
        q.add_argument("--service", required=True)
        q.add_argument("--local_dc", required=True)
        q.add_argument("--wait_s", type=float, default=30.0)
        q.add_argument("--agent", default="")
        if name == "pick":
            q.add_argument("--keys", required=True)
        else:
            q.add_argument("--count", type=int, required=True)
            q.add_argument("--call_timeout_s", type=float, default=2.0)

    pw = sub.add_parser("watch")
    pw.add_argument("--agent", required=True)
    pw.add_argument("--namespace", required=True)
    pw.add_argument("--key", required=True)
    pw.add_argument("--timeout_s", type=float, default=30.0)
    pw.add_argument("--cache_dir", default="")

    args = p.parse_args(argv)
    try:
        return {"provider": provider, "pick": pick, "call": call,
                "watch": watch}[args.command](args)
    except ValueError as e:
        sys.stderr.write("kess-example: %s\n" % e)
        return 2


if __name__ == "__main__":
    sys.exit(main())
