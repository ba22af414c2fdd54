// The one way tests run a command to completion and read what it printed:
// fork + exec (PATH search: "find", "fiu-ctrl" or a runfile path), stdout
// captured, stderr to the test's own stderr (the test log), killed with the
// test process (PR_SET_PDEATHSIG) and with SIGKILL of exactly its pid once
// `timeout` passes. A daemon that outlives the call is a DaemonProcess
// (daemon_process.h).
//
//   KESS_ASSIGN_OR_RETURN(CommandResult r,
//                         RunCommand({Runfile("kessctl/kessctl"), "get", k},
//                                    absl::Seconds(60)));
//   if (r.exit_code != 0) ...
//
// Thread-safe.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace kess {
namespace testing {

struct CommandResult {
  // The wait status as waitpid(2) gives it.
  int wait_status = 0;
  // Its exit status if it exited, -1 if a signal ended it (127: exec failed).
  int exit_code = -1;
  // Everything it wrote to stdout.
  std::string out;
};

// Runs `argv` (argv[0] is looked up in PATH unless it holds a '/') until
// it exits. InvalidArgument for an empty `argv`; the error of pipe or fork;
// DeadlineExceeded (with what it printed so far) if it has not exited and
// closed its stdout after `timeout`: then it is killed and reaped.
absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         absl::Duration timeout);

}  // namespace testing
}  // namespace kess
