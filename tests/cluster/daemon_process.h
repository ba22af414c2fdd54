// The process handling shared by MandatorProcess and DistributorProcess:
// fork + exec of a daemon that dies with the test, waiting for its
// /healthz, kill -9 and SIGTERM of exactly that pid.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/status.h"

namespace kess {
namespace testing {

// Starts `args` (args[0] is the binary) as a child in its own process
// group that gets SIGKILL when the test process dies (PR_SET_PDEATHSIG);
// stdout and stderr are appended to `log_path`. Returns its pid.
absl::StatusOr<pid_t> SpawnDaemon(std::vector<std::string> args,
                                  const std::string& log_path);

// Polls GET <http_address>/healthz until it answers 200 (OK), the process
// exits (*pid becomes -1; Unavailable), or `timeout` passes
// (DeadlineExceeded). `name` ("mandator m1") and `log_path` go into the
// messages.
absl::Status WaitHealthy(pid_t* pid, const std::string& http_address,
                         absl::Duration timeout, const std::string& name,
                         const std::string& log_path);

// SIGKILL and reap; *pid becomes -1. Nothing if *pid <= 0.
void KillDaemon(pid_t* pid);
// SIGTERM, wait up to `grace`, then SIGKILL; *pid becomes -1.
void StopDaemon(pid_t* pid, absl::Duration grace, const std::string& name);

}  // namespace testing
}  // namespace kess
