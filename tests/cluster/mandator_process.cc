#include "tests/cluster/mandator_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "mandator/http_call.h"
#include "tests/harness/zk_ensemble.h"

namespace kess {
namespace testing {
namespace {

std::string TempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

}  // namespace

std::string MandatorBinary() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  if (srcdir != nullptr) return absl::StrCat(srcdir, "/kess/mandator/mandator");
  return "mandator/mandator";
}

absl::StatusOr<std::string> WriteAuthFile(const std::string& dir,
                                          const zk::KessAuth& auth) {
  const std::string path = absl::StrCat(dir, "/zk.auth");
  {
    std::ofstream out(path, std::ios::trunc);
    out << "# kess ZooKeeper users (test)\n"
        << auth.mandator.user << ":" << auth.mandator.password << "\n"
        << auth.reader.user << ":" << auth.reader.password << "\n";
    if (!out) return absl::InternalError("cannot write " + path);
  }
  chmod(path.c_str(), 0600);
  return path;
}

absl::StatusOr<std::unique_ptr<MandatorProcess>> MandatorProcess::Start(
    MandatorProcessOptions options) {
  if (options.binary.empty()) options.binary = MandatorBinary();
  if (options.log_dir.empty()) options.log_dir = TempDir();
  const bool pick_port = options.http_port == 0;
  const bool pick_transport_port = options.port == 0;
  std::unique_ptr<MandatorProcess> process(
      new MandatorProcess(std::move(options)));
  absl::Status last;
  // A picked port can be taken by someone else before the daemon binds it.
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (pick_port) {
      KESS_ASSIGN_OR_RETURN(process->options_.http_port, PickFreePort());
    }
    if (pick_transport_port) {
      KESS_ASSIGN_OR_RETURN(process->options_.port, PickFreePort());
    }
    last = process->Launch();
    if (last.ok()) last = process->WaitReady();
    if (last.ok()) return process;
    process->Kill();
    if (!pick_port && !pick_transport_port) break;
  }
  return last;
}

MandatorProcess::~MandatorProcess() { Stop(); }

std::string MandatorProcess::http_address() const {
  return absl::StrCat("127.0.0.1:", options_.http_port);
}

std::string MandatorProcess::address() const {
  return absl::StrCat("127.0.0.1:", options_.port);
}

absl::Status MandatorProcess::Launch() {
  const MandatorProcessOptions& o = options_;
  log_path_ = absl::StrCat(o.log_dir, "/mandator-", o.id, ".log");
  std::vector<std::string> args = {
      o.binary,
      "--id=" + o.id,
      "--dc=" + o.datacenter,
      o.is_main ? "--main" : "--nomain",
      "--zk=" + o.zk,
      "--http_host=127.0.0.1",
      absl::StrCat("--http_port=", o.http_port),
      absl::StrCat("--port=", o.port),
      "--zk_root=" + o.zk_root,
      "--zk_auth_file=" + o.auth_file,
      absl::StrCat("--zk_session_timeout_ms=", o.zk_session_timeout_ms),
  };
  if (!o.main_zk.empty()) args.push_back("--main_zk=" + o.main_zk);
  if (!o.main_datacenter.empty())
    args.push_back("--main_dc=" + o.main_datacenter);
  args.insert(args.end(), o.extra_flags.begin(), o.extra_flags.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return ErrnoToStatus(errno, "fork");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    setpgid(0, 0);
    const int fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      close(fd);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  pid_ = pid;
  return absl::OkStatus();
}

absl::Status MandatorProcess::WaitReady() {
  const absl::Time deadline = absl::Now() + options_.ready_timeout;
  absl::Status last = absl::UnavailableError("not asked yet");
  while (absl::Now() < deadline) {
    int wstatus = 0;
    if (waitpid(pid_, &wstatus, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::UnavailableError(absl::StrCat(
          "mandator ", options_.id, " exited during start-up (status ", wstatus,
          "); see ", log_path_));
    }
    absl::StatusOr<mandator::HttpReply> reply = mandator::HttpCall(
        http_address(), "GET", "/healthz", "", absl::Seconds(2));
    if (reply.ok() && reply->status == 200) return absl::OkStatus();
    last = reply.ok() ? absl::UnavailableError(reply->body) : reply.status();
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("mandator ", options_.id, " not ready within ",
                   absl::FormatDuration(options_.ready_timeout), ": ",
                   last.message(), "; see ", log_path_));
}

void MandatorProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void MandatorProcess::Stop(absl::Duration grace) {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  const absl::Time deadline = absl::Now() + grace;
  while (absl::Now() < deadline) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  LOG(WARNING) << "mandator " << options_.id << " ignored SIGTERM for " << grace
               << "; killing it";
  Kill();
}

absl::Status MandatorProcess::Restart() {
  Stop();
  KESS_RETURN_IF_ERROR(Launch());
  return WaitReady();
}

}  // namespace testing
}  // namespace kess
