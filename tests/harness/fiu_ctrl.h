// Fault injection in a running process with libfiu (Debian fiu-utils): a
// daemon started under `fiu-run -x -f <fifo> <binary> ...` is told by
// FiuCtrl to make a libc call fail, and to stop failing:
//
//   DaemonProcess agent("agent", log);
//   agent.Start({"/usr/bin/fiu-run", "-x", "-f", fifo, Runfile("agent/agent"),
//                ...});
//   ASSERT_TRUE(FiuCtrl(fifo, agent.pid(),
//                       "enable name=posix/io/sync/fsync,failinfo=5").ok());
//   ...
//   ASSERT_TRUE(FiuCtrl(fifo, agent.pid(), "disable name=posix/io/sync/fsync")
//                   .ok());
//
// Thread-safe.
#pragma once

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace kess {
namespace testing {

// Runs `fiu-ctrl -f <fifo> -c <command> <pid>` (RunCommand): OK when it
// exits 0, Internal with its exit code otherwise, or RunCommand's error.
absl::Status FiuCtrl(const std::string& fifo, pid_t pid,
                     const std::string& command,
                     absl::Duration timeout = absl::Seconds(30));

}  // namespace testing
}  // namespace kess
