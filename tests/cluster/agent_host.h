// A real `agent` daemon as one simulated host, for end-to-end tests: its
// own directory (cache in <dir>/cache, log, HTTP port file), started as a
// child process through tests/harness/daemon_process.h, killed and
// restarted on the same HTTP port.
//
//   AgentHostOptions o;
//   o.host_id = "h1"; o.datacenter = "dc1";
//   o.distributors = {d1->address(), d2->address()};
//   o.auth_token_file = token; o.dir = TEST_TMPDIR + "/dc1-h1";
//   auto a = AgentHost::Start(o);          // waits for its HTTP API
//   (*a)->Subscribe(R"({"configs":[{"namespace":"ns","key":"k"}]})");
//   (*a)->Status()->getValue<std::string>("distributor");
//   (*a)->Kill(); (*a)->Restart();
//
// The binary is found in the test's runfiles ($TEST_SRCDIR/kess/agent/agent):
// add data = ["//agent"] to the test. Only the pid this object started is
// ever signalled. Thread-compatible.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "Poco/JSON/Object.h"
#include "absl/time/time.h"
#include "common/http_client.h"
#include "common/status.h"
#include "tests/harness/daemon_process.h"

namespace kess {
namespace testing {

struct AgentHostOptions {
  std::string binary;  // empty = $TEST_SRCDIR/kess/agent/agent
  std::string host_id;
  std::string datacenter;
  std::vector<std::string> distributors;  // transport addresses, in DC
  std::vector<std::string> mandators;     // scheduler addresses (heartbeats)
  std::string auth_token_file;
  std::string dir;  // this host's directory; created if missing
  // Short intervals, so that failover and repair happen within seconds.
  std::vector<std::string> flags = {
      "--pull_interval_ms=1000",          "--heartbeat_interval_ms=300",
      "--heartbeat_timeout_ms=2000",      "--connect_timeout_ms=1000",
      "--call_timeout_ms=3000",           "--reconnect_initial_ms=50",
      "--reconnect_max_ms=500",           "--return_interval_ms=3000",
      "--host_heartbeat_interval_ms=1000"};
  std::vector<std::string> extra_flags;
  // ClusterTls::Flags("agent") of the cluster (cluster_tls.h); the default
  // runs it without TLS.
  std::vector<std::string> tls_flags = {"--insecure_plaintext"};
  absl::Duration ready_timeout = absl::Seconds(30);
  // The address of its HTTP API (--http_host).
  std::string http_host = "127.0.0.1";
  // Words put before the binary, as MandatorProcessOptions::command_prefix.
  std::vector<std::string> command_prefix;
  // Where its stdout and stderr go; empty = <dir>/agent.log.
  std::string log_path;
};

class AgentHost {
 public:
  static absl::StatusOr<std::unique_ptr<AgentHost>> Start(
      AgentHostOptions options);
  ~AgentHost() = default;  // the DaemonProcess sends SIGTERM

  // kill -9 (SIGKILL and reap).
  void Kill() { daemon_.Kill(); }
  // SIGTERM and reap (SIGKILL if it is still there after 10 s).
  void Stop() { daemon_.Stop(); }
  // Starts it again (same cache, same HTTP port) and waits for its API.
  absl::Status Restart();
  // The binary (and TLS flags) the next Restart uses: an upgrade or a
  // downgrade in place (same cache, same HTTP port; tests/upgrade).
  void set_binary(std::string binary, std::vector<std::string> tls_flags) {
    options_.binary = std::move(binary);
    options_.tls_flags = std::move(tls_flags);
  }
  const std::string& binary() const { return options_.binary; }
  bool running() const { return daemon_.running(); }
  pid_t pid() const { return daemon_.pid(); }

  const std::string& host_id() const { return options_.host_id; }
  std::string cache_dir() const { return options_.dir + "/cache"; }
  const std::string& log_path() const { return daemon_.log_path(); }
  int http_port() const { return http_port_; }
  // "<http_host>:<port>" (sdk Options::agent_http_address).
  std::string http_address() const;
  // The process itself (its wait status, Exited()).
  DaemonProcess& daemon() { return daemon_; }

  // One call to its HTTP API.
  absl::StatusOr<HttpReply> Call(const std::string& method,
                                 const std::string& path,
                                 const std::string& body = "") const;
  // POST /v1/subscriptions with `body`; an error unless it answers 200.
  absl::Status Subscribe(const std::string& body) const;
  // GET /v1/status as JSON; null if it did not answer 200.
  Poco::JSON::Object::Ptr Status() const;

 private:
  explicit AgentHost(AgentHostOptions options);
  absl::Status Launch();

  AgentHostOptions options_;
  int http_port_ = 0;  // 0 until the first start chose one
  DaemonProcess daemon_;
};

// {"configs":[{"namespace":ns,"key":k},...]} for the subscription API.
std::string ConfigSubscription(
    const std::vector<std::pair<std::string, std::string>>& keys);

}  // namespace testing
}  // namespace kess
