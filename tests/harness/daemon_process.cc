#include "tests/harness/daemon_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/http_client.h"
#include "common/testing/wait_for.h"
#include "glog/logging.h"

namespace kess {
namespace testing {

DaemonProcess::DaemonProcess(std::string name, std::string log_path)
    : name_(std::move(name)), log_path_(std::move(log_path)) {}

DaemonProcess::~DaemonProcess() { Stop(); }

absl::Status DaemonProcess::Start(std::vector<std::string> args) {
  if (running() && !Exited()) {
    return absl::FailedPreconditionError(
        absl::StrCat(name_, " is running (pid ", pid_, ")"));
  }
  if (args.empty()) return absl::InvalidArgumentError("no binary to start");
  // Everything the child needs is prepared before fork: after it, only
  // async-signal-safe calls.
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int log_fd =
      open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return ErrnoToStatus(errno, "open " + log_path_);
  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) {
    const int err = errno;
    close(log_fd);
    return ErrnoToStatus(err, "open /dev/null");
  }
  sigset_t no_signals;
  sigemptyset(&no_signals);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    const int err = errno;
    close(log_fd);
    close(null_fd);
    return ErrnoToStatus(err, "fork for " + name_);
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);   // never outlive the test
    if (getppid() != parent) _exit(1);  // the test died before prctl
    setpgid(0, 0);  // a terminal's Ctrl-C goes to the test, not to us
    // A launcher that blocks SIGTERM for its sigwait must not pass that on.
    sigprocmask(SIG_SETMASK, &no_signals, nullptr);
    dup2(null_fd, STDIN_FILENO);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  close(log_fd);
  close(null_fd);
  pid_ = pid;
  paused_ = false;
  wait_status_ = 0;
  return absl::OkStatus();
}

bool DaemonProcess::Reap(bool block) {
  if (pid_ <= 0) return true;
  int status = 0;
  pid_t got;
  do {
    got = waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (got < 0 && errno == EINTR);
  if (got == 0) return false;
  // Reaped, or not our child any more (ECHILD): either way it is gone.
  wait_status_ = got == pid_ ? status : 0;
  pid_ = -1;
  paused_ = false;
  return true;
}

bool DaemonProcess::Exited() { return Reap(/*block=*/false); }

int DaemonProcess::Kill() {
  if (pid_ <= 0) return 0;
  kill(pid_, SIGKILL);
  Reap(/*block=*/true);
  return wait_status_;
}

void DaemonProcess::Terminate() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  // A stopped process keeps the SIGTERM pending until it runs again.
  if (paused_) kill(pid_, SIGCONT);
  paused_ = false;
}

int DaemonProcess::Stop(absl::Duration grace) {
  if (pid_ <= 0) return 0;
  Terminate();
  if (WaitFor([this] { return Exited(); }, grace)) return wait_status_;
  LOG(WARNING) << name_ << " ignored SIGTERM for " << grace
               << "; killing it (see " << log_path_ << ")";
  return Kill();
}

absl::Status DaemonProcess::Pause() {
  if (pid_ <= 0) return absl::FailedPreconditionError(name_ + " not running");
  if (kill(pid_, SIGSTOP) != 0) return ErrnoToStatus(errno, "SIGSTOP " + name_);
  paused_ = true;
  return absl::OkStatus();
}

absl::Status DaemonProcess::Resume() {
  if (pid_ <= 0) return absl::FailedPreconditionError(name_ + " not running");
  if (kill(pid_, SIGCONT) != 0) return ErrnoToStatus(errno, "SIGCONT " + name_);
  paused_ = false;
  return absl::OkStatus();
}

absl::Status DaemonProcess::WaitHealthy(const std::string& http_address,
                                        absl::Duration timeout) {
  absl::Status last = absl::UnavailableError("not asked yet");
  bool exited = false;
  const bool done = WaitFor(
      [&] {
        if (Exited()) {
          exited = true;
          return true;
        }
        absl::StatusOr<HttpReply> reply =
            HttpCall(http_address, "GET", "/healthz", "", absl::Seconds(2));
        if (reply.ok() && reply->status == 200) return true;
        last = reply.ok() ? absl::UnavailableError(absl::StrCat(
                                "HTTP ", reply->status, ": ", reply->body))
                          : reply.status();
        return false;
      },
      timeout);
  if (exited) {
    return absl::UnavailableError(
        absl::StrCat(name_, " exited during start-up (wait status ",
                     wait_status_, "); see ", log_path_));
  }
  if (done) return absl::OkStatus();
  return absl::DeadlineExceededError(
      absl::StrCat(name_, " not healthy within ", absl::FormatDuration(timeout),
                   ": ", last.message(), "; see ", log_path_));
}

absl::StatusOr<int> DaemonProcess::WaitForPortFile(const std::string& path,
                                                   absl::Duration timeout) {
  int port = 0;
  bool exited = false;
  const bool done = WaitFor(
      [&] {
        std::ifstream in(path);
        std::stringstream text;
        text << in.rdbuf();
        if (absl::SimpleAtoi(absl::StripAsciiWhitespace(text.str()), &port) &&
            port > 0) {
          return true;
        }
        exited = Exited();
        return exited;
      },
      timeout);
  if (exited) {
    return absl::UnavailableError(
        absl::StrCat(name_, " exited before it wrote ", path, " (wait status ",
                     wait_status_, "); see ", log_path_));
  }
  if (done) return port;
  return absl::DeadlineExceededError(
      absl::StrCat(name_, " wrote no port to ", path, " within ",
                   absl::FormatDuration(timeout), "; see ", log_path_));
}

std::string Runfile(const std::string& relative) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  if (srcdir == nullptr) return relative;
  return absl::StrCat(srcdir, "/kess/", relative);
}

std::string TestTmpDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

}  // namespace testing
}  // namespace kess
