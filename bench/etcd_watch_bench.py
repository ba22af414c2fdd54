#!/usr/bin/env python3
"""bench/etcd_watch_bench.py: N watchers on one etcd server (for
"Propagation, side by side").

Starts Debian's etcd (`etcd-server`) on free 127.0.0.1 ports in a temp dir,
opens N watch streams on one key through etcd's v3 HTTP/JSON gateway
(`POST /v3/watch`, one HTTP connection and stream each; etcd's native API is
gRPC, which has no C++ library here) from child processes (copies of this
script, asyncio, python3 stdlib only), then PUTs the key --changes times
(`/v3/kv/put`, one at a time) and measures the PUT's answer -> each watcher
received the event carrying the new value (an etcd watch event holds the
value, so a real client reads nothing more), p50/p99/max, plus etcd's CPU
per change and RSS from /proc. Prints a Markdown table; stops etcd.
"""
import argparse
import asyncio
import base64
import http.client
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

KEY = b"/etcd_watch_bench/hot"


def now_ns():
    return time.monotonic_ns()  # CLOCK_MONOTONIC: comparable across processes


def value(seq, size):
    v = f"{seq} ".encode()
    return v + b"x" * max(0, size - len(v))


# ---- client role ----

class Watch(asyncio.Protocol):
    def __init__(self, port, changes, seq_base, ready):
        self.port, self.ready, self.base = port, ready, seq_base
        self.buf = b""
        self.created = False
        self.seq = -1
        self.times = [0] * (changes + 2)

    def connection_made(self, transport):
        body = json.dumps({"create_request": {
            "key": base64.b64encode(KEY).decode()}}).encode()
        transport.write(
            b"POST /v3/watch HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % (self.port, len(body)) + body)

    def data_received(self, data):
        t = now_ns()
        buf = self.buf + data
        if not self.created and b'"created":true' in buf:
            self.created = True
            self.ready()
        while True:
            i = buf.find(b'"value":"')
            if i < 0:
                buf = buf[-16:]
                break
            j = buf.find(b'"', i + 9)
            if j < 0:
                buf = buf[i:]
                break
            v = base64.b64decode(buf[i + 9:j])
            buf = buf[j + 1:]
            seq = int(v.split(b" ", 1)[0])
            i = seq - self.base
            if 0 <= i < len(self.times) and self.times[i] == 0:
                self.times[i] = t
            self.seq = max(self.seq, seq)
        self.buf = buf

    def connection_lost(self, exc):
        self.created = False


def run_client(args):
    args.watchers = int(args.watchers)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    loop = asyncio.new_event_loop()
    watches = []

    async def connect():
        failed = 0
        for first in range(0, args.watchers, args.connect_batch):
            n = min(args.connect_batch, args.watchers - first)
            done = asyncio.Event()
            pending = [n]

            def ready():
                pending[0] -= 1
                if pending[0] == 0:
                    done.set()
            batch = []
            for _ in range(n):
                w = Watch(args.port, args.changes, args.seq_base, ready)
                try:
                    await loop.create_connection(lambda w=w: w, "127.0.0.1",
                                                 args.port)
                    batch.append(w)
                except OSError:
                    failed += 1
                    pending[0] -= 1
            if pending[0] > 0:
                try:
                    await asyncio.wait_for(done.wait(), 60)
                except asyncio.TimeoutError:
                    pass
            watches.extend(batch)
        ok = sum(1 for w in watches if w.created)
        return f"ready {ok} {args.watchers - ok}"

    async def wait(seq):
        deadline = time.monotonic() + 30
        want = sum(1 for w in watches if w.created)
        while time.monotonic() < deadline:
            have = sum(1 for w in watches if w.seq >= seq)
            if have >= want:
                break
            await asyncio.sleep(0.002)
        return f"have {seq} {sum(1 for w in watches if w.seq >= seq)}"

    async def dump():
        path = os.path.join(args.out_dir, f"times.{args.name}")
        with open(path, "w") as f:
            json.dump([args.seq_base, [w.times for w in watches]], f)
        return f"dumped {path}"

    def commands():
        for line in sys.stdin:
            words = line.split()
            if not words or words[0] == "quit":
                break
            if words[0] == "connect":
                coro = connect()
            elif words[0] == "wait":
                coro = wait(int(words[1]))
            elif words[0] == "dump":
                coro = dump()
            else:
                print("error unknown command", flush=True)
                continue
            print(asyncio.run_coroutine_threadsafe(coro, loop).result(),
                  flush=True)
        loop.call_soon_threadsafe(loop.stop)

    threading.Thread(target=commands, daemon=True).start()
    loop.run_forever()
    return 0


# ---- driver ----

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    return 0


def host_threads():
    with open("/proc/loadavg") as f:
        return int(f.read().split()[3].split("/")[1])


def pct(sorted_values, p):
    if not sorted_values:
        return 0.0
    rank = max(1, -(-len(sorted_values) * p // 100))
    return sorted_values[int(rank) - 1]


class Etcd:
    def __init__(self, etcd_binary, base_dir):
        self.dir = tempfile.mkdtemp(prefix="etcd.", dir=base_dir)
        self.port, peer = free_port(), free_port()
        self.log = open(os.path.join(self.dir, "etcd.log"), "w")
        self.proc = subprocess.Popen([
            etcd_binary, "--name", "bench",
            "--data-dir", os.path.join(self.dir, "data"),
            "--listen-client-urls", f"http://127.0.0.1:{self.port}",
            "--advertise-client-urls", f"http://127.0.0.1:{self.port}",
            "--listen-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", f"bench=http://127.0.0.1:{peer}",
            "--log-level", "warn"],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.conn = None
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                self.call("/v3/kv/range", {"key": b64(KEY)})
                return
            except OSError:
                self.conn = None
                time.sleep(0.2)
        raise RuntimeError("etcd did not start; see " + self.log.name)

    def call(self, path, body):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                   timeout=30)
        self.conn.request("POST", path, json.dumps(body),
                          {"Content-Type": "application/json"})
        r = self.conn.getresponse()
        data = r.read()
        if r.status != 200:
            raise RuntimeError(f"{path}: {r.status} {data[:200]}")
        return json.loads(data)

    def put(self, v):
        return self.call("/v3/kv/put", {"key": b64(KEY), "value": b64(v)})

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def b64(b):
    return base64.b64encode(b).decode()


class Child:
    def __init__(self, args, port, n, name, out_dir, seq_base):
        self.p = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--role=client",
             f"--port={port}", f"--watchers={n}", f"--changes={args.changes}", f"--seq_base={seq_base}",
             f"--connect_batch={args.connect_batch}", f"--name={name}",
             f"--out_dir={out_dir}"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        answer = self.p.stdout.readline()
        if not answer:
            raise RuntimeError("client process died")
        return answer.split()

    def quit(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def measure(args, etcd, n, seq0, out_dir):
    row = {"watchers": n, "watching": 0, "failed": 0, "limit": "-",
           "missing": 0}
    children = [Child(args, etcd.port, min(args.watchers_per_process, n - f),
                      f"{n}-{f}", out_dir, seq0 + 1)
                for f in range(0, n, args.watchers_per_process)]
    row["processes"] = len(children)
    t = time.monotonic()
    for c in children:
        try:
            a = c.ask("connect")
        except RuntimeError as e:
            row["limit"] = str(e)
            break
        row["watching"] += int(a[1])
        row["failed"] += int(a[2])
    row["connect_s"] = time.monotonic() - t
    time.sleep(1)
    pid = etcd.proc.pid
    row["rss_idle"] = proc_rss_mib(pid)
    ack, acks, sent_ns = {}, [], {}
    cpu0, t0 = proc_cpu_s(pid), time.monotonic()
    seq = seq0
    for _ in range(args.changes):
        seq += 1
        sent = sent_ns[seq] = now_ns()
        etcd.put(value(seq, args.value_bytes))
        ack[seq] = now_ns()
        acks.append((ack[seq] - sent) / 1e3)
        have = 0
        for c in children:
            try:
                have += int(c.ask(f"wait {seq}")[2])
            except RuntimeError:
                pass
        row["missing"] += row["watching"] - have
        time.sleep(0.1)
    wall = time.monotonic() - t0
    cpu = proc_cpu_s(pid) - cpu0
    row["cpu_per_change_ms"] = cpu * 1000 / args.changes
    row["cpu_busy"] = cpu / wall
    row["rss"] = proc_rss_mib(pid)
    row["host_threads"] = host_threads()
    lat, from_sent, slowest, negative = [], [], {}, 0
    for c in children:
        try:
            path = c.ask("dump")[1]
        except RuntimeError:
            continue
        base, all_times = json.load(open(path))
        for times in all_times:
            for i, t_ns in enumerate(times):
                s = base + i
                if t_ns == 0 or s not in ack:
                    continue
                us = (t_ns - ack[s]) / 1e3
                if us < 0:
                    negative += 1
                    us = 0
                lat.append(us)
                from_sent.append((t_ns - sent_ns[s]) / 1e3)
                slowest[s] = max(slowest.get(s, 0), us)
    for c in children:
        c.quit()
    row["lat"] = sorted(lat)
    row["from_sent"] = sorted(from_sent)
    row["last"] = sorted(slowest.values())
    row["acks"] = sorted(acks)
    row["negative"] = negative
    return row, seq


def run_driver(args):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    etcd_binary = shutil.which(args.etcd_binary) or args.etcd_binary
    if not os.path.exists(etcd_binary):
        print(f"etcd not found ({args.etcd_binary}): run scripts/setup.sh",
              file=sys.stderr)
        return 1
    version = subprocess.run([etcd_binary, "--version"], capture_output=True,
                             text=True).stdout.splitlines()[0]
    out_dir = tempfile.mkdtemp(prefix="etcd_watch_bench.")
    etcd = Etcd(etcd_binary, out_dir)
    rows, status = [], 0
    try:
        etcd.put(value(0, args.value_bytes))
        seq = 0
        for n in [int(x) for x in args.watchers.split(",") if x]:
            row, seq = measure(args, etcd, n, seq, out_dir)
            rows.append(row)
            time.sleep(2)
    finally:
        etcd.stop()
        shutil.rmtree(out_dir, ignore_errors=True)

    ms = lambda us: f"{us / 1000:.1f}"
    lat = lambda v: f"{ms(pct(v, 50))} / {ms(pct(v, 99))} / {ms(pct(v, 100))}"
    u = os.uname()
    print("| setup | |\n|---|---|")
    print(f"| machine | {os.cpu_count()} cores, {u.sysname} {u.release}; every "
          "process below shares them; a shared, busy machine: figures are "
          "noisy |")
    print(f"| server | 1 etcd server ({version}, Debian `etcd-server`, "
          "defaults: fsync per write) on 127.0.0.1, started and stopped by "
          "the benchmark, data dir in /tmp |")
    print(f"| watchers | one HTTP/1.1 connection and watch stream each on "
          "etcd's v3 JSON gateway (`POST /v3/watch`), "
          f"{args.watchers_per_process} per child process (python3 asyncio, "
          f"one event loop), opened in batches of {args.connect_batch}; a "
          "watch event carries the new value |")
    print(f"| changes | {args.changes} per row, one at a time: `POST "
          f"/v3/kv/put` of {args.value_bytes} B, then wait until every "
          "watcher had it, 100 ms pause |")
    print("| latency | the put's HTTP answer -> the watcher's process read "
          "the event from its socket; CLOCK_MONOTONIC across processes |")
    print()
    print("| watchers | processes | watching (failed) | stopped because | "
          "connect s | p50 / p99 / max ms | from put sent p50 / p99 / max ms | last watcher per change p50 / max "
          "ms | put ack p50 / max ms | etcd CPU per change | etcd CPU busy | "
          "etcd RSS idle / after | host threads | missing |")
    print("|---:|---:|---|---|---:|---|---|---|---|---:|---:|---|---:|---:|")
    for r in rows:
        print(f"| {r['watchers']:,} | {r['processes']} | {r['watching']:,} "
              f"({r['failed']}) | {r['limit']} | {r['connect_s']:.1f} | "
              f"{lat(r['lat'])} | {lat(r['from_sent'])} | {ms(pct(r['last'], 50))} / "
              f"{ms(pct(r['last'], 100))} | {ms(pct(r['acks'], 50))} / "
              f"{ms(pct(r['acks'], 100))} | {r['cpu_per_change_ms']:.1f} ms | "
              f"{r['cpu_busy'] * 100:.0f} % | {r['rss_idle']} / {r['rss']} "
              f"MiB | {r['host_threads']:,} | {r['missing']} |")
        if r["missing"] or r["failed"] or r["limit"] != "-":
            status = 2
    negative = sum(r["negative"] for r in rows)
    print()
    print("etcd pushes the value with the event (one server-side send per "
          "watcher per change, no read back). The watchers are Python: their "
          "own CPU (parsing the stream on the same 2 cores) is part of the "
          "figure, as the C++/C clients' is in the kess and ZooKeeper rows. "
          "etcd CPU busy is its CPU seconds per wall second during the "
          "changes (200 % = both cores). Events received before the writer "
          f"read its answer were counted as 0 ms: {negative:,}.")
    return status


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--role", default="driver")
    p.add_argument("--watchers", default="100,1000,10000")
    p.add_argument("--changes", type=int, default=20)
    p.add_argument("--value_bytes", type=int, default=256)
    p.add_argument("--watchers_per_process", type=int, default=2500)
    p.add_argument("--connect_batch", type=int, default=250)
    p.add_argument("--etcd_binary", default="etcd")
    # client role
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--name", default="0")
    p.add_argument("--out_dir", default="")
    p.add_argument("--seq_base", type=int, default=0)
    args = p.parse_args()
    if args.role == "client":
        return run_client(args)
    return run_driver(args)


if __name__ == "__main__":
    sys.exit(main())
