// The server side of the framed transport: listens on one address, accepts
// connections onto a small fixed pool of EventLoops (never a thread per
// connection), dispatches REQUEST frames to a handler per method, answers
// heartbeats, closes silent peers, and pushes frames to one or all
// connections.
//
//   HandlerMap handlers;
//   handlers["echo"] = [](Request request, Responder responder) {
//     responder.Respond(std::move(request.payload));
//   };
//   KESS_ASSIGN_OR_RETURN(std::unique_ptr<Server> server,
//                         Server::Create(options, std::move(handlers)));
//   server->Push(connection_id, "update", payload);
//
// Thread-safety: Push, Broadcast, Disconnect, port and connection_count are
// safe from any thread, including from handlers and callbacks. Handlers and
// ServerCallbacks run on the event-loop threads (several at once, one per
// loop): they must be thread-safe and must not block; slow work belongs on
// another thread, which may keep the Responder and answer later.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/identity/credential.h"
#include "common/identity/principal.h"
#include "common/metrics.h"
#include "common/status.h"
#include "common/transport/connection.h"
#include "common/transport/event_loop.h"
#include "common/transport/protocol_version.h"
#include "common/transport/responder.h"
#include "common/tls/tls_context.h"
#include "common/transport/wire_budget.h"
#include "google/protobuf/descriptor.h"

namespace kess {
namespace transport {

struct ServerOptions {
  // Address to bind; only this address, never a wildcard unless asked.
  std::string host = "127.0.0.1";
  int port = 0;  // 0: an ephemeral port, see Server::port()
  int num_loops = 2;
  int listen_backlog = 4096;  // the kernel caps it at net.core.somaxconn
  ConnectionOptions connection;
  // A connection that sends nothing (not even a heartbeat) for this long is
  // closed with "heartbeat_timeout". Zero disables.
  absl::Duration heartbeat_timeout = absl::Seconds(15);
  // nullptr: metrics::Registry::Default(). Must outlive the Server.
  metrics::Registry* registry = nullptr;
  // TLS (a server-side context, common/tls): every accepted connection
  // starts with a handshake, counted in first_frame_timeout. nullptr:
  // plain TCP.
  std::shared_ptr<tls::TlsContext> tls;

  // ---- Limits that hold before a peer authenticates (README "Limits") ----
  // Connections open at once; more are closed at accept and counted in
  // kess_transport_refused_total{reason="server_connection_limit"}. Sized
  // for a distributor carrying 50,000 agents (each with a probe now and
  // then). 0 = unlimited.
  size_t max_connections = 100000;
  // Connections open at once from one peer IP address; more are closed at
  // accept ({reason="peer_connection_limit"}). A host runs one agent and a
  // few SDK processes. 0 = unlimited.
  size_t max_connections_per_peer = 64;
  // A connection that has not sent one complete frame this long after
  // accept is closed with "first_frame_timeout". Zero disables.
  absl::Duration first_frame_timeout = absl::Seconds(10);
  // Until the server calls Trust(connection), frames over this size close
  // the connection with "untrusted_frame_too_large", decided on the 4 header
  // bytes (so at most this much is buffered for a peer that has not
  // authenticated). 0: no separate limit (connection.max_frame_bytes).
  size_t untrusted_max_frame_bytes = 0;
  // A connection not trusted this long after accept is closed with
  // "trust_timeout". Zero disables. Only for servers that call Trust().
  absl::Duration trust_timeout = absl::ZeroDuration();
  // Requests a connection may send before the server calls Trust(); the
  // next one is answered PERMISSION_DENIED and closes the connection with
  // "untrusted_request_limit", before it is pre-scanned or handled, and no
  // later frame of it is decoded. Bounds what a peer that keeps sending
  // without authenticating (frame bombs pipelined on one connection) gets
  // parsed per connection it opens. 0 = unlimited. Only for servers that
  // call Trust().
  size_t untrusted_max_requests = 0;
  // The payload type of each method's REQUEST. A payload over
  // `request_budget` as that type (wire_budget.h: a pre-scan, no parse) is
  // answered RESOURCE_EXHAUSTED and its connection closed with
  // "payload_over_budget" before the handler runs (a payload that is merely
  // malformed, within budget, reaches the handler). Methods not listed are
  // passed to their handlers unchecked. The descriptors must outlive the
  // Server (generated ones do).
  std::map<std::string, const google::protobuf::Descriptor*> request_types;
  WireBudget request_budget;
  // REQUESTs from clients of an older protocol version (protocol_version.h)
  // are answered FAILED_PRECONDITION without reaching a handler and counted
  // in kess_transport_protocol_refused_total{role="server"}.
  int min_protocol_version = kMinProtocolVersion;

  // ---- Identities (common/identity, README "Identities") ----
  // The credentials the server accepts. When set, the server itself
  // answers kess.Authenticate (kAuthenticateMethod): a credential that
  // verifies binds its principal to the connection (and trusts it, see
  // Trust); one that does not is answered UNAUTHENTICATED and the
  // connection closed ("authentication_failed"). A request on a connection
  // whose credential has been revoked since is answered UNAUTHENTICATED and
  // the connection closed ("credential_revoked"). nullptr: no credentials
  // (kess.Authenticate is UNIMPLEMENTED, unless a handler takes it).
  // Counted in kess_transport_authentications_total{result}.
  std::shared_ptr<const identity::CredentialRegistry> credentials;
};

// One REQUEST frame as a handler sees it.
struct Request {
  uint64_t connection_id = 0;
  std::string method;
  std::string payload;
  // Who sent it: the connection's principal (never null; anonymous without
  // a client certificate naming one or a credential). Shared by every
  // request of the connection: a pointer copy, no parsing.
  std::shared_ptr<const identity::Principal> principal;
};

// Called on an event-loop thread; answer through `responder`, now or later.
using Handler = std::function<void(Request request, Responder responder)>;
using HandlerMap = std::map<std::string, Handler>;

struct ServerCallbacks {
  // A connection was accepted. `peer` is "ip:port".
  std::function<void(uint64_t connection_id, const std::string& peer)>
      on_connect;
  // A connection is gone; `reason` is a close_reason constant. Called for
  // every connection that on_connect reported, also at shutdown.
  std::function<void(uint64_t connection_id, const char* reason)> on_disconnect;
};

class Server {
 public:
  // Binds, listens and starts the loops. `handlers` is fixed for the
  // server's life; a REQUEST for another method is answered with
  // UNIMPLEMENTED.
  static absl::StatusOr<std::unique_ptr<Server>> Create(
      ServerOptions options, HandlerMap handlers,
      ServerCallbacks callbacks = {});

  // Stops accepting, closes every connection ("server_shutdown", reported
  // to on_disconnect), and joins the loops. Responders still held elsewhere
  // become no-ops. REQUIRES: not called from a handler or callback.
  ~Server();

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound port (the ephemeral one when options.port was 0).
  int port() const { return port_; }
  size_t connection_count() const { return connection_count_.load(); }

  // Sends a PUSH frame to one connection. Returns InvalidArgument if the
  // frame is over max_frame_bytes; otherwise OK, and the frame is queued
  // unless the connection is gone by then (then it is dropped silently —
  // on_disconnect tells the caller about that).
  absl::Status Push(uint64_t connection_id, const std::string& method,
                    const std::string& payload);
  // Sends one PUSH frame to each of `connection_ids` (those still open when
  // it runs); encoded once and shared, so a fan-out to thousands of
  // connections costs one encoding and one buffer. Same errors as Push.
  // `on_written`, if set, runs once on a loop thread after every loop has
  // handed the frame to each of its connections: written to the socket,
  // or queued behind earlier bytes when the socket's buffer was full (never
  // runs if the server is destroyed first).
  absl::Status PushMany(const std::vector<uint64_t>& connection_ids,
                        const std::string& method, const std::string& payload,
                        std::function<void()> on_written = nullptr);
  // Sends one PUSH frame to every connection open when it runs; encoded
  // once. Same errors as Push.
  absl::Status Broadcast(const std::string& method, const std::string& payload);
  // Closes a connection with "local_close" (no-op if it is gone).
  void Disconnect(uint64_t connection_id);
  // The peer has authenticated: lifts untrusted_max_frame_bytes and
  // trust_timeout for this connection. Called from a handler (on the loop
  // thread) it takes effect before the connection's next frame is decoded,
  // so a client may pipeline a large request behind its authenticating one.
  // From another thread it is posted. Idempotent; no-op if gone.
  void Trust(uint64_t connection_id);

 private:
  class Acceptor;
  class ConnectionDelegate;
  struct Loop;

  Server(ServerOptions options, HandlerMap handlers, ServerCallbacks callbacks);

  Loop& LoopFor(uint64_t connection_id);
  // Accept-time caps; on true the caller owns one slot of `peer_ip`,
  // returned by Release.
  bool Admit(const std::string& peer_ip);
  void Release(const std::string& peer_ip);
  bool NeedsTrust() const;
  void TrustOnLoop(Loop& loop, uint64_t connection_id);
  void Adopt(int fd, std::string peer);
  void OnFrame(Loop& loop, Connection* connection, Frame frame);
  void OnClosed(Loop& loop, Connection* connection, const char* reason);
  // Closes connections past heartbeat_timeout, first_frame_timeout or
  // trust_timeout, and re-arms itself.
  void SweepSilent(Loop& loop);
  // Queues encoded bytes on a connection from any thread.
  // kess.Authenticate (options_.credentials set).
  void Authenticate(Loop& loop, Connection* connection, const Frame& frame);
  // Answers `status` to the request `frame_id` and closes the connection
  // with `reason` right after the answer.
  void RespondAndClose(Loop& loop, Connection* connection, uint64_t frame_id,
                       const absl::Status& status, const char* reason);
  void SendTo(uint64_t connection_id, std::shared_ptr<const std::string> bytes);
  absl::StatusOr<std::shared_ptr<const std::string>> EncodePush(
      const std::string& method, const std::string& payload) const;

  const ServerOptions options_;
  const HandlerMap handlers_;
  const ServerCallbacks callbacks_;
  TransportMetrics metrics_;
  int port_ = 0;
  std::atomic<uint64_t> next_connection_id_{1};
  std::atomic<size_t> connection_count_{0};
  absl::Mutex admit_mu_;
  size_t admitted_ ABSL_GUARDED_BY(admit_mu_) = 0;
  metrics::Counter* auth_ok_ = nullptr;
  metrics::Counter* auth_failed_ = nullptr;
  metrics::Counter* auth_revoked_ = nullptr;
  absl::flat_hash_map<std::string, size_t> per_peer_ ABSL_GUARDED_BY(admit_mu_);
  std::shared_ptr<ResponderLink> link_;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::unique_ptr<Acceptor> acceptor_;  // on loops_[0]
};

}  // namespace transport
}  // namespace kess
