// HostHeartbeater: tells the DC's mandators that this host is alive
// (method "kess.HostHeartbeat", model/protocol/distribution.proto), so a
// lost instance heartbeat can be told apart from a dead host.
//
// Every interval it calls each mandator over its own transport Client
// (recreated after a disconnect). Failures are never fatal: counted in
// kess_agent_host_heartbeats_total{result} and logged at most once a minute
// per mandator.
//
// Thread-safety: construct, Start and destroy from one thread (not the
// loop's); everything else runs on the loop.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/identity/credential.h"
#include "common/metrics.h"
#include "model/protocol/distribution.pb.h"
#include "common/transport/client.h"
#include "common/transport/event_loop.h"
#include "common/transport/socket_util.h"

namespace kess {
namespace agent {

class HostHeartbeater {
 public:
  struct Options {
    std::vector<std::string> mandators;  // "host:port"
    absl::Duration interval = absl::Seconds(5);
    absl::Duration call_timeout = absl::Seconds(5);
    absl::Duration connect_timeout = absl::Seconds(5);
    // TLS to the mandators (a client context); nullptr: plain TCP.
    std::shared_ptr<tls::TlsContext> tls;
    // The host's credential (kess.Authenticate); nullptr: none.
    std::shared_ptr<const identity::CredentialFile> credential;
    metrics::Registry* registry = &metrics::Registry::Default();
  };
  // Fills host_id, datacenter, distributor, revision (sent_ms is set here).
  // Runs on the loop thread.
  using MessageFn = std::function<protocol::HostHeartbeat()>;

  // `loop` must outlive this object.
  HostHeartbeater(transport::EventLoop* loop, Options options,
                  MessageFn message);
  // Stops the timer and closes the connections (blocks on the loop).
  ~HostHeartbeater();

  void Start();

 private:
  struct Peer {
    std::string address;
    std::unique_ptr<transport::Client> client;
    int64_t last_log_ms = 0;
  };
  void Tick();
  void Beat(Peer& peer, const std::string& payload);
  void Count(Peer& peer, const absl::Status& result);

  transport::EventLoop* const loop_;
  const Options options_;
  const MessageFn message_;
  std::vector<std::unique_ptr<Peer>> peers_;  // loop thread only
  transport::EventLoop::TimerId timer_ = 0;
  bool stopped_ = false;
};

using transport::SplitHostPort;  // common/transport/socket_util.h

}  // namespace agent
}  // namespace kess
