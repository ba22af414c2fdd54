// CheckRunner: runs the agent's health checks on one EventLoop thread of
// its own, never a thread per check. HTTP and TCP checks are non-blocking
// sockets on the loop (connect, send, read, each bounded by the check's
// timeout); exec checks are child processes (posix_spawn, their own
// process group) whose output is read from a non-blocking pipe and which
// are killed with their group at the timeout; TTL checks are timers that
// report critical when the application stops renewing them. 1,000 checks
// every 10 s are about 100 short connections a second for this one thread.
//
// Results:
//   http: 2xx (or exactly `expect_status`) passing, 429 warning, anything
//         else, a refused or failed connection or the timeout critical;
//   tcp:  connected passing, else critical;
//   exec: exit 0 passing, 1 warning, anything else or killed critical;
//   ttl:  critical once `ttl` passes without Renew().
// The output (status line and the start of the body, the connect error,
// the command's stdout and stderr) is cut to `max_output_bytes`, with
// bytes outside printable ASCII, tab and newline replaced by '?'.
//
// The first run of a check is within min(interval, 2 s) of Add (spread at
// random), then every interval.
//
// Thread-safety: public methods are thread-safe (Add, Remove and Renew only
// post to the loop, so `on_result` may call them; Flush must not be called
// from it). `on_result` runs on the runner's loop thread, one at a time; it
// should return quickly, as it delays every other check.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>

#include "absl/synchronization/mutex.h"
#include "agent/check_spec.h"
#include "common/metrics.h"
#include "common/status.h"
#include "common/transport/event_loop.h"

namespace kess {
namespace agent {

struct CheckRunnerOptions {
  size_t max_output_bytes = 4096;
  // nullptr: metrics::Registry::Default().
  metrics::Registry* registry = nullptr;
};

class CheckRunner {
 public:
  using ResultFn = std::function<void(const std::string& check_id,
                                      CheckStatus result, std::string output)>;

  static absl::StatusOr<std::unique_ptr<CheckRunner>> Create(
      CheckRunnerOptions options, ResultFn on_result);
  // Stops every check (running exec children are killed) and the thread.
  ~CheckRunner();

  CheckRunner(const CheckRunner&) = delete;
  CheckRunner& operator=(const CheckRunner&) = delete;

  // Starts running `spec`, replacing a check with the same id.
  void Add(const CheckSpec& spec);
  void Remove(const std::string& id);
  // A TTL check's clock starts again.
  void Renew(const std::string& id);
  // Blocks until everything posted before has run (tests).
  void Flush();

  // Sanitizes and cuts `text` as check outputs are (exposed for the API).
  static std::string CleanOutput(const std::string& text, size_t max_bytes);

 private:
  class Probe;
  class SocketProbe;
  class ExecProbe;
  struct Check {
    CheckSpec spec;
    uint64_t generation = 0;
    transport::EventLoop::TimerId timer = 0;
    std::unique_ptr<Probe> running;
  };

  CheckRunner(CheckRunnerOptions options, ResultFn on_result,
              std::unique_ptr<transport::EventLoop> loop);

  // Loop thread only.
  void Schedule(Check& check, absl::Duration delay);
  void Run(const std::string& id, uint64_t generation);
  void Finish(const std::string& id, uint64_t generation, CheckStatus result,
              std::string output);
  void Stop(Check& check);
  // A killed child not reaped yet: reaped every 100 ms until it is (from
  // Finish, Remove, Add and the timeout alike).
  void AddZombie(pid_t pid);
  void Reap();

  const CheckRunnerOptions options_;
  const ResultFn on_result_;
  metrics::Registry* const registry_;
  // Loop thread only.
  std::map<std::string, Check> checks_;
  uint64_t next_generation_ = 1;
  std::set<pid_t> zombies_;  // killed children not reaped yet
  transport::EventLoop::TimerId reap_timer_ = 0;
  std::minstd_rand random_;

  std::unique_ptr<transport::EventLoop> loop_;  // last: stops first
};

}  // namespace agent
}  // namespace kess
