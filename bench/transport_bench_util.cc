#include "bench/transport_bench_util.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>

#include "tests/load/load_util.h"

namespace kess {
namespace bench {

using load::NowNs;

absl::StatusOr<ChildProcess> ChildProcess::Spawn(
    const std::vector<std::string>& args) {
  int to_child[2];
  int from_child[2];
  if (pipe2(to_child, O_CLOEXEC) != 0) return ErrnoToStatus(errno, "pipe");
  if (pipe2(from_child, O_CLOEXEC) != 0) {
    close(to_child[0]);
    close(to_child[1]);
    return ErrnoToStatus(errno, "pipe");
  }
  std::vector<char*> argv;
  static char exe[] = "/proc/self/exe";
  argv.push_back(exe);
  for (const std::string& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) return ErrnoToStatus(errno, "fork");
  if (pid == 0) {
    // Only async-signal-safe calls until exec.
    dup2(to_child[0], STDIN_FILENO);
    dup2(from_child[1], STDOUT_FILENO);
    execv(exe, argv.data());
    _exit(127);
  }
  close(to_child[0]);
  close(from_child[1]);
  return ChildProcess(pid, to_child[1], from_child[0]);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(other.pid_),
      to_child_(other.to_child_),
      from_child_(other.from_child_),
      buffered_(std::move(other.buffered_)) {
  other.pid_ = -1;
  other.to_child_ = other.from_child_ = -1;
}

ChildProcess::~ChildProcess() {
  if (to_child_ >= 0) close(to_child_);
  if (from_child_ >= 0) close(from_child_);
  if (pid_ <= 0) return;
  for (int i = 0; i < 1000; ++i) {  // 10 s
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
    usleep(10000);
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
}

absl::Status ChildProcess::WriteLine(const std::string& line) {
  std::string data = line + "\n";
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(to_child_, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return ErrnoToStatus(errno, "write to child");
    done += n;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ChildProcess::ReadLine(int64_t timeout_ms) {
  const int64_t deadline = NowNs() + timeout_ms * 1000000;
  while (true) {
    size_t eol = buffered_.find('\n');
    if (eol != std::string::npos) {
      std::string line = buffered_.substr(0, eol);
      buffered_.erase(0, eol + 1);
      return line;
    }
    const int64_t left_ms = (deadline - NowNs()) / 1000000;
    if (left_ms <= 0) return absl::DeadlineExceededError("child is silent");
    pollfd p{from_child_, POLLIN, 0};
    int rc = poll(&p, 1, static_cast<int>(left_ms));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) continue;
    char buffer[4096];
    ssize_t n = read(from_child_, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return absl::UnavailableError("child closed its stdout");
    buffered_.append(buffer, n);
  }
}

absl::StatusOr<std::vector<std::vector<std::string>>> AskAll(
    std::vector<ChildProcess>& children, const std::string& command,
    int64_t timeout_ms) {
  for (auto& child : children) KESS_RETURN_IF_ERROR(child.WriteLine(command));
  std::vector<std::vector<std::string>> answers;
  for (auto& child : children) {
    KESS_ASSIGN_OR_RETURN(std::string line, child.ReadLine(timeout_ms));
    std::istringstream in(line);
    std::vector<std::string> words;
    for (std::string w; in >> w;) words.push_back(w);
    if (words.empty()) return absl::InternalError("empty answer from a child");
    answers.push_back(std::move(words));
  }
  return answers;
}

std::string WithCommas(int64_t v) {
  std::string s = std::to_string(v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(i, ",");
  return s;
}

double Percentile(const std::vector<uint32_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * sorted.size()));
  if (rank < 1) rank = 1;
  if (rank > sorted.size()) rank = sorted.size();
  return sorted[rank - 1];
}

std::string SetupTableHead(const std::string& machine_note) {
  utsname uts{};
  uname(&uts);
  std::ostringstream t;
  t << "| setup | |\n|---|---|\n";
  t << "| machine | " << std::thread::hardware_concurrency() << " cores, "
    << uts.sysname << " " << uts.release << "; " << machine_note << " |\n";
  return t.str();
}

void RemoveScratchDir(const std::string& dir) {
  std::error_code error;
  std::filesystem::remove_all(dir, error);
  if (error)
    LOG(WARNING) << "could not remove " << dir << ": " << error.message();
}

}  // namespace bench
}  // namespace kess
