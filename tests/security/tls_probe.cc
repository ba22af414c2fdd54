#include "tests/security/tls_probe.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace kess {
namespace testing {
namespace {

void SetTimeouts(int fd, absl::Duration timeout) {
  timeval tv = absl::ToTimeval(timeout);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

// A blocking TCP connection from `from` to "host:port"; -1 on error.
int ConnectFrom(const std::string& from, const std::string& to,
                absl::Duration timeout) {
  std::pair<std::string, std::string> hp =
      absl::StrSplit(to, absl::MaxSplits(':', 1));
  int port = 0;
  if (!absl::SimpleAtoi(hp.second, &port)) return -1;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in src{};
  src.sin_family = AF_INET;
  inet_pton(AF_INET, from.c_str(), &src.sin_addr);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(port);
  const std::string host = hp.first == "localhost" ? "127.0.0.1" : hp.first;
  SetTimeouts(fd, timeout);
  if (inet_pton(AF_INET, host.c_str(), &dst.sin_addr) != 1 ||
      bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof(src)) != 0 ||
      connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

std::string OpenSslError() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

std::string SerialHex(X509* cert) {
  if (cert == nullptr) return "";
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get_serialNumber(cert), nullptr);
  if (bn == nullptr) return "";
  char* hex = BN_bn2hex(bn);
  std::string out = hex != nullptr ? hex : "";
  OPENSSL_free(hex);
  BN_free(bn);
  return out;
}

}  // namespace

TlsProbeResult TlsProbe(const TlsProbeOptions& o) {
  TlsProbeResult result;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) {
    result.error = OpenSslError();
    return result;
  }
  if (o.max_version != 0 && o.max_version < TLS1_2_VERSION) {
    SSL_CTX_set_security_level(ctx, 0);
    SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0");
  }
  if (o.min_version != 0) SSL_CTX_set_min_proto_version(ctx, o.min_version);
  if (o.max_version != 0) SSL_CTX_set_max_proto_version(ctx, o.max_version);
  if (!o.ca_file.empty()) {
    SSL_CTX_load_verify_locations(ctx, o.ca_file.c_str(), nullptr);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  if (!o.cert_file.empty() &&
      (SSL_CTX_use_certificate_chain_file(ctx, o.cert_file.c_str()) != 1 ||
       SSL_CTX_use_PrivateKey_file(ctx, o.key_file.c_str(),
                                   SSL_FILETYPE_PEM) != 1)) {
    result.error = "client certificate: " + OpenSslError();
    SSL_CTX_free(ctx);
    return result;
  }
  const int fd = ConnectFrom(o.from, o.to, o.timeout);
  if (fd < 0) {
    result.error = "connect failed";
    SSL_CTX_free(ctx);
    return result;
  }
  result.connected = true;
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  if (SSL_connect(ssl) == 1) {
    result.handshake_done = true;
    X509* peer = SSL_get1_peer_certificate(ssl);
    result.peer_serial = SerialHex(peer);
    X509_free(peer);
    // A server that refuses the client's certificate says so now (TLS 1.3);
    // one that accepted it waits for a kess frame, which never comes, until
    // its first-frame deadline: the read times out instead.
    char byte;
    const int n = SSL_read(ssl, &byte, 1);
    if (n <= 0) {
      const int err = SSL_get_error(ssl, n);
      const bool timed_out =
          err == SSL_ERROR_WANT_READ ||
          (err == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK));
      result.refused_after_handshake = !timed_out;
      if (!timed_out) result.error = OpenSslError();
    }
  } else {
    result.error = OpenSslError();
    X509* peer = SSL_get1_peer_certificate(ssl);
    result.peer_serial = SerialHex(peer);
    X509_free(peer);
  }
  SSL_free(ssl);
  close(fd);
  SSL_CTX_free(ctx);
  return result;
}

absl::StatusOr<std::string> CertSerial(const std::string& pem_file) {
  BIO* bio = BIO_new_file(pem_file.c_str(), "r");
  if (bio == nullptr) return absl::NotFoundError(pem_file);
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (cert == nullptr) return absl::InvalidArgumentError(pem_file);
  std::string serial = SerialHex(cert);
  X509_free(cert);
  return serial;
}

FakeTlsServer::FakeTlsServer(const std::string& cert_file,
                             const std::string& key_file) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr ||
      SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) !=
          1) {
    if (ctx != nullptr) SSL_CTX_free(ctx);
    return;
  }
  ctx_ = ctx;
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      listen(fd_, 64) != 0 ||
      getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return;
  }
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { Run(); });
}

FakeTlsServer::~FakeTlsServer() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) close(fd_);
  if (ctx_ != nullptr) SSL_CTX_free(static_cast<SSL_CTX*>(ctx_));
}

std::string FakeTlsServer::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

void FakeTlsServer::Run() {
  // Bounded: one accept poll of at most 100 ms per turn, until stopped.
  for (int turn = 0; !stop_ && turn < 1000000; ++turn) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    const int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    ++connections_;
    SetTimeouts(c, absl::Seconds(2));
    SSL* ssl = SSL_new(static_cast<SSL_CTX*>(ctx_));
    SSL_set_fd(ssl, c);
    if (SSL_accept(ssl) == 1) {
      ++handshakes_done_;
      // Wait briefly for the client to speak or close; send nothing.
      char buf[256];
      SSL_read(ssl, buf, sizeof(buf));
    }
    ERR_clear_error();
    SSL_free(ssl);
    close(c);
  }
}

}  // namespace testing
}  // namespace kess
