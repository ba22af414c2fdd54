// A real `mandator` daemon in a child process, for end-to-end tests.
//
//   auto auth = WriteAuthFile(dir, TestAuth());
//   MandatorProcessOptions o;
//   o.id = "m1"; o.datacenter = "dc1"; o.is_main = true;
//   o.zk = ensemble->ConnectString(); o.auth_file = *auth;
//   auto m = MandatorProcess::Start(o);   // waits until /healthz is 200
//   HttpCall((*m)->http_address(), "GET", "/api/v1/status");
//   (*m)->Kill();                          // kill -9
//
// The binary is found in the test's runfiles
// ($TEST_SRCDIR/kess/mandator/mandator): add data = ["//mandator"] to the
// test. Each process gets a free 127.0.0.1 port and a log file under
// `log_dir` (default $TEST_TMPDIR). Only the process this object started
// is ever signalled; it also dies with the test process (PDEATHSIG).
//
// Thread-compatible: one thread drives a MandatorProcess at a time.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/status.h"
#include "tests/harness/daemon_process.h"
#include "zk_schema/kess_auth.h"

namespace kess {
namespace testing {

struct MandatorProcessOptions {
  std::string binary;  // empty = MandatorBinary()
  std::string id;
  std::string datacenter;
  bool is_main = true;
  std::string zk;
  std::string main_zk;  // slave DCs
  std::string main_datacenter;
  std::string zk_root = "/kess";
  std::string auth_file;  // see WriteAuthFile
  int http_port = 0;      // 0 = pick a free one
  int port = 0;           // the scheduler's transport; 0 = pick a free one
  absl::Duration zk_session_timeout = absl::Seconds(4);
  // e.g. "--history_limit=5". Neither --admin_password_file nor
  // --insecure_dev_mode among them: --insecure_dev_mode is added.
  std::vector<std::string> extra_flags;
  // ClusterTls::Flags("mandator") of the cluster (cluster_tls.h); the
  // default runs it without TLS.
  std::vector<std::string> tls_flags = {"--insecure_plaintext"};
  std::string log_dir;                   // empty = $TEST_TMPDIR or /tmp
  absl::Duration ready_timeout = absl::Seconds(60);
  // The address its HTTP API and scheduler listen on (--http_host; the
  // scheduler binds it too), e.g. a DC's address in a network namespace.
  std::string host = "127.0.0.1";
  // Words put before the binary, e.g. {"/usr/sbin/ip", "netns", "exec",
  // "<ns>"} (an absolute path first: no PATH search). The pid stays the
  // daemon's as long as the prefix execs it.
  std::vector<std::string> command_prefix;
  // The log file's name in log_dir without ".log"; empty = "mandator-<id>".
  std::string log_name;
};

// $TEST_SRCDIR/kess/mandator/mandator (or ./mandator/mandator outside
// Bazel).
std::string MandatorBinary();

// Writes an auth file ("mandator:...\nreader:...\n", mode 0600) into `dir`
// and returns its path.
absl::StatusOr<std::string> WriteAuthFile(const std::string& dir,
                                          const zk::KessAuth& auth);

class MandatorProcess {
 public:
  // Starts the daemon and waits until its /healthz answers 200.
  static absl::StatusOr<std::unique_ptr<MandatorProcess>> Start(
      MandatorProcessOptions options);
  ~MandatorProcess();  // Stop()

  // SIGKILL and reap (kill -9). Idempotent.
  void Kill();
  // SIGTERM, wait up to `grace`, then SIGKILL. Idempotent.
  void Stop(absl::Duration grace = absl::Seconds(10));
  // Starts it again with the same options and port.
  absl::Status Restart();
  // The binary (and TLS flags) the next Launch/Restart uses: an upgrade
  // or a downgrade in place (same id, ports, ZooKeeper; tests/upgrade).
  void set_binary(std::string binary, std::vector<std::string> tls_flags) {
    options_.binary = std::move(binary);
    options_.tls_flags = std::move(tls_flags);
  }
  const std::string& binary() const { return options_.binary; }

  bool running() const { return daemon_.running(); }
  pid_t pid() const { return daemon_.pid(); }
  const std::string& id() const { return options_.id; }
  // "<host>:<port>"
  std::string http_address() const;
  // "<host>:<port>" of the scheduler (heartbeats, partial tables).
  std::string address() const;
  const std::string& log_path() const { return daemon_.log_path(); }
  // The process itself (its wait status, Exited()).
  DaemonProcess& daemon() { return daemon_; }

 private:
  explicit MandatorProcess(MandatorProcessOptions options);
  absl::Status Launch();
  absl::Status WaitReady();

  MandatorProcessOptions options_;  // with the ports picked
  DaemonProcess daemon_;
};

}  // namespace testing
}  // namespace kess
