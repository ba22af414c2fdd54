// TLS contexts for kess's links, built from PEM files and reloaded when the
// files change. One TlsContext is one side (server or client) of one
// service; every new connection takes an SSL object from it, and a reload
// swaps in a fresh SSL_CTX for new connections only (an SSL object holds a
// reference to the SSL_CTX it was made from, so open connections keep
// theirs).
//
//   TlsOptions options;
//   options.cert_file = "/etc/kess/tls/distributor.pem";
//   options.key_file = "/etc/kess/tls/distributor.key";
//   options.ca_file = "/etc/kess/tls/ca.pem";
//   KESS_ASSIGN_OR_RETURN(std::shared_ptr<TlsContext> tls,
//                         TlsContext::Create(TlsSide::kServer, options));
//   SSL* ssl = tls->NewSsl(fd, /*server_name=*/"");  // server side
//
// Policy (not configurable, on purpose): TLS 1.2 or newer (1.3 preferred),
// forward-secret AEAD cipher suites only, no renegotiation, no compression.
// A client always verifies the server: its chain against the CA bundle and
// its name (the host name, or IP address, the client dialled) against the
// certificate's subjectAltName. A server verifies client certificates only
// with `require_client_cert` (mutual TLS), against the same CA bundle.
//
// Nothing here knows about sockets beyond SSL_set_fd, so the HTTP servers
// can use the same contexts.
//
// Thread-safety: all methods are thread-safe. SSL objects returned by
// NewSsl belong to the caller (one thread at a time, like the socket).
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "common/status.h"
#include "common/steady_await.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace kess {
namespace tls {

enum class TlsSide { kServer, kClient };

struct TlsOptions {
  // PEM certificate chain (leaf first) and its private key. Required for a
  // server; for a client only with mutual TLS (then the client presents it).
  std::string cert_file;
  std::string key_file;
  // PEM bundle of the CAs that sign the peers' certificates. Required,
  // except for a server that requires no client certificate (an HTTPS
  // server with a certificate of another CA: the agent's --http_tls_cert).
  std::string ca_file;
  // Server only: every client must present a certificate that verifies
  // against ca_file; a client without one fails its handshake.
  bool require_client_cert = false;
  // Client only: the name every server's certificate must carry, instead
  // of the host each connection dialled ("" = the dialled host); for
  // servers reached through an address their certificates do not name.
  std::string server_name;
  // Client only: offer the last session ticket of a server on the next
  // connection to it. Off only to measure full handshakes.
  bool session_resumption = true;
  // The files are checked this often (inode, size, modification time) and
  // re-read when one changed; zero: only Reload() re-reads them.
  absl::Duration reload_interval = absl::Seconds(5);
  // Reload results are counted in kess_tls_reloads_total{side,result}, and
  // the notAfter time (Unix seconds) of the leaf certificate this side
  // presents, when it has one, is the gauge
  // kess_tls_cert_not_after_seconds{side,file} (file: cert_file), set at
  // Create and at every successful reload (the expiry alert watches it).
  // nullptr: metrics::Registry::Default(). Must outlive the context.
  metrics::Registry* registry = nullptr;
};

class SessionCache;

class TlsContext {
 public:
  // Reads the files and builds the first SSL_CTX; an error here (missing or
  // unreadable file, key not matching the certificate, empty CA bundle) is
  // returned, not logged. Starts the reload thread when reload_interval > 0.
  static absl::StatusOr<std::shared_ptr<TlsContext>> Create(
      TlsSide side, TlsOptions options);

  // Stops the reload thread. Connections made from it keep working.
  ~TlsContext();

  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // A new SSL object for the connected socket `fd` (not owned; its writes
  // never raise SIGPIPE), in accept or connect state according to the
  // side, from the current SSL_CTX. Client side: `server_name` is the host
  // name or IP literal the client dialled (TlsOptions::server_name, when
  // set, replaces it); the handshake fails unless the server's certificate
  // names it. A client also offers the last session it got from that
  // name at that `peer` address ("ip:port", the address connected to; TLS
  // 1.3 ticket), so thousands of agents reconnecting at once mostly skip
  // the certificate work. The address is part of the key because servers
  // may share one name (TlsOptions::server_name): each has its own
  // tickets. Returns nullptr (and logs) if OpenSSL cannot allocate or the
  // name is empty.
  SSL* NewSsl(int fd, const std::string& server_name,
              const std::string& peer = "") const;

  // Re-reads the files now (SIGHUP, tests). On error the current context
  // stays in use, the error is logged and counted, and returned.
  absl::Status Reload();
  // Reload() if any file's inode, size or modification time changed since
  // the last attempt; OK if nothing changed.
  absl::Status ReloadIfChanged();

  TlsSide side() const { return side_; }
  const TlsOptions& options() const { return options_; }
  // Increases by one with every successful reload (1 after Create).
  uint64_t generation() const;
  // The notAfter time of the certificate presented by the current SSL_CTX;
  // absl::InfinitePast() if this side presents none.
  absl::Time cert_not_after() const;

 private:
  struct FileStamp {
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = 0;
    int64_t mtime_ns = 0;
    bool operator==(const FileStamp& o) const {
      return dev == o.dev && ino == o.ino && size == o.size &&
             mtime_ns == o.mtime_ns;
    }
  };

  TlsContext(TlsSide side, TlsOptions options);
  absl::StatusOr<std::shared_ptr<SSL_CTX>> Build() const;
  std::vector<FileStamp> Stamps() const;
  void ReloadLoop();
  // Sets cert_not_after_ and its gauge from ctx's certificate.
  void RecordNotAfter(SSL_CTX* ctx) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const TlsSide side_;
  const TlsOptions options_;
  const std::shared_ptr<SessionCache> sessions_;  // client side only
  metrics::Counter* const reload_ok_;
  metrics::Counter* const reload_error_;
  metrics::Gauge* const not_after_;  // nullptr without a certificate

  mutable absl::Mutex mu_;
  std::shared_ptr<SSL_CTX> current_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time cert_not_after_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::vector<FileStamp> stamps_ ABSL_GUARDED_BY(mu_);

  SteadyNotification stop_;
  std::thread reloader_;
};

// The last OpenSSL errors of this thread as one line ("" if none), and
// clears them.
std::string DrainOpenSslErrors();

// Why a handshake failed, as the short word of the metrics
// kess_transport_tls_handshake_failures_total and
// kess_http_tls_handshake_failures_total: "not_tls" (plaintext or another
// protocol), "untrusted_cert", "cert_expired", "cert_not_yet_valid",
// "name_mismatch", "no_client_cert", "no_shared_protocol", "eof",
// "peer_alert" (the peer refused us), "other". `ssl_error` is
// SSL_get_error's answer, `error_code` ERR_peek_last_error().
const char* HandshakeFailureCause(SSL* ssl, int ssl_error,
                                  unsigned long error_code);

// True if `host` is an IPv4 or IPv6 literal (then it is checked against
// the certificate's IP SANs, not its DNS names).
bool IsIpLiteral(const std::string& host);

}  // namespace tls
}  // namespace kess
