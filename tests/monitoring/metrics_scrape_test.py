#!/usr/bin/env python3
"""The dashboard and the alert rules against a real cluster and a real
Prometheus.

Starts a small LocalCluster through the cluster launcher
(//tests/cluster:kess_cluster: 2 DCs, ZooKeeper, mandators, a distributor
and agents each, on 127.0.0.1), writes one config through the main leader,
then starts Debian's prometheus (its own temp dir and free loopback port)
with a configuration of the shape of deploy/prometheus/prometheus.yml that
scrapes every daemon's /metrics with its `dc` label, and loads
kess-rules.yml. Through Prometheus's HTTP API it checks:

  - every target is up, and every series carries its `dc`;
  - every metric name used by deploy/grafana/kess.json and kess-rules.yml
    exists in what Prometheus scraped;
  - every dashboard query evaluates without error, and the propagation-lag
    panel reads 0 for both DCs once the write reached every agent;
  - every rule loaded and evaluated with health "ok", and none is pending
    or firing on this healthy cluster.

Only the two processes it started are signalled (the launcher stops its
own processes on "quit"); every wait is bounded.
"""
import json
import os
import re
import select
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

SRC = os.path.join(os.environ["TEST_SRCDIR"], "kess")
TMP = os.environ["TEST_TMPDIR"]
RULES = os.path.join(SRC, "deploy/prometheus/kess-rules.yml")
DASHBOARD = os.path.join(SRC, "deploy/grafana/kess.json")
LAUNCHER = os.path.join(SRC, "tests/cluster/kess_cluster")

failures = []


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def check(ok, what):
    log(("ok: " if ok else "FAIL: ") + what)
    if not ok:
        failures.append(what)
    return ok


# The cluster's CA bundle ("ca" of the launcher's description): its
# mandators and distributors serve HTTPS, verified against it.
CA = None


def http(method, address, path, body=None, timeout=10):
    req = urllib.request.Request(
        (address if "://" in address else "http://" + address) + path,
        data=body.encode() if body is not None else None,
        method=method,
        headers={"Content-Type": "application/json"} if body else {})
    try:
        context = ssl.create_default_context(cafile=CA) if CA else None
        with urllib.request.urlopen(req, timeout=timeout, context=context) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_for(condition, seconds, interval=0.5):
    deadline = time.monotonic() + seconds
    while True:
        result = condition()
        if result or time.monotonic() >= deadline:
            return result
        time.sleep(interval)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metric_names(text):
    return set(re.findall(r"\bkess_[a-z0-9_]+", text))


def rule_exprs(path):
    """The expr of every rule (the file is YAML; the exprs are either on one
    line or a block scalar indented below `expr: |`)."""
    exprs, lines, i = [], open(path).read().splitlines(), 0
    while i < len(lines):
        m = re.match(r"^(\s*)expr:\s*(.*)$", lines[i])
        if m:
            if m.group(2).strip() in ("|", ">"):
                indent, block = len(m.group(1)), []
                i += 1
                while i < len(lines) and (not lines[i].strip() or
                                          len(lines[i]) - len(lines[i].lstrip()) > indent):
                    block.append(lines[i].strip())
                    i += 1
                exprs.append(" ".join(block))
                continue
            exprs.append(m.group(2).strip())
        i += 1
    return exprs


class Launcher:
    def __init__(self, args):
        self.proc = subprocess.Popen(
            [LAUNCHER] + args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True)

    def line(self, seconds):
        ready, _, _ = select.select([self.proc.stdout], [], [], seconds)
        if not ready:
            raise RuntimeError("launcher: no answer in %d s" % seconds)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("launcher exited")
        return json.loads(line)

    def ask(self, command, seconds=120):
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.line(seconds)

    def quit(self):
        if self.proc.poll() is not None:
            return self.proc.returncode
        try:
            answer = self.ask("quit", 180)
            log(f"launcher: {answer}")
        except (RuntimeError, OSError, ValueError) as e:
            log(f"launcher quit: {e}; SIGTERM to its pid {self.proc.pid}")
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # its children die with it (PR_SET_PDEATHSIG)
            return self.proc.wait(30)


def main():
    used_by_dashboard = set()
    dashboard_exprs = []
    dashboard = json.load(open(DASHBOARD))
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            dashboard_exprs.append((panel["title"], target["expr"]))
            used_by_dashboard |= metric_names(target["expr"])
    used_by_rules = set()
    for expr in rule_exprs(RULES):
        used_by_rules |= metric_names(expr)
    check(len(used_by_dashboard) > 20 and len(used_by_rules) > 8,
          f"dashboard uses {len(used_by_dashboard)} metrics, rules "
          f"{len(used_by_rules)}")

    launcher = Launcher([
        "--dcs=2", "--zk_servers=1", "--mandators=2", "--distributors=1",
        "--agents=2", "--admin=false", "--subscribe=ops/scrape",
        "--base_dir=" + os.path.join(TMP, "cluster"),
        "--log_file=" + os.path.join(TMP, "cluster.log")])
    prometheus = None
    try:
        cluster = launcher.line(300)
        if "error" in cluster:
            check(False, f"cluster started: {cluster['error']}")
            return
        global CA
        CA = cluster.get("ca")
        targets = {"kess-mandator": {}, "kess-distributor": {}, "kess-agent": {}}
        for dc in cluster["dcs"]:
            for kind, job in (("mandators", "kess-mandator"),
                              ("distributors", "kess-distributor"),
                              ("agents", "kess-agent")):
                targets[job].setdefault(dc["name"], []).extend(
                    p["http"] for p in dc[kind])
        log(f"cluster up: {targets}")

        leader = launcher.ask("leader dc1")
        status, body = http("PUT", leader["http"], "/api/v1/configs/ops/scrape",
                            json.dumps({"value": "scraped"}))
        check(status == 200, f"config written through the main leader ({status} {body})")

        # Prometheus, its configuration generated here.
        pdir = os.path.join(TMP, "prometheus")
        os.makedirs(os.path.join(pdir, "data"), exist_ok=True)
        with open(RULES) as src, open(os.path.join(pdir, "kess-rules.yml"), "w") as dst:
            dst.write(src.read())
        scrape = []
        for job, by_dc in targets.items():
            # https://host:port (mandators, distributors with TLS): scheme
            # https, verified against the cluster's CA, as in
            # deploy/prometheus/prometheus.yml.
            https = any(a.startswith("https://") for addrs in by_dc.values()
                        for a in addrs)
            entry = {
                "job_name": job,
                "static_configs": [{"labels": {"dc": dc},
                                    "targets": [a.split("://")[-1] for a in addrs]}
                                   for dc, addrs in sorted(by_dc.items())]}
            if https:
                entry["scheme"] = "https"
                entry["tls_config"] = {"ca_file": CA}
            scrape.append(entry)
        config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                  "rule_files": ["kess-rules.yml"], "scrape_configs": scrape}
        with open(os.path.join(pdir, "prometheus.yml"), "w") as f:
            json.dump(config, f, indent=1)  # JSON is YAML
        port = free_port()
        address = f"127.0.0.1:{port}"
        prom_log = open(os.path.join(pdir, "prometheus.log"), "w")
        prometheus = subprocess.Popen(
            ["prometheus", "--config.file=" + os.path.join(pdir, "prometheus.yml"),
             "--storage.tsdb.path=" + os.path.join(pdir, "data"),
             "--web.listen-address=" + address, "--log.level=warn"],
            stdout=prom_log, stderr=subprocess.STDOUT, cwd=pdir)
        log(f"prometheus pid {prometheus.pid} on {address}")

        def api(path, params=None):
            query = "?" + urllib.parse.urlencode(params) if params else ""
            try:
                status, body = http("GET", address, "/api/v1/" + path + query)
            except OSError:
                return None
            return json.loads(body) if status == 200 else {"status": "error", "body": body}

        ready = wait_for(lambda: prometheus.poll() is None and
                         http_ok(address, "/-/ready"), 60)
        if not check(bool(ready), "prometheus ready"):
            return

        def all_up():
            t = api("targets")
            if not t:
                return False
            active = t["data"]["activeTargets"]
            return len(active) == sum(len(a) for j in targets.values()
                                      for a in j.values()) and \
                all(a["health"] == "up" for a in active)
        check(bool(wait_for(all_up, 60)), "every target up")

        needed = used_by_dashboard | used_by_rules

        def missing():
            names = api("label/__name__/values")
            have = set(names["data"]) if names else set()
            return needed - have
        # The slave leader's replication gauges appear once its replicator
        # has run a round; everything else at the first scrape.
        wait_for(lambda: not missing(), 90, interval=1)
        left = missing()
        check(not left, "every metric used by the dashboard and the rules exists"
              + (f"; missing: {sorted(left)}" if left else ""))

        for job in targets:
            r = api("query", {"query": f'count by (dc) ({{job="{job}"}})'})
            dcs = sorted(s["metric"].get("dc", "") for s in r["data"]["result"]) if r else []
            check(dcs == ["dc1", "dc2"], f"{job} series carry their dc: {dcs}")

        for title, expr in dashboard_exprs:
            r = api("query", {"query": expr.replace("$dc", ".*")})
            check(r is not None and r.get("status") == "success",
                  f"dashboard query of '{title}' evaluates: {expr}"
                  + ("" if r and r.get("status") == "success" else f" -> {r}"))

        lag_expr = [e for t, e in dashboard_exprs
                    if t.startswith("Propagation lag") and "kess_agent_revision" in e][0]

        def converged():
            r = api("query", {"query": lag_expr.replace("$dc", ".*")})
            if not r or r.get("status") != "success":
                return None
            values = {s["metric"]["dc"]: float(s["value"][1]) for s in r["data"]["result"]}
            return values if values == {"dc1": 0.0, "dc2": 0.0} else None
        r = api("query", {"query": "max(kess_mandator_revision)"})
        main_revision = float(r["data"]["result"][0]["value"][1]) if r and r["data"]["result"] else 0
        check(main_revision >= 1, f"the main DC's revision counts the write: {main_revision}")
        got = wait_for(converged, 60, interval=1)
        check(bool(got), f"propagation lag per DC reads 0 once every agent holds the write: {got}")

        def rules_evaluated():
            r = api("rules")
            if not r:
                return None
            rules = [rule for g in r["data"]["groups"] for rule in g["rules"]]
            if rules and all(rule.get("lastEvaluation", "").startswith("20") and
                             rule["health"] != "unknown" for rule in rules):
                return rules
            return None
        rules = wait_for(rules_evaluated, 30) or []
        alerts_in_file = len(re.findall(r"^\s*- alert:", open(RULES).read(), re.M))
        check(len(rules) == alerts_in_file,
              f"{len(rules)} of {alerts_in_file} rules loaded and evaluated")
        bad = [(r["name"], r["health"], r.get("lastError")) for r in rules
               if r["health"] != "ok"]
        check(not bad, f"every rule evaluates with health ok: {bad}")
        def active_alerts(rules):
            return [(r["name"], a["state"], a["labels"]) for r in rules
                    for a in r.get("alerts", [])]
        active = active_alerts(rules)
        firing = [a for a in active if a[1] == "firing"]
        check(not firing, f"no alert firing on a healthy cluster: {firing}")
        if active:
            # A blip on a loaded machine (a leader's ZooKeeper session
            # renewed late) may make a rule pending for a moment; its `for`
            # is there for that. On a healthy cluster it must clear before
            # it could fire, and nothing may fire meanwhile.
            log(f"pending at first look: {active}")
            def quiet():
                r = api("rules")
                if not r:
                    return None
                now = active_alerts([rule for g in r["data"]["groups"]
                                     for rule in g["rules"]])
                firing.extend(a for a in now if a[1] == "firing")
                return True if not now else None
            wait_for(quiet, 50, interval=1)
            check(not firing, f"no alert fired while waiting: {firing}")
            r = api("rules")
            active = active_alerts([rule for g in r["data"]["groups"]
                                    for rule in g["rules"]]) if r else ["no answer"]
        check(not active, f"no alert pending or firing on a healthy cluster: {active}")
    finally:
        if prometheus is not None and prometheus.poll() is None:
            prometheus.send_signal(signal.SIGTERM)
            try:
                prometheus.wait(30)
            except subprocess.TimeoutExpired:
                prometheus.kill()
                prometheus.wait(30)
        status = launcher.quit()
        check(status == 0, f"launcher stopped its cluster (exit status {status})")


def http_ok(address, path):
    try:
        return http("GET", address, path)[0] == 200
    except OSError:
        return False


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # report, then fail
        failures.append(repr(e))
        log(f"FAIL: {e!r}")
    log(f"{len(failures)} failures")
    sys.exit(1 if failures else 0)
