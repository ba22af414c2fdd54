// Distributor: the daemon, assembled. Owns the ZooKeeper client, the
// DataSet and its ZkFollower, the SubscriptionHub, the transport Server
// agents connect to, the HTTP server (/healthz, /metrics, /api/v1/status)
// and the member registration /kess/members/distributors/<id>.
//
// Start-up: Create() binds the transport and HTTP ports at once (so port()
// is known) and returns; a supervisor thread connects to ZooKeeper
// (retrying until it succeeds), the follower loads the data set, and only
// then the member node is created. Until the first load, agents get
// UNAVAILABLE and /healthz answers 503. After it, the distributor serves
// whatever happens to ZooKeeper (stale flag in replies and metrics).
//
// Thread-safety: the accessors are thread-safe. Destroy from the owning
// thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/http/event_http_server.h"
#include "common/http_server.h"
#include "common/metrics.h"
#include "common/status.h"
#include "common/transport/frame_codec.h"
#include "common/tls/tls_context.h"
#include "common/transport/server.h"
#include "distributor/data_set.h"
#include "distributor/distributor_metrics.h"
#include "distributor/read_guard.h"
#include "distributor/subscription_hub.h"
#include "distributor/zk_follower.h"
#include "zk_schema/ephemeral_node.h"
#include "zk_schema/layout.h"
#include "zk_schema/zk_client.h"

namespace kess {
namespace distributor {

struct DistributorOptions {
  std::string id;          // member id (a host-style name), unique in the DC
  std::string datacenter;  // this DC's name
  std::string zk_connect;  // "host:port,..."
  std::string zk_root = "/kess";
  // ZooKeeper digest user (the `reader`); none against an open ZooKeeper.
  std::optional<zk::DigestCredential> zk_credential;
  absl::Duration zk_session_timeout = absl::Seconds(10);
  absl::Duration zk_connect_timeout = absl::Seconds(15);

  std::string listen_host = "127.0.0.1";
  int port = 0;       // 0: ephemeral
  int http_port = 0;  // 0: ephemeral; -1: no HTTP server
  // The HTTP server (common/http/event_http_server.h): handler threads,
  // connections open at once in all and per client IP address (0 = no
  // cap), and the deadline for a request's line and headers (from accept
  // for a connection's first request).
  int http_threads = 2;
  size_t http_max_connections = 1000;
  size_t http_max_connections_per_address = 64;
  absl::Duration http_header_timeout = absl::Seconds(10);
  int server_loops = 2;
  // An agent connection silent for this long is closed.
  absl::Duration heartbeat_timeout = absl::Seconds(15);
  size_t max_send_queue_bytes = 2 * transport::kDefaultMaxFrameBytes;

  // TLS for the agents' transport (a server context, common/tls/);
  // nullptr: plain TCP (--insecure_plaintext).
  std::shared_ptr<tls::TlsContext> tls;
  // HTTPS for /healthz, /metrics and the status API (a server context
  // without client certificates); nullptr: plain HTTP.
  std::shared_ptr<tls::TlsContext> http_tls;

  std::string auth_token;  // empty: development mode, everyone trusted
  // Read rights (read_guard.h; docs/security.md, "Read rights"): enforced
  // when the transport proves who each agent is (`tls` requires client
  // certificates). A namespace or service without a read ACL is readable
  // by every authenticated agent, or by none with acl_default_deny.
  // Without client certificates every agent is anonymous: keys whose
  // namespace or service has a read ACL are denied to all (fail closed),
  // unless insecure_dev_mode (--insecure_dev_mode), which ignores ACLs.
  bool acl_default_deny = false;
  bool insecure_dev_mode = false;
  size_t max_keys_per_connection = 100000;

  // Limits that hold before an agent has authenticated (a Subscribe with
  // the right token); see common/transport/README.md "Limits".
  // Connections open at once (0 = unlimited); 50,000 agents fit.
  size_t max_connections = 100000;
  // Connections open at once per peer IP address (0 = unlimited).
  size_t max_connections_per_peer = 64;
  // No complete frame within this after accept: closed.
  absl::Duration first_frame_timeout = absl::Seconds(10);
  // Frames over this size before the connection authenticated: closed.
  size_t untrusted_max_frame_bytes = transport::kDefaultUntrustedMaxFrameBytes;
  // Not authenticated within this after accept: closed.
  absl::Duration trust_timeout = absl::Seconds(30);
  // Requests before the connection authenticated; one more closes it. An
  // agent sends at most two (its first kess.Subscribe and the rest of its
  // keys right behind it).
  size_t untrusted_max_requests = 4;

  ZkFollowerOptions follower;
  bool register_member = true;
  metrics::Registry* registry = nullptr;  // nullptr: the default registry
};

class Distributor {
 public:
  static absl::StatusOr<std::unique_ptr<Distributor>> Create(
      DistributorOptions options);
  ~Distributor();

  Distributor(const Distributor&) = delete;
  Distributor& operator=(const Distributor&) = delete;

  int port() const { return server_->port(); }
  int http_port() const { return http_ ? http_->port() : -1; }
  const std::string& id() const { return options_.id; }

  bool loaded() const { return data_.loaded(); }
  bool stale() const;
  int64_t revision() const { return data_.revision(); }
  size_t live_keys() const { return data_.live_keys(); }
  size_t connected_agents() const { return server_->connection_count(); }
  // True once the member node exists (it is re-created by EphemeralNode).
  bool registered() const;
  // The ZooKeeper session (tests force its expiry); FailedPrecondition
  // before the client exists.
  absl::StatusOr<zk::SessionCredentials> zk_session() const;
  const DataSet& data() const { return data_; }
  const SubscriptionHub& hub() const { return *hub_; }
  DistributorMetrics& metrics() { return metrics_; }

  // GET /api/v1/status
  std::string StatusJson() const;
  // /healthz: the body once loaded ("ok", or "ok stale: <why>" while
  // serving old data), else Unavailable (503).
  absl::StatusOr<std::string> Health() const;

 private:
  class ServerPusher;
  explicit Distributor(DistributorOptions options, zk::Layout layout);
  absl::Status StartServers();
  void Supervise();
  void Deliver(uint64_t connection, Answer answer,
               transport::Responder responder);
  void OnDisconnect(uint64_t connection, const char* reason);

  const DistributorOptions options_;
  const zk::Layout layout_;
  metrics::Registry* const registry_;
  DistributorMetrics metrics_;
  DataSet data_;
  std::unique_ptr<ServerPusher> pusher_;
  std::unique_ptr<SubscriptionHub> hub_;
  std::unique_ptr<ReadGuard> guard_;  // in front of hub_
  std::unique_ptr<transport::Server> server_;
  std::unique_ptr<http::EventHttpServer> http_;

  // Set once by the supervisor; read by handlers.
  std::atomic<ZkFollower*> follower_{nullptr};
  mutable absl::Mutex mu_;
  std::unique_ptr<zk::ZkClient> zk_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<ZkFollower> follower_owned_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<zk::EphemeralNode> member_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread supervisor_;
};

}  // namespace distributor
}  // namespace kess
