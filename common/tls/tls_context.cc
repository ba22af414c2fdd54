#include "common/tls/tls_context.h"

#include <arpa/inet.h>
#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <ctime>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/socket_bio.h"
#include "glog/logging.h"

namespace kess {
namespace tls {

// Client side: the last session ticket per server ("name:port"), so a
// reconnect resumes instead of a full handshake. Bounded; when full, the
// whole map is dropped (a reconnect storm refills it in one round).
class SessionCache {
 public:
  static constexpr size_t kMaxEntries = 4096;

  ~SessionCache() {
    for (auto& entry : sessions_) SSL_SESSION_free(entry.second);
  }

  // Takes ownership of `session`.
  void Put(const std::string& key, SSL_SESSION* session) {
    absl::MutexLock lock(&mu_);
    auto it = sessions_.find(key);
    if (it != sessions_.end()) {
      SSL_SESSION_free(it->second);
      it->second = session;
      return;
    }
    if (sessions_.size() >= kMaxEntries) {
      for (auto& entry : sessions_) SSL_SESSION_free(entry.second);
      sessions_.clear();
    }
    sessions_.emplace(key, session);
  }

  // A copy of its own (the caller frees it), or nullptr. Not the shared
  // object: OpenSSL marks a session it used not resumable when that
  // connection ends without a close_notify, which would spoil the
  // entry for every later connection.
  SSL_SESSION* Get(const std::string& key) {
    absl::MutexLock lock(&mu_);
    auto it = sessions_.find(key);
    if (it == sessions_.end()) return nullptr;
    return SSL_SESSION_dup(it->second);
  }

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, SSL_SESSION*> sessions_
      ABSL_GUARDED_BY(mu_);
};

namespace {

// TLS 1.2 suites: ECDHE key exchange and AEAD only. TLS 1.3 uses OpenSSL's
// default suites (all AEAD).
constexpr char kTls12Ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr unsigned char kSessionIdContext[] = "kess";

// ex_data slots: on an SSL, the session-cache key (std::string*); on an
// SSL_CTX, the cache (std::shared_ptr<SessionCache>*). Both freed with
// their object.
void FreeSslKey(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<std::string*>(ptr);
}
void FreeCtxCache(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<std::shared_ptr<SessionCache>*>(ptr);
}
int SslKeyIndex() {
  static const int index =
      SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, FreeSslKey);
  return index;
}
int CtxCacheIndex() {
  static const int index =
      SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, FreeCtxCache);
  return index;
}

// OpenSSL's new-session callback (client): keep the ticket for the next
// connection to the same server. The cache takes a copy, never `session`
// itself: that is the live connection's own session, which OpenSSL marks
// not resumable when the connection is freed without our close_notify
// (peer_closed, heartbeat_timeout, read_error, ...), and a copy made later
// would carry the mark. Returns 0: the reference stays with OpenSSL.
int OnNewSession(SSL* ssl, SSL_SESSION* session) {
  auto* key = static_cast<std::string*>(SSL_get_ex_data(ssl, SslKeyIndex()));
  auto* cache = static_cast<std::shared_ptr<SessionCache>*>(
      SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), CtxCacheIndex()));
  if (key == nullptr || cache == nullptr || *cache == nullptr) return 0;
  SSL_SESSION* copy = SSL_SESSION_dup(session);
  if (copy != nullptr) (*cache)->Put(*key, copy);
  return 0;
}

absl::Status OpenSslError(const std::string& what) {
  std::string detail = DrainOpenSslErrors();
  return absl::InvalidArgumentError(
      detail.empty() ? what : absl::StrCat(what, ": ", detail));
}

}  // namespace

std::string DrainOpenSslErrors() {
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

const char* HandshakeFailureCause(SSL* ssl, int ssl_error,
                                  unsigned long error_code) {
  const long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK) {
    switch (verify) {
      case X509_V_ERR_CERT_HAS_EXPIRED:
        return "cert_expired";
      case X509_V_ERR_CERT_NOT_YET_VALID:
        return "cert_not_yet_valid";
      case X509_V_ERR_HOSTNAME_MISMATCH:
      case X509_V_ERR_IP_ADDRESS_MISMATCH:
        return "name_mismatch";
      default:
        return "untrusted_cert";
    }
  }
  if (ssl_error == SSL_ERROR_SYSCALL || ssl_error == SSL_ERROR_ZERO_RETURN) {
    return "eof";
  }
  const int reason = ERR_GET_REASON(error_code);
  switch (reason) {
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
      return "no_client_cert";
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_UNKNOWN_PROTOCOL:
    case SSL_R_RECORD_LENGTH_MISMATCH:
      return "not_tls";
    case SSL_R_UNEXPECTED_EOF_WHILE_READING:
      return "eof";
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
      return "no_shared_protocol";
    default:
      break;
  }
  // The peer refused us (e.g. our certificate) and said so in an alert.
  if (reason >= SSL_AD_REASON_OFFSET) return "peer_alert";
  return "other";
}

bool IsIpLiteral(const std::string& host) {
  unsigned char buffer[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

absl::StatusOr<std::shared_ptr<TlsContext>> TlsContext::Create(
    TlsSide side, TlsOptions options) {
  if (options.ca_file.empty() &&
      (side == TlsSide::kClient || options.require_client_cert)) {
    return absl::InvalidArgumentError("TLS: a CA bundle (ca_file) is required");
  }
  if (side == TlsSide::kServer &&
      (options.cert_file.empty() || options.key_file.empty())) {
    return absl::InvalidArgumentError(
        "TLS server: a certificate and its key are required");
  }
  if (options.cert_file.empty() != options.key_file.empty()) {
    return absl::InvalidArgumentError(
        "TLS: give both a certificate and its key, or neither");
  }
  std::shared_ptr<TlsContext> context(
      new TlsContext(side, std::move(options)));
  std::vector<FileStamp> stamps = context->Stamps();
  KESS_ASSIGN_OR_RETURN(std::shared_ptr<SSL_CTX> ctx, context->Build());
  {
    absl::MutexLock lock(&context->mu_);
    context->current_ = std::move(ctx);
    context->generation_ = 1;
    context->stamps_ = std::move(stamps);
    context->RecordNotAfter(context->current_.get());
  }
  if (context->options_.reload_interval > absl::ZeroDuration()) {
    TlsContext* raw = context.get();
    context->reloader_ = std::thread([raw] { raw->ReloadLoop(); });
  }
  return context;
}

TlsContext::TlsContext(TlsSide side, TlsOptions options)
    : side_(side),
      options_(std::move(options)),
      sessions_(side == TlsSide::kClient ? std::make_shared<SessionCache>()
                                         : nullptr),
      reload_ok_((options_.registry != nullptr ? options_.registry
                                               : &metrics::Registry::Default())
                     ->GetCounter("kess_tls_reloads_total",
                                  "Reloads of TLS certificate, key and CA "
                                  "files, by result.",
                                  {{"side", side == TlsSide::kServer
                                                ? "server"
                                                : "client"},
                                   {"result", "ok"}})),
      reload_error_(
          (options_.registry != nullptr ? options_.registry
                                        : &metrics::Registry::Default())
              ->GetCounter("kess_tls_reloads_total",
                           "Reloads of TLS certificate, key and CA files, by "
                           "result.",
                           {{"side",
                             side == TlsSide::kServer ? "server" : "client"},
                            {"result", "error"}})),
      not_after_(options_.cert_file.empty()
                     ? nullptr
                     : (options_.registry != nullptr
                            ? options_.registry
                            : &metrics::Registry::Default())
                           ->GetGauge(
                               "kess_tls_cert_not_after_seconds",
                               "notAfter time (Unix seconds) of the TLS "
                               "certificate this process presents, by file.",
                               {{"side", side == TlsSide::kServer ? "server"
                                                                  : "client"},
                                {"file", options_.cert_file}})) {}

TlsContext::~TlsContext() {
  stop_.Notify();
  if (reloader_.joinable()) reloader_.join();
}

void TlsContext::ReloadLoop() {
  while (!stop_.WaitForNotificationWithTimeout(options_.reload_interval)) {
    (void)ReloadIfChanged();  // logged and counted inside
  }
}

uint64_t TlsContext::generation() const {
  absl::MutexLock lock(&mu_);
  return generation_;
}

absl::Time TlsContext::cert_not_after() const {
  absl::MutexLock lock(&mu_);
  return cert_not_after_;
}

void TlsContext::RecordNotAfter(SSL_CTX* ctx) {
  X509* cert = ctx == nullptr ? nullptr : SSL_CTX_get0_certificate(ctx);
  if (cert == nullptr) return;
  struct tm tm;
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) {
    LOG(WARNING) << "TLS: cannot read the notAfter time of "
                 << options_.cert_file;
    return;
  }
  cert_not_after_ = absl::FromTimeT(timegm(&tm));
  if (not_after_ != nullptr) {
    not_after_->Set(static_cast<double>(absl::ToUnixSeconds(cert_not_after_)));
  }
}

std::vector<TlsContext::FileStamp> TlsContext::Stamps() const {
  std::vector<FileStamp> stamps;
  for (const std::string* file :
       {&options_.cert_file, &options_.key_file, &options_.ca_file}) {
    FileStamp stamp;
    struct stat st;
    if (!file->empty() && stat(file->c_str(), &st) == 0) {
      stamp.dev = st.st_dev;
      stamp.ino = st.st_ino;
      stamp.size = st.st_size;
      stamp.mtime_ns =
          int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
    }
    stamps.push_back(stamp);
  }
  return stamps;
}

absl::Status TlsContext::ReloadIfChanged() {
  std::vector<FileStamp> stamps = Stamps();
  {
    absl::MutexLock lock(&mu_);
    if (stamps == stamps_) return absl::OkStatus();
    // Remember the attempt: a broken file is reported once, not every poll;
    // the next change is tried again.
    stamps_ = stamps;
  }
  return Reload();
}

absl::Status TlsContext::Reload() {
  absl::StatusOr<std::shared_ptr<SSL_CTX>> ctx = Build();
  if (!ctx.ok()) {
    reload_error_->Increment();
    LOG(ERROR) << "TLS reload failed, keeping the current certificates: "
               << ctx.status();
    return ctx.status();
  }
  uint64_t generation;
  {
    absl::MutexLock lock(&mu_);
    current_ = *std::move(ctx);
    generation = ++generation_;
    RecordNotAfter(current_.get());
  }
  reload_ok_->Increment();
  LOG(INFO) << "TLS: loaded " << options_.cert_file << " (generation "
            << generation << ")";
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<SSL_CTX>> TlsContext::Build() const {
  ERR_clear_error();
  const bool server = side_ == TlsSide::kServer;
  std::shared_ptr<SSL_CTX> ctx(
      SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()),
      SSL_CTX_free);
  if (ctx == nullptr) return OpenSslError("SSL_CTX_new");
  SSL_CTX* c = ctx.get();
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  // Frames carry their own length, so a close without close_notify cannot
  // truncate one unnoticed: treat it as an ordinary EOF.
  SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                             SSL_OP_CIPHER_SERVER_PREFERENCE |
                             SSL_OP_IGNORE_UNEXPECTED_EOF);
  if (SSL_CTX_set_cipher_list(c, kTls12Ciphers) != 1) {
    return OpenSslError("cipher list");
  }
  // Idle connections give their buffers back (about 34 KiB each), which is
  // what lets a distributor hold 50,000 of them; writes may be partial and
  // be retried from a queue that moved.
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                          SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

  if (!options_.ca_file.empty() &&
      SSL_CTX_load_verify_locations(c, options_.ca_file.c_str(), nullptr) !=
          1) {
    return OpenSslError(absl::StrCat("CA bundle ", options_.ca_file));
  }
  if (!options_.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(c, options_.cert_file.c_str()) !=
        1) {
      return OpenSslError(absl::StrCat("certificate ", options_.cert_file));
    }
    if (SSL_CTX_use_PrivateKey_file(c, options_.key_file.c_str(),
                                    SSL_FILETYPE_PEM) != 1) {
      return OpenSslError(absl::StrCat("private key ", options_.key_file));
    }
    if (SSL_CTX_check_private_key(c) != 1) {
      return OpenSslError(absl::StrCat(options_.key_file, " does not match ",
                                       options_.cert_file));
    }
  }
  if (server) {
    SSL_CTX_set_session_id_context(c, kSessionIdContext,
                                   sizeof(kSessionIdContext) - 1);
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(c, 20000);
    SSL_CTX_set_num_tickets(c, 1);
    if (options_.require_client_cert) {
      SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                         nullptr);
      STACK_OF(X509_NAME)* names =
          SSL_load_client_CA_file(options_.ca_file.c_str());
      if (names == nullptr) {
        return OpenSslError(absl::StrCat("CA names of ", options_.ca_file));
      }
      SSL_CTX_set_client_CA_list(c, names);
    } else {
      SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
    }
  } else {
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_session_cache_mode(
        c, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(c, OnNewSession);
    SSL_CTX_set_ex_data(c, CtxCacheIndex(),
                        new std::shared_ptr<SessionCache>(sessions_));
  }
  return ctx;
}

SSL* TlsContext::NewSsl(int fd, const std::string& dialled_name,
                        const std::string& peer) const {
  const std::string& server_name =
      options_.server_name.empty() ? dialled_name : options_.server_name;
  std::shared_ptr<SSL_CTX> ctx;
  {
    absl::MutexLock lock(&mu_);
    ctx = current_;
  }
  SSL* ssl = SSL_new(ctx.get());  // holds its own reference to ctx
  if (ssl == nullptr) {
    LOG(ERROR) << "SSL_new: " << DrainOpenSslErrors();
    return nullptr;
  }
  if (!SetSocketBio(ssl, fd)) {
    LOG(ERROR) << "BIO_new: " << DrainOpenSslErrors();
    SSL_free(ssl);
    return nullptr;
  }
  if (side_ == TlsSide::kServer) {
    SSL_set_accept_state(ssl);
    return ssl;
  }
  SSL_set_connect_state(ssl);
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(param,
                                  X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  bool ok;
  if (IsIpLiteral(server_name)) {
    ok = X509_VERIFY_PARAM_set1_ip_asc(param, server_name.c_str()) == 1;
  } else {
    // An empty name would verify the chain only: refuse it instead.
    ok = !server_name.empty() &&
         X509_VERIFY_PARAM_set1_host(param, server_name.c_str(), 0) == 1 &&
         SSL_set_tlsext_host_name(ssl, server_name.c_str()) == 1;
  }
  if (!ok) {
    LOG(ERROR) << "TLS client: cannot verify the server name '" << server_name
               << "': " << DrainOpenSslErrors();
    SSL_free(ssl);
    return nullptr;
  }
  // The name and the address: with TlsOptions::server_name every server
  // carries the same name, and a ticket is only good at the server (or
  // the servers sharing its ticket keys) that issued it.
  std::string key = absl::StrCat(server_name, "@", peer);
  SSL_SESSION* session =
      options_.session_resumption ? sessions_->Get(key) : nullptr;
  if (session != nullptr) {
    SSL_set_session(ssl, session);
    SSL_SESSION_free(session);
  }
  SSL_set_ex_data(ssl, SslKeyIndex(), new std::string(std::move(key)));
  return ssl;
}

}  // namespace tls
}  // namespace kess
