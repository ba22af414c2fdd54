// The one way tests and benchmarks run a daemon (mandator, distributor,
// agent, sample provider, SDK process, ZooKeeper's JVM, ...) as a child
// process: fork + exec of a binary with its arguments, stdin from
// /dev/null, stdout and stderr appended to a log file, no signal blocked
// (whatever the parent blocks for its sigwait), in its own process group,
// and killed with the test process (PR_SET_PDEATHSIG), so that a crashed
// test leaves nothing running. Only the pid this object started is ever
// signalled: never a group, never a name.
//
//   DaemonProcess agent("agent h1", dir + "/agent.log");
//   KESS_RETURN_IF_ERROR(agent.Start({Runfile("agent/agent"),
//                                     "--http_port=0",
//                                     "--http_port_file=" + port_file}));
//   KESS_ASSIGN_OR_RETURN(int port,
//                         agent.WaitForPortFile(port_file, absl::Seconds(30)));
//   agent.Kill();                             // kill -9
//   KESS_RETURN_IF_ERROR(agent.Start(args));  // again, same log file
//   agent.Pause();                            // SIGSTOP: a hung daemon
//   agent.Resume();                           // SIGCONT
//   agent.Stop();  // SIGTERM, SIGKILL if still there after the grace period
//
// The parent thread matters: PR_SET_PDEATHSIG fires when the thread that
// called Start() exits, so start daemons from a thread that lives as long
// as they should (the test's main thread).
//
// Thread-compatible: one thread drives a DaemonProcess at a time.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/status.h"

namespace kess {
namespace testing {

class DaemonProcess {
 public:
  // `name` ("mandator m1") goes into messages and warnings; `log_path` gets
  // the daemon's stdout and stderr, appended across restarts.
  DaemonProcess(std::string name, std::string log_path);
  ~DaemonProcess();  // Stop()

  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  // Starts `args`: args[0] is the path of the binary, or a name without a
  // '/' ("java", "ip") looked up in PATH. FailedPrecondition if the last
  // one started is still running; the error of open (the log file) or fork
  // otherwise. An exec failure shows as an exit with status 127.
  absl::Status Start(std::vector<std::string> args);

  // SIGTERM, then SIGKILL if it has not exited after `grace`; reaps it. A
  // paused daemon is resumed so that it sees the SIGTERM. Returns its wait
  // status (as waitpid(2) gives it; 0 for a clean exit), or 0 if nothing
  // was running.
  int Stop(absl::Duration grace = absl::Seconds(10));
  // Only the first step of Stop (SIGTERM, and SIGCONT if paused), without
  // waiting: several daemons shut down at once when each gets Terminate()
  // before any gets Stop(). A no-op if nothing is running.
  void Terminate();
  // SIGKILL (kill -9) and reap; its wait status, 0 if nothing was running.
  int Kill();
  // SIGSTOP / SIGCONT: a hung daemon whose sockets stay open.
  // FailedPrecondition if nothing is running; the error of kill(2).
  absl::Status Pause();
  absl::Status Resume();
  // Reaps it if it has exited: true (pid() is -1 from then on, and
  // wait_status() tells how), false while it runs.
  bool Exited();

  // Polls GET http://<http_address>/healthz until it answers 200 (OK), the
  // process exits (Unavailable; reaped) or `timeout` passes
  // (DeadlineExceeded). The messages name the log file.
  absl::Status WaitHealthy(const std::string& http_address,
                           absl::Duration timeout);
  // Polls `path` (a daemon's --http_port_file / --port_file) until it holds
  // a port number: the port; Unavailable as soon as the process exits (e.g.
  // its port was taken), DeadlineExceeded after `timeout`.
  absl::StatusOr<int> WaitForPortFile(const std::string& path,
                                      absl::Duration timeout);

  bool running() const { return pid_ > 0; }
  // Paused by Pause() and not resumed, stopped or killed since.
  bool paused() const { return paused_; }
  // -1 when not running.
  pid_t pid() const { return pid_; }
  // The wait status of the last exit reaped (0 before any).
  int wait_status() const { return wait_status_; }
  const std::string& name() const { return name_; }
  const std::string& log_path() const { return log_path_; }

 private:
  // Waits for the exit of pid_ (blocking or not); true once reaped.
  bool Reap(bool block);

  const std::string name_;
  const std::string log_path_;
  pid_t pid_ = -1;
  bool paused_ = false;
  int wait_status_ = 0;
};

// A file of the test's runfiles: $TEST_SRCDIR/kess/<relative> (add the
// target to the test's `data`), or <relative> outside Bazel (run from the
// workspace root).
std::string Runfile(const std::string& relative);
// $TEST_TMPDIR, or /tmp outside Bazel.
std::string TestTmpDir();

}  // namespace testing
}  // namespace kess
