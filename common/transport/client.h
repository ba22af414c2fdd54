// The client side of the framed transport: one outgoing connection with
// request/response correlation, per-call deadlines, heartbeats, server
// pushes and a disconnect notification.
//
// A Client owns no thread: it runs on an EventLoop the caller provides, so
// thousands of clients (an agent simulator, a benchmark) share one loop.
// It does not reconnect; after a disconnect the owner creates a new Client
// (to the same or, for failover, another server).
//
//   KESS_ASSIGN_OR_RETURN(auto client, Client::Create(loop, options, cbs));
//   KESS_RETURN_IF_ERROR(client->WaitConnected(absl::Seconds(5)));
//   absl::StatusOr<std::string> reply =
//       client->CallSync("echo", "hi", absl::Seconds(1));
//
// Thread-safety: every public method may be called from any thread, except
// that the blocking ones (WaitConnected, CallSync) must not be called on the
// loop thread. All callbacks run on the loop thread and must not block.
// REQUIRES: the EventLoop outlives the Client.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "common/identity/credential.h"
#include "common/metrics.h"
#include "common/status.h"
#include "common/tls/tls_context.h"
#include "common/transport/connection.h"
#include "common/transport/event_loop.h"
#include "common/transport/protocol_version.h"

namespace kess {
namespace transport {

struct ClientOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // required
  absl::Duration connect_timeout = absl::Seconds(5);
  // A HEARTBEAT is sent this often; zero: never.
  absl::Duration heartbeat_interval = absl::Seconds(5);
  // The server is declared dead ("heartbeat_timeout") when nothing at all
  // arrives for this long; zero: never. Should be a few heartbeat intervals.
  absl::Duration heartbeat_timeout = absl::Seconds(15);
  ConnectionOptions connection;
  // nullptr: metrics::Registry::Default(). Must outlive the Client.
  metrics::Registry* registry = nullptr;
  // TLS (a client-side context, common/tls): the connection counts as
  // connected once the handshake verified the server, within
  // connect_timeout. nullptr: plain TCP.
  std::shared_ptr<tls::TlsContext> tls;
  // The name the server's certificate must carry; empty: `host` (a host
  // name or IP literal).
  std::string tls_server_name;
  // The protocol version sent in every REQUEST; only tests set another
  // (to act as an older or newer peer; 0 acts as a peer from before the
  // field).
  int protocol_version = kProtocolVersion;
  // RESPONSEs from servers of an older protocol version fail their call
  // with FAILED_PRECONDITION, counted in
  // kess_transport_protocol_refused_total{role="client"}.
  int min_protocol_version = kMinProtocolVersion;
  // A credential to prove who this client is (common/identity): sent as
  // the connection's first request, kess.Authenticate, before any call
  // (calls made meanwhile queue behind it, so they carry its principal).
  // A server that refuses it answers UNAUTHENTICATED (logged here) and
  // closes the connection. nullptr: none (anonymous, or the principal of
  // the client certificate with mutual TLS).
  std::shared_ptr<const identity::CredentialFile> credential;
  absl::Duration authenticate_timeout = absl::Seconds(10);
};

struct ClientCallbacks {
  // Exactly once: OK when connected, else why the connect failed
  // (UNAVAILABLE; DEADLINE_EXCEEDED after connect_timeout).
  std::function<void(const absl::Status& status)> on_connect;
  // A PUSH frame from the server.
  std::function<void(const std::string& method, std::string payload)> on_push;
  // At most once, only after a successful connect: the connection is gone.
  // `reason` is a close_reason constant ("peer_closed", "heartbeat_timeout").
  std::function<void(const char* reason, const absl::Status& detail)>
      on_disconnect;
};

// The result of a call: the response payload, or the server's error status,
// DEADLINE_EXCEEDED (timeout), UNAVAILABLE (not connected / connection
// lost), CANCELLED (client destroyed) or INVALID_ARGUMENT (frame too large).
using CallCallback = std::function<void(absl::StatusOr<std::string> result)>;

enum class ClientState { kConnecting, kConnected, kClosed };

class Client {
 public:
  // Starts connecting to options.host:port and returns at once; progress is
  // reported to callbacks.on_connect (or see WaitConnected). Fails only on
  // a bad address or socket exhaustion.
  static absl::StatusOr<std::unique_ptr<Client>> Create(
      EventLoop* loop, ClientOptions options, ClientCallbacks callbacks = {});

  // Closes the connection. Outstanding calls complete with CANCELLED before
  // this returns; on_connect/on_push/on_disconnect are not called anymore.
  ~Client();

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Blocks until connected (OK), failed or closed (that status), or
  // `timeout` passed (DEADLINE_EXCEEDED). Not on the loop thread.
  absl::Status WaitConnected(absl::Duration timeout);
  ClientState state() const;

  // Sends a REQUEST; `done` runs exactly once on the loop thread (possibly
  // before Call returns when called on the loop thread). A call made while
  // still connecting is sent once connected.
  // The call fails with DEADLINE_EXCEEDED after `timeout` (rounded up to
  // whole milliseconds, the loop's timer resolution).
  void Call(std::string method, std::string payload, absl::Duration timeout,
            CallCallback done);
  // Blocking Call. Not on the loop thread (FAILED_PRECONDITION there).
  absl::StatusOr<std::string> CallSync(std::string method, std::string payload,
                                       absl::Duration timeout);

  // Closes the connection ("local_close"); on_disconnect is called.
  void Close();

 private:
  class Impl;
  explicit Client(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace transport
}  // namespace kess
