// The smoke scenario of a running LocalCluster: the checks behind
// `scripts/demo.sh --smoke` (the launcher's --smoke), each printed as one
// PASS or FAIL line.
//
//   SmokeOptions o;
//   o.config_ns = "demo"; o.config_key = "greeting";
//   SmokeResult r = RunSmokeScenario(**cluster, o);   // stops the cluster
//   printf("smoke: %d passed, %d failed\n", r.passed, r.failed);
//
// The cluster it expects (what the demo starts): at least one sample
// provider and one sample consumer per DC, every agent subscribed to the
// config ns/key, at least two distributors and two mandators in dc1. The
// checks, in order:
//   0. the admin UI (when the cluster has the admin secret): GET /ui/ is
//      200, the API without credentials 401, POST /ui/login with the
//      generated password 200 with a session cookie, the API with that
//      cookie 200 (otherwise a SKIP line, not counted);
//   1. a config write in dc1 (PUT through dc1's mandators, the admin
//      secret as Bearer token): its value and revision in every agent's
//      cache (checksum verified) within 30 s;
//   2. one more provider on dc1's host 2: healthy in the route table of
//      every DC's consumer host within 60 s;
//   3. the consumers: no failed call, and dc1's calls the new instance
//      within 20 s;
//   4. local first: since the scenario started, each consumer called its own
//      DC's instances and no other DC's;
//   with a Python provider (LocalClusterOptions::python_providers; else a
//   SKIP line, not counted), every agent subscribed to the service's route
//   table first:
//   4a. it is healthy with check_status "passing" in every agent's route
//       table within 60 s, and its DC's consumer calls it within 20 s;
//   4b. SIGSTOP (its port still accepts connections): "suspect" with
//       check_status "critical" in every agent's route table within its
//       check interval + timeout + 8 s; then (3 s later) its DC's consumer
//       makes no call to it and no failed call for 5 s, while its other
//       calls succeed;
//   4c. SIGCONT: healthy and "passing" again everywhere within 30 s, and
//       called again within 20 s;
//   5. kill -9 of the distributor dc1's consumer host uses: every dc1 agent
//      connected to another one within 45 s;
//   6. the next config write in every cache within 30 s;
//   7. the consumers' traffic since that kill: calls succeeded, none failed;
//   8. kill -9 of dc1's leader mandator: another dc1 mandator leads within
//      60 s;
//   9. a config write after it in every cache within 30 s, and the
//      consumers still have no failed call;
//   with cut_dc (WAN mode, the cluster's WAN emulator between the DCs):
//  10. cut_dc cut off from every other DC: its leader enters partition
//      mode ("overlay") within 60 s, a provider started there is healthy in
//      its consumer host's table within 60 s and not in dc1's;
//  11. healed: that instance reaches dc1's consumer host's table and cut_dc
//      replicates again, each within 120 s;
//  12. a config write after the heal in every cache within 60 s;
//  and last:
//  13. StopAll(): every process exits with status 0 (ZooKeeper's JVMs and
//      the processes killed on purpose aside).
//
// It uses only LocalCluster's public API (Describe, Cached, Routes, Leader,
// Kill, Pause, Resume, AddProvider, StopAll), the HTTP APIs (mandators,
// agents, the WAN emulator's control API) through HttpCall, and the
// consumers' stats files.
// Every wait is bounded; a check that fails does not stop the ones after
// it. Runs on the thread that drives the cluster.
#pragma once

#include <functional>
#include <string>

#include "absl/time/time.h"
#include "tests/cluster/local_cluster.h"

namespace kess {
namespace testing {

struct SmokeOptions {
  // The config the scenario writes; every agent must subscribe to it.
  std::string config_ns;
  std::string config_key;
  // WAN mode: the DC the scenario cuts off from every other DC and heals,
  // through the control API of the cluster's WAN emulator; partition mode
  // must be on in that DC (LocalClusterOptions::partition_after). "": no
  // WAN checks.
  std::string cut_dc;
  // Where the lines go, one call per line, no newline. Default: stdout,
  // flushed after each line.
  std::function<void(const std::string&)> print;
  // Asked during every wait and between checks; true stops the scenario
  // (the check under way is not counted). May be empty.
  std::function<bool()> cancelled;
};

struct SmokeResult {
  int passed = 0;
  int failed = 0;
  // Stopped by SmokeOptions::cancelled; the cluster may still be running.
  bool cancelled = false;
};

// Runs the scenario above on a started cluster and stops it (its last
// check). Prints "HH:MM:SS PASS  <check>" or "HH:MM:SS FAIL  <check>:
// <why>" per check, with indented detail lines before it.
SmokeResult RunSmokeScenario(LocalCluster& cluster,
                             const SmokeOptions& options);

}  // namespace testing
}  // namespace kess
