#include "tests/load/load_util.h"

#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <sstream>

namespace kess {
namespace load {

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

void RaiseFdLimit() {
  rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 &&
      limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

void ServeLineCommands(
    const std::function<std::string(const std::string& command,
                                    std::istream& arguments)>& handle) {
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string command;
    in >> command;
    if (command == "quit") break;
    std::string answer = handle(command, in);
    if (answer.empty()) answer = "error unknown command";
    std::cout << answer << std::endl;
  }
}

ProcStatus ReadProcStatus() { return ReadProcStatusOf(0); }

ProcStatus ReadProcStatusOf(pid_t pid) {
  ProcStatus status;
  std::ifstream in(pid == 0 ? std::string("/proc/self/status")
                            : "/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      in >> status.rss_kib;
    } else if (key == "VmHWM:") {
      in >> status.peak_rss_kib;
    } else if (key == "Threads:") {
      in >> status.threads;
    }
    in.ignore(1 << 20, '\n');
  }
  return status;
}

double CpuSecondsOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  // Fields after the parenthesised command name; utime and stime are the
  // 14th and 15th fields of the whole line.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i >= 14) ticks += std::stod(field);
  }
  return ticks / sysconf(_SC_CLK_TCK);
}

}  // namespace load
}  // namespace kess
