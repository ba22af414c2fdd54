// Helpers for tests that run the real agent binary: start it as a child
// process (killed with the test through PR_SET_PDEATHSIG), signal exactly
// that pid, wait for its HTTP port, and talk to its HTTP API.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace kess {
namespace agent {
namespace testing {

// One agent process started by a test; only this pid is ever signalled.
class AgentProcess {
 public:
  // `args[0]` is the program; stdout and stderr are appended to `log`.
  AgentProcess(std::vector<std::string> args, std::string log)
      : args_(std::move(args)), log_(std::move(log)) {}
  ~AgentProcess() { Stop(15 /* SIGTERM */); }

  // fork + exec; returns false if fork failed.
  bool Start();
  // Sends `sig` to the started process and reaps it; returns the wait
  // status (0 if nothing was running).
  int Stop(int sig);
  pid_t pid() const { return pid_; }

 private:
  std::vector<std::string> args_;
  const std::string log_;
  pid_t pid_ = -1;
};

// $TEST_SRCDIR/kess/<relative>.
std::string Runfile(const std::string& relative);
// $TEST_TMPDIR (or /tmp).
std::string TestTmpDir();

// Waits (up to `timeout_ms`) for --http_port_file to hold a port; 0 if not.
// With `pid` > 0, also gives up (0) as soon as that process has exited
// (e.g. its port was taken), instead of waiting out the timeout.
int WaitForPortFile(const std::string& path, int64_t timeout_ms,
                    pid_t pid = 0);

// One HTTP request to 127.0.0.1:port; returns the status (0 when the
// connection failed) and the body in `reply`.
int HttpCall(int port, const std::string& method, const std::string& path,
             const std::string& body, std::string* reply);

}  // namespace testing
}  // namespace agent
}  // namespace kess
