#include "tests/harness/run_command.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace kess {
namespace testing {

absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         absl::Duration timeout) {
  if (argv.empty()) return absl::InvalidArgumentError("no command");
  // Built before fork: the child only calls async-signal-safe functions.
  std::vector<std::string> storage = argv;
  std::vector<char*> args;
  for (std::string& a : storage) args.push_back(a.data());
  args.push_back(nullptr);
  const std::string command = absl::StrJoin(argv, " ");

  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    const int error = errno;
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(error)));
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);   // never outlive the test
    if (getppid() != parent) _exit(1);  // the test died before prctl
    dup2(pipe_fds[1], STDOUT_FILENO);   // dup2 clears O_CLOEXEC
    execvp(args[0], args.data());
    _exit(127);
  }
  close(pipe_fds[1]);

  // The monotonic clock; poll() counts whole milliseconds, rounded up.
  const auto deadline =
      std::chrono::steady_clock::now() +
      absl::ToChronoMilliseconds(absl::Ceil(timeout, absl::Milliseconds(1)));
  CommandResult result;
  bool eof = false;
  while (!eof) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{pipe_fds[0], POLLIN, 0};
    const int rc = poll(&p, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) break;
    char buffer[65536];
    const ssize_t n = read(pipe_fds[0], buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      eof = true;
    } else {
      result.out.append(buffer, static_cast<size_t>(n));
    }
  }
  close(pipe_fds[0]);
  // Its exit, within what is left of `timeout` (it may close stdout early).
  bool exited = false;
  while (eof && !exited) {
    const pid_t r = waitpid(pid, &result.wait_status, WNOHANG);
    if (r == pid) exited = true;
    if (r < 0 && errno != EINTR) exited = true;  // not ours to wait for
    if (exited || std::chrono::steady_clock::now() >= deadline) break;
    usleep(5000);
  }
  if (!exited) {
    kill(pid, SIGKILL);  // exactly the child started here
    while (waitpid(pid, &result.wait_status, 0) < 0 && errno == EINTR) {
    }
    return absl::DeadlineExceededError(absl::StrCat(
        "`", command, "` still running after ", absl::FormatDuration(timeout),
        "; killed; it printed: ", result.out.substr(0, 1000)));
  }
  result.exit_code =
      WIFEXITED(result.wait_status) ? WEXITSTATUS(result.wait_status) : -1;
  return result;
}

}  // namespace testing
}  // namespace kess
