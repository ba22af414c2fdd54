// A real `distributor` daemon in a child process, for end-to-end tests and
// benchmarks.
//
//   DistributorProcessOptions o;
//   o.id = "d1"; o.datacenter = "dc1"; o.zk = ensemble->ConnectString();
//   o.zk_auth_file = cluster->auth_file();      // its `reader` line is used
//   o.auth_token_file = token;                  // the agents' shared secret
//   auto d = DistributorProcess::Start(o);      // waits until loaded
//   agent flag: --distributors=(*d)->address()
//   (*d)->Kill();                               // kill -9
//   (*d)->Restart();                            // same ports
//
// The binary is found in the test's runfiles
// ($TEST_SRCDIR/kess/distributor/distributor): add
// data = ["//distributor"] to the test. Each process gets free 127.0.0.1
// ports (transport and HTTP) that it keeps across restarts, so agents can
// be given its address once, and a log file under `log_dir`. Only the
// process this object started is ever signalled; it also dies with the
// test process (PDEATHSIG).
//
// Thread-compatible: one thread drives a DistributorProcess at a time.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "Poco/JSON/Object.h"
#include "absl/time/time.h"
#include "common/status.h"
#include "tests/harness/daemon_process.h"

namespace kess {
namespace testing {

struct DistributorProcessOptions {
  std::string binary;  // empty = DistributorBinary()
  std::string id;
  std::string datacenter;
  std::string zk;
  std::string zk_root = "/kess";
  std::string zk_auth_file;     // e.g. the file of WriteAuthFile
  std::string auth_token_file;  // empty = development mode (no token)
  int port = 0;                 // agent transport; 0 = pick a free one
  int http_port = 0;            // 0 = pick a free one
  absl::Duration zk_session_timeout = absl::Seconds(4);
  absl::Duration poll_interval = absl::Milliseconds(500);
  std::vector<std::string> extra_flags;
  // ClusterTls::Flags("distributor") of the cluster (cluster_tls.h); the
  // default runs it without TLS.
  std::vector<std::string> tls_flags = {"--insecure_plaintext"};
  std::string log_dir;  // empty = $TEST_TMPDIR or /tmp
  // Until /healthz answers 200 (the first load is done).
  absl::Duration ready_timeout = absl::Seconds(60);
  // The address it listens on for agents and HTTP (--listen_host).
  std::string host = "127.0.0.1";
  // Words put before the binary, as MandatorProcessOptions::command_prefix.
  std::vector<std::string> command_prefix;
};

// $TEST_SRCDIR/kess/distributor/distributor (or ./distributor/distributor
// outside Bazel).
std::string DistributorBinary();

// Writes `token` into `<dir>/distributor.token` (mode 0600), for both the
// distributors' and the agents' --auth_token_file; returns the path.
absl::StatusOr<std::string> WriteTokenFile(const std::string& dir,
                                           const std::string& token);

class DistributorProcess {
 public:
  // Starts the daemon and waits until it has loaded its DC's data.
  static absl::StatusOr<std::unique_ptr<DistributorProcess>> Start(
      DistributorProcessOptions options);
  ~DistributorProcess();  // Stop()

  // SIGKILL and reap (kill -9). Idempotent.
  void Kill();
  // SIGTERM, wait up to `grace`, then SIGKILL. Idempotent.
  void Stop(absl::Duration grace = absl::Seconds(10));
  // Starts it again with the same options and ports; waits until loaded.
  absl::Status Restart();
  // The binary (and TLS flags) the next Restart uses: an upgrade or a
  // downgrade in place (same id, ports; tests/upgrade).
  void set_binary(std::string binary, std::vector<std::string> tls_flags) {
    options_.binary = std::move(binary);
    options_.tls_flags = std::move(tls_flags);
  }
  const std::string& binary() const { return options_.binary; }

  bool running() const { return daemon_.running(); }
  pid_t pid() const { return daemon_.pid(); }
  const std::string& id() const { return options_.id; }
  // "<host>:<port>": the agent transport (agent --distributors).
  std::string address() const;
  int port() const { return options_.port; }
  // "<host>:<port>": /healthz, /metrics, /api/v1/status.
  std::string http_address() const;
  const std::string& log_path() const { return daemon_.log_path(); }
  // The process itself (its wait status, Exited()).
  DaemonProcess& daemon() { return daemon_; }

  // GET /api/v1/status as JSON; null if it did not answer 200.
  Poco::JSON::Object::Ptr Status() const;
  // GET /metrics; "" if it did not answer 200.
  std::string Metrics() const;

 private:
  explicit DistributorProcess(DistributorProcessOptions options);
  absl::Status Launch();
  absl::Status WaitReady();

  DistributorProcessOptions options_;  // with the ports picked
  DaemonProcess daemon_;
};

// One value of a Prometheus text exposition: the first sample of `name`
// whose labels include every `k="v"` of `labels` (comma-separated, any
// order, e.g. `reason="auth"`; "" = any), as a number; NotFound if there is
// none. Works for every kess daemon's /metrics.
absl::StatusOr<double> MetricValue(const std::string& metrics_text,
                                   const std::string& name,
                                   const std::string& labels = "");

}  // namespace testing
}  // namespace kess
