#include "common/http_client.h"

#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <istream>
#include <memory>
#include <ostream>

#include "Poco/Exception.h"
#include "Poco/Net/HTTPClientSession.h"
#include "Poco/Net/HTTPRequest.h"
#include "Poco/Net/HTTPResponse.h"
#include "Poco/Net/NetException.h"
#include "Poco/Net/SocketAddress.h"
#include "Poco/Net/StreamSocket.h"
#include "Poco/StreamCopier.h"
#include "Poco/String.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/socket_bio.h"

namespace kess {
namespace {

constexpr char kHttps[] = "https://";
constexpr char kHttp[] = "http://";
// Bounds of a reply's status line and headers.
constexpr size_t kMaxReplyHeadBytes = 1 << 20;

absl::Mutex default_ca_mu;
std::string& DefaultCa() ABSL_EXCLUSIVE_LOCKS_REQUIRED(default_ca_mu) {
  static std::string* ca = new std::string;
  return *ca;
}

// "host:port" / "[v6]:port" without a scheme: host (brackets removed) and
// port, or false.
bool SplitHostPort(const std::string& address, std::string* host, int* port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return false;
  *host = address.substr(0, colon);
  if (!host->empty() && host->front() == '[') {
    *host = host->size() >= 3 && host->back() == ']'
                ? host->substr(1, host->size() - 2)
                : "";
  }
  return !host->empty() && absl::SimpleAtoi(address.substr(colon + 1), port) &&
         *port > 0 && *port <= 65535;
}

std::string LastSslErrors() {
  std::string out;
  unsigned long code;
  while ((code = ERR_get_error()) != 0) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof(buffer));
    if (!out.empty()) out += "; ";
    out += buffer;
  }
  return out;
}

bool IsIpLiteral(const std::string& host) {
  unsigned char buffer[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

// The clients' SSL_CTX per CA bundle, built again when the file changes
// (a rotated CA applies to the next connection).
class ClientContexts {
 public:
  static ClientContexts& Get() {
    static ClientContexts* contexts = new ClientContexts;
    return *contexts;
  }

  absl::StatusOr<std::shared_ptr<SSL_CTX>> For(const std::string& ca_file) {
    struct stat st;
    if (stat(ca_file.c_str(), &st) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("HTTPS: cannot read the CA bundle ", ca_file, ": ",
                       strerror(errno)));
    }
    const std::string stamp =
        absl::StrCat(st.st_ino, "/", st.st_size, "/", st.st_mtim.tv_sec, ".",
                     st.st_mtim.tv_nsec);
    absl::MutexLock lock(&mu_);
    Entry& entry = entries_[ca_file];
    if (entry.ctx != nullptr && entry.stamp == stamp) return entry.ctx;
    ERR_clear_error();
    std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_client_method()),
                                 SSL_CTX_free);
    if (ctx == nullptr) {
      return absl::InternalError("HTTPS: SSL_CTX_new: " + LastSslErrors());
    }
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    SSL_CTX_set_options(ctx.get(), SSL_OP_NO_COMPRESSION |
                                       SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    if (SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr) !=
        1) {
      return absl::FailedPreconditionError(absl::StrCat(
          "HTTPS: the CA bundle ", ca_file, " is not usable: ",
          LastSslErrors()));
    }
    entry.ctx = ctx;
    entry.stamp = stamp;
    return ctx;
  }

 private:
  struct Entry {
    std::shared_ptr<SSL_CTX> ctx;
    std::string stamp;
  };
  absl::Mutex mu_;
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

void SetDefaultHttpsCaFile(const std::string& ca_file) {
  absl::MutexLock lock(&default_ca_mu);
  DefaultCa() = ca_file;
}

std::string DefaultHttpsCaFile() {
  absl::MutexLock lock(&default_ca_mu);
  return DefaultCa();
}

bool IsHttpsAddress(const std::string& address) {
  return absl::StartsWith(address, kHttps);
}

std::string HttpReply::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

absl::StatusOr<HttpReply> HttpCall(
    const std::string& address, const std::string& method,
    const std::string& uri, const std::string& body, absl::Duration timeout,
    const std::vector<std::pair<std::string, std::string>>& headers,
    HttpFailure* failure) {
  HttpCallOptions options;
  options.timeout = timeout;
  options.headers = headers;
  options.failure = failure;
  return HttpCall(address, method, uri, body, options);
}

absl::StatusOr<HttpReply> HttpCall(const std::string& address_in,
                                   const std::string& method,
                                   const std::string& uri,
                                   const std::string& body,
                                   const HttpCallOptions& options) {
  if (IsHttpsAddress(address_in)) {
    HttpConnection connection(address_in, options);
    return connection.Call(method, uri, body, /*close=*/true);
  }
  const absl::Duration timeout = options.timeout;
  const auto& headers = options.headers;
  HttpFailure* failure = options.failure;
  const std::string address = absl::StartsWith(address_in, kHttp)
                                  ? address_in.substr(sizeof(kHttp) - 1)
                                  : address_in;
  HttpFailure ignored;
  if (failure == nullptr) failure = &ignored;
  *failure = HttpFailure();
  const bool unix_socket = absl::StartsWith(address, "unix:");
  const size_t colon = address.rfind(':');
  int port = 0;
  std::string host = colon == std::string::npos ? "" : address.substr(0, colon);
  if (!host.empty() && host.front() == '[') {
    host = host.size() >= 3 && host.back() == ']'
               ? host.substr(1, host.size() - 2)
               : "";
  }
  if (!unix_socket && (host.empty() || !absl::SimpleAtoi(address.substr(colon + 1), &port) ||
      port <= 0 || port > 65535)) {
    failure->reason = "not host:port";
    return absl::InvalidArgumentError(
        absl::StrCat("bad HTTP address \"", address, "\" (want host:port)"));
  }
  if (unix_socket && address.size() <= 5) {
    failure->reason = "no socket path";
    return absl::InvalidArgumentError(
        absl::StrCat("bad HTTP address \"", address, "\" (want unix:<path>)"));
  }
  const std::string what =
      unix_socket ? absl::StrCat(method, " ", address, " ", uri)
                  : absl::StrCat(method, " http://", address, uri);
  const std::string timed_out =
      absl::StrCat("timed out after ", absl::FormatDuration(timeout));
  try {
    const int64_t us = absl::ToInt64Microseconds(timeout);
    const Poco::Timespan span(us / 1000000, us % 1000000);
    std::unique_ptr<Poco::Net::HTTPClientSession> session_holder;
    if (unix_socket) {
      Poco::Net::StreamSocket socket;
      socket.connect(Poco::Net::SocketAddress(
                         Poco::Net::SocketAddress::UNIX_LOCAL,
                         address.substr(5)),
                     span);
      session_holder = std::make_unique<Poco::Net::HTTPClientSession>(socket);
    } else {
      session_holder = std::make_unique<Poco::Net::HTTPClientSession>(
          host, static_cast<Poco::UInt16>(port));
    }
    Poco::Net::HTTPClientSession& session = *session_holder;
    session.setTimeout(span, span, span);
    Poco::Net::HTTPRequest request(method, uri,
                                   Poco::Net::HTTPMessage::HTTP_1_1);
    if (unix_socket) request.setHost("localhost");
    request.setContentLength(static_cast<std::streamsize>(body.size()));
    if (!body.empty()) request.setContentType("application/json");
    for (const auto& [name, value] : headers) request.set(name, value);
    std::ostream& out = session.sendRequest(request);
    out.write(body.data(), static_cast<std::streamsize>(body.size()));
    out.flush();
    if (!out) {
      failure->reason = "sending the request failed";
      return absl::UnavailableError(absl::StrCat(what, ": ", failure->reason));
    }
    failure->sent = true;
    Poco::Net::HTTPResponse response;
    std::istream& in = session.receiveResponse(response);
    HttpReply reply;
    reply.status = response.getStatus();
    reply.content_type = response.getContentType();
    for (const auto& [name, value] : response) {
      reply.headers[Poco::toLower(name)] = value;
    }
    Poco::StreamCopier::copyToString(in, reply.body);
    return reply;
  } catch (const Poco::Net::ConnectionRefusedException&) {
    failure->reason = "connection refused";
    return absl::UnavailableError(absl::StrCat(what, ": ", failure->reason));
  } catch (const Poco::TimeoutException& e) {
    failure->reason = timed_out;
    return absl::DeadlineExceededError(
        absl::StrCat(what, ": no answer within ", absl::FormatDuration(timeout),
                     " (", e.displayText(), ")"));
  } catch (const Poco::Exception& e) {
    failure->reason = e.displayText();
    return absl::UnavailableError(absl::StrCat(what, ": ", e.displayText()));
  } catch (const std::exception& e) {
    failure->reason = e.what();
    return absl::UnavailableError(absl::StrCat(what, ": ", e.what()));
  }
}


// ---- HttpConnection ----

class HttpConnection::Impl {
 public:
  ~Impl() { Close(); }

  bool open() const { return fd_ >= 0; }

  void Close() {
    if (ssl_ != nullptr) {
      if (handshake_done_) {
        ERR_clear_error();
        SSL_shutdown(ssl_);  // close_notify, best effort: never waits
        ERR_clear_error();
      }
      SSL_free(ssl_);
      ssl_ = nullptr;
    }
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    handshake_done_ = false;
    in_.clear();
  }

  // A kept-alive connection the server closed (idle timeout) is readable
  // (EOF) before a request: it is not used again.
  bool Stale() const {
    if (fd_ < 0) return true;
    pollfd p{fd_, POLLIN, 0};
    return poll(&p, 1, 0) != 0 || !in_.empty();
  }

  absl::Status Connect(const std::string& address,
                       const HttpCallOptions& options, HttpFailure* failure) {
    Close();
    timeout_ = options.timeout;
    timed_out_ =
        absl::StrCat("timed out after ", absl::FormatDuration(timeout_));
    const bool tls = IsHttpsAddress(address);
    std::string rest = address;
    if (tls) {
      rest = address.substr(sizeof(kHttps) - 1);
    } else if (absl::StartsWith(address, kHttp)) {
      rest = address.substr(sizeof(kHttp) - 1);
    }
    while (!rest.empty() && rest.back() == '/') rest.pop_back();
    std::string host;
    int port = 0;
    if (!SplitHostPort(rest, &host, &port)) {
      failure->reason = "not host:port";
      return absl::InvalidArgumentError(
          absl::StrCat("bad HTTP address \"", address,
                       "\" (want host:port, http://host:port or "
                       "https://host:port)"));
    }
    std::shared_ptr<SSL_CTX> ctx;
    if (tls) {
      const std::string ca =
          options.ca_file.empty() ? DefaultHttpsCaFile() : options.ca_file;
      if (ca.empty()) {
        failure->reason =
            "no CA bundle to verify the HTTPS server with (kessctl: --ca or "
            "KESS_CA; daemons: --tls_ca)";
        return absl::FailedPreconditionError(absl::StrCat(
            address,
            ": no CA bundle to verify the HTTPS server with (kessctl: --ca "
            "or KESS_CA; daemons: --tls_ca)"));
      }
      absl::StatusOr<std::shared_ptr<SSL_CTX>> got =
          ClientContexts::Get().For(ca);
      if (!got.ok()) {
        failure->reason = "bad CA bundle";
        return got.status();
      }
      ctx = *std::move(got);
      ca_file_ = ca;
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* found = nullptr;
    const std::string port_text = std::to_string(port);
    const int gai = getaddrinfo(host.c_str(), port_text.c_str(), &hints, &found);
    if (gai != 0) {
      failure->reason = absl::StrCat("cannot resolve ", host);
      return absl::UnavailableError(
          absl::StrCat(address, ": cannot resolve ", host, ": ",
                       gai_strerror(gai)));
    }
    absl::Status last = absl::UnavailableError(address + ": no address");
    for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
      last = ConnectTcp(a, address, failure);
      if (last.ok()) break;
    }
    freeaddrinfo(found);
    if (!last.ok()) return last;
    if (tls) {
      const std::string name =
          options.server_name.empty() ? host : options.server_name;
      absl::Status handshake = Handshake(ctx.get(), name, address, failure);
      if (!handshake.ok()) {
        Close();
        return handshake;
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<HttpReply> Exchange(const std::string& address,
                                     const std::string& method,
                                     const std::string& uri,
                                     const std::string& body,
                                     const HttpCallOptions& options,
                                     bool close_after, HttpFailure* failure) {
    const std::string what = absl::StrCat(method, " ", address, uri);
    std::string host_header = address;
    for (const char* scheme : {kHttps, kHttp}) {
      if (absl::StartsWith(host_header, scheme)) {
        host_header = host_header.substr(strlen(scheme));
      }
    }
    std::string request = absl::StrCat(method, " ", uri, " HTTP/1.1\r\nHost: ",
                                       host_header, "\r\nContent-Length: ",
                                       body.size(), "\r\n");
    bool have_type = false;
    for (const auto& [name, value] : options.headers) {
      if (absl::EqualsIgnoreCase(name, "content-type")) have_type = true;
      if (absl::EqualsIgnoreCase(name, "content-length") ||
          absl::EqualsIgnoreCase(name, "host") ||
          absl::EqualsIgnoreCase(name, "connection")) {
        continue;
      }
      absl::StrAppend(&request, name, ": ", value, "\r\n");
    }
    if (!body.empty() && !have_type) {
      request += "Content-Type: application/json\r\n";
    }
    absl::StrAppend(&request, "Connection: ",
                    close_after ? "close" : "keep-alive", "\r\n\r\n", body);
    absl::Status sent = Send(request);
    if (!sent.ok()) {
      failure->reason = IsDeadline(sent) ? timed_out_ : "sending the request failed";
      Close();
      return Wrap(what, sent);
    }
    failure->sent = true;
    absl::StatusOr<HttpReply> reply = Receive(method, close_after);
    if (!reply.ok()) {
      failure->reason = IsDeadline(reply.status()) ? timed_out_
                                                   : std::string(reply.status().message());
      Close();
      return Wrap(what, reply.status());
    }
    return reply;
  }

 private:
  static bool IsDeadline(const absl::Status& s) {
    return absl::IsDeadlineExceeded(s);
  }

  absl::Status Wrap(const std::string& what, const absl::Status& s) const {
    if (IsDeadline(s)) {
      return absl::DeadlineExceededError(
          absl::StrCat(what, ": no answer within ",
                       absl::FormatDuration(timeout_), " (", s.message(), ")"));
    }
    return absl::Status(s.code(), absl::StrCat(what, ": ", s.message()));
  }

  // Waits until `fd_` is ready for `events`, at most timeout_.
  absl::Status Wait(short events) {
    pollfd p{fd_, events, 0};
    const int ms = static_cast<int>(
        std::max<int64_t>(1, absl::ToInt64Milliseconds(timeout_)));
    int r;
    do {
      r = poll(&p, 1, ms);
    } while (r < 0 && errno == EINTR);
    if (r == 0) return absl::DeadlineExceededError("timed out");
    if (r < 0) return ErrnoToStatus(errno, "poll");
    return absl::OkStatus();
  }

  absl::Status ConnectTcp(const addrinfo* a, const std::string& address,
                          HttpFailure* failure) {
    const int fd =
        socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return ErrnoToStatus(errno, "socket");
    fd_ = fd;
    int r;
    do {
      r = connect(fd, a->ai_addr, a->ai_addrlen);
    } while (r < 0 && errno == EINTR);
    if (r < 0 && errno == EINPROGRESS) {
      absl::Status ready = Wait(POLLOUT);
      if (!ready.ok()) {
        Close();
        failure->reason = timed_out_;
        return absl::DeadlineExceededError(
            absl::StrCat(address, ": no connection within ",
                         absl::FormatDuration(timeout_)));
      }
      int error = 0;
      socklen_t length = sizeof(error);
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
      r = error == 0 ? 0 : -1;
      errno = error;
    }
    if (r < 0) {
      const int error = errno;
      Close();
      failure->reason =
          error == ECONNREFUSED ? "connection refused" : strerror(error);
      return absl::UnavailableError(
          absl::StrCat(address, ": ", failure->reason));
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return absl::OkStatus();
  }

  absl::Status Handshake(SSL_CTX* ctx, const std::string& name,
                         const std::string& address, HttpFailure* failure) {
    ERR_clear_error();
    ssl_ = SSL_new(ctx);
    if (ssl_ == nullptr || !SetSocketBio(ssl_, fd_)) {
      failure->reason = "out of memory";
      return absl::InternalError("HTTPS: SSL_new: " + LastSslErrors());
    }
    SSL_set_connect_state(ssl_);
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
    X509_VERIFY_PARAM_set_hostflags(param,
                                    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    const bool ok =
        IsIpLiteral(name)
            ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) == 1
            : X509_VERIFY_PARAM_set1_host(param, name.c_str(), 0) == 1 &&
                  SSL_set_tlsext_host_name(ssl_, name.c_str()) == 1;
    if (!ok) {
      failure->reason = "bad server name";
      return absl::InvalidArgumentError(
          absl::StrCat(address, ": cannot verify the server name '", name,
                       "'"));
    }
    while (true) {
      ERR_clear_error();
      const int r = SSL_connect(ssl_);
      if (r == 1) break;
      const int error = SSL_get_error(ssl_, r);
      if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
        if (!Wait(error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT).ok()) {
          failure->reason = timed_out_;
          return absl::DeadlineExceededError(
              absl::StrCat(address, ": TLS handshake not done within ",
                           absl::FormatDuration(timeout_)));
        }
        continue;
      }
      const long verify = SSL_get_verify_result(ssl_);
      const std::string detail = LastSslErrors();
      if (verify != X509_V_OK) {
        failure->reason = absl::StrCat(
            "TLS: the server's certificate is not accepted (",
            X509_verify_cert_error_string(verify), "; CA bundle ", ca_file_,
            ", name ", name, ")");
        return absl::UnavailableError(absl::StrCat(
            address, ": TLS: the server's certificate is not accepted (",
            X509_verify_cert_error_string(verify), "; verified against ",
            ca_file_, " for the name ", name, "): refusing to talk to it"));
      }
      failure->reason = absl::StrCat(
          "TLS handshake failed",
          detail.empty() ? " (is it an HTTPS port?)" : ": " + detail);
      return absl::UnavailableError(
          absl::StrCat(address, ": ", failure->reason));
    }
    handshake_done_ = true;
    return absl::OkStatus();
  }

  absl::Status Send(const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      if (ssl_ != nullptr) {
        ERR_clear_error();
        const int n = SSL_write(ssl_, data.data() + off,
                                static_cast<int>(std::min<size_t>(
                                    data.size() - off, 1 << 20)));
        if (n > 0) {
          off += static_cast<size_t>(n);
          continue;
        }
        const int error = SSL_get_error(ssl_, n);
        if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
          KESS_RETURN_IF_ERROR(
              Wait(error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT));
          continue;
        }
        return absl::UnavailableError("SSL_write: " + LastSslErrors());
      }
      const ssize_t n =
          send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n >= 0) {
        off += static_cast<size_t>(n);
        continue;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        KESS_RETURN_IF_ERROR(Wait(POLLOUT));
        continue;
      }
      return ErrnoToStatus(errno, "send");
    }
    return absl::OkStatus();
  }

  // Appends what arrives next to in_; OutOfRange at the end of the stream.
  absl::Status ReadMore() {
    char buffer[16 * 1024];
    while (true) {
      if (ssl_ != nullptr) {
        ERR_clear_error();
        const int n = SSL_read(ssl_, buffer, sizeof(buffer));
        if (n > 0) {
          in_.append(buffer, static_cast<size_t>(n));
          return absl::OkStatus();
        }
        const int error = SSL_get_error(ssl_, n);
        if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
          KESS_RETURN_IF_ERROR(
              Wait(error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT));
          continue;
        }
        if (error == SSL_ERROR_ZERO_RETURN ||
            (error == SSL_ERROR_SYSCALL && errno == 0)) {
          return absl::OutOfRangeError("connection closed");
        }
        const std::string detail = LastSslErrors();
        return absl::UnavailableError(
            absl::StrCat("reading the reply: ",
                         detail.empty() ? strerror(errno) : detail));
      }
      const ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
      if (n > 0) {
        in_.append(buffer, static_cast<size_t>(n));
        return absl::OkStatus();
      }
      if (n == 0) return absl::OutOfRangeError("connection closed");
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        KESS_RETURN_IF_ERROR(Wait(POLLIN));
        continue;
      }
      return ErrnoToStatus(errno, "recv");
    }
  }

  // Reads until in_ holds at least `n` bytes.
  absl::Status Need(size_t n) {
    while (in_.size() < n) {
      absl::Status s = ReadMore();
      if (absl::IsOutOfRange(s)) {
        return absl::UnavailableError("connection closed in the middle of the reply");
      }
      KESS_RETURN_IF_ERROR(s);
    }
    return absl::OkStatus();
  }

  // Reads one line ending in CRLF (without it).
  absl::StatusOr<std::string> Line() {
    size_t end;
    while ((end = in_.find("\r\n")) == std::string::npos) {
      if (in_.size() > kMaxReplyHeadBytes) {
        return absl::UnavailableError("reply line too long");
      }
      absl::Status s = ReadMore();
      if (absl::IsOutOfRange(s)) {
        return absl::UnavailableError("connection closed in the middle of the reply");
      }
      KESS_RETURN_IF_ERROR(s);
    }
    std::string line = in_.substr(0, end);
    in_.erase(0, end + 2);
    return line;
  }

  absl::StatusOr<HttpReply> Receive(const std::string& method,
                                    bool close_after) {
    size_t end;
    while ((end = in_.find("\r\n\r\n")) == std::string::npos) {
      if (in_.size() > kMaxReplyHeadBytes) {
        return absl::UnavailableError("reply headers too large");
      }
      absl::Status s = ReadMore();
      if (absl::IsOutOfRange(s)) {
        return absl::UnavailableError(in_.empty()
                                          ? "connection closed without a reply"
                                          : "connection closed in the middle of the reply");
      }
      KESS_RETURN_IF_ERROR(s);
    }
    const std::string head = in_.substr(0, end);
    in_.erase(0, end + 4);
    std::vector<std::string> lines = absl::StrSplit(head, "\r\n");
    std::vector<std::string> status_line =
        absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
    HttpReply reply;
    if (status_line.size() < 2 || !absl::StartsWith(status_line[0], "HTTP/1.") ||
        !absl::SimpleAtoi(status_line[1], &reply.status)) {
      return absl::UnavailableError("malformed reply status line");
    }
    const bool http10 = status_line[0] == "HTTP/1.0";
    for (size_t i = 1; i < lines.size(); ++i) {
      const size_t colon = lines[i].find(':');
      if (colon == std::string::npos) continue;
      reply.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
          std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
    }
    reply.content_type = reply.Header("content-type");
    const std::string connection =
        absl::AsciiStrToLower(reply.Header("connection"));
    bool keep = !close_after && !absl::StrContains(connection, "close") &&
                (!http10 || absl::StrContains(connection, "keep-alive"));
    if (method == "HEAD" || reply.status / 100 == 1 || reply.status == 204 ||
        reply.status == 304) {
      // no body
    } else if (absl::StrContains(
                   absl::AsciiStrToLower(reply.Header("transfer-encoding")),
                   "chunked")) {
      while (true) {
        KESS_ASSIGN_OR_RETURN(std::string size_line, Line());
        size_line = size_line.substr(0, size_line.find(';'));
        size_t size = 0;
        if (!absl::SimpleHexAtoi(absl::StripAsciiWhitespace(size_line), &size)) {
          return absl::UnavailableError("malformed chunk size");
        }
        if (size == 0) {
          while (true) {  // trailers up to an empty line
            KESS_ASSIGN_OR_RETURN(std::string trailer, Line());
            if (trailer.empty()) break;
          }
          break;
        }
        KESS_RETURN_IF_ERROR(Need(size + 2));
        reply.body.append(in_, 0, size);
        in_.erase(0, size + 2);
      }
    } else if (!reply.Header("content-length").empty()) {
      size_t length = 0;
      if (!absl::SimpleAtoi(reply.Header("content-length"), &length)) {
        return absl::UnavailableError("malformed Content-Length");
      }
      KESS_RETURN_IF_ERROR(Need(length));
      reply.body = in_.substr(0, length);
      in_.erase(0, length);
    } else {
      // Delimited by the end of the connection.
      keep = false;
      while (true) {
        absl::Status s = ReadMore();
        if (absl::IsOutOfRange(s)) break;
        KESS_RETURN_IF_ERROR(s);
      }
      reply.body = std::move(in_);
      in_.clear();
    }
    if (!keep) Close();
    return reply;
  }

  int fd_ = -1;
  SSL* ssl_ = nullptr;
  bool handshake_done_ = false;
  std::string in_;
  std::string ca_file_;
  absl::Duration timeout_ = absl::Seconds(10);
  std::string timed_out_;
};

HttpConnection::HttpConnection(std::string address, HttpCallOptions options)
    : address_(std::move(address)),
      options_(std::move(options)),
      impl_(std::make_unique<Impl>()) {}

HttpConnection::~HttpConnection() = default;

bool HttpConnection::open() const { return impl_->open(); }

absl::StatusOr<HttpReply> HttpConnection::Call(const std::string& method,
                                               const std::string& uri,
                                               const std::string& body,
                                               bool close) {
  HttpFailure ignored;
  HttpFailure* failure =
      options_.failure != nullptr ? options_.failure : &ignored;
  *failure = HttpFailure();
  if (impl_->Stale()) {
    const std::string what = absl::StrCat(method, " ", address_, uri);
    absl::Status connected = impl_->Connect(address_, options_, failure);
    if (!connected.ok()) {
      if (absl::IsInvalidArgument(connected) ||
          absl::IsFailedPrecondition(connected)) {
        return connected;
      }
      return absl::Status(connected.code(),
                          absl::StrCat(method, " ", connected.message()));
    }
    ++connects_;
  }
  return impl_->Exchange(address_, method, uri, body, options_, close,
                         failure);
}

}  // namespace kess
