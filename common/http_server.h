// A small HTTP/1.1 server on Poco for admin APIs, /healthz and /metrics.
//
//   HttpServer::Options opts;
//   opts.port = 8080;
//   auto server = HttpServer::Create(opts);
//   (*server)->Handle("GET", "/api/v1/status", [](const HttpRequest& r) {
//     return HttpResponse::Json(200, "{\"ok\":true}");
//   });
//   (*server)->Start();
//
// Built in: GET /healthz (200 "ok", or 503 with the reason from
// Options::health) and GET /metrics (the registry in Prometheus text format).
// Routes are exact paths or prefixes ("/api/v1/configs/"); the longest
// matching route wins. A path with no route gets 404, a known path with
// another method 405 (with an Allow header). Bodies larger than
// Options::max_body_bytes are refused with 413 before they are read in full.
// A handler that throws gets its client a 500; the server keeps running.
// Every request is counted in kess_http_requests_total{route,code} and timed
// in kess_http_request_duration_seconds{route}.
//
// Thread-safety: register routes before Start(); handlers run concurrently on
// Poco's thread pool (Options::threads) and must be thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "common/metrics.h"
#include "common/status.h"

namespace Poco {
namespace Net {
class HTTPServer;
}
}  // namespace Poco

namespace kess {

class UnixSocketPlacement;

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // decoded path without the query string
  std::map<std::string, std::string> query;    // decoded query parameters
  // The raw query string after '?' (undecoded; "" if none), for handlers
  // that take a parameter more than once (the map keeps one value).
  std::string query_string;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string remote_address;  // "127.0.0.1:53422"
  // The connected process on a unix-domain socket (SO_PEERCRED, as it was
  // when it connected); absent on TCP.
  struct PeerCredentials {
    uint32_t uid = 0;
    uint32_t gid = 0;
    int32_t pid = 0;
  };
  std::optional<PeerCredentials> peer;
  // The request came over TLS (http::EventHttpServer with Options::tls).
  bool tls = false;

  // The header's value, or "" when absent. `name` is lower case.
  std::string Header(const std::string& name) const;
  // The query parameter's value, or `fallback`.
  std::string Query(const std::string& name,
                    const std::string& fallback = "") const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // If set, the body instead of `body`: one immutable buffer answered to
  // many clients (a blocking watch's answer to thousands of waiters) that
  // EventHttpServer writes to each socket without copying it.
  std::shared_ptr<const std::string> shared_body;
  std::vector<std::pair<std::string, std::string>> headers;

  // The body sent: *shared_body if set, else body.
  const std::string& Body() const {
    return shared_body != nullptr ? *shared_body : body;
  }

  static HttpResponse Text(int status, std::string body);
  static HttpResponse Json(int status, std::string json);
  static HttpResponse SharedJson(int status,
                                 std::shared_ptr<const std::string> json);
  // {"error": {"code": "<absl code name>", "message": "..."}} with the HTTP
  // status that matches the absl code (InvalidArgument -> 400, NotFound ->
  // 404, FailedPrecondition -> 409, Unavailable -> 503, ...).
  static HttpResponse Error(const absl::Status& status);
};

// The HTTP status kess uses for an absl status code.
int HttpStatusFor(absl::StatusCode code);

// Adds X-Kess-Version and X-Kess-Commit (common/version.h) to `response`:
// every kess daemon's /healthz carries them (HttpServer's and
// EventHttpServer's built-in one, and a daemon's own).
void AddVersionHeaders(HttpResponse* response);

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// Where an API registers its routes, so that the same registration code
// serves on HttpServer (Poco, a thread per request) and on
// EventHttpServer (common/http/event_http_server.h, epoll, long polls).
class HttpRoutes {
 public:
  virtual ~HttpRoutes() = default;
  // REQUIRES: before the server starts. `path` is an exact path.
  virtual void Handle(const std::string& method, const std::string& path,
                      HttpHandler handler) = 0;
  // Matches every path starting with `prefix`; the longest match wins.
  virtual void HandlePrefix(const std::string& method,
                            const std::string& prefix,
                            HttpHandler handler) = 0;
};

class HttpServer : public HttpRoutes {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    int port = 0;  // 0 = any free port; see port()
    // If set, serve on this unix-domain socket instead of host:port, with
    // mode `unix_socket_mode` from the start (common/unix_socket.h: a
    // directory writable by others is refused, a stale socket replaced, a
    // live one or any other file never); port() is 0. Removed by the
    // destructor if still ours.
    std::string unix_socket;
    int unix_socket_mode = 0660;
    int threads = 8;
    size_t max_body_bytes = 1 << 20;
    // Lower limits for some exact paths (e.g. a login form): a body over
    // its path's limit is refused with 413 before it is read (on its
    // Content-Length, or as soon as more arrives).
    std::map<std::string, size_t> max_body_bytes_by_path;
    absl::Duration request_timeout = absl::Seconds(30);
    metrics::Registry* registry = &metrics::Registry::Default();
    // /healthz answers 200 "ok" when this returns OK, else 503 + message.
    std::function<absl::Status()> health;
    // Called for every request that matched a route and method, with its
    // headers but before its body is read; a response returned here is
    // sent instead of calling the handler (authentication: a 401 costs no
    // body read). Its Set-Cookie etc. go in HttpResponse::headers. Must be
    // thread-safe. Empty = every request reaches its handler.
    std::function<std::optional<HttpResponse>(const HttpRequest&)> admit;
  };

  // Binds the socket (so port() is known) but does not serve yet.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Create(Options options);
  ~HttpServer();  // Stop()

  // REQUIRES: before Start(). `method` is e.g. "GET"; `path` an exact path.
  void Handle(const std::string& method, const std::string& path,
              HttpHandler handler) override;
  // Matches every path starting with `prefix`.
  void HandlePrefix(const std::string& method, const std::string& prefix,
                    HttpHandler handler) override;

  absl::Status Start();
  // Stops accepting, waits for running handlers. Idempotent.
  void Stop();
  int port() const { return port_; }

  class Router;  // implementation detail, public for the Poco factory

 private:
  explicit HttpServer(Options options);

  Options options_;
  int port_ = 0;
  std::unique_ptr<Router> router_;
  std::unique_ptr<Poco::Net::HTTPServer> server_;
  std::unique_ptr<UnixSocketPlacement> socket_place_;  // with unix_socket
  bool started_ = false;
};

}  // namespace kess
