#!/usr/bin/env python3
"""bench/wan_e2e_bench.py: end to end across emulated WAN links, over the
real daemons of `scripts/demo.sh --wan` (3 DCs in network namespaces, every
connection between two DCs through tests/wan's wan_emulator as a
transparent router). Started by bench/run_wan_e2e_bench.sh, which starts
and stops the demo; this script only measures a demo that is up. Needs
root (`ip netns exec` for the storm's client; the demo itself needs root).

Reads what the demo wrote under --base_dir: kess.env (the mandators' HTTP
addresses), secrets/admin.password (the API's Bearer token), run/wan.addr
(the emulator's control API), run/wan.conf (the DCs' subnets and the
initial link profiles), run/pids (its processes; the mandators' heartbeat
ports and the agents' addresses come from their command lines in /proc),
run/cluster.json (the cluster launcher's description: ZooKeeper connect
strings), hosts/<host>/http_port and hosts/<host>/cache/.

1. Single change, RTT sweep: for each RTT of --rtts_ms the dc1<->dc2
   profile becomes delay=RTT/2 each way (POST /pair twice; dc3's links keep
   the demo's profile), a settle pause and one unmeasured warm-up write,
   then --writes config writes through the dc1 leader's HTTP API
   (PUT /api/v1/configs/demo/greeting), open loop, spaced --spacing_ms plus
   up to --jitter_ms. Per write: HTTP answer -> its revision in the cache
   file of every host of a DC (files stat()ed every --poll_ms; a changed
   file is read for its "revision" only), the DC's slowest host.
2. Bytes on the dc1<->dc2 links per change: the emulator's byte counters of
   the virtual links dc1->dc2 and dc2->dc1 (both directions of each) over
   the writes, minus the idle rate over an idle window just before.
3. Registration storm: --storm_instances instances of --storm_services
   services registered in --storm_dc within --storm_spread_ms by
   heartbeat_bench --role=client inside that DC's namespace (raw
   kess.Register to one mandator, then paced kess.Heartbeat); one host per
   DC subscribed to those services' route tables first (agent HTTP API);
   last registration acknowledged -> every instance in that host's route
   files, per DC.

Only 127.0.0.1 and addresses in 10.77.0.0/16 (the demo's namespaces) are
ever contacted; every loop is bounded in count and time. Markdown tables on
stdout, progress on stderr. Exit 0, or 2 if a write failed, a change or an
instance did not arrive, or a registration failed.
"""
import argparse
import http.client
import ipaddress
import json
import math
import os
import platform
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

ALLOWED_NET = ipaddress.ip_network("10.77.0.0/16")
CONFIG_NS, CONFIG_KEY = "demo", "greeting"
REVISION_RE = re.compile(rb'"revision":\s*(\d+)')
WRITTEN_RE = re.compile(rb'"written_ms":\s*(\d+)')
INSTANCE_RE = re.compile(rb"\b(inst-\d+)\b")  # heartbeat_bench's instance ids


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, file=sys.stderr, flush=True)


def now_ns():
    return time.monotonic_ns()  # CLOCK_MONOTONIC, as the C++ client's NowNs


class BenchError(Exception):
    pass


# ---- addresses and HTTP -----------------------------------------------------

def check_address(hostport):
    host = hostport.rsplit(":", 1)[0]
    addr = ipaddress.ip_address(host)
    if addr != ipaddress.ip_address("127.0.0.1") and addr not in ALLOWED_NET:
        raise BenchError(f"refusing to contact {hostport}: not 127.0.0.1 "
                         f"nor in {ALLOWED_NET} (the demo's namespaces)")
    return hostport


def request(method, hostport, path, body=None, headers=None, timeout=10.0):
    """One request on a new connection; returns (status, body bytes)."""
    host, port = check_address(hostport).rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        h = dict(headers or {})
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def http_json(method, hostport, path, body=None, headers=None, timeout=10.0):
    status, data = request(method, hostport, path, body, headers, timeout)
    if status != 200:
        raise BenchError(f"{method} http://{hostport}{path}: {status} "
                         f"{data[:300]!r}")
    return json.loads(data)


# ---- the demo's topology ----------------------------------------------------

def read_cmdline_flags(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        words = f.read().decode().split("\0")
    flags = {}
    for w in words:
        if w.startswith("--") and "=" in w:
            k, v = w[2:].split("=", 1)
            flags[k] = v
    return flags


class Demo:
    def __init__(self, base):
        self.base = base
        env = open(os.path.join(base, "kess.env")).read()
        m = re.search(r"KESS_MANDATORS=(\S+)", env)
        if not m:
            raise BenchError("no KESS_MANDATORS in kess.env")
        self.kess_mandators = m.group(1).split(",")
        secret = os.path.join(base, "secrets", "admin.password")
        self.auth = {}
        if os.path.exists(secret):
            self.auth = {"Authorization":
                         "Bearer " + open(secret).read().strip()}
        wan_addr = open(os.path.join(base, "run", "wan.addr")).read()
        m = re.search(r"^control (\S+)$", wan_addr, re.M)
        if not m:
            raise BenchError("no control line in run/wan.addr")
        self.wan_control = check_address(m.group(1))
        self.subnets, self.initial_pairs = {}, {}
        for line in open(os.path.join(base, "run", "wan.conf")):
            w = line.split()
            if len(w) == 3 and w[0] == "dc":
                self.subnets[w[1]] = w[2]
            elif len(w) == 4 and w[0] == "pair":
                self.initial_pairs[(w[1], w[2])] = w[3]
        self.dcs = sorted(self.subnets)
        for dc, net in self.subnets.items():
            if not ipaddress.ip_network(net).subnet_of(ALLOWED_NET):
                raise BenchError(f"{dc}'s subnet {net} is outside {ALLOWED_NET}")
        self.pids = {}
        for line in open(os.path.join(base, "run", "pids")):
            w = line.split()
            if len(w) == 2:
                self.pids[w[0]] = int(w[1])
        # Mandators: heartbeat (scheduler) and HTTP addresses, per DC.
        self.mandators = {dc: [] for dc in self.dcs}
        for name, pid in sorted(self.pids.items()):
            m = re.fullmatch(r"mandator-(\w+)-m(\d+)", name)
            if not m:
                continue
            f = read_cmdline_flags(pid)
            host = f["http_host"]
            self.mandators[m.group(1)].append({
                "id": "m" + m.group(2),
                "http": check_address(f"{host}:{f['http_port']}"),
                "heartbeat": check_address(f"{host}:{f['port']}"),
                "flags": f})
        # Hosts: agent HTTP address and cache dir.
        self.hosts = {dc: [] for dc in self.dcs}
        for name, pid in sorted(self.pids.items()):
            m = re.fullmatch(r"agent-((\w+)-host\d+)", name)
            if not m:
                continue
            host, dc = m.group(1), m.group(2)
            f = read_cmdline_flags(pid)
            port = open(os.path.join(base, "hosts", host,
                                     "http_port")).read().strip()
            self.hosts[dc].append({
                "host": host, "dc": dc,
                "agent": check_address(f"{f['http_host']}:{port}"),
                "cache": f["cache_dir"]})
        self.zk = {}
        cluster = json.load(open(os.path.join(base, "run", "cluster.json")))
        for dc in cluster["dcs"]:
            if dc["name"] in self.dcs and dc["zk"]:
                self.zk[dc["name"]] = dc["zk"]
        self.main_dc = "dc1"
        for dc in self.dcs:
            if len(self.mandators[dc]) == 0 or len(self.hosts[dc]) == 0:
                raise BenchError(f"no mandators or agents of {dc} in run/pids")

    def dc_address(self, dc):
        return self.mandators[dc][0]["http"].rsplit(":", 1)[0]

    def leader_http(self, dc):
        for m in self.mandators[dc]:
            try:
                s = http_json("GET", m["http"], "/api/v1/status", timeout=3)
                addr = (s.get("leader") or {}).get("http_address")
                if addr:
                    return check_address(addr)
            except (OSError, BenchError, ValueError):
                continue
        raise BenchError(f"no leader found in {dc}")

    def metric(self, hostport, name):
        """Sum of every sample of a Prometheus metric (0 if absent)."""
        status, data = request("GET", hostport, "/metrics", timeout=5)
        total = 0.0
        for line in data.decode(errors="replace").splitlines():
            if line.startswith(name) and (name.endswith('"') or
                                          len(line) == len(name) or
                                          line[len(name)] in " {"):
                try:
                    total += float(line.rsplit(" ", 1)[1])
                except ValueError:
                    pass
        return total


# ---- the WAN emulator's control API -----------------------------------------

class Wan:
    def __init__(self, control):
        self.control = control

    def links(self):
        return http_json("GET", self.control, "/links")

    def pairs(self):
        return {(p["from"], p["to"]): p["profile"]
                for p in self.links()["pairs"]}

    def set_pair(self, src, dst, profile):
        q = urllib.parse.urlencode({"from": src, "to": dst, "profile": profile})
        status, data = request("POST", self.control, "/pair?" + q, body=b"")
        if status != 200:
            raise BenchError(f"POST /pair {src}->{dst} {profile}: {status} "
                             f"{data[:200]!r}")

    def bytes_between(self, a, b):
        """Bytes delivered on the virtual links a->b and b->a, both ways."""
        total = 0
        for link in self.links()["links"]:
            if link["name"] in (f"{a}->{b}", f"{b}->{a}"):
                total += link["forward_stats"]["bytes"]
                total += link["reverse_stats"]["bytes"]
        return total


def parse_delay_ms(profile):
    """The delay of a profile's text form (`delay=10ms,...`), in ms."""
    m = re.search(r"delay=([\d.]+)(us|ms|s)\b", profile or "")
    if not m:
        return 0.0
    v = float(m.group(1))
    return {"us": v / 1000, "ms": v, "s": v * 1000}[m.group(2)]


def describe_profile(fwd, rev):
    """`RTT 80 ms (±5 ms jitter, 1 % loss each way)` for a pair of one-way
    profiles (the extras of the forward one)."""
    rtt = parse_delay_ms(fwd) + parse_delay_ms(rev)
    extra = []
    for w in (fwd or "").split(","):
        k, _, v = w.partition("=")
        if k == "jitter":
            extra.append(f"±{parse_delay_ms('delay=' + v):g} ms jitter")
        elif k == "loss":
            extra.append(f"{float(v) * 100:g} % loss")
        elif k == "bw":
            extra.append(f"{v} bandwidth")
    text = f"RTT {rtt:g} ms"
    if extra:
        text += " (" + ", ".join(extra) + " each way)"
    return text


# ---- cache files ------------------------------------------------------------

class FilePoller:
    """Watches files on a background thread: each sweep stat()s every file
    (a new version is a new inode: the agent renames it into place) and
    reads a changed one, keeping (revision, monotonic ns, written_ms) for
    every revision seen; `extra(path, data)` may record more."""

    def __init__(self, paths, interval_s, extra=None):
        self.paths = list(paths)
        self.interval = interval_s
        self.extra = extra
        self.events = {p: [] for p in self.paths}
        self._sig = {p: None for p in self.paths}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.sweeps = 0
        self.t_start = self.t_stop = 0

    def start(self):
        for p in self.paths:  # the current versions, before the clock runs
            self._check(p, 0)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(10)

    def _check(self, path, t):
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return
        sig = (st.st_ino, st.st_mtime_ns, st.st_size)
        if sig == self._sig[path]:
            return
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return
        m = REVISION_RE.search(data)
        if not m:
            return  # not a whole file (cannot happen: renamed into place)
        self._sig[path] = sig
        w = WRITTEN_RE.search(data)
        ev = self.events[path]
        rev = int(m.group(1))
        if not ev or rev > ev[-1][0]:
            ev.append((rev, t, int(w.group(1)) if w else 0))
        if self.extra:
            self.extra(path, data, t)

    def mean_interval_ms(self):
        span = (self.t_stop or now_ns()) - self.t_start
        return span / 1e6 / max(self.sweeps, 1)

    def _run(self):
        self.t_start = now_ns()
        while not self._stop.is_set():
            t = now_ns()
            for p in self.paths:
                self._check(p, t)
            self.sweeps += 1
            time.sleep(self.interval)
        self.t_stop = now_ns()

    def arrival(self, path, revision):
        """(monotonic ns, written_ms) when the file first had >= revision,
        or None; a version seen before the poller started has t == 0."""
        for rev, t, written in self.events[path]:
            if rev >= revision:
                return t, written
        return None

    def newest(self, path):
        ev = self.events[path]
        return ev[-1][0] if ev else 0


def percentile(values, p):
    """Nearest rank."""
    if not values:
        return float("nan")
    v = sorted(values)
    k = max(0, min(len(v) - 1, math.ceil(p / 100.0 * len(v)) - 1))
    return v[k]


def fmt_ms(v):
    return "—" if v != v else f"{v:.1f}"  # NaN -> dash


# ---- 1 + 2: single changes over the RTT sweep -------------------------------

class Writer:
    def __init__(self, demo, value_bytes):
        self.demo = demo
        self.value_bytes = value_bytes
        self.leader = demo.leader_http(demo.main_dc)
        self.path = f"/api/v1/configs/{CONFIG_NS}/{CONFIG_KEY}"
        self.seq = 0
        self.aborted = []

    def put(self, tag, retries=3):
        self.seq += 1
        stamp = f"wan-e2e {tag} #{self.seq} "
        value = stamp + "x" * max(0, self.value_bytes - len(stamp))
        body = {"value": value, "author": "wan_e2e_bench",
                "comment": "bench/wan_e2e_bench.py"}
        sent = now_ns()
        try:
            status, data = request("PUT", self.leader, self.path, body,
                                   self.demo.auth, timeout=10)
        except OSError as e:
            status, data = 0, str(e).encode()
        ack = now_ns()
        ack_wall_ms = time.time() * 1000
        if status in (0, 503) and retries > 0:  # the leader moved?
            time.sleep(1)
            self.leader = self.demo.leader_http(self.demo.main_dc)
            return self.put(tag, retries - 1)
        if status == 409 and b"ABORTED" in data and retries > 0:
            # The leader's commit lost its revision compare-and-set to other
            # commits (its own route writes) too often: a kess failure the
            # client sees; counted, and the write is made again.
            self.aborted.append(data[:300].decode(errors="replace"))
            return self.put(tag, retries - 1)
        if status != 200:
            raise BenchError(f"PUT {self.path}: {status} {data[:300]!r}")
        return json.loads(data)["revision"], sent, ack, ack_wall_ms


def config_paths(demo):
    out = {}
    for dc in demo.dcs:
        out[dc] = [os.path.join(h["cache"], "configs", CONFIG_NS,
                                CONFIG_KEY + ".json") for h in demo.hosts[dc]]
    return out


def wait_everywhere(poller, paths, revision, timeout_s):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(poller.newest(p) >= revision for p in paths):
            return True
        time.sleep(0.005)
    return False


def sweep(demo, wan, args, errors):
    writer = Writer(demo, args.value_bytes)
    paths = config_paths(demo)
    all_paths = [p for dc in demo.dcs for p in paths[dc]]
    missing = [p for p in all_paths if not os.path.exists(p)]
    if missing:
        raise BenchError(f"config cache files missing: {missing}")
    slave = args.link_dc
    initial = wan.pairs()
    rows = []
    rng = random.Random(args.seed)
    for rtt in args.rtts_ms:
        half = f"delay={rtt / 2:g}ms"
        pairs = wan.pairs()
        before = (parse_delay_ms(pairs.get((demo.main_dc, slave)))
                  + parse_delay_ms(pairs.get((slave, demo.main_dc))))
        wan.set_pair(demo.main_dc, slave, half)
        wan.set_pair(slave, demo.main_dc, half)
        now_pairs = wan.pairs()
        got = (now_pairs.get((demo.main_dc, slave)),
               now_pairs.get((slave, demo.main_dc)))
        if parse_delay_ms(got[0]) != rtt / 2 or parse_delay_ms(got[1]) != rtt / 2:
            raise BenchError(f"the emulator did not take {half} both ways: {got}")
        # In force once what was in flight under the old profile is delivered.
        settle = args.settle_ms + 2 * max(before, rtt)
        log(f"RTT {rtt} ms: {demo.main_dc}<->{slave} {half} each way; "
            f"settling {settle:.0f} ms, one warm-up write")
        time.sleep(settle / 1000)
        poller = FilePoller(all_paths, args.poll_ms / 1000).start()
        try:
            rev, _, _, _ = writer.put(f"rtt{rtt}-warmup")
            if not wait_everywhere(poller, all_paths, rev, args.arrival_timeout_s):
                errors.append(f"RTT {rtt}: warm-up revision {rev} not everywhere "
                              f"within {args.arrival_timeout_s} s")
            # Idle window, as long as the writes are planned to take.
            planned = max(args.min_idle_s,
                          (args.writes * (args.spacing_ms + args.jitter_ms / 2)
                           + 3 * max(rtt, 80) + 500) / 1000)
            b0, t0 = wan.bytes_between(demo.main_dc, slave), now_ns()
            time.sleep(planned)
            b1, t1 = wan.bytes_between(demo.main_dc, slave), now_ns()
            idle_rate = (b1 - b0) / ((t1 - t0) / 1e9)
            log(f"RTT {rtt} ms: idle {b1 - b0} B in {(t1 - t0) / 1e9:.2f} s; "
                f"{args.writes} writes")
            # The writes: open loop, write k at start + sum of gaps.
            writes = []
            w0, start = wan.bytes_between(demo.main_dc, slave), now_ns()
            due = start
            for k in range(args.writes):
                wait = (due - now_ns()) / 1e9
                if wait > 0:
                    time.sleep(wait)
                writes.append(writer.put(f"rtt{rtt}"))
                due += int((args.spacing_ms + rng.uniform(0, args.jitter_ms)) * 1e6)
            last = writes[-1][0]
            if not wait_everywhere(poller, all_paths, last, args.arrival_timeout_s):
                errors.append(f"RTT {rtt}: revision {last} not everywhere within "
                              f"{args.arrival_timeout_s} s")
            w1, end = wan.bytes_between(demo.main_dc, slave), now_ns()
        finally:
            poller.stop()
        duration = (end - start) / 1e9
        lat = {dc: [] for dc in demo.dcs}
        for rev, sent, ack, _ in writes:
            for dc in demo.dcs:
                worst = None
                for p in paths[dc]:
                    a = poller.arrival(p, rev)
                    if a is None:
                        worst = None
                        errors.append(f"RTT {rtt}: revision {rev} never reached {p}")
                        break
                    worst = a[0] if worst is None else max(worst, a[0])
                if worst is not None:
                    lat[dc].append((worst - ack) / 1e6)
        raw = w1 - w0
        idle = idle_rate * duration
        rows.append({"rtt": rtt, "lat": lat, "raw": raw, "idle": idle,
                     "idle_window": (t1 - t0) / 1e9, "idle_rate": idle_rate,
                     "duration": duration, "writes": len(writes),
                     "sweep_ms": poller.mean_interval_ms()})
        log(f"RTT {rtt} ms: {slave} p50 {statistics.median(lat[slave]):.1f} ms"
            if lat[slave] else f"RTT {rtt} ms: no {slave} figures")
    # Back to the demo's profiles for what follows.
    for (a, b), prof in initial.items():
        if {a, b} == {demo.main_dc, slave}:
            wan.set_pair(a, b, prof)
    return rows, writer


def zk_record_bytes(demo, args):
    """dataLength of the config's ZooKeeper record (zkCli.sh stat, which
    needs no ACL), or None."""
    zk = demo.zk.get(demo.main_dc)
    if not zk or not os.path.exists(args.zkcli):
        return None
    check_address(zk)
    root = demo.mandators[demo.main_dc][0]["flags"].get("zk_root", "/kess")
    try:
        out = subprocess.run(
            [args.zkcli, "-server", zk, "stat",
             f"{root}/configs/{CONFIG_NS}/{CONFIG_KEY}"],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=60,
            text=True).stdout
    except (subprocess.TimeoutExpired, OSError):
        return None
    m = re.search(r"dataLength = (\d+)", out)
    return int(m.group(1)) if m else None


# ---- 3: registration storm --------------------------------------------------

class StormClient:
    """heartbeat_bench --role=client in a DC's namespace, over pipes."""

    def __init__(self, args, demo, dc, log_path):
        m = demo.mandators[dc][0]
        host, port = m["heartbeat"].rsplit(":", 1)
        ns = f"{args.netns_prefix}-{dc}"
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True,
                                text=True, timeout=10).stdout.split()
        if ns not in listed:
            raise BenchError(f"no network namespace {ns} (ip netns list: "
                             f"{' '.join(listed)})")
        self.mandator = m
        self.cmd = ["ip", "netns", "exec", ns, args.heartbeat_bench,
                    "--role=client", f"--host={host}", f"--port={port}",
                    f"--connections={args.storm_connections}",
                    f"--first={args.storm_first}",
                    f"--instances={args.storm_instances}",
                    f"--services={args.storm_services}",
                    f"--instance_dc={dc}",
                    f"--instance_address_host={demo.dc_address(dc)}",
                    "--server_cpu=-1"]
        self.err = open(log_path, "w")
        # ip netns exec execs the client: this pid is the client's own.
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.err,
                                     text=True, bufsize=1)
        self.lock = threading.Lock()

    def ask(self, command, timeout_s):
        with self.lock:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
            result = []
            t = threading.Thread(
                target=lambda: result.append(self.proc.stdout.readline()),
                daemon=True)
            t.start()
            t.join(timeout_s)
            if not result or not result[0]:
                raise BenchError(f"heartbeat client: no answer to '{command}' "
                                 f"within {timeout_s} s")
            return result[0].split()

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                log(f"heartbeat client pid {self.proc.pid} did not quit: SIGKILL")
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.err.close()


def storm(demo, wan, args, errors):
    dc = args.storm_dc
    services = [f"svc{k}" for k in range(args.storm_services)]
    expected = {s: set() for s in services}
    first = args.storm_first
    for i in range(first, first + args.storm_instances):
        expected[f"svc{i % args.storm_services}"].add(f"inst-{i}".encode())
    subscribers = {d: demo.hosts[d][min(args.subscriber_host,
                                         len(demo.hosts[d])) - 1]
                   for d in demo.dcs}
    log(f"storm: subscribing {', '.join(h['host'] for h in subscribers.values())}"
        f" to {len(services)} route tables")
    threads, failures = [], []

    def subscribe(h):
        try:
            http_json("POST", h["agent"], "/v1/subscriptions",
                      {"routes": services}, timeout=30)
        except (OSError, BenchError) as e:
            failures.append(f"{h['host']}: {e}")
    for h in subscribers.values():
        t = threading.Thread(target=subscribe, args=(h,))
        t.start()
        threads.append(t)
    for t in threads:
        t.join(40)
    if failures:
        raise BenchError("subscribing failed: " + "; ".join(failures))

    # Completion per (host, service): every expected instance in the file.
    complete = {}   # path -> (monotonic ns, written_ms)
    path_info = {}
    for d, h in subscribers.items():
        for s in services:
            path_info[os.path.join(h["cache"], "routes", s + ".json")] = (d, s)

    def on_change(path, data, t):
        # Only the instance ids (a regex, not a JSON parse: when a cycle's
        # tables land, every file of a host changes within a millisecond).
        if path in complete:
            return
        d, s = path_info[path]
        ids = set(INSTANCE_RE.findall(data))
        if expected[s] <= ids:
            w = WRITTEN_RE.search(data)
            complete[path] = (t, int(w.group(1)) if w else 0)

    poller = FilePoller(path_info, args.storm_poll_ms / 1000, on_change).start()
    leader = demo.leader_http(demo.main_dc)
    writes0 = demo.metric(leader, "kess_routes_writes_total")
    collect0 = (demo.metric(leader, "kess_routes_collect_seconds_sum"),
                demo.metric(leader, "kess_routes_collect_seconds_count"))
    bytes0 = wan.bytes_between(demo.main_dc, dc)
    client = StormClient(args, demo, dc, os.path.join(args.log_dir,
                                                      "storm_client.log"))
    beat_stop = threading.Event()
    beats = {"calls": 0, "refs": 0, "errors": 0, "unknown": 0, "chunks": 0}

    def beat_loop():
        deadline = time.monotonic() + args.storm_timeout_s + 30
        while not beat_stop.is_set() and time.monotonic() < deadline:
            try:
                a = client.ask(f"beat {args.beat_period_ms / 1000:g} "
                               f"{args.beat_batch} 1 {args.beat_period_ms}",
                               args.beat_period_ms / 1000 + 60)
            except (BenchError, OSError) as e:
                errors.append(f"storm: heartbeats stopped: {e}")
                return
            if a[0] != "beat":
                errors.append(f"storm: heartbeat client said {' '.join(a)}")
                return
            for k, v in zip(("calls", "refs", "errors", "unknown"), a[1:5]):
                beats[k] += int(v)
            beats["chunks"] += 1

    try:
        a = client.ask("connect", 60)
        if a[:1] != ["connected"] or int(a[2]) != 0:
            raise BenchError(f"storm: heartbeat client: {' '.join(a)}")
        off_ms = time.time() * 1000 - now_ns() / 1e6  # monotonic -> wall
        log(f"storm: registering {args.storm_instances} instances of "
            f"{len(services)} services in {dc} (mandator {client.mandator['id']}"
            f" {client.mandator['heartbeat']}) over {args.storm_spread_ms} ms")
        reg_start = now_ns()
        a = client.ask(f"register {args.storm_batch} {args.storm_spread_ms}",
                       args.storm_spread_ms / 1000 + 120)
        if a[0] != "registered":
            raise BenchError(f"storm: heartbeat client: {' '.join(a)}")
        reg_errors, reg_ms, last_ack = int(a[2]), int(a[3]), int(a[4])
        if reg_errors:
            errors.append(f"storm: {reg_errors} kess.Register calls failed")
        if last_ack == 0:
            raise BenchError("storm: no registration was acknowledged")
        beater = threading.Thread(target=beat_loop, daemon=True)
        beater.start()
        deadline = time.monotonic() + args.storm_timeout_s
        while time.monotonic() < deadline and len(complete) < len(path_info):
            time.sleep(0.01)
        bytes_done = wan.bytes_between(demo.main_dc, dc)
        writes1 = demo.metric(leader, "kess_routes_writes_total")
        collect1 = (demo.metric(leader, "kess_routes_collect_seconds_sum"),
                    demo.metric(leader, "kess_routes_collect_seconds_count"))
        # The background with the instances registered and heartbeating.
        i0, it0 = wan.bytes_between(demo.main_dc, dc), now_ns()
        time.sleep(args.after_storm_idle_s)
        i1, it1 = wan.bytes_between(demo.main_dc, dc), now_ns()
        idle_after = (i1 - i0) / max((it1 - it0) / 1e9, 1e-9)
        beat_stop.set()
        beater.join(args.beat_period_ms / 1000 + 70)
    finally:
        poller.stop()
        beat_stop.set()
        client.close()
    cycles = collect1[1] - collect0[1]
    collect_ms = (1000 * (collect1[0] - collect0[0]) / cycles
                  if cycles > 0 else float("nan"))
    if beats["errors"] or beats["unknown"]:
        errors.append(f"storm: heartbeats: {beats['errors']} failed calls, "
                      f"{beats['unknown']} unknown instances")
    per_dc = {}
    for d, h in subscribers.items():
        paths = [p for p, (dd, _) in path_info.items() if dd == d]
        done = [complete[p] for p in paths if p in complete]
        if len(done) < len(paths):
            errors.append(f"storm: {h['host']}: {len(paths) - len(done)} of "
                          f"{len(paths)} route tables incomplete after "
                          f"{args.storm_timeout_s} s")
            per_dc[d] = None
            continue
        t = max(x[0] for x in done)
        written = max(x[1] for x in done)
        # Versions of each table this host got during the storm (after the
        # first registration): how often the main leader wrote it.
        versions, gaps = [], []
        for path in paths:
            ws = [w for _, tt, w in poller.events[path]
                  if tt >= reg_start and (path not in complete or
                                           tt <= complete[path][0])]
            versions.append(len(ws))
            gaps += [b - a for a, b in zip(ws, ws[1:])]
        per_dc[d] = {"host": h["host"], "polled": (t - last_ack) / 1e6,
                     "written": written - (last_ack / 1e6 + off_ms),
                     "versions": versions, "gaps": gaps}
    return {"dc": dc, "services": len(services), "per_dc": per_dc,
            "reg_ms": reg_ms, "reg_errors": reg_errors,
            "first_to_last_ack": (last_ack - reg_start) / 1e6,
            "requests": -(-args.storm_instances // args.storm_batch),
            "route_writes": writes1 - writes0, "bytes": bytes_done - bytes0,
            "idle_after": idle_after,
            "collect_ms": collect_ms, "cycles": cycles,
            "beats": beats, "mandator": client.mandator}


# ---- tables -----------------------------------------------------------------

def source_version():
    """The commit the binaries were built from, and whether the work tree
    had uncommitted changes to tracked files then."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10
                              ).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True,
                               text=True, timeout=10).stdout.split("\n")
    except (OSError, subprocess.TimeoutExpired):
        return "(commit unknown)"
    code = sorted({line[3:].split("/")[0] for line in dirty
                   if line.strip() and not line.endswith((".md", ".py", ".sh"))})
    if not head:
        return "(commit unknown)"
    if not code:
        return f"at {head}"
    return (f"at {head} plus the work tree's uncommitted changes in "
            f"{', '.join(code)}/")


def load():
    return open("/proc/loadavg").read().split()[0]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base_dir", required=True, help="the demo's --base-dir")
    p.add_argument("--netns_prefix", required=True,
                   help="the demo's namespace prefix (kd<pid % 100000>)")
    p.add_argument("--heartbeat_bench", required=True,
                   help="bazel-bin/bench/heartbeat_bench (client role)")
    p.add_argument("--log_dir", default="/tmp")
    p.add_argument("--rtts_ms", default="0,10,50,150")
    p.add_argument("--link_dc", default="dc2",
                   help="the slave DC whose link to dc1 the sweep changes")
    p.add_argument("--writes", type=int, default=30)
    p.add_argument("--spacing_ms", type=float, default=150)
    p.add_argument("--jitter_ms", type=float, default=50)
    p.add_argument("--value_bytes", type=int, default=64)
    p.add_argument("--poll_ms", type=float, default=0.5)
    p.add_argument("--settle_ms", type=float, default=500)
    p.add_argument("--arrival_timeout_s", type=float, default=30)
    p.add_argument("--min_idle_s", type=float, default=5,
                   help="shortest idle window (else as long as the writes)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--storm_dc", default="dc2")
    p.add_argument("--storm_instances", type=int, default=2000)
    p.add_argument("--storm_services", type=int, default=20)
    p.add_argument("--storm_spread_ms", type=int, default=1000)
    p.add_argument("--storm_batch", type=int, default=20,
                   help="instances per kess.Register")
    p.add_argument("--storm_connections", type=int, default=2)
    p.add_argument("--storm_first", type=int, default=0,
                   help="first instance number (inst-<n>); a second storm "
                   "in the same demo needs new ones")
    p.add_argument("--storm_poll_ms", type=float, default=1)
    p.add_argument("--storm_timeout_s", type=float, default=60)
    p.add_argument("--beat_period_ms", type=int, default=1000)
    p.add_argument("--after_storm_idle_s", type=float, default=5,
                   help="then the dc1<->storm DC background is measured "
                   "with the instances registered")
    p.add_argument("--beat_batch", type=int, default=100)
    p.add_argument("--subscriber_host", type=int, default=2,
                   help="host number (1..3) of each DC that subscribes")
    p.add_argument("--zkcli", default="/usr/share/zookeeper/bin/zkCli.sh")
    p.add_argument("--skip_storm", action="store_true")
    args = p.parse_args()
    args.rtts_ms = [float(x) if "." in x else int(x)
                    for x in args.rtts_ms.split(",") if x]
    if args.writes < 1 or args.writes > 10000 or not args.rtts_ms:
        p.error("--writes is 1..10000, --rtts_ms not empty")
    if args.storm_instances % args.beat_batch:
        p.error("--beat_batch must divide --storm_instances")
    if os.geteuid() != 0:
        p.error("needs root (ip netns exec; the demo's --wan needs it too)")

    def on_term(signum, frame):
        raise SystemExit(143)
    signal.signal(signal.SIGTERM, on_term)

    demo = Demo(args.base_dir)
    wan = Wan(demo.wan_control)
    errors = []
    load_start = load()
    pairs0 = wan.pairs()
    slave = args.link_dc
    other = [d for d in demo.dcs if d not in (demo.main_dc, slave)]
    rows, writer = sweep(demo, wan, args, errors)
    record = zk_record_bytes(demo, args)  # as the sweep's writes left it
    if writer.aborted:
        errors.append(f"{len(writer.aborted)} config PUTs answered 409 "
                      f"ABORTED (made again): {writer.aborted[0]}")
    cache_file = config_paths(demo)[slave][0]
    cache_bytes = os.path.getsize(cache_file)
    storm_result = None
    if not args.skip_storm:
        storm_result = storm(demo, wan, args, errors)
    load_end = load()

    # -- setup
    mflags = demo.mandators[demo.main_dc][0]["flags"]
    cycle = int(mflags.get("route_cycle_ms", 1000))
    window = int(mflags.get("route_window_ms", 1000))
    out = []
    out.append("| setup | |\n|---|---|")
    out.append(f"| machine | {os.cpu_count()} cores, Linux {platform.release()}; "
               f"every daemon, the emulator and this driver share them; load "
               f"average (1 min) {load_start} at the start, {load_end} at the end |")
    out.append(f"| cluster | kess {source_version()}; `scripts/demo.sh --wan "
               f"--zk-servers 1`, binaries `-c opt`: DCs "
               f"{', '.join(demo.dcs)} ({demo.main_dc} main), each "
               f"in its own network namespace with 1 ZooKeeper server, "
               f"{len(demo.mandators[demo.main_dc])} mandators, 2 distributors, "
               f"{len(demo.hosts[demo.main_dc])} agents (hosts), the demo's "
               f"sample provider and consumer; partition mode on in the slave DCs |")
    links = []
    for (a, b), prof in sorted(pairs0.items()):
        if a < b:
            links.append(f"{a}-{b} {describe_profile(prof, pairs0.get((b, a), prof))}")
    out.append(f"| WAN | `tests/wan` wan_emulator as a transparent router between "
               f"the namespaces (userspace: no netem); the demo's links: "
               f"{'; '.join(links)}. Only {demo.main_dc}-{slave} changes in "
               f"the sweep (delay = RTT/2 each way, `POST /pair` both ways), "
               f"then goes back |")
    out.append(f"| writes | per RTT {args.writes} x `PUT /api/v1/configs/"
               f"{CONFIG_NS}/{CONFIG_KEY}` (value {args.value_bytes} B, Bearer "
               f"token) to the {demo.main_dc} leader, one at a time, open loop: "
               f"each starts {args.spacing_ms:g} ms + U(0, {args.jitter_ms:g}) ms "
               f"after the previous one started; before them: the new profile, "
               f"{args.settle_ms:g} ms + 2 RTT to settle, one unmeasured "
               f"warm-up write, the idle window (as long as the writes are "
               f"planned to take, at least {args.min_idle_s:g} s) |")
    out.append(f"| latency | HTTP answer -> the revision in the cache file "
               f"(`configs/{CONFIG_NS}/{CONFIG_KEY}.json`) of every host of the "
               f"DC, i.e. the slowest of its {len(demo.hosts[slave])}; the files "
               f"are stat()ed every {args.poll_ms:g} ms (measured: a sweep of "
               f"all {sum(len(h) for h in demo.hosts.values())} every "
               f"{statistics.mean(r['sweep_ms'] for r in rows):.2f} ms on "
               f"average) and a new one is read for its `revision` only; "
               f"in a row of fewer than 100 writes p99 is the slowest |")
    out.append("| floor | one-way (the replicator's watch fires) + one round "
               "trip (it reads the change) = 1.5 x RTT of the DC's link to "
               f"{demo.main_dc} |")
    if storm_result:
        s = storm_result
        out.append(f"| storm | {args.storm_instances:,} instances of "
                   f"{s['services']} services in {s['dc']}: `heartbeat_bench "
                   f"--role=client` in the `{args.netns_prefix}-{s['dc']}` "
                   f"namespace, {args.storm_connections} connections to mandator "
                   f"{s['dc']}-{s['mandator']['id']} (one mandator per instance; "
                   f"the SDK uses 2), {args.storm_batch} instances per "
                   f"`kess.Register`, paced over {args.storm_spread_ms} ms, then "
                   f"`kess.Heartbeat` of every instance every "
                   f"{args.beat_period_ms} ms until the end; host "
                   f"{args.subscriber_host} of every DC subscribed to the "
                   f"{s['services']} route tables beforehand (agent `POST "
                   f"/v1/subscriptions`); route files stat()ed every "
                   f"{args.storm_poll_ms:g} ms, a new one searched for the instance "
                   f"ids; main leader "
                   f"--route_cycle_ms={cycle} --route_window_ms={window} |")
    out.append("")

    # -- 1
    out.append("### Single change, RTT sweep (config write in "
               f"{demo.main_dc} -> agents' files)\n")
    out.append("| DC | its link to " + demo.main_dc + " | writes | floor ms | "
               "p50 ms | p99 ms | max ms | p50 / floor |")
    out.append("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        lat = r["lat"][slave]
        floor = 1.5 * r["rtt"]
        ratio = (f"{statistics.median(lat) / floor:.2f}"
                 if lat and floor > 0 else "—")
        out.append(f"| {slave} | RTT {r['rtt']:g} ms | {len(lat)} | "
                   f"{floor:g} | {fmt_ms(percentile(lat, 50))} | "
                   f"{fmt_ms(percentile(lat, 99))} | "
                   f"{fmt_ms(max(lat) if lat else float('nan'))} | {ratio} |")
    for d in other:
        lat = [x for r in rows for x in r["lat"][d]]
        prof = pairs0.get((demo.main_dc, d))
        rtt = (parse_delay_ms(prof) + parse_delay_ms(pairs0.get((d, demo.main_dc))))
        floor = 1.5 * rtt
        ratio = f"{statistics.median(lat) / floor:.2f}" if lat and floor else "—"
        out.append(f"| {d} | {describe_profile(prof, pairs0.get((d, demo.main_dc)))}"
                   f", unchanged (all {len(rows)} steps) | {len(lat)} | {floor:g} | "
                   f"{fmt_ms(percentile(lat, 50))} | {fmt_ms(percentile(lat, 99))} | "
                   f"{fmt_ms(max(lat) if lat else float('nan'))} | {ratio} |")
    lat = [x for r in rows for x in r["lat"][demo.main_dc]]
    out.append(f"| {demo.main_dc} | same DC, no WAN (all {len(rows)} steps) | "
               f"{len(lat)} | — | {fmt_ms(percentile(lat, 50))} | "
               f"{fmt_ms(percentile(lat, 99))} | "
               f"{fmt_ms(max(lat) if lat else float('nan'))} | — |")
    out.append("")

    # -- 2
    rec = (f"{record} B (ZooKeeper record `/kess/configs/{CONFIG_NS}/"
           f"{CONFIG_KEY}`, dataLength by zkCli.sh stat)" if record else
           "not read (zkCli.sh failed)")
    out.append(f"### Bytes on the {demo.main_dc}<->{slave} links per change\n")
    out.append(f"Virtual links {demo.main_dc}->{slave} and {slave}->"
               f"{demo.main_dc}, both directions of each (TCP payload the "
               f"emulator delivered; headers and ACKs not counted). One config "
               f"record: {rec}; the agent's cache file of it: {cache_bytes} B.\n")
    out.append("| RTT ms | writes | phase s | raw bytes | idle rate B/s (window s) "
               "| idle bytes over the phase | net bytes | net per change |")
    out.append("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        net = r["raw"] - r["idle"]
        out.append(f"| {r['rtt']:g} | {r['writes']} | {r['duration']:.2f} | "
                   f"{r['raw']:,} | {r['idle_rate']:,.0f} ({r['idle_window']:.1f}) "
                   f"| {r['idle']:,.0f} | {net:,.0f} | "
                   f"{net / max(r['writes'], 1):,.0f} |")
    out.append("")

    # -- 3
    if storm_result:
        s = storm_result
        pairs_now = wan.pairs()

        def rtt_to(d):
            if d == demo.main_dc:
                return 0.0
            return (parse_delay_ms(pairs_now.get((demo.main_dc, d)))
                    + parse_delay_ms(pairs_now.get((d, demo.main_dc))))
        # The leader merges once every peer answered: the slowest DC's
        # round trip, whichever DC the instances are in.
        collect = max(rtt_to(d) for d in demo.dcs)
        before = (f" (before the storm: {rows[-1]['idle_rate']:,.0f} B/s)"
                  if s["dc"] == slave and rows else "")
        out.append(f"### Registration storm in {s['dc']} -> route files in "
                   f"every DC\n")
        out.append(f"{args.storm_instances:,} instances, {s['requests']} "
                   f"`kess.Register` calls: last acknowledged "
                   f"{s['first_to_last_ack']:.0f} ms after the first was sent, "
                   f"{s['reg_errors']} errors. Heartbeats meanwhile: "
                   f"{s['beats']['refs']:,} instance heartbeats in "
                   f"{s['beats']['calls']:,} calls, {s['beats']['errors']} errors, "
                   f"{s['beats']['unknown']} unknown. Route-table writes by the "
                   f"main leader (kess_routes_writes_total): {s['route_writes']:.0f} "
                   f"({s['services']} services); its collection of every "
                   f"mandator's partial table (kess_routes_collect_seconds) took "
                   f"{fmt_ms(s['collect_ms'])} ms on average over the "
                   f"{s['cycles']:.0f} cycles of the phase. Bytes on the "
                   f"{demo.main_dc}<->"
                   f"{s['dc']} links from the first registration until every "
                   f"host had every instance: {s['bytes']:,}; afterwards, with "
                   f"the instances registered and heartbeating, the background "
                   f"on those links is {s['idle_after']:,.0f} B/s{before}: the main "
                   f"leader collects every mandator's whole partial table every "
                   f"cycle.\n")
        out.append("| DC (host) | its link to " + demo.main_dc + " | floor ms: "
                   "collect (slowest DC's RTT) + replicate (1.5 RTT) | bound ms: "
                   "+ cycle + window | "
                   "last ack -> every instance in its route files, ms (polled) | "
                   "the same from the files' written_ms | versions of a "
                   "table until complete | between a table's versions, ms "
                   "(min / median / max) |")
        out.append("|---|---|---:|---:|---:|---:|---|---|")
        for d in demo.dcs:
            r = s["per_dc"].get(d)
            floor = collect + 1.5 * rtt_to(d)
            bound = cycle + window + floor
            link = ("same DC" if d == demo.main_dc else
                    describe_profile(pairs_now.get((demo.main_dc, d)),
                                     pairs_now.get((d, demo.main_dc))))
            if r is None:
                out.append(f"| {d} | {link} | {floor:g} | {bound:g} | "
                           "not complete | — | — | — |")
            else:
                v, g = r["versions"], sorted(r["gaps"])
                vtext = (f"{min(v)}" if min(v) == max(v) else
                         f"{min(v)} to {max(v)}")
                gtext = (f"{g[0]} / {statistics.median(g):.0f} / {g[-1]}"
                         if g else "—")
                out.append(f"| {d} ({r['host']}) | {link} | {floor:g} | "
                           f"{bound:g} | {r['polled']:.0f} | "
                           f"{r['written']:.0f} | {vtext} | {gtext} |")
        out.append("")
    if errors:
        out.append("Errors: " + "; ".join(errors[:20]) + "\n")
    print("\n".join(out).rstrip())
    return 2 if errors else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        log(f"wan_e2e_bench: {e}")
        sys.exit(1)
