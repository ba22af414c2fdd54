#include "common/http_server.h"

#include <algorithm>

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <istream>
#include <sstream>

#include "Poco/Exception.h"
#include "Poco/Net/HTTPRequestHandler.h"
#include "Poco/Net/HTTPRequestHandlerFactory.h"
#include "Poco/Net/HTTPServer.h"
#include "Poco/Net/HTTPServerParams.h"
#include "Poco/Net/HTTPServerRequest.h"
#include "Poco/Net/HTTPServerRequestImpl.h"
#include "Poco/Net/HTTPServerResponse.h"
#include "Poco/Net/ServerSocket.h"
#include "Poco/Net/SocketAddress.h"
#include "Poco/String.h"
#include "Poco/URI.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/json_util.h"
#include "common/unix_socket.h"
#include "common/version.h"
#include "glog/logging.h"

namespace kess {

std::string HttpRequest::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}

std::string HttpRequest::Query(const std::string& name,
                               const std::string& fallback) const {
  auto it = query.find(name);
  return it == query.end() ? fallback : it->second;
}

HttpResponse HttpResponse::Text(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse HttpResponse::SharedJson(int status,
                                      std::shared_ptr<const std::string> json) {
  HttpResponse r = Json(status, "");
  r.shared_body = std::move(json);
  return r;
}

HttpResponse HttpResponse::Json(int status, std::string json) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(json);
  return r;
}

void AddVersionHeaders(HttpResponse* response) {
  response->headers.emplace_back("X-Kess-Version", BuildVersion());
  response->headers.emplace_back("X-Kess-Commit", BuildCommit());
}

int HttpStatusFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kFailedPrecondition:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

HttpResponse HttpResponse::Error(const absl::Status& status) {
  std::string code = absl::StatusCodeToString(status.code());
  std::string json = absl::StrCat(
      "{\"error\":{\"code\":", JsonQuote(code),
      ",\"message\":", JsonQuote(std::string(status.message())), "}}");
  return Json(HttpStatusFor(status.code()), std::move(json));
}

class HttpServer::Router {
 public:
  struct Route {
    std::string pattern;  // metrics label
    std::map<std::string, HttpHandler> by_method;
  };

  explicit Router(const Options& options) : options_(options) {
    requests_help_ = "HTTP requests served, by route and status code.";
  }

  void Add(const std::string& method, const std::string& path, bool prefix,
           HttpHandler handler) {
    auto& table = prefix ? prefixes_ : exact_;
    Route& route = table[path];
    route.pattern = prefix ? path + "*" : path;
    route.by_method[method] = std::move(handler);
  }

  // The route for `path`: exact match first, then the longest prefix.
  const Route* Find(const std::string& path) const {
    auto it = exact_.find(path);
    if (it != exact_.end()) return &it->second;
    const Route* best = nullptr;
    size_t best_len = 0;
    for (const auto& [prefix, route] : prefixes_) {
      if (path.compare(0, prefix.size(), prefix) == 0 &&
          prefix.size() >= best_len) {
        best = &route;
        best_len = prefix.size();
      }
    }
    return best;
  }

  void Count(const std::string& route, int status, double seconds) {
    options_.registry
        ->GetCounter("kess_http_requests_total", requests_help_,
                     {{"route", route}, {"code", std::to_string(status)}})
        ->Increment();
    options_.registry
        ->GetHistogram("kess_http_request_duration_seconds",
                       "Time to handle an HTTP request, by route.",
                       metrics::LatencyBuckets(), {{"route", route}})
        ->Observe(seconds);
  }

  const Options& options() const { return options_; }

 private:
  const Options options_;
  std::string requests_help_;
  std::map<std::string, Route> exact_;
  std::map<std::string, Route> prefixes_;
};

namespace {

class Dispatcher : public Poco::Net::HTTPRequestHandler {
 public:
  explicit Dispatcher(HttpServer::Router* router) : router_(router) {}

  void handleRequest(Poco::Net::HTTPServerRequest& req,
                     Poco::Net::HTTPServerResponse& resp) override {
    auto start = std::chrono::steady_clock::now();
    std::string route_label = "unmatched";
    HttpResponse out = Serve(req, &route_label);
    resp.setStatus(
        static_cast<Poco::Net::HTTPResponse::HTTPStatus>(out.status));
    resp.setContentType(out.content_type);
    resp.set("X-Content-Type-Options", "nosniff");
    resp.set("Cache-Control", "no-store");
    for (const auto& [k, v] : out.headers) resp.set(k, v);
    const std::string& body = out.Body();
    resp.setContentLength(static_cast<std::streamsize>(body.size()));
    try {
      resp.send().write(body.data(), static_cast<std::streamsize>(body.size()));
    } catch (const Poco::Exception& e) {
      LOG(WARNING) << "http: writing response failed: " << e.displayText();
    }
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    router_->Count(route_label, out.status, seconds);
  }

 private:
  HttpResponse Serve(Poco::Net::HTTPServerRequest& req,
                     std::string* route_label) {
    HttpRequest request;
    request.method = req.getMethod();
    request.remote_address = req.clientAddress().toString();
    if (!router_->options().unix_socket.empty()) {
      auto* impl = dynamic_cast<Poco::Net::HTTPServerRequestImpl*>(&req);
      ucred cred{};
      socklen_t len = sizeof(cred);
      if (impl != nullptr &&
          getsockopt(impl->socket().impl()->sockfd(), SOL_SOCKET, SO_PEERCRED,
                     &cred, &len) == 0) {
        request.peer = HttpRequest::PeerCredentials{
            static_cast<uint32_t>(cred.uid), static_cast<uint32_t>(cred.gid),
            static_cast<int32_t>(cred.pid)};
      }
    }
    try {
      Poco::URI uri(req.getURI());
      request.path = uri.getPath();
      for (const auto& [k, v] : uri.getQueryParameters()) request.query[k] = v;
      request.query_string = uri.getRawQuery();
    } catch (const Poco::Exception& e) {
      return HttpResponse::Error(absl::InvalidArgumentError(
          "malformed request URI: " + e.displayText()));
    }
    const HttpServer::Router::Route* route = router_->Find(request.path);
    if (route == nullptr) {
      return HttpResponse::Error(
          absl::NotFoundError("no such endpoint: " + request.path));
    }
    *route_label = route->pattern;
    auto handler = route->by_method.find(request.method);
    if (handler == route->by_method.end()) {
      std::vector<std::string> allowed;
      for (const auto& kv : route->by_method) allowed.push_back(kv.first);
      HttpResponse r = HttpResponse::Json(
          405, absl::StrCat("{\"error\":{\"code\":\"METHOD_NOT_ALLOWED\","
                            "\"message\":",
                            JsonQuote(request.method + " not allowed on " +
                                      request.path),
                            "}}"));
      r.headers.emplace_back("Allow", absl::StrJoin(allowed, ", "));
      return r;
    }
    for (const auto& [k, v] : req) {
      request.headers[Poco::toLower(k)] = v;
    }
    if (router_->options().admit) {
      std::optional<HttpResponse> refused = router_->options().admit(request);
      if (refused.has_value()) {
        // The body (if any) is left unread: the connection cannot be reused.
        refused->headers.emplace_back("Connection", "close");
        return *std::move(refused);
      }
    }
    absl::Status body = ReadBody(req, request.path, &request.body);
    if (!body.ok()) {
      HttpResponse r = HttpResponse::Error(body);
      if (body.code() == absl::StatusCode::kResourceExhausted) r.status = 413;
      r.headers.emplace_back("Connection", "close");
      return r;
    }
    try {
      return handler->second(request);
    } catch (const std::exception& e) {
      LOG(ERROR) << "http: handler for " << request.method << " "
                 << request.path << " threw: " << e.what();
      return HttpResponse::Error(absl::InternalError("internal error"));
    }
  }

  absl::Status ReadBody(Poco::Net::HTTPServerRequest& req,
                        const std::string& path, std::string* out) {
    size_t max = router_->options().max_body_bytes;
    auto lower = router_->options().max_body_bytes_by_path.find(path);
    if (lower != router_->options().max_body_bytes_by_path.end()) {
      max = std::min(max, lower->second);
    }
    std::streamsize declared = req.getContentLength();
    if (declared != Poco::Net::HTTPMessage::UNKNOWN_CONTENT_LENGTH &&
        static_cast<size_t>(declared) > max) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "request body of ", declared, " bytes exceeds the limit of ", max));
    }
    std::istream& in = req.stream();
    char buf[64 * 1024];
    try {
      while (in) {
        // Never more than one byte past the limit is read.
        const size_t room = max - out->size() + 1;
        in.read(buf, static_cast<std::streamsize>(std::min(sizeof(buf), room)));
        std::streamsize n = in.gcount();
        if (n <= 0) break;
        if (out->size() + static_cast<size_t>(n) > max) {
          return absl::ResourceExhaustedError(
              absl::StrCat("request body exceeds the limit of ", max));
        }
        out->append(buf, static_cast<size_t>(n));
      }
    } catch (const Poco::Exception& e) {
      return absl::InvalidArgumentError("reading request body: " +
                                        e.displayText());
    }
    return absl::OkStatus();
  }

  HttpServer::Router* router_;
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  explicit Factory(HttpServer::Router* router) : router_(router) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(
      const Poco::Net::HTTPServerRequest&) override {
    return new Dispatcher(router_);
  }

 private:
  HttpServer::Router* router_;
};

}  // namespace

HttpServer::HttpServer(Options options)
    : options_(std::move(options)),
      router_(std::make_unique<Router>(options_)) {}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(
    Options options) {
  std::unique_ptr<HttpServer> server(new HttpServer(std::move(options)));
  const Options& o = server->options_;
  try {
    // Poco's convenience constructor also sets SO_REUSEPORT, which would let
    // two daemons share a port silently; bind explicitly without it.
    Poco::Net::ServerSocket socket;
    if (!o.unix_socket.empty()) {
      // Bound in a private directory, given its mode there, then renamed
      // into place (common/unix_socket.h).
      auto place = UnixSocketPlacement::Prepare(o.unix_socket);
      if (!place.ok()) {
        return absl::Status(place.status().code(),
                            absl::StrCat("http: ", place.status().message()));
      }
      server->socket_place_ = std::move(place).value();
      socket.bind(Poco::Net::SocketAddress(Poco::Net::SocketAddress::UNIX_LOCAL,
                                           server->socket_place_->bind_path()),
                  /*reuseAddress=*/false);
      socket.listen(/*backlog=*/128);
      KESS_RETURN_IF_ERROR(
          server->socket_place_->Publish(o.unix_socket_mode));
    } else {
      socket.bind(Poco::Net::SocketAddress(o.host, o.port),
                  /*reuseAddress=*/true, /*reusePort=*/false);
      socket.listen(/*backlog=*/128);
      server->port_ = socket.address().port();
    }
    auto* params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(o.threads);
    params->setMaxQueued(256);
    params->setTimeout(
        Poco::Timespan(absl::ToInt64Microseconds(o.request_timeout)));
    params->setKeepAlive(true);
    server->server_ = std::make_unique<Poco::Net::HTTPServer>(
        new Factory(server->router_.get()), socket, params);
  } catch (const Poco::Exception& e) {
    return absl::UnavailableError(absl::StrCat(
        "http: cannot listen on ",
        o.unix_socket.empty() ? absl::StrCat(o.host, ":", o.port)
                              : o.unix_socket,
        ": ", e.displayText()));
  }
  HttpServer* self = server.get();
  server->Handle("GET", "/healthz", [self](const HttpRequest&) {
    absl::Status health =
        self->options_.health ? self->options_.health() : absl::OkStatus();
    HttpResponse r =
        health.ok()
            ? HttpResponse::Text(200, "ok\n")
            : HttpResponse::Text(503, std::string(health.message()) + "\n");
    AddVersionHeaders(&r);
    return r;
  });
  server->Handle("GET", "/metrics", [self](const HttpRequest&) {
    HttpResponse r =
        HttpResponse::Text(200, self->options_.registry->RenderText());
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    return r;
  });
  return server;
}

HttpServer::~HttpServer() {
  Stop();
  if (socket_place_ != nullptr) socket_place_->RemoveIfOurs();
}

void HttpServer::Handle(const std::string& method, const std::string& path,
                        HttpHandler handler) {
  CHECK(!started_) << "register routes before Start()";
  router_->Add(method, path, /*prefix=*/false, std::move(handler));
}

void HttpServer::HandlePrefix(const std::string& method,
                              const std::string& prefix, HttpHandler handler) {
  CHECK(!started_) << "register routes before Start()";
  router_->Add(method, prefix, /*prefix=*/true, std::move(handler));
}

absl::Status HttpServer::Start() {
  if (started_) return absl::FailedPreconditionError("already started");
  server_->start();
  started_ = true;
  if (options_.unix_socket.empty()) {
    LOG(INFO) << "http: serving on " << options_.host << ":" << port_;
  } else {
    LOG(INFO) << "http: serving on unix socket " << options_.unix_socket;
  }
  return absl::OkStatus();
}

void HttpServer::Stop() {
  if (server_ && started_) {
    server_->stopAll(/*abortCurrent=*/false);
    started_ = false;
  }
}

}  // namespace kess
