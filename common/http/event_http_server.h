// EventHttpServer: an HTTP/1.1 server on one epoll loop (transport's
// EventLoop), for APIs where thousands of local clients wait at once (long
// polls: the agent's GET /v1/watch). HttpServer (http_server.h) holds a
// Poco thread per connection and cannot keep thousands waiting.
//
//   EventHttpServer::Options opts;
//   opts.port = 7310;
//   auto server = EventHttpServer::Create(opts);
//   (*server)->Handle("GET", "/v1/status", ...);          // blocking handler
//   (*server)->HandleAsync("GET", "/v1/watch",
//       [](const HttpRequest& r, HttpResponder reply) {
//         reply.OnCancel([] { /* client went away */ });
//         keep(reply);  // ... later, any thread: reply.Send(response)
//       });
//   (*server)->Start();
//
// Two kinds of handlers, both with HttpServer's HttpRequest/HttpResponse:
//  - Handle/HandlePrefix (HttpRoutes): plain functions that may block; they
//    run on a pool of Options::worker_threads threads, never on the loop.
//  - HandleAsync/HandleAsyncPrefix: called on the loop thread (must not
//    block) with an HttpResponder; the response is sent whenever Send() is
//    called, from any thread. No thread is held while a request waits.
//
// Routing is HttpServer's: exact paths, then the longest prefix; 404 for an
// unknown path, 405 (with Allow) for another method. GET /healthz and GET
// /metrics are built in.
//
// Limits (every one bounded, every violation answered and/or closed):
//  - max_connections: a connection beyond it gets "503" and is closed at
//    once (kess_http_connections_refused_total{reason="max_connections"}).
//    When accept fails for want of descriptors (EMFILE, ENFILE, ...) the
//    listener is paused for 100 ms (kess_http_accept_pauses_total) instead
//    of spinning the loop; keep max_connections below the open-file limit.
//  - max_connections_per_address (TCP, 0 = no cap): connections open at
//    once from one client IP address; beyond it "503" and close at accept
//    (kess_http_connections_refused_total{reason="per_address"}), so that
//    one address cannot take every slot.
//  - max_header_bytes: request line + headers; beyond it 431 and close.
//  - max_body_bytes (lower for some paths: max_body_bytes_by_path):
//    Content-Length above it is 413 and close, before the body is read.
//    Only Content-Length bodies are taken; Transfer-Encoding (chunked
//    request bodies) gets 501 and close.
//  - read_timeout: a total deadline for the request line and headers, from
//    the connection's accept (its first request) or from the first byte of
//    a later request, however the bytes trickle in; not complete by then:
//    408 and close (a slow-header client holds a connection slot for at
//    most this long).
//  - body_timeout: a total deadline for the body, from the end of the
//    headers; 408 and close.
//  - idle_timeout: a keep-alive connection with no request in flight and no
//    byte received is closed after it.
//  - write_timeout: a response the client does not read within it is
//    dropped with the connection.
// Malformed requests (request line, header syntax, version, Content-Length,
// an HTTP/1.1 request without Host: RFC 9112) get 400 (505 for a version
// other than HTTP/1.0 or 1.1) and close.
// Every refusal before routing is counted in
// kess_http_bad_requests_total{reason} (read_timeout, body_timeout,
// header_too_large, body_too_large, ...).
//
// Options::admit (as HttpServer's) is called on the loop thread once the
// headers of a request that matched a route and method are in, before its
// body is read; a response it returns is sent instead (and the connection
// closed), so an unauthenticated client costs no body read.
//
// Worker pools: blocking handlers of Options::fast_paths (by default
// /healthz and /metrics) run on a pool of their own (fast_worker_threads),
// so that handlers that block (a call to another server) on every worker
// thread do not delay the health checks.
//
// Keep-alive: HTTP/1.1 connections stay open unless "Connection: close";
// HTTP/1.0 ones only with "Connection: keep-alive". Pipelined requests are
// served one after the other, in order (the next one is parsed when the
// previous response has been queued); bytes received while a request is in
// flight are buffered up to max_header_bytes (a long poll may hold its
// connection for minutes), beyond that the connection is closed
// (kess_http_bad_requests_total{reason="pipelined_too_large"}): a client
// pipelines a request with a larger body only after the previous answer.
//
// HTTPS (Options::tls, a server tls::TlsContext): every accepted
// connection runs its TLS handshake on the loop, non-blocking, inside the
// read_timeout of its first request (a client that connects and never
// completes the handshake is closed at it, as a silent one). A failed
// handshake closes the connection and is counted in
// kess_http_tls_handshake_failures_total{cause} (causes of
// tls::HandshakeFailureCause: "not_tls", "eof", "timeout", ...), a
// completed one in kess_http_tls_handshakes_total{resumed}. A plaintext
// HTTP request at a TLS port gets a plain "400" whose body says to use
// https://, and is closed: nothing of it reaches a route, and nothing but
// that fixed text is sent in clear. The connection cap refuses TLS clients
// by closing them (no plaintext "503"). Reloaded certificates
// (TlsContext's reload) apply to new connections. Keep-alive,
// pipelining, long polls and HttpResponder::Send work as over TCP.
//
// Metrics: kess_http_requests_total{route,code} and
// kess_http_request_duration_seconds{route} as HttpServer's (for async
// routes the time until Send), kess_http_event_connections (open now),
// kess_http_connections_refused_total{reason},
// kess_http_bad_requests_total{reason}.
//
// Thread-safety: register routes before Start(). Start/Stop from one
// thread. HttpResponder::Send from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/http_server.h"
#include "common/metrics.h"
#include "common/status.h"
#include "common/tls/tls_context.h"

namespace kess {
namespace http {

class EventHttpServer;

// The answer channel of one asynchronous request. Copyable; all copies
// name the same request.
class HttpResponder {
 public:
  HttpResponder() = default;

  // Sends `response` to the client. The first call wins; later calls, and
  // calls after the client left or the server stopped, do nothing. Any
  // thread.
  void Send(HttpResponse response) const;

  // `fn` is called on the server's loop thread, at most once, if the
  // connection closes (client gone, server stopping) before Send() was
  // called. REQUIRES: called from inside the async handler (on the loop
  // thread), at most once per request.
  void OnCancel(std::function<void()> fn) const;

  struct State;  // implementation detail

 private:
  friend class EventHttpServer;
  explicit HttpResponder(std::shared_ptr<State> state)
      : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

using AsyncHttpHandler =
    std::function<void(const HttpRequest&, HttpResponder)>;

class EventHttpServer : public HttpRoutes {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    int port = 0;  // 0 = any free port; see port()
    // If set, serve on this unix-domain socket instead of host:port, with
    // mode `unix_socket_mode` from the start (common/unix_socket.h: a
    // directory writable by others is refused, a stale socket replaced, a
    // live one or any other file never); port() is 0. Requests carry the
    // client's HttpRequest::peer (SO_PEERCRED).
    std::string unix_socket;
    int unix_socket_mode = 0660;
    int worker_threads = 4;  // for blocking handlers
    // The blocking handlers of these exact paths run on a pool of their
    // own, of fast_worker_threads threads.
    std::vector<std::string> fast_paths = {"/healthz", "/metrics"};
    int fast_worker_threads = 1;
    size_t max_connections = 10000;
    size_t max_connections_per_address = 0;  // TCP; 0 = no cap
    size_t max_header_bytes = 16 * 1024;
    size_t max_body_bytes = 1 << 20;
    // Lower limits for some exact paths (e.g. a login form).
    std::map<std::string, size_t> max_body_bytes_by_path;
    absl::Duration read_timeout = absl::Seconds(10);  // request line+headers
    absl::Duration body_timeout = absl::Seconds(30);
    absl::Duration idle_timeout = absl::Seconds(120);
    absl::Duration write_timeout = absl::Seconds(30);
    metrics::Registry* registry = &metrics::Registry::Default();
    // /healthz answers 200 "ok" when this returns OK, else 503 + message.
    std::function<absl::Status()> health;
    // TCP only: if not empty, a request whose Host header names another
    // host (its port aside; compared without case; IPv6 without brackets)
    // gets 403 before any route sees it, so that a web page whose name was
    // rebound to 127.0.0.1 (DNS rebinding) cannot use a local API. A
    // request without Host (HTTP/1.0) is served.
    std::vector<std::string> allowed_hosts;
    // As HttpServer::Options::admit: called (on the loop thread: it must
    // not block) for every request that matched a route and method, with
    // its headers but before its body is read; a response returned here is
    // sent instead of calling the handler, and the connection closed.
    std::function<std::optional<HttpResponse>(const HttpRequest&)> admit;
    // HTTPS: a server context (common/tls/tls_context.h; client
    // certificates only if it requires them). nullptr: plain HTTP.
    std::shared_ptr<tls::TlsContext> tls;
  };

  // Binds the socket (so port() is known) but does not serve yet.
  static absl::StatusOr<std::unique_ptr<EventHttpServer>> Create(
      Options options);
  ~EventHttpServer() override;  // Stop()

  // HttpRoutes: blocking handlers, run on the worker threads.
  void Handle(const std::string& method, const std::string& path,
              HttpHandler handler) override;
  void HandlePrefix(const std::string& method, const std::string& prefix,
                    HttpHandler handler) override;
  // Asynchronous handlers, called on the loop thread. REQUIRES: before
  // Start().
  void HandleAsync(const std::string& method, const std::string& path,
                   AsyncHttpHandler handler);
  void HandleAsyncPrefix(const std::string& method, const std::string& prefix,
                         AsyncHttpHandler handler);

  // Starts the loop and the workers.
  absl::Status Start();
  // Closes every connection (cancelling waiting async requests), waits for
  // running blocking handlers, stops the threads. Idempotent.
  void Stop();
  int port() const { return port_; }
  // Connections open now (any thread; approximate while they change).
  size_t connections() const;

  class Impl;  // implementation detail

 private:
  explicit EventHttpServer(std::unique_ptr<Impl> impl, int port);
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace http
}  // namespace kess
