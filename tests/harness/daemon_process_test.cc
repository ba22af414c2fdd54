#include "tests/harness/daemon_process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/http_server.h"
#include "common/metrics.h"
#include "common/testing/wait_for.h"
#include "gtest/gtest.h"

namespace kess {
namespace testing {
namespace {

constexpr absl::Duration kLong = absl::Seconds(30);  // "did not hang"

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string LogPath(const std::string& name) {
  return absl::StrCat(TestTmpDir(), "/", name, ".log");
}

TEST(DaemonProcessTest, LogsOutputAndStopsWithSigterm) {
  DaemonProcess d("sleeper", LogPath("sleeper"));
  EXPECT_FALSE(d.running());
  EXPECT_EQ(d.Stop(), 0);  // nothing to stop
  ASSERT_TRUE(
      d.Start({"/bin/sh", "-c", "echo out; echo err >&2; exec sleep 300"})
          .ok());
  EXPECT_TRUE(d.running());
  EXPECT_GT(d.pid(), 0);
  EXPECT_FALSE(d.Exited());
  EXPECT_EQ(d.Start({"/bin/true"}).code(),
            absl::StatusCode::kFailedPrecondition);
  // Both streams go to the log.
  EXPECT_TRUE(WaitFor(
      [&] {
        const std::string log = ReadAll(d.log_path());
        return log.find("out\n") != std::string::npos &&
               log.find("err\n") != std::string::npos;
      },
      kLong))
      << ReadAll(d.log_path());
  // Its own process group (set before the echos): a signal to ours does not
  // reach it.
  EXPECT_EQ(getpgid(d.pid()), d.pid());
  const int status = d.Stop();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << status;
  EXPECT_FALSE(d.running());
  EXPECT_EQ(d.pid(), -1);
}

TEST(DaemonProcessTest, SigkillAfterTheGraceWhenSigtermIsIgnored) {
  DaemonProcess d("stubborn", LogPath("stubborn"));
  const std::string ready = TestTmpDir() + "/stubborn.ready";
  std::remove(ready.c_str());
  ASSERT_TRUE(d.Start({"/bin/sh", "-c",
                       "trap '' TERM; echo 1 > " + ready +
                           "; while true; do sleep 0.05; done"})
                  .ok());
  ASSERT_TRUE(d.WaitForPortFile(ready, kLong).ok());  // the trap is set
  const absl::Time start = absl::Now();
  const int status = d.Stop(absl::Milliseconds(200));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(200));
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
}

TEST(DaemonProcessTest, KillRestartAndCleanExit) {
  DaemonProcess d("restarted", LogPath("restarted"));
  ASSERT_TRUE(d.Start({"/bin/sleep", "300"}).ok());
  const int status = d.Kill();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  EXPECT_EQ(d.Kill(), 0);  // idempotent
  ASSERT_TRUE(d.Start({"/bin/sh", "-c", "exit 0"}).ok());
  ASSERT_TRUE(WaitFor([&] { return d.Exited(); }, kLong));
  EXPECT_EQ(d.wait_status(), 0);
  ASSERT_TRUE(d.Start({"/nonexistent/binary"}).ok());
  ASSERT_TRUE(WaitFor([&] { return d.Exited(); }, kLong));
  EXPECT_TRUE(WIFEXITED(d.wait_status()) &&
              WEXITSTATUS(d.wait_status()) == 127);
}

// The state letter of /proc/<pid>/stat: 'T' stopped, 'S' sleeping, ...
char ProcState(pid_t pid) {
  const std::string stat = ReadAll(absl::StrCat("/proc/", pid, "/stat"));
  const size_t close = stat.rfind(')');
  return close == std::string::npos || close + 2 >= stat.size()
             ? '?'
             : stat[close + 2];
}

TEST(DaemonProcessTest, PauseResumeAndStopWhilePaused) {
  DaemonProcess d("paused", LogPath("paused"));
  EXPECT_EQ(d.Pause().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(d.Resume().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(d.Start({"/bin/sleep", "300"}).ok());
  ASSERT_TRUE(d.Pause().ok());
  EXPECT_TRUE(d.paused());
  EXPECT_TRUE(WaitFor([&] { return ProcState(d.pid()) == 'T'; }, kLong))
      << ProcState(d.pid());
  ASSERT_TRUE(d.Resume().ok());
  EXPECT_FALSE(d.paused());
  EXPECT_TRUE(WaitFor([&] { return ProcState(d.pid()) == 'S'; }, kLong))
      << ProcState(d.pid());

  // A paused daemon still gets its SIGTERM (it is resumed), not the SIGKILL
  // at the end of the grace period.
  ASSERT_TRUE(d.Pause().ok());
  ASSERT_TRUE(WaitFor([&] { return ProcState(d.pid()) == 'T'; }, kLong));
  const int status = d.Stop(kLong);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << status;
  EXPECT_FALSE(d.paused());

  // Terminate() only sends the SIGTERM; Stop() reaps.
  ASSERT_TRUE(d.Start({"/bin/sleep", "300"}).ok());
  ASSERT_TRUE(d.Pause().ok());
  d.Terminate();
  EXPECT_FALSE(d.paused());
  ASSERT_TRUE(WaitFor([&] { return d.Exited(); }, kLong));
  EXPECT_TRUE(WIFSIGNALED(d.wait_status()) &&
              WTERMSIG(d.wait_status()) == SIGTERM)
      << d.wait_status();
}

TEST(DaemonProcessTest, PathLookupNullStdinAndNoBlockedSignals) {
  // The test's stdin is a pipe and it blocks SIGTERM (as a launcher that
  // waits for it with sigwait does); the daemon gets neither.
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const int saved_stdin = dup(STDIN_FILENO);
  ASSERT_GE(saved_stdin, 0);
  ASSERT_GE(dup2(pipe_fds[0], STDIN_FILENO), 0);
  sigset_t term, old_mask;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &term, &old_mask), 0);

  DaemonProcess d("path", LogPath("path"));
  // "sh", not "/bin/sh": found in PATH.
  const absl::Status started =
      d.Start({"sh", "-c",
               "echo stdin=$(readlink /proc/self/fd/0); "
               "grep SigBlk /proc/self/status; echo ready; exec sleep 300"});

  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  dup2(saved_stdin, STDIN_FILENO);
  close(saved_stdin);
  close(pipe_fds[0]);
  close(pipe_fds[1]);
  ASSERT_TRUE(started.ok()) << started;

  ASSERT_TRUE(WaitFor(
      [&] {
        return ReadAll(d.log_path()).find("ready\n") != std::string::npos;
      },
      kLong))
      << ReadAll(d.log_path());
  const std::string log = ReadAll(d.log_path());
  EXPECT_NE(log.find("stdin=/dev/null\n"), std::string::npos) << log;
  EXPECT_NE(log.find("SigBlk:\t0000000000000000\n"), std::string::npos)
      << log;
  const int status = d.Stop(kLong);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << status;
}

TEST(DaemonProcessTest, WaitForPortFile) {
  const std::string path = TestTmpDir() + "/port";
  std::remove(path.c_str());
  DaemonProcess d("writer", LogPath("writer"));
  ASSERT_TRUE(d.Start({"/bin/sh", "-c",
                       "sleep 0.1; echo 4242 > " + path + "; exec sleep 300"})
                  .ok());
  absl::StatusOr<int> port = d.WaitForPortFile(path, kLong);
  ASSERT_TRUE(port.ok()) << port.status();
  EXPECT_EQ(*port, 4242);

  // A daemon that exits first is reported at once, not after the timeout.
  DaemonProcess quitter("quitter", LogPath("quitter"));
  ASSERT_TRUE(quitter.Start({"/bin/sh", "-c", "exit 3"}).ok());
  const absl::Time start = absl::Now();
  port = quitter.WaitForPortFile(TestTmpDir() + "/never", kLong);
  EXPECT_EQ(port.status().code(), absl::StatusCode::kUnavailable)
      << port.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_EQ(WEXITSTATUS(quitter.wait_status()), 3);

  DaemonProcess silent("silent", LogPath("silent"));
  ASSERT_TRUE(silent.Start({"/bin/sleep", "300"}).ok());
  port =
      silent.WaitForPortFile(TestTmpDir() + "/never", absl::Milliseconds(100));
  EXPECT_EQ(port.status().code(), absl::StatusCode::kDeadlineExceeded)
      << port.status();
}

TEST(DaemonProcessTest, WaitHealthy) {
  metrics::Registry registry;
  HttpServer::Options options;
  options.registry = &registry;
  absl::StatusOr<std::unique_ptr<HttpServer>> server =
      HttpServer::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE((*server)->Start().ok());
  const std::string address = absl::StrCat("127.0.0.1:", (*server)->port());

  DaemonProcess d("healthy", LogPath("healthy"));
  ASSERT_TRUE(d.Start({"/bin/sleep", "300"}).ok());
  absl::Status healthy = d.WaitHealthy(address, kLong);
  EXPECT_TRUE(healthy.ok()) << healthy;

  DaemonProcess quitter("quitter", LogPath("quitter2"));
  ASSERT_TRUE(quitter.Start({"/bin/sh", "-c", "exit 1"}).ok());
  healthy = quitter.WaitHealthy(absl::StrCat("127.0.0.1:", 1), kLong);
  EXPECT_EQ(healthy.code(), absl::StatusCode::kUnavailable) << healthy;
  EXPECT_NE(healthy.message().find("quitter2.log"), std::string::npos)
      << healthy;
  (*server)->Stop();
}

}  // namespace
}  // namespace testing
}  // namespace kess
