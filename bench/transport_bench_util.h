// Helpers shared by the benchmarks (transport_bench, distributor_bench): a
// child process spoken to in lines over its stdin/stdout, /proc figures of
// a process, percentiles and table formatting.
//
// Thread-safety: none needed; the benchmark's driver is single-threaded.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <istream>
#include <string>
#include <vector>

#include "common/status.h"
#include "glog/logging.h"

namespace kess {
namespace bench {

// Monotonic nanoseconds; comparable between processes on one host.
int64_t NowNs();

// Polls `done` every 2 ms until it holds (true) or `timeout_ms` passes
// (false).
bool WaitUntil(const std::function<bool()>& done, int64_t timeout_ms);

// A copy of this binary (/proc/self/exe) started with `args`; its stdin and
// stdout are pipes to us, its stderr is ours.
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

struct ProcStatus {
  int64_t rss_kib = 0;       // VmRSS
  int64_t peak_rss_kib = 0;  // VmHWM
  int threads = 0;
};
ProcStatus ReadProcStatus();
// The same for another process (/proc/<pid>/status); zeros if it is gone.
ProcStatus ReadProcStatusOf(pid_t pid);
// User + system CPU seconds used so far by process `pid` (/proc/<pid>/stat).
double CpuSecondsOf(pid_t pid);

// The child side of ChildProcess: reads one command per line from stdin
// until "quit" or EOF and writes `handle(command, arguments)`'s answer as
// one line to stdout ("error unknown command" when it returns "").
void ServeLineCommands(
    const std::function<std::string(const std::string& command,
                                    std::istream& arguments)>& handle);

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

// Raises the soft RLIMIT_NOFILE to the hard limit.
void RaiseFdLimit();

}  // namespace bench
}  // namespace kess
