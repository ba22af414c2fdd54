#include "tests/cluster/daemon_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "common/http_client.h"

namespace kess {
namespace testing {

absl::StatusOr<pid_t> SpawnDaemon(std::vector<std::string> args,
                                  const std::string& log_path) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return ErrnoToStatus(errno, "fork");
  if (pid == 0) {
    // Only async-signal-safe calls until exec.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    setpgid(0, 0);
    const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      close(fd);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

absl::Status WaitHealthy(pid_t* pid, const std::string& http_address,
                         absl::Duration timeout, const std::string& name,
                         const std::string& log_path) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::Status last = absl::UnavailableError("not asked yet");
  while (absl::Now() < deadline) {
    int wstatus = 0;
    if (waitpid(*pid, &wstatus, WNOHANG) == *pid) {
      *pid = -1;
      return absl::UnavailableError(
          absl::StrCat(name, " exited during start-up (status ", wstatus,
                       "); see ", log_path));
    }
    absl::StatusOr<HttpReply> reply = HttpCall(
        http_address, "GET", "/healthz", "", absl::Seconds(2));
    if (reply.ok() && reply->status == 200) return absl::OkStatus();
    last = reply.ok() ? absl::UnavailableError(reply->body) : reply.status();
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::DeadlineExceededError(
      absl::StrCat(name, " not ready within ", absl::FormatDuration(timeout),
                   ": ", last.message(), "; see ", log_path));
}

void KillDaemon(pid_t* pid) {
  if (*pid <= 0) return;
  kill(*pid, SIGKILL);
  waitpid(*pid, nullptr, 0);
  *pid = -1;
}

void StopDaemon(pid_t* pid, absl::Duration grace, const std::string& name) {
  if (*pid <= 0) return;
  kill(*pid, SIGTERM);
  const absl::Time deadline = absl::Now() + grace;
  while (absl::Now() < deadline) {
    if (waitpid(*pid, nullptr, WNOHANG) == *pid) {
      *pid = -1;
      return;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  LOG(WARNING) << name << " ignored SIGTERM for " << grace << "; killing it";
  KillDaemon(pid);
}

}  // namespace testing
}  // namespace kess
