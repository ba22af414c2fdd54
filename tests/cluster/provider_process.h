// The SDK's sample provider (sdk/examples/demo_provider) as a child
// process, for end-to-end tests and the cluster launcher: it serves HTTP
// and registers itself with its DC's mandators through sdk::Registration.
//
//   auto p = ProviderProcess::Start({.service = "web", .id = "w1",
//       .host = "dc2-h1", .datacenter = "dc2", .mandators = addresses});
//   (*p)->Pause();   // SIGSTOP: its heartbeats stop
//   (*p)->Stop();    // SIGTERM: it deregisters and exits
//
// Started through tests/harness/daemon_process.h: only the pid this object
// started is ever signalled, and it dies with the test (PDEATHSIG). Add
// data = ["//sdk/examples:demo_provider"] to the test (or give `binary`).
// Thread-compatible.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/status.h"
#include "tests/harness/daemon_process.h"

namespace kess {
namespace testing {

struct ProviderProcessOptions {
  std::string binary;  // empty = $TEST_SRCDIR/kess/sdk/examples/demo_provider
  std::string service;
  std::string id;
  std::string host;  // the --host_id of its host's agent
  std::string datacenter;
  std::vector<std::string> mandators;  // its DC's scheduler addresses
  // Short, for tests (DiscoveryCluster's kTimeouts.heartbeat); zero: the
  // provider's own default.
  absl::Duration heartbeat_interval = absl::Milliseconds(500);
  // Its log and port file are <dir>/provider-<service>-<id>.log and .port
  // unless log_path / port_file name them; empty = $TEST_TMPDIR.
  std::string dir;
  std::string log_path;
  std::string port_file;
  // The address it serves and registers (--listen_host).
  std::string listen_host = "127.0.0.1";
  // Words put before the binary, as MandatorProcessOptions::command_prefix.
  std::vector<std::string> command_prefix;
  // ClusterTls::Flags("client") of the cluster (cluster_tls.h); the
  // default registers without TLS.
  std::vector<std::string> tls_flags = {"--insecure_plaintext"};
  std::vector<std::string> extra_flags;  // after the ones above
};

class ProviderProcess {
 public:
  // Starts it and waits until it wrote its port file (it does so once it
  // is registered with 2 mandators, or gave up waiting after 10 s): 30 s
  // at most.
  static absl::StatusOr<std::unique_ptr<ProviderProcess>> Start(
      ProviderProcessOptions options);
  ~ProviderProcess();  // Stop()

  // SIGTERM (after SIGCONT if paused): it deregisters and exits; waits for
  // it (SIGKILL after 10 s).
  void Stop();
  // kill -9.
  void Kill();
  // SIGSTOP / SIGCONT: its heartbeats stop / go on.
  void Pause();
  void Resume();
  // Stopped if running, then started again with the same options (a new
  // port) and waited for as by Start.
  absl::Status Restart();

  pid_t pid() const { return daemon_.pid(); }
  const std::string& id() const { return options_.id; }
  const std::string& host() const { return options_.host; }
  // "<listen_host>:<port>" once started.
  std::string address() const;
  const std::string& log_path() const { return daemon_.log_path(); }
  // The process itself (its wait status, Exited()).
  DaemonProcess& daemon() { return daemon_; }

 private:
  explicit ProviderProcess(ProviderProcessOptions options);
  absl::Status Launch();

  ProviderProcessOptions options_;  // with the paths filled in
  DaemonProcess daemon_;
  int port_ = 0;
  bool paused_ = false;
};

}  // namespace testing
}  // namespace kess
