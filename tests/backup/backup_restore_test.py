#!/usr/bin/env python3
"""Backup and restore end to end: save, destroy every ZooKeeper ensemble,
restore, every agent converges and no cache file ever goes backwards.

A 2-DC cluster from the cluster launcher (//tests/cluster:kess_cluster:
ZooKeeper, 2 mandators, a distributor and 2 agents per DC, 127.0.0.1), every
agent subscribed to backup/a, backup/b and backup/c.

 1. Writes several versions of a, b, c and a gray release of c to one host;
    waits until every agent holds them.
 2. `kessctl snapshot save` (the main leader's consistent read).
 3. Writes again after the snapshot (a and b change): the agents now hold
    revisions newer than the snapshot, the hard case of a restore.
 4. Notes the highest revision any daemon reports on /metrics
    (kess_mandator_revision, kess_distributor_revision, kess_agent_revision:
    what Prometheus keeps when every ensemble is gone) as the floor.
 5. Destroys every ensemble of every DC: each ZooKeeper server stopped, its
    data deleted, started empty; then restarts the mandators (they create
    the empty tree). Distributors and agents keep running on what they had.
 6. `kessctl snapshot restore --min_revision=<floor>`, then restarts the
    distributors (a new ensemble refuses a client that saw the old one's
    transaction ids), which load the restored tree; the agents are never
    restarted.
 7. Waits until every agent of both DCs holds the snapshot's values (the gray
    host the gray value of c) at revisions above the floor, and both DCs'
    leaders report the same revision.

A thread reads every agent's cache files every 20 ms from step 1 to the end:
no file may ever show a lower revision than it showed before, and every file
read must parse. The launcher stops its own processes ("quit"); nothing else
is signalled.
"""
import json
import os
import re
import select
import shutil
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

SRC = os.path.join(os.environ["TEST_SRCDIR"], "kess")
TMP = os.environ["TEST_TMPDIR"]
LAUNCHER = os.path.join(SRC, "tests/cluster/kess_cluster")
KESSCTL = os.path.join(SRC, "kessctl/kessctl")
NS = "backup"
KEYS = ["a", "b", "c"]

failures = []


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def check(ok, what):
    log(("ok: " if ok else "FAIL: ") + what)
    if not ok:
        failures.append(what)
    return ok


def wait_for(condition, seconds, interval=0.5):
    deadline = time.monotonic() + seconds
    while True:
        result = condition()
        if result or time.monotonic() >= deadline:
            return result
        time.sleep(interval)


# The cluster's CA bundle ("ca" of the launcher's description): its
# mandators and distributors serve HTTPS, verified against it.
CA = None


def url_of(address, path):
    return (address if "://" in address else "http://" + address) + path


def ssl_context():
    return ssl.create_default_context(cafile=CA) if CA else None


def http_get(address, path, timeout=5):
    try:
        with urllib.request.urlopen(url_of(address, path), timeout=timeout,
                                    context=ssl_context()) as r:
            return r.read().decode()
    except (OSError, urllib.error.URLError):
        return None


class Launcher:
    def __init__(self, args):
        self.proc = subprocess.Popen([LAUNCHER] + args, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def line(self, seconds):
        ready, _, _ = select.select([self.proc.stdout], [], [], seconds)
        if not ready:
            raise RuntimeError(f"launcher: no answer in {seconds} s")
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("launcher exited")
        return json.loads(line)

    def ask(self, command, seconds=180):
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        answer = self.line(seconds)
        if isinstance(answer, dict) and "error" in answer:
            raise RuntimeError(f"launcher {command}: {answer['error']}")
        return answer

    def quit(self):
        if self.proc.poll() is not None:
            return self.proc.returncode
        try:
            log(f"launcher: {self.ask('quit', 180)}")
        except (RuntimeError, OSError, ValueError) as e:
            log(f"launcher quit: {e}; closing its stdin (EOF quits)")
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        try:
            return self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # its children die with it (PR_SET_PDEATHSIG)
            return self.proc.wait(30)


class CacheReader(threading.Thread):
    """Reads every agent's cache files of backup/* every 20 ms; notes any
    revision lower than one seen before in the same file, and any file that
    does not parse."""

    def __init__(self, files):
        super().__init__(daemon=True)
        self.files = files  # path -> label
        self.last = {}
        self.backwards = []
        self.torn = []
        self.reads = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            for path, label in self.files.items():
                try:
                    with open(path, "rb") as f:
                        data = f.read()
                except FileNotFoundError:
                    continue
                try:
                    revision = json.loads(data)["revision"]
                except (ValueError, KeyError):
                    self.torn.append(label)
                    continue
                self.reads += 1
                before = self.last.get(path, 0)
                if revision < before:
                    self.backwards.append((label, before, revision))
                self.last[path] = max(before, revision)
            self.stop.wait(0.02)


def kessctl(mandators, *args):
    cmd = [KESSCTL, "--mandators=" + ",".join(mandators), "--author=backup-test"]
    if CA:
        cmd.append("--ca=" + CA)
    cmd += list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    log(f"kessctl {' '.join(args)} -> {r.returncode}: {r.stdout.strip()} {r.stderr.strip()}")
    return r


def max_revision(addresses):
    """The highest kess_*_revision any of these daemons reports."""
    best = 0
    for address in addresses:
        text = http_get(address, "/metrics") or ""
        for m in re.finditer(
                r"^kess_(?:mandator|distributor|agent)_revision(?:\{[^}]*\})? ([0-9.e+]+)$",
                text, re.M):
            best = max(best, int(float(m.group(1))))
    return best


def main():
    launcher = Launcher([
        "--dcs=2", "--zk_servers=1", "--mandators=2", "--distributors=1",
        "--agents=2", "--admin=false",
        "--subscribe=" + ",".join(f"{NS}/{k}" for k in KEYS),
        "--base_dir=" + os.path.join(TMP, "cluster"),
        "--log_file=" + os.path.join(TMP, "cluster.log")])
    reader = None
    try:
        cluster = launcher.line(300)
        if "error" in cluster:
            check(False, f"cluster started: {cluster['error']}")
            return
        global CA
        CA = cluster.get("ca")
        dcs = cluster["dcs"]
        main_mandators = [m["http"] for m in dcs[0]["mandators"]]
        every_http = [p["http"] for dc in dcs for kind in ("mandators", "distributors", "agents")
                      for p in dc[kind]]
        agents = [(dc["name"], a) for dc in dcs for a in dc["agents"]]
        gray_host = dcs[0]["agents"][0]["host"]
        files = {os.path.join(a["cache_dir"], "configs", NS, f"{k}.json"): f"{a['host']} {NS}/{k}"
                 for _, a in agents for k in KEYS}
        reader = CacheReader(files)
        reader.start()

        # 1. Data, and every agent holding it.
        for version in range(1, 4):
            for k in KEYS:
                r = kessctl(main_mandators, "config", "put", NS, k, f"{k}-v{version}")
                check(r.returncode == 0, f"put {k} v{version}")
        r = kessctl(main_mandators, "--hosts=" + gray_host, "config", "gray", NS, "c", "c-gray")
        check(r.returncode == 0, f"gray release of c to {gray_host}")

        def expected_at(host, key, values):
            return values["c-gray"] if key == "c" and host == gray_host else values[key]

        def agents_hold(values, above=0):
            for k in KEYS:
                cached = launcher.ask(f"cached {NS} {k}")
                for dc_name, a in agents:
                    entry = cached.get(f"{dc_name}/{a['host']}")
                    want = expected_at(a["host"], k, values)
                    if not entry or entry["value"] != want or entry["revision"] <= above:
                        return None
            return True

        before = {"a": "a-v3", "b": "b-v3", "c": "c-v3", "c-gray": "c-gray"}
        check(bool(wait_for(lambda: agents_hold(before), 60)),
              "every agent holds the data before the snapshot")

        # 2. The snapshot.
        snapshot = os.path.join(TMP, "kess-snapshot.json")
        r = kessctl(main_mandators, "snapshot", "save", snapshot)
        if not check(r.returncode == 0, "kessctl snapshot save"):
            return
        doc = json.load(open(snapshot))
        snapshot_revision = doc["revision"]
        check(len(doc["configs"]) == 3 and len(doc["gray"]) == 1,
              f"the snapshot holds 3 configs and 1 gray release at revision {snapshot_revision}")

        # 3. Writes after the snapshot: lost with the ensembles, but the
        # agents hold them at revisions above the snapshot's.
        for k in ("a", "b"):
            r = kessctl(main_mandators, "config", "put", NS, k, f"{k}-after")
            check(r.returncode == 0, f"put {k} after the snapshot")
        after = dict(before, a="a-after", b="b-after")
        check(bool(wait_for(lambda: agents_hold(after), 60)),
              "every agent holds the writes made after the snapshot")

        # 4. The floor: what Prometheus would have last seen.
        floor = max_revision(every_http)
        check(floor > snapshot_revision,
              f"the floor {floor} (highest revision on /metrics) is above the snapshot's {snapshot_revision}")

        # 5. Every ensemble destroyed and started empty; the mandators again.
        for dc in dcs:
            for z in dc["zookeeper"]:
                launcher.ask(f"stop {z['name']}")
                data = os.path.join(os.path.dirname(z["log"]), "data")
                for entry in os.listdir(data):
                    if entry == "myid":
                        continue
                    path = os.path.join(data, entry)
                    shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
                log(f"{z['name']}: data deleted ({data})")
                launcher.ask(f"restart {z['name']}")
        for dc in dcs:
            for m in dc["mandators"]:
                launcher.ask(f"restart {m['name']}")

        def leader_revision(dc_name):
            leader = launcher.ask(f"leader {dc_name}")
            status = http_get(leader["http"], "/api/v1/status")
            return json.loads(status).get("revision") if status else None
        check(wait_for(lambda: leader_revision(dcs[0]["name"]) == 0, 60),
              "the main DC's new ensemble holds an empty tree (revision 0)")

        # 6. Restore above the floor.
        r = kessctl(main_mandators, f"--min_revision={floor}", "snapshot", "restore", snapshot)
        if not check(r.returncode == 0, "kessctl snapshot restore"):
            return
        main_revision = leader_revision(dcs[0]["name"])
        check(main_revision is not None and main_revision > floor,
              f"the main DC's revision {main_revision} is above the floor {floor}")
        # The distributors kept serving what they had; a new ensemble refuses
        # a ZooKeeper client that saw the old one's transaction ids, so they
        # are restarted (one at a time) and load the restored tree.
        for dc in dcs:
            for d in dc["distributors"]:
                launcher.ask(f"restart {d['name']}")

        # 7. Every agent back at the snapshot's values, above the floor.
        restored = {"a": "a-v3", "b": "b-v3", "c": "c-v3", "c-gray": "c-gray"}
        got = wait_for(lambda: agents_hold(restored, above=floor), 180, interval=1)
        if not got:
            for k in KEYS:
                log(f"cached {k}: {launcher.ask(f'cached {NS} {k}')}")
            for dc in dcs:
                for d in dc["distributors"]:
                    log(f"{d['name']} status: {http_get(d['http'], '/api/v1/status')}")
                    try:
                        with open(d["log"]) as f:
                            log(f"{d['name']} log tail:\n" + "".join(f.readlines()[-40:]))
                    except OSError as e:
                        log(f"{d['name']} log: {e}")
        check(bool(got), "every agent of every DC holds the snapshot's values above the floor")
        check(bool(wait_for(lambda: leader_revision(dcs[1]["name"]) == leader_revision(dcs[0]["name"]), 60)),
              "the slave DC caught up with the main DC's revision")
        time.sleep(0.5)  # a last pass of the reader
    finally:
        if reader is not None:
            reader.stop.set()
            reader.join(5)
            check(reader.reads > 0, f"the cache reader read {reader.reads} files")
            check(not reader.backwards,
                  f"no cache file went backwards: {reader.backwards[:10]}")
            check(not reader.torn, f"no cache file was unreadable: {reader.torn[:10]}")
        status = launcher.quit()
        check(status == 0, f"launcher stopped its cluster (exit status {status})")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # report, then fail
        failures.append(repr(e))
        log(f"FAIL: {e!r}")
    log(f"{len(failures)} failures")
    sys.exit(1 if failures else 0)
