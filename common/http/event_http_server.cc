#include "common/http/event_http_server.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/json_util.h"
#include "common/transport/event_loop.h"
#include "common/transport/socket_util.h"
#include "common/unix_socket.h"
#include "glog/logging.h"

namespace kess {
namespace http {

using transport::EventLoop;

namespace {

// Bytes read per read(2); also the most read per readiness event per
// connection (level-triggered epoll brings the rest next round).
constexpr size_t kReadChunk = 64 * 1024;
// Connections accepted per listener event before the loop serves others.
constexpr int kAcceptBatch = 256;
// The largest plaintext of one TLS record: reads through SSL leave at least
// this much room, so that no record is half consumed (SSL_pending stays 0
// and level-triggered epoll sees everything that is left).
constexpr size_t kTlsRecordBytes = 16 * 1024;
// Largest single SSL_write; a retry repeats the same (or a longer) length.
constexpr size_t kTlsMaxWriteBytes = 256 * 1024;
// What a plaintext HTTP request at a TLS port is told, in clear.
constexpr char kUseHttps[] =
    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
    "Content-Length: 52\r\nConnection: close\r\n\r\n"
    "This port serves HTTPS only: use https:// instead.\r\n";

const char* ReasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Status";
  }
}

bool IsTokenChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsToken(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding; '+' is a space when `plus_is_space` (query strings).
bool PercentDecode(absl::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = HexDigit(in[i + 1]);
      int lo = HexDigit(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return true;
}

// The status line and headers; the body too unless it is shared (then the
// caller sends r.shared_body after them).
std::string Serialize(const HttpResponse& r, bool keep_alive) {
  std::string out = absl::StrCat("HTTP/1.1 ", r.status, " ",
                                 ReasonPhrase(r.status), "\r\nContent-Type: ",
                                 r.content_type, "\r\nContent-Length: ",
                                 r.Body().size(),
                                 "\r\nX-Content-Type-Options: nosniff\r\n"
                                 "Cache-Control: no-store\r\n");
  for (const auto& [k, v] : r.headers) {
    if (absl::EqualsIgnoreCase(k, "connection") ||
        absl::EqualsIgnoreCase(k, "content-length")) {
      continue;
    }
    absl::StrAppend(&out, k, ": ", v, "\r\n");
  }
  absl::StrAppend(&out, "Connection: ", keep_alive ? "keep-alive" : "close",
                  "\r\n\r\n");
  if (r.shared_body == nullptr) out.append(r.body);
  return out;
}

HttpResponse ErrorResponse(int status, const std::string& code,
                           const std::string& message) {
  return HttpResponse::Json(
      status, absl::StrCat("{\"error\":{\"code\":", JsonQuote(code),
                           ",\"message\":", JsonQuote(message), "}}"));
}

}  // namespace

// Shared between the server and every HttpResponder, so that a Send() after
// Stop() (or from a thread racing it) finds no loop and does nothing.
struct ServerCore {
  absl::Mutex mu;
  EventLoop* loop ABSL_GUARDED_BY(mu) = nullptr;
  EventHttpServer::Impl* impl ABSL_GUARDED_BY(mu) = nullptr;
};

struct HttpResponder::State {
  std::shared_ptr<ServerCore> core;
  uint64_t conn_id = 0;
  uint64_t seq = 0;
  std::atomic<bool> sent{false};
};

class EventHttpServer::Impl {
 public:
  struct Route {
    std::string pattern;
    std::map<std::string, HttpHandler> sync;
    std::map<std::string, AsyncHttpHandler> async;
  };

  // What a connection's timer does when it fires.
  enum class TimerKind {
    kClose,    // idle keep-alive, or a response the client does not read
    kHeaders,  // request line + headers not complete: 408
    kBody,     // body not complete: 408
  };

  struct Conn : public EventLoop::Handler {
    Impl* impl = nullptr;
    int fd = -1;
    uint64_t id = 0;
    std::string remote;
    std::optional<HttpRequest::PeerCredentials> peer;  // unix socket only
    std::string in;
    std::string out;
    size_t out_off = 0;
    // A shared response body written after `out` (HttpResponse::shared_body:
    // not copied per connection), and how much of it is written.
    std::shared_ptr<const std::string> out_body;
    size_t body_off = 0;
    bool busy = false;          // a request is being handled
    bool keep_alive = true;     // of the request in flight / last one
    bool closing = false;       // close once `out` is written
    bool want_out = false;      // EPOLLOUT registered
    uint64_t seq = 0;           // of the request in flight
    std::string route_label;
    std::chrono::steady_clock::time_point started;
    EventLoop::TimerId timer = 0;
    TimerKind timer_kind = TimerKind::kClose;
    std::string address_key;  // client IP (TCP), for the per-address cap
    // The request whose headers are in and whose body is awaited.
    bool head_done = false;
    HttpRequest head;
    size_t body_len = 0;
    std::function<void()> on_cancel;
    uint32_t events = 0;        // registered with epoll
    // TLS (Options::tls): the connection's SSL object, owned.
    SSL* ssl = nullptr;
    bool handshaking = false;   // the TLS handshake is not complete
    // SSL needs the socket writable to go on reading (or handshaking), or
    // readable to go on writing.
    bool tls_read_wants_write = false;
    bool tls_write_wants_read = false;
    void OnEvents(uint32_t events) override { impl->OnConnEvents(this, events); }
  };

  struct Listener : public EventLoop::Handler {
    Impl* impl = nullptr;
    void OnEvents(uint32_t) override { impl->OnAccept(); }
  };

  explicit Impl(Options options)
      : options_(std::move(options)), core_(std::make_shared<ServerCore>()) {
    metrics::Registry* r = options_.registry;
    open_gauge_ = r->GetGauge("kess_http_event_connections",
                              "Connections open on the event-loop HTTP "
                              "server.");
    refused_ = r->GetCounter("kess_http_connections_refused_total",
                             "Connections refused at accept, by reason.",
                             {{"reason", "max_connections"}});
    refused_per_address_ =
        r->GetCounter("kess_http_connections_refused_total",
                      "Connections refused at accept, by reason.",
                      {{"reason", "per_address"}});
    tls_full_ = r->GetCounter("kess_http_tls_handshakes_total",
                              "TLS handshakes completed by the HTTP server, "
                              "full or resumed.",
                              {{"resumed", "false"}});
    tls_resumed_ = r->GetCounter("kess_http_tls_handshakes_total",
                                 "TLS handshakes completed by the HTTP "
                                 "server, full or resumed.",
                                 {{"resumed", "true"}});
    accept_pauses_ = r->GetCounter(
        "kess_http_accept_pauses_total",
        "Times accept failed (EMFILE, ENFILE, ...) and the listener was "
        "paused for 100 ms.");
    for (const std::string& path : options_.fast_paths) {
      fast_paths_.insert(path);
    }
  }

  ~Impl() { Stop(); }

  absl::Status Bind(int* port) {
    const Options& o = options_;
    if (!o.unix_socket.empty()) {
      // Bound in a private directory, given its mode there, then renamed
      // into place (common/unix_socket.h).
      auto place = UnixSocketPlacement::Prepare(o.unix_socket);
      if (!place.ok()) {
        return absl::Status(place.status().code(),
                            absl::StrCat("http: ", place.status().message()));
      }
      socket_place_ = std::move(place).value();
      const std::string& bind_path = socket_place_->bind_path();
      sockaddr_un addr{};
      int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) return ErrnoToStatus(errno, "http: socket(AF_UNIX)");
      addr.sun_family = AF_UNIX;
      memcpy(addr.sun_path, bind_path.data(), bind_path.size());
      if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
          listen(fd, 1024) != 0) {
        int err = errno;
        close(fd);
        return ErrnoToStatus(err, "http: listen on " + o.unix_socket);
      }
      absl::Status published = socket_place_->Publish(o.unix_socket_mode);
      if (!published.ok()) {
        close(fd);
        return published;
      }
      listen_fd_ = fd;
      *port = 0;
      return absl::OkStatus();
    }
    KESS_ASSIGN_OR_RETURN(transport::SocketAddress address,
                          transport::ResolveAddress(o.host, o.port));
    KESS_ASSIGN_OR_RETURN(listen_fd_, transport::ListenOn(address, 1024));
    KESS_ASSIGN_OR_RETURN(*port, transport::LocalPortOf(listen_fd_));
    return absl::OkStatus();
  }

  void Add(const std::string& method, const std::string& path, bool prefix,
           HttpHandler sync, AsyncHttpHandler async) {
    CHECK(!started_) << "register routes before Start()";
    Route& route = (prefix ? prefixes_ : exact_)[path];
    route.pattern = prefix ? path + "*" : path;
    if (sync) route.sync[method] = std::move(sync);
    if (async) route.async[method] = std::move(async);
  }

  absl::Status Start() {
    if (started_) return absl::FailedPreconditionError("already started");
    KESS_ASSIGN_OR_RETURN(loop_, EventLoop::Create("http-loop"));
    {
      absl::MutexLock lock(&core_->mu);
      core_->loop = loop_.get();
      core_->impl = this;
    }
    workers_.Start(std::max(1, options_.worker_threads), this);
    fast_workers_.Start(std::max(1, options_.fast_worker_threads), this);
    listener_.impl = this;
    absl::Notification added;
    absl::Status status;
    loop_->Post([&] {
      status = loop_->Add(listen_fd_, EPOLLIN, &listener_);
      added.Notify();
    });
    added.WaitForNotification();
    started_ = true;
    return status;
  }

  void Stop() {
    if (!started_) {
      if (listen_fd_ >= 0) close(listen_fd_);
      listen_fd_ = -1;
      if (socket_place_ != nullptr) socket_place_->RemoveIfOurs();
      return;
    }
    started_ = false;
    {
      absl::MutexLock lock(&core_->mu);
      core_->loop = nullptr;
      core_->impl = nullptr;
    }
    absl::Notification closed;
    loop_->Post([&] {
      if (resume_timer_ != 0) loop_->CancelTimer(resume_timer_);
      resume_timer_ = 0;
      if (!accept_paused_) loop_->Remove(listen_fd_);
      accept_paused_ = false;
      close(listen_fd_);
      listen_fd_ = -1;
      std::vector<Conn*> all;
      for (auto& [id, c] : conns_) all.push_back(c.get());
      for (Conn* c : all) Close(c);
      closed.Notify();
    });
    closed.WaitForNotification();
    workers_.StopAndJoin();
    fast_workers_.StopAndJoin();
    loop_.reset();
    if (socket_place_ != nullptr) socket_place_->RemoveIfOurs();
  }

  size_t connections() const { return open_count_.load(); }

  const Options& options() const { return options_; }

  // From HttpResponder::Send or a worker, any thread: runs on the loop.
  static void Deliver(const std::shared_ptr<ServerCore>& core,
                      uint64_t conn_id, uint64_t seq, HttpResponse response) {
    absl::MutexLock lock(&core->mu);
    if (core->loop == nullptr) return;
    Impl* impl = core->impl;
    core->loop->Post([impl, conn_id, seq, r = std::move(response)]() mutable {
      impl->Respond(conn_id, seq, std::move(r));
    });
  }

  std::shared_ptr<ServerCore> core() const { return core_; }

 private:
  // ---- accepting ----
  static constexpr absl::Duration kAcceptPause = absl::Milliseconds(100);

  void PauseAccepting() {
    if (accept_paused_) return;
    accept_paused_ = true;
    accept_pauses_->Increment();
    loop_->Remove(listen_fd_);
    resume_timer_ = loop_->RunAfter(kAcceptPause, [this] {
      resume_timer_ = 0;
      if (!accept_paused_ || listen_fd_ < 0) return;
      accept_paused_ = false;
      absl::Status added = loop_->Add(listen_fd_, EPOLLIN, &listener_);
      LOG_IF(ERROR, !added.ok()) << "http: listening again: " << added;
    });
  }

  void OnAccept() {
    for (int i = 0; i < kAcceptBatch; ++i) {
      int fd = accept4(listen_fd_, nullptr, nullptr,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          // EMFILE, ENFILE, ENOBUFS, ...: the pending connection stays in
          // the backlog and the level-triggered listener would fire again
          // at once, spinning the loop. Stop listening for a while.
          LOG_EVERY_N(WARNING, 100) << "http: accept: " << strerror(errno)
                                    << "; not accepting for "
                                    << kAcceptPause;
          PauseAccepting();
        }
        return;
      }
      if (conns_.size() >= options_.max_connections) {
        refused_->Increment();
        RefuseAtAccept(fd);
        continue;
      }
      SSL* ssl = nullptr;
      if (options_.tls != nullptr) {
        ssl = options_.tls->NewSsl(fd, /*server_name=*/"");
        if (ssl == nullptr) {  // logged
          close(fd);
          continue;
        }
      }
      // The client's IP address without its port, for the per-address cap.
      std::string address_key;
      if (options_.unix_socket.empty() &&
          options_.max_connections_per_address > 0) {
        address_key = transport::PeerAddressOf(fd);
        const size_t colon = address_key.rfind(':');
        if (colon != std::string::npos) address_key.resize(colon);
        if (per_address_[address_key] >=
            options_.max_connections_per_address) {
          refused_per_address_->Increment();
          if (ssl != nullptr) SSL_free(ssl);
          RefuseAtAccept(fd);
          continue;
        }
      }
      if (options_.unix_socket.empty()) transport::SetNoDelay(fd);
      auto conn = std::make_unique<Conn>();
      conn->impl = this;
      conn->fd = fd;
      conn->ssl = ssl;
      conn->handshaking = ssl != nullptr;
      conn->id = next_conn_id_++;
      conn->remote = options_.unix_socket.empty()
                         ? transport::PeerAddressOf(fd)
                         : "unix:" + options_.unix_socket;
      if (!options_.unix_socket.empty()) {
        ucred cred{};
        socklen_t len = sizeof(cred);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
          conn->peer = HttpRequest::PeerCredentials{
              static_cast<uint32_t>(cred.uid), static_cast<uint32_t>(cred.gid),
              static_cast<int32_t>(cred.pid)};
        }
      }
      Conn* c = conn.get();
      c->events = EPOLLIN | EPOLLRDHUP;
      if (!loop_->Add(fd, c->events, c).ok()) {
        if (ssl != nullptr) SSL_free(ssl);
        close(fd);
        continue;
      }
      if (!address_key.empty()) {
        ++per_address_[address_key];
        c->address_key = std::move(address_key);
      }
      conns_[c->id] = std::move(conn);
      open_count_.store(conns_.size());
      open_gauge_->Add(1);
      // The first request's headers are due read_timeout after accept: a
      // connection that sends nothing, or trickles, holds its slot no
      // longer.
      ArmTimer(c, options_.read_timeout, TimerKind::kHeaders);
    }
  }

  // "503" and close, without registering `fd` (a TLS port: close only,
  // nothing in clear).
  void RefuseAtAccept(int fd) const {
    static const std::string kBusy = Serialize(
        ErrorResponse(503, "UNAVAILABLE", "too many connections"),
        /*keep_alive=*/false);
    if (options_.tls == nullptr) {
      ssize_t ignored =
          send(fd, kBusy.data(), kBusy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      (void)ignored;
    }
    close(fd);
  }

  // ---- timers ----
  void ArmTimer(Conn* c, absl::Duration after, TimerKind kind) {
    if (c->timer != 0) loop_->CancelTimer(c->timer);
    uint64_t id = c->id;
    c->timer_kind = kind;
    c->timer = loop_->RunAfter(after, [this, id, kind] {
      auto it = conns_.find(id);
      if (it == conns_.end()) return;
      Conn* conn = it->second.get();
      conn->timer = 0;
      conn->timer_kind = TimerKind::kClose;
      switch (kind) {
        case TimerKind::kHeaders:
          if (conn->handshaking) {
            // Nothing can be answered before the handshake: close.
            TlsHandshakeFailed(conn, "timeout");
            break;
          }
          BadRequest(conn, 408, "read_timeout",
                     "request headers not complete within the read timeout");
          break;
        case TimerKind::kBody:
          BadRequest(conn, 408, "body_timeout",
                     "request body not complete within the body timeout");
          break;
        case TimerKind::kClose:
          Close(conn);  // idle, or a response the client does not read
          break;
      }
    });
  }

  void CancelTimer(Conn* c) {
    if (c->timer != 0) loop_->CancelTimer(c->timer);
    c->timer = 0;
    c->timer_kind = TimerKind::kClose;
  }

  // ---- reading and parsing ----
  void OnConnEvents(Conn* c, uint32_t events) {
    const uint64_t id = c->id;
    if (c->handshaking) {
      Handshake(c);
      if (conns_.find(id) == conns_.end() || c->handshaking) return;
      // Application data may have come with the handshake's last flight.
      events |= EPOLLIN;
    }
    const bool readable = events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR);
    const bool writable = events & EPOLLOUT;
    if (writable || (readable && c->tls_write_wants_read)) {
      Flush(c);
      if (conns_.find(id) == conns_.end()) return;
    }
    if (readable || (writable && c->tls_read_wants_write)) {
      ReadFrom(c);
    }
  }

  // Registers with epoll what `c` waits for: always readable; writable
  // while output is pending (unless SSL waits for the peer) or SSL needs
  // it to go on reading or handshaking.
  void UpdateInterest(Conn* c) {
    uint32_t events = EPOLLIN | EPOLLRDHUP;
    if ((c->want_out && !c->tls_write_wants_read) || c->tls_read_wants_write) {
      events |= EPOLLOUT;
    }
    if (events == c->events) return;
    c->events = events;
    loop_->Modify(c->fd, events, c).IgnoreError();
  }

  // ---- TLS ----
  void Handshake(Conn* c) {
    ERR_clear_error();
    const int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
      c->handshaking = false;
      c->tls_read_wants_write = false;
      (SSL_session_reused(c->ssl) == 1 ? tls_resumed_ : tls_full_)
          ->Increment();
      UpdateInterest(c);
      return;
    }
    const int error = SSL_get_error(c->ssl, r);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
      c->tls_read_wants_write = error == SSL_ERROR_WANT_WRITE;
      UpdateInterest(c);
      return;
    }
    const unsigned long code = ERR_peek_last_error();
    const char* cause = tls::HandshakeFailureCause(c->ssl, error, code);
    const bool plain_http = ERR_GET_REASON(code) == SSL_R_HTTP_REQUEST;
    ERR_clear_error();
    if (plain_http) {
      // A browser or curl at http://: say what to do, in clear (fixed
      // text, nothing of the request). The rest of the request is read
      // first, so that the close sends a FIN and not a reset that would
      // destroy the answer before the client reads it.
      char drain[kReadChunk];
      ssize_t ignored = recv(c->fd, drain, sizeof(drain), MSG_DONTWAIT);
      ignored = send(c->fd, kUseHttps, sizeof(kUseHttps) - 1,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
      (void)ignored;
      shutdown(c->fd, SHUT_WR);
    }
    TlsHandshakeFailed(c, cause);
  }

  // Counts a failed handshake and closes the connection.
  void TlsHandshakeFailed(Conn* c, const char* cause) {
    options_.registry
        ->GetCounter("kess_http_tls_handshake_failures_total",
                     "TLS handshakes that failed at the HTTP server, by "
                     "cause.",
                     {{"cause", cause}})
        ->Increment();
    VLOG(1) << "http: TLS handshake with " << c->remote
            << " failed: " << cause;
    Close(c);
  }

  // Reads what the socket (through SSL for TLS) has now, up to `size`:
  // bytes (> 0), 0 at the end of the stream or an error, -1 if nothing is
  // there yet.
  ssize_t ReadSome(Conn* c, char* buf, size_t size) {
    if (c->ssl == nullptr) {
      ssize_t n = read(c->fd, buf, size);
      if (n < 0) {
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -1
                                                                         : 0;
      }
      return n;
    }
    size_t total = 0;
    c->tls_read_wants_write = false;
    while (size - total >= kTlsRecordBytes) {
      ERR_clear_error();
      const int n = SSL_read(c->ssl, buf + total,
                             static_cast<int>(size - total));
      if (n > 0) {
        total += static_cast<size_t>(n);
        continue;
      }
      const int error = SSL_get_error(c->ssl, n);
      if (error == SSL_ERROR_WANT_READ) break;
      if (error == SSL_ERROR_WANT_WRITE) {
        c->tls_read_wants_write = true;
        break;
      }
      // close_notify, EOF, a reset or a bad record: the end. Bytes already
      // read are served first; the next event finds the end again.
      ERR_clear_error();
      return total > 0 ? static_cast<ssize_t>(total) : 0;
    }
    UpdateInterest(c);
    return total > 0 ? static_cast<ssize_t>(total) : -1;
  }

  void ReadFrom(Conn* c) {
    char buf[kReadChunk];
    const ssize_t n = ReadSome(c, buf, sizeof(buf));
    if (n < 0) return;
    if (n == 0) {
      Close(c);  // peer closed (pipelined requests not yet served are lost)
      return;
    }
    c->in.append(buf, static_cast<size_t>(n));
    if (c->closing) {
      c->in.clear();  // answered with "close": ignore the rest
      return;
    }
    if (c->busy || c->want_out) {
      // Pipelined bytes while a request is in flight (a long poll holds its
      // connection for minutes): at most one request head's worth, so that
      // thousands of waiting connections cannot make the server buffer a
      // body each.
      if (c->in.size() > options_.max_header_bytes) {
        options_.registry
            ->GetCounter("kess_http_bad_requests_total",
                         "Requests refused before routing, by reason.",
                         {{"reason", "pipelined_too_large"}})
            ->Increment();
        Close(c);
      }
      return;  // parsed once the response in flight is written
    }
    // The headers' deadline runs from the first byte of a request on a
    // kept-alive connection (from accept for the first request).
    if (!c->head_done && c->timer_kind != TimerKind::kHeaders) {
      ArmTimer(c, options_.read_timeout, TimerKind::kHeaders);
    }
    TryParse(c);
  }

  void BadRequest(Conn* c, int status, const std::string& reason,
                  const std::string& message) {
    options_.registry
        ->GetCounter("kess_http_bad_requests_total",
                     "Requests refused before routing, by reason.",
                     {{"reason", reason}})
        ->Increment();
    c->in.clear();
    c->head_done = false;
    c->busy = true;  // no further parsing
    c->route_label = "unmatched";
    c->started = std::chrono::steady_clock::now();
    c->keep_alive = false;
    std::string code = status == 408   ? "DEADLINE_EXCEEDED"
                       : status == 413 ? "RESOURCE_EXHAUSTED"
                       : status == 431 ? "RESOURCE_EXHAUSTED"
                       : status == 501 ? "UNIMPLEMENTED"
                                       : "INVALID_ARGUMENT";
    Finish(c, ErrorResponse(status, code, message));
  }

  // Parses one request from c->in if it is complete and dispatches it.
  void TryParse(Conn* c) {
    if (c->busy || c->closing || c->want_out) return;
    if (c->head_done) {
      TakeBody(c);
      return;
    }
    if (c->in.empty()) return;
    size_t end = c->in.find("\r\n\r\n");
    if (end == std::string::npos) {
      if (c->in.size() > options_.max_header_bytes) {
        BadRequest(c, 431, "header_too_large",
                   absl::StrCat("request headers exceed ",
                                options_.max_header_bytes, " bytes"));
      }
      return;
    }
    if (end + 4 > options_.max_header_bytes) {
      BadRequest(c, 431, "header_too_large",
                 absl::StrCat("request headers exceed ",
                              options_.max_header_bytes, " bytes"));
      return;
    }
    absl::string_view head(c->in.data(), end);
    std::vector<absl::string_view> lines = absl::StrSplit(head, "\r\n");
    // Request line: METHOD SP target SP HTTP/x.y
    std::vector<absl::string_view> parts = absl::StrSplit(lines[0], ' ');
    if (parts.size() != 3 || !IsToken(parts[0]) || parts[1].empty() ||
        parts[1][0] != '/') {
      BadRequest(c, 400, "request_line", "malformed request line");
      return;
    }
    bool http10 = false;
    if (parts[2] == "HTTP/1.0") {
      http10 = true;
    } else if (parts[2] != "HTTP/1.1") {
      if (absl::StartsWith(parts[2], "HTTP/")) {
        BadRequest(c, 505, "version", "only HTTP/1.0 and HTTP/1.1");
      } else {
        BadRequest(c, 400, "request_line", "malformed request line");
      }
      return;
    }
    HttpRequest request;
    request.method = std::string(parts[0]);
    request.remote_address = c->remote;
    request.tls = c->ssl != nullptr;
    request.peer = c->peer;
    for (char ch : parts[1]) {
      if (static_cast<unsigned char>(ch) <= 0x20 || ch == 0x7f) {
        BadRequest(c, 400, "request_line", "control character in target");
        return;
      }
    }
    absl::string_view target = parts[1];
    size_t q = target.find('?');
    absl::string_view raw_path = target.substr(0, q);
    if (q != absl::string_view::npos) {
      request.query_string = std::string(target.substr(q + 1));
      size_t hash = request.query_string.find('#');
      if (hash != std::string::npos) request.query_string.resize(hash);
    }
    if (!PercentDecode(raw_path, /*plus_is_space=*/false, &request.path)) {
      BadRequest(c, 400, "target", "bad percent-encoding in the path");
      return;
    }
    for (absl::string_view pair :
         absl::StrSplit(request.query_string, '&', absl::SkipEmpty())) {
      size_t eq = pair.find('=');
      std::string k, v;
      if (!PercentDecode(pair.substr(0, eq), true, &k) ||
          (eq != absl::string_view::npos &&
           !PercentDecode(pair.substr(eq + 1), true, &v))) {
        BadRequest(c, 400, "target", "bad percent-encoding in the query");
        return;
      }
      request.query.emplace(std::move(k), std::move(v));  // first one wins
    }
    int64_t content_length = 0;
    bool have_length = false;
    for (size_t i = 1; i < lines.size(); ++i) {
      absl::string_view line = lines[i];
      size_t colon = line.find(':');
      if (colon == absl::string_view::npos || !IsToken(line.substr(0, colon))) {
        BadRequest(c, 400, "header", "malformed header line");
        return;
      }
      std::string name = absl::AsciiStrToLower(line.substr(0, colon));
      std::string value(absl::StripAsciiWhitespace(line.substr(colon + 1)));
      for (char ch : value) {
        if ((static_cast<unsigned char>(ch) < 0x20 && ch != '\t') ||
            ch == 0x7f) {
          BadRequest(c, 400, "header", "control character in a header");
          return;
        }
      }
      if (name == "content-length") {
        int64_t n = 0;
        if (value.empty() ||
            value.find_first_not_of("0123456789") != std::string::npos ||
            value.size() > 18 || !absl::SimpleAtoi(value, &n) ||
            (have_length && n != content_length)) {
          BadRequest(c, 400, "content_length", "bad Content-Length");
          return;
        }
        have_length = true;
        content_length = n;
      } else if (name == "transfer-encoding") {
        BadRequest(c, 501, "transfer_encoding",
                   "Transfer-Encoding is not supported; send Content-Length");
        return;
      }
      auto [it, inserted] = request.headers.emplace(name, value);
      if (!inserted) it->second += ", " + value;
    }
    if (!http10 && request.headers.count("host") == 0) {
      // RFC 9112 section 3.2: an HTTP/1.1 request without Host is a 400.
      BadRequest(c, 400, "missing_host", "an HTTP/1.1 request needs Host");
      return;
    }
    std::string connection = absl::AsciiStrToLower(request.Header("connection"));
    c->keep_alive = http10 ? absl::StrContains(connection, "keep-alive")
                           : !absl::StrContains(connection, "close");
    c->in.erase(0, end + 4);
    if (Admit(c, request)) return;  // answered without its body
    const size_t body_limit = BodyLimitFor(request.path);
    if (static_cast<uint64_t>(content_length) > body_limit) {
      BadRequest(c, 413, "body_too_large",
                 absl::StrCat("request body of ", content_length,
                              " bytes exceeds the limit of ", body_limit));
      return;
    }
    c->head_done = true;
    c->head = std::move(request);
    c->body_len = static_cast<size_t>(content_length);
    if (c->in.size() < c->body_len) {
      ArmTimer(c, options_.body_timeout, TimerKind::kBody);
    }
    TakeBody(c);
  }

  // The body of the request whose headers are in, if it is complete:
  // dispatched.
  void TakeBody(Conn* c) {
    if (c->in.size() < c->body_len) return;  // the body timer runs
    HttpRequest request = std::move(c->head);
    c->head = HttpRequest();
    c->head_done = false;
    request.body = c->in.substr(0, c->body_len);
    c->in.erase(0, c->body_len);
    c->body_len = 0;
    CancelTimer(c);
    Dispatch(c, std::move(request));
  }

  size_t BodyLimitFor(const std::string& path) const {
    auto it = options_.max_body_bytes_by_path.find(path);
    return it == options_.max_body_bytes_by_path.end()
               ? options_.max_body_bytes
               : std::min(options_.max_body_bytes, it->second);
  }

  // Options::admit for a request whose headers are in: true if it was
  // answered (and the connection is to close: its body is not read).
  bool Admit(Conn* c, const HttpRequest& request) {
    if (!options_.admit || !HostAllowed(request.Header("host"))) return false;
    const Route* route = Find(request.path);
    if (route == nullptr || (route->sync.count(request.method) == 0 &&
                             route->async.count(request.method) == 0)) {
      return false;  // 404 / 405 after the body, as usual
    }
    std::optional<HttpResponse> refused;
    try {
      refused = options_.admit(request);
    } catch (const std::exception& e) {
      LOG(ERROR) << "http: admit threw: " << e.what();
      refused = HttpResponse::Error(absl::InternalError("internal error"));
    }
    if (!refused.has_value()) return false;
    CancelTimer(c);
    c->in.clear();
    c->busy = true;
    c->seq = next_seq_++;
    c->started = std::chrono::steady_clock::now();
    c->route_label = route->pattern;
    c->keep_alive = false;
    Finish(c, *std::move(refused));
    return true;
  }

  // Options::allowed_hosts: the name in `host` ("name", "name:port",
  // "[v6]", "[v6]:port"), without its port, is one of them. Any on a unix
  // socket, or without a list.
  bool HostAllowed(const std::string& host) const {
    if (options_.allowed_hosts.empty() || !options_.unix_socket.empty()) {
      return true;
    }
    if (host.empty()) return true;  // HTTP/1.0; browsers always send one
    std::string name;
    if (host[0] == '[') {
      const size_t close = host.find(']');
      if (close == std::string::npos) return false;
      name = host.substr(1, close - 1);
    } else {
      const size_t colon = host.find(':');
      name = host.substr(0, colon);
    }
    name = absl::AsciiStrToLower(name);
    for (const std::string& allowed : options_.allowed_hosts) {
      if (absl::AsciiStrToLower(allowed) == name) return true;
    }
    return false;
  }

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

  void Dispatch(Conn* c, HttpRequest request) {
    c->busy = true;
    c->seq = next_seq_++;
    c->started = std::chrono::steady_clock::now();
    c->route_label = "unmatched";
    if (!HostAllowed(request.Header("host"))) {
      Finish(c, ErrorResponse(403, "PERMISSION_DENIED",
                              "this server answers only requests for " +
                                  absl::StrJoin(options_.allowed_hosts, ", ") +
                                  " (Host header)"));
      return;
    }
    const Route* route = Find(request.path);
    if (route == nullptr) {
      Finish(c, HttpResponse::Error(
                    absl::NotFoundError("no such endpoint: " + request.path)));
      return;
    }
    c->route_label = route->pattern;
    auto async = route->async.find(request.method);
    if (async != route->async.end()) {
      auto state = std::make_shared<HttpResponder::State>();
      state->core = core_;
      state->conn_id = c->id;
      state->seq = c->seq;
      HttpResponder responder(state);
      current_ = c;
      try {
        async->second(request, responder);
      } catch (const std::exception& e) {
        LOG(ERROR) << "http: async handler for " << request.method << " "
                   << request.path << " threw: " << e.what();
        responder.Send(
            HttpResponse::Error(absl::InternalError("internal error")));
      }
      current_ = nullptr;
      return;
    }
    auto sync = route->sync.find(request.method);
    if (sync != route->sync.end()) {
      WorkerPool& pool =
          fast_paths_.count(request.path) > 0 ? fast_workers_ : workers_;
      pool.Push(Work{&sync->second, std::move(request), c->id, c->seq});
      return;
    }
    std::vector<std::string> allowed;
    for (const auto& kv : route->sync) allowed.push_back(kv.first);
    for (const auto& kv : route->async) allowed.push_back(kv.first);
    std::sort(allowed.begin(), allowed.end());
    HttpResponse r = ErrorResponse(
        405, "METHOD_NOT_ALLOWED",
        request.method + " not allowed on " + request.path);
    r.headers.emplace_back("Allow", absl::StrJoin(allowed, ", "));
    Finish(c, std::move(r));
  }

 public:
  // Loop thread: HttpResponder::OnCancel registers here.
  Conn* current() const { return current_; }

 private:
  // ---- answering ----
  void Respond(uint64_t conn_id, uint64_t seq, HttpResponse response) {
    auto it = conns_.find(conn_id);
    if (it == conns_.end()) return;
    Conn* c = it->second.get();
    if (!c->busy || c->seq != seq) return;
    Finish(c, std::move(response));
  }

  // The response to the request in flight on `c`.
  void Finish(Conn* c, HttpResponse response) {
    c->on_cancel = nullptr;
    double seconds = std::chrono::duration<double>(
                         std::chrono::steady_clock::now() - c->started)
                         .count();
    Count(c->route_label, response.status, seconds);
    if (!c->keep_alive) c->closing = true;
    if (c->out_body != nullptr) {
      // Output of an earlier response is still pending: keep the order.
      c->out.append(*c->out_body, c->body_off, std::string::npos);
      c->out_body = nullptr;
      c->body_off = 0;
    }
    c->out.append(Serialize(response, c->keep_alive));
    if (response.shared_body != nullptr) {
      c->out_body = std::move(response.shared_body);
      c->body_off = 0;
    }
    c->busy = false;
    const uint64_t id = c->id;
    Flush(c);
    if (conns_.find(id) == conns_.end()) return;
    // While output is pending Flush() armed the write timeout and calls
    // Ready() when it is written.
    if (!c->closing && !c->want_out) Ready(c);
  }

  // `c` has no request in flight and nothing to write: wait for the next
  // request, or parse a pipelined one (posted, so that a long pipeline is
  // not served by recursion).
  void Ready(Conn* c) {
    if (c->in.empty()) {
      ArmTimer(c, options_.idle_timeout, TimerKind::kClose);
      return;
    }
    ArmTimer(c, options_.read_timeout, TimerKind::kHeaders);
    uint64_t id = c->id;
    loop_->Post([this, id] {
      auto it = conns_.find(id);
      if (it == conns_.end()) return;
      Conn* conn = it->second.get();
      if (!conn->busy && !conn->closing && !conn->want_out) TryParse(conn);
    });
  }

  void Count(const std::string& route, int status, double seconds) {
    auto key = std::make_pair(route, status);
    auto it = counters_.find(key);
    if (it == counters_.end()) {
      metrics::Counter* counter = options_.registry->GetCounter(
          "kess_http_requests_total",
          "HTTP requests served, by route and status code.",
          {{"route", route}, {"code", std::to_string(status)}});
      it = counters_.emplace(key, counter).first;
    }
    it->second->Increment();
    auto h = histograms_.find(route);
    if (h == histograms_.end()) {
      metrics::Histogram* histogram = options_.registry->GetHistogram(
          "kess_http_request_duration_seconds",
          "Time to handle an HTTP request, by route.",
          metrics::LatencyBuckets(), {{"route", route}});
      h = histograms_.emplace(route, histogram).first;
    }
    h->second->Observe(seconds);
  }

  // Writes what it can of `c`'s output through SSL: false if the
  // connection failed (then closed).
  bool FlushTls(Conn* c) {
    c->tls_write_wants_read = false;
    while (true) {
      const char* data;
      size_t length;
      bool from_out;
      if (c->out_off < c->out.size()) {
        data = c->out.data() + c->out_off;
        length = c->out.size() - c->out_off;
        from_out = true;
      } else if (c->out_body != nullptr &&
                 c->body_off < c->out_body->size()) {
        data = c->out_body->data() + c->body_off;
        length = c->out_body->size() - c->body_off;
        from_out = false;
      } else {
        return true;
      }
      ERR_clear_error();
      const int n = SSL_write(c->ssl, data,
                              static_cast<int>(std::min(length,
                                                        kTlsMaxWriteBytes)));
      if (n > 0) {
        (from_out ? c->out_off : c->body_off) += static_cast<size_t>(n);
        continue;
      }
      const int error = SSL_get_error(c->ssl, n);
      if (error == SSL_ERROR_WANT_WRITE) return true;
      if (error == SSL_ERROR_WANT_READ) {
        c->tls_write_wants_read = true;
        return true;
      }
      ERR_clear_error();
      Close(c);
      return false;
    }
  }

  void Flush(Conn* c) {
    auto body_left = [c] {
      return c->out_body == nullptr ? 0 : c->out_body->size() - c->body_off;
    };
    if (c->ssl != nullptr && !FlushTls(c)) return;
    while (c->ssl == nullptr && (c->out_off < c->out.size() || body_left() > 0)) {
      // The headers (and unshared output) then the shared body, in one call.
      iovec iov[2];
      int parts = 0;
      if (c->out_off < c->out.size()) {
        iov[parts].iov_base = c->out.data() + c->out_off;
        iov[parts].iov_len = c->out.size() - c->out_off;
        ++parts;
      }
      if (body_left() > 0) {
        iov[parts].iov_base =
            const_cast<char*>(c->out_body->data()) + c->body_off;
        iov[parts].iov_len = body_left();
        ++parts;
      }
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = parts;
      ssize_t n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        Close(c);
        return;
      }
      size_t sent = static_cast<size_t>(n);
      const size_t from_out = std::min(sent, c->out.size() - c->out_off);
      c->out_off += from_out;
      c->body_off += sent - from_out;
    }
    if (c->out_off >= c->out.size() && body_left() == 0) {
      c->out.clear();
      c->out_off = 0;
      c->out_body = nullptr;
      c->body_off = 0;
      if (c->closing) {
        Close(c);
        return;
      }
      if (c->want_out) {
        c->want_out = false;
        UpdateInterest(c);
        if (!c->busy) Ready(c);
      }
      return;
    }
    if (!c->want_out) {
      c->want_out = true;
      ArmTimer(c, options_.write_timeout, TimerKind::kClose);
    }
    UpdateInterest(c);
  }

  void Close(Conn* c) {
    CancelTimer(c);
    std::function<void()> cancel = std::move(c->on_cancel);
    c->on_cancel = nullptr;
    loop_->Remove(c->fd);
    if (c->ssl != nullptr) {
      if (!c->handshaking) {
        // close_notify, best effort (never waits): the client can tell our
        // close from a cut connection.
        ERR_clear_error();
        SSL_shutdown(c->ssl);
        ERR_clear_error();
      }
      SSL_free(c->ssl);
      c->ssl = nullptr;
    }
    close(c->fd);
    c->fd = -1;
    if (!c->address_key.empty()) {
      auto count = per_address_.find(c->address_key);
      if (count != per_address_.end() && --count->second == 0) {
        per_address_.erase(count);
      }
    }
    auto it = conns_.find(c->id);
    std::unique_ptr<Conn> owned = std::move(it->second);
    conns_.erase(it);
    open_count_.store(conns_.size());
    open_gauge_->Add(-1);
    loop_->DeleteSoon(std::move(owned));
    if (cancel) cancel();
  }

  // ---- the blocking handlers' workers ----
  struct Work {
    const HttpHandler* handler;
    HttpRequest request;
    uint64_t conn_id;
    uint64_t seq;
  };

  // Threads running blocking handlers from a queue.
  class WorkerPool {
   public:
    void Start(int threads, Impl* impl) {
      for (int i = 0; i < threads; ++i) {
        threads_.emplace_back([this, impl] {
          while (true) {
            Work work;
            {
              std::unique_lock<std::mutex> lock(mu_);
              cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
              if (stop_) return;  // queued requests are dropped
              work = std::move(queue_.front());
              queue_.pop_front();
            }
            impl->RunWork(std::move(work));
          }
        });
      }
    }
    void Push(Work work) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        queue_.push_back(std::move(work));
      }
      cv_.notify_one();
    }
    void StopAndJoin() {
      {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
      }
      cv_.notify_all();
      for (std::thread& t : threads_) t.join();
      threads_.clear();
    }

   private:
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Work> queue_;  // at most one per connection
    bool stop_ = false;
    std::vector<std::thread> threads_;
  };

  void RunWork(Work work) {
    {
      HttpResponse response;
      try {
        response = (*work.handler)(work.request);
      } catch (const std::exception& e) {
        LOG(ERROR) << "http: handler for " << work.request.method << " "
                   << work.request.path << " threw: " << e.what();
        response = HttpResponse::Error(absl::InternalError("internal error"));
      }
      Deliver(core_, work.conn_id, work.seq, std::move(response));
    }
  }

  const Options options_;
  std::shared_ptr<ServerCore> core_;
  int listen_fd_ = -1;
  std::unique_ptr<UnixSocketPlacement> socket_place_;
  bool started_ = false;
  std::unique_ptr<EventLoop> loop_;
  Listener listener_;
  std::map<std::string, Route> exact_;
  std::map<std::string, Route> prefixes_;

  // Loop thread only.
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns_;
  uint64_t next_conn_id_ = 1;
  uint64_t next_seq_ = 1;
  Conn* current_ = nullptr;  // during an async handler call
  bool accept_paused_ = false;  // the listener is out of the loop
  EventLoop::TimerId resume_timer_ = 0;
  std::map<std::pair<std::string, int>, metrics::Counter*> counters_;
  std::map<std::string, metrics::Histogram*> histograms_;
  std::atomic<size_t> open_count_{0};

  std::unordered_map<std::string, size_t> per_address_;  // open, by IP
  std::set<std::string> fast_paths_;
  WorkerPool workers_;
  WorkerPool fast_workers_;  // Options::fast_paths

  metrics::Gauge* open_gauge_;
  metrics::Counter* refused_;
  metrics::Counter* accept_pauses_;
  metrics::Counter* tls_full_;
  metrics::Counter* tls_resumed_;
  metrics::Counter* refused_per_address_;
};

// ---- HttpResponder ----

void HttpResponder::Send(HttpResponse response) const {
  if (state_ == nullptr || state_->sent.exchange(true)) return;
  EventHttpServer::Impl::Deliver(state_->core, state_->conn_id, state_->seq,
                                 std::move(response));
}

void HttpResponder::OnCancel(std::function<void()> fn) const {
  if (state_ == nullptr) return;
  EventHttpServer::Impl* impl;
  {
    absl::MutexLock lock(&state_->core->mu);
    impl = state_->core->impl;
  }
  if (impl == nullptr) return;
  auto* conn = impl->current();
  CHECK(conn != nullptr && conn->id == state_->conn_id)
      << "HttpResponder::OnCancel outside its async handler";
  conn->on_cancel = std::move(fn);
}

// ---- EventHttpServer ----

EventHttpServer::EventHttpServer(std::unique_ptr<Impl> impl, int port)
    : impl_(std::move(impl)), port_(port) {}

absl::StatusOr<std::unique_ptr<EventHttpServer>> EventHttpServer::Create(
    Options options) {
  auto impl = std::make_unique<Impl>(options);
  int port = 0;
  KESS_RETURN_IF_ERROR(impl->Bind(&port));
  std::unique_ptr<EventHttpServer> server(
      new EventHttpServer(std::move(impl), port));
  EventHttpServer* self = server.get();
  server->Handle("GET", "/healthz", [self](const HttpRequest&) {
    const auto& health = self->impl_->options().health;
    absl::Status status = health ? health() : absl::OkStatus();
    HttpResponse r =
        status.ok()
            ? HttpResponse::Text(200, "ok\n")
            : HttpResponse::Text(503, std::string(status.message()) + "\n");
    AddVersionHeaders(&r);
    return r;
  });
  server->Handle("GET", "/metrics", [self](const HttpRequest&) {
    HttpResponse r =
        HttpResponse::Text(200, self->impl_->options().registry->RenderText());
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    return r;
  });
  return server;
}

EventHttpServer::~EventHttpServer() { Stop(); }

void EventHttpServer::Handle(const std::string& method, const std::string& path,
                             HttpHandler handler) {
  impl_->Add(method, path, /*prefix=*/false, std::move(handler), nullptr);
}

void EventHttpServer::HandlePrefix(const std::string& method,
                                   const std::string& prefix,
                                   HttpHandler handler) {
  impl_->Add(method, prefix, /*prefix=*/true, std::move(handler), nullptr);
}

void EventHttpServer::HandleAsync(const std::string& method,
                                  const std::string& path,
                                  AsyncHttpHandler handler) {
  impl_->Add(method, path, /*prefix=*/false, nullptr, std::move(handler));
}

void EventHttpServer::HandleAsyncPrefix(const std::string& method,
                                        const std::string& prefix,
                                        AsyncHttpHandler handler) {
  impl_->Add(method, prefix, /*prefix=*/true, nullptr, std::move(handler));
}

absl::Status EventHttpServer::Start() {
  KESS_RETURN_IF_ERROR(impl_->Start());
  LOG(INFO) << "http: event server"
            << (impl_->options().tls != nullptr ? " (HTTPS)" : "") << " on "
            << (impl_->options().unix_socket.empty()
                    ? absl::StrCat(impl_->options().host, ":", port_)
                    : "unix socket " + impl_->options().unix_socket);
  return absl::OkStatus();
}

void EventHttpServer::Stop() { impl_->Stop(); }

size_t EventHttpServer::connections() const { return impl_->connections(); }

}  // namespace http
}  // namespace kess
