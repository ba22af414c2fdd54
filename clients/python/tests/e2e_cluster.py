#!/usr/bin/env python3
"""A manual end-to-end check of kess_example.py against a real one-DC kess
cluster (ZooKeeper, a mandator, a distributor, an agent) started by the
cluster launcher; not part of the pytest suite (the cross-language
end-to-end test lives in tests/clients/). From the repository root:

    bazel build //tests/cluster:kess_cluster //agent:agent \
        //mandator:mandator //distributor:distributor
    /usr/bin/python3 clients/python/tests/e2e_cluster.py [BASE_DIR]

provider registers through the agent (its HTTP and TTL checks pass), pick
subscribes the service and picks it, call reaches it, watch sees two
config writes through the agent's blocking watch, and the provider
deregisters on SIGTERM; then over the agent's unix socket, a Registration
(tied to the caller's uid) with TTL heartbeats and a Discovery whose
subscription goes with close(). Exits 0 when every step did; stops exactly the
processes it started (the launcher stops the cluster's).
"""
import json, os, shutil, signal, socket, subprocess, sys, tempfile, time
import urllib.error, urllib.request
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))
import kess  # noqa: E402
OWN_BASE = len(sys.argv) <= 1
BASE = sys.argv[1] if not OWN_BASE else tempfile.mkdtemp(prefix="kess-py-e2e-")
SOCK = os.path.join(BASE, "agent.sock")
EX = ROOT + "/clients/python/kess_example.py"
PY = "/usr/bin/python3"
env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
cl = subprocess.Popen([ROOT + "/bazel-bin/tests/cluster/kess_cluster", "--dcs=1",
                       "--zk_servers=1", "--mandators=1", "--distributors=1",
                       "--agents=1", "--admin=false", "--agent_test_intervals",
                       "--base_dir=" + BASE,
                       "--agent_flags=--api_socket=" + SOCK],
                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
procs = []
try:
    desc = json.loads(cl.stdout.readline())
    if "error" in desc:
        print("cluster:", desc); sys.exit(1)
    dc = desc["dcs"][0]
    agent = "http://" + dc["agents"][0]["http"]
    cache = dc["agents"][0]["cache_dir"]
    mand = dc["mandators"][0]["http"]
    print("agent", agent, "cache", cache, "mandator", mand, flush=True)
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
    prov = subprocess.Popen([PY, EX, "provider", "--agent", agent, "--service", "pye2e",
                             "--id", "py-e2e-1", "--port", str(port)],
                            stdout=subprocess.PIPE, text=True, env=env)
    procs.append(prov)
    line = prov.stdout.readline().strip()
    print("provider:", line, flush=True)
    assert line == "ready"
    t = time.time()
    r = subprocess.run([PY, EX, "pick", "--cache_dir", cache, "--service", "pye2e",
                        "--local_dc", dc["name"], "--keys", "alice,bob", "--wait_s", "60",
                        "--agent", agent], capture_output=True, text=True, env=env)
    print("pick rc", r.returncode, "after %.1fs" % (time.time() - t), r.stdout.strip(), r.stderr[-300:], flush=True)
    assert r.returncode == 0 and [json.loads(x)["instance"] for x in
                                  r.stdout.splitlines()] == ["py-e2e-1"] * 2
    r = subprocess.run([PY, EX, "call", "--cache_dir", cache, "--service", "pye2e",
                        "--local_dc", dc["name"], "--count", "3", "--wait_s", "30"],
                       capture_output=True, text=True, env=env)
    print("call rc", r.returncode, r.stdout.strip(), r.stderr[-300:], flush=True)
    assert r.returncode == 0 and [json.loads(x) for x in r.stdout.splitlines()] \
        == [{"instance": "py-e2e-1", "body": "python py-e2e-1\n"}] * 3
    # The agent's view of the instance (checks).
    inst = json.loads(urllib.request.urlopen(
        agent + "/v1/services/pye2e/instances/py-e2e-1", timeout=5).read())
    print("agent instance:", inst["check_status"],
          [(c["kind"], c["state"]) for c in inst["checks"]], flush=True)
    assert sorted(c["kind"] for c in inst["checks"]) == ["http", "ttl"]
    w = subprocess.Popen([PY, EX, "watch", "--agent", agent, "--namespace", "e2e",
                          "--key", "motd", "--timeout_s", "15"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    procs.append(w)
    time.sleep(2)
    for v in ("v1", "v2"):
        req = urllib.request.Request("http://%s/api/v1/configs/e2e/motd" % mand,
                                     data=json.dumps({"value": v}).encode(), method="PUT",
                                     headers={"Content-Type": "application/json"})
        print("put", v, urllib.request.urlopen(req, timeout=10).read(), flush=True)
        time.sleep(2)
    out, err = w.communicate(timeout=30)
    print("watch rc", w.returncode, out.strip(), err[-500:], flush=True)
    got = [json.loads(x) for x in out.splitlines()]
    assert w.returncode == 0 and [g["value"] for g in got] == ["v1", "v2"]
    prov.send_signal(signal.SIGTERM)
    code = prov.wait(timeout=30)
    print("provider exit", code, flush=True)
    assert code == 0
    try:
        urllib.request.urlopen(
            agent + "/v1/services/pye2e/instances/py-e2e-1", timeout=5)
        raise AssertionError("still registered")
    except urllib.error.HTTPError as e:
        assert e.code == 404
    # Over the agent's unix socket: registration (tied to our uid), TTL
    # heartbeats, Discovery's subscription and blocking watch, and the
    # owner's subscriptions gone after close().
    unix = kess.AgentClient("unix:" + SOCK)
    reg = kess.Registration(unix, "pyunix", "pyunix-1", "127.0.0.1:1",
                            owner="e2e", ttl=3)
    assert reg.register()["owner_uid"] == os.getuid()
    d = kess.Discovery(kess.DiscoveryOptions(cache_dir=cache,
                                             agent="unix:" + SOCK))
    deadline = time.time() + 30
    while True:
        try:
            assert d.select("pyunix").id == "pyunix-1"
            break
        except kess.NoInstance:
            assert time.time() < deadline, "no pyunix instance"
            time.sleep(0.1)
    assert d.owner in unix.subscriptions()["owners"]
    assert reg.heartbeats >= 1 and reg.heartbeat_errors == 0
    d.close()
    assert d.owner not in unix.subscriptions()["owners"]
    assert reg.close()
    print("unix socket: ok", flush=True)
    print("e2e: ok", flush=True)
finally:
    for p in procs:
        if p.poll() is None:
            p.kill(); p.wait()
    cl.stdin.write("quit\n"); cl.stdin.flush()
    print("cluster:", cl.stdout.readline().strip())
    cl.wait(timeout=60)
    if OWN_BASE:
        shutil.rmtree(BASE, ignore_errors=True)
