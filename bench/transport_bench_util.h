// Helpers shared by the benchmarks (transport_bench, distributor_bench, ...):
// a child process spoken to in lines over its stdin/stdout (its side is
// tests/load/load_util.h's ServeLineCommands), percentiles, table
// formatting and the scratch directory's removal. The clock, the fd limit and /proc figures are in
// tests/load/load_util.h, waits in common/testing/wait_for.h.
//
// Thread-safety: none needed; the benchmark's driver is single-threaded.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "glog/logging.h"

namespace kess {
namespace bench {

// A copy of this binary (/proc/self/exe) started with `args`; its stdin and
// stdout are pipes to us, its stderr is ours. Not tests/harness's
// DaemonProcess (a daemon logging to a file) nor RunCommand (a command run
// to completion): a worker driven line by line over its pipes while it
// runs, which neither of those offers.
class ChildProcess {
 public:
  static absl::StatusOr<ChildProcess> Spawn(
      const std::vector<std::string>& args);
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&&) = delete;
  // Closes the pipes, then waits for the child (SIGKILL after 10 s).
  ~ChildProcess();

  absl::Status WriteLine(const std::string& line);
  // One line without the '\n', or DEADLINE_EXCEEDED / UNAVAILABLE (EOF).
  absl::StatusOr<std::string> ReadLine(int64_t timeout_ms);

 private:
  ChildProcess(pid_t pid, int to_child, int from_child)
      : pid_(pid), to_child_(to_child), from_child_(from_child) {}
  pid_t pid_ = -1;
  int to_child_ = -1;
  int from_child_ = -1;
  std::string buffered_;
};

// Sends `command` to every child and reads one answer line from each
// (waiting up to `timeout_ms` per child), split into words.
absl::StatusOr<std::vector<std::vector<std::string>>> AskAll(
    std::vector<ChildProcess>& children, const std::string& command,
    int64_t timeout_ms);

// 10000 -> "10,000".
std::string WithCommas(int64_t v);

// In a function returning int: logs and returns 1 unless `expr` is OK.
#define BENCH_CHECK_OK(expr)                        \
  do {                                              \
    absl::Status bench_status_ = (expr);            \
    if (!bench_status_.ok()) {                      \
      LOG(ERROR) << #expr << ": " << bench_status_; \
      return 1;                                     \
    }                                               \
  } while (0)

// Nearest-rank percentile of an ascending vector; 0 if empty.
double Percentile(const std::vector<uint32_t>& sorted, double p);

// The first rows of a report's setup table: the header, then
// "| machine | <N> cores, <kernel> <release>; <machine_note> |" (what
// shares the cores, how noisy the figures are).
std::string SetupTableHead(const std::string& machine_note);

// Removes `dir` and everything below it (a benchmark's scratch directory);
// a warning in the log if it cannot.
void RemoveScratchDir(const std::string& dir);

}  // namespace bench
}  // namespace kess
