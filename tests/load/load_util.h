// What the load generators here (and the benchmarks that drive them) share:
// one monotonic clock comparable between processes, the fd limit, the child
// side of the line-command protocol (bench/transport_bench_util.h's
// ChildProcess is the driver side), and /proc figures of a process.
//
// Thread-safety: the functions are thread-safe; ServeLineCommands owns
// stdin and stdout while it runs.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <istream>
#include <string>

namespace kess {
namespace load {

// CLOCK_MONOTONIC in nanoseconds: comparable between processes on one host
// (a push stamped by one process, received by another).
int64_t NowNs();

// Raises the soft RLIMIT_NOFILE to the hard limit (thousands of sockets).
void RaiseFdLimit();

// The child side of a process driven by line commands: reads one command
// per line from stdin until "quit" or EOF and writes `handle(command,
// arguments)`'s answer as one line to stdout ("error unknown command" when
// it returns "").
void ServeLineCommands(
    const std::function<std::string(const std::string& command,
                                    std::istream& arguments)>& handle);

struct ProcStatus {
  int64_t rss_kib = 0;       // VmRSS
  int64_t peak_rss_kib = 0;  // VmHWM
  int threads = 0;
};
// /proc/self/status.
ProcStatus ReadProcStatus();
// The same for another process (/proc/<pid>/status); zeros if it is gone.
ProcStatus ReadProcStatusOf(pid_t pid);
// User + system CPU seconds used so far by process `pid` (/proc/<pid>/stat);
// 0 if it is gone.
double CpuSecondsOf(pid_t pid);

}  // namespace load
}  // namespace kess
