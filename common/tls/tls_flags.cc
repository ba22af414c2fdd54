#include "common/tls/tls_flags.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "gflags/gflags.h"
#include "glog/logging.h"

DEFINE_string(tls_cert, "",
              "PEM certificate chain of this process (leaf first); servers "
              "need one, clients only for mutual TLS (kessctl certs init "
              "writes <dir>/<role>.pem)");
DEFINE_string(tls_key, "", "PEM private key of --tls_cert (mode 0600)");
DEFINE_string(tls_ca, "",
              "PEM bundle of the CAs that sign this cluster's certificates "
              "(<dir>/ca.pem); every server certificate is verified against "
              "it, and client certificates with --tls_client_auth");
DEFINE_bool(tls_client_auth, false,
            "mutual TLS: this process's servers require a client "
            "certificate signed by --tls_ca; its clients present --tls_cert");
DEFINE_string(tls_server_name, "",
              "the name (DNS or IP) every server certificate must carry, "
              "instead of the address dialled; empty: the address");
DEFINE_int32(tls_reload_interval_ms, 5000,
             "check the certificate, key and CA files this often and load "
             "them again when they changed (0: never)");
DEFINE_bool(insecure_plaintext, false,
            "run the transport WITHOUT TLS: anyone on the network can read "
            "the traffic (tokens, configs) and impersonate servers. Must be "
            "given explicitly when no TLS flags are set");

namespace kess {
namespace tls {
namespace {

// Without any TLS flag and without --insecure_plaintext: refuse to start
// (true) or run in plaintext with a warning (false, the transition).
constexpr bool kTlsRequiredByDefault = true;

}  // namespace

bool InsecurePlaintextFlag() { return FLAGS_insecure_plaintext; }

void ReloadTransportTls(const TransportTls& tls) {
  if (!tls.enabled()) {
    LOG(INFO) << "SIGHUP: no TLS to reload (--insecure_plaintext)";
    return;
  }
  LOG(INFO) << "SIGHUP: loading the TLS files again";
  for (const auto& context : {tls.server, tls.client}) {
    if (context != nullptr) (void)context->Reload();  // logged, counted
  }
  if (tls.http_server != nullptr && tls.http_server != tls.server) {
    (void)tls.http_server->Reload();
  }
}

absl::StatusOr<TransportTls> TlsFromFlags(const std::string& program,
                                          bool server, bool client,
                                          metrics::Registry* registry) {
  const bool any_tls_flag = !FLAGS_tls_cert.empty() || !FLAGS_tls_key.empty() ||
                            !FLAGS_tls_ca.empty() || FLAGS_tls_client_auth;
  if (FLAGS_insecure_plaintext) {
    if (any_tls_flag) {
      return absl::InvalidArgumentError(
          absl::StrCat(program,
                       ": --insecure_plaintext and --tls_* flags contradict "
                       "each other; give one or the other"));
    }
    LOG(WARNING) << program
                 << ": --insecure_plaintext: the transport runs WITHOUT TLS; "
                    "tokens and configs cross the network in clear and "
                    "servers are not authenticated";
    return TransportTls();
  }
  if (!any_tls_flag && !kTlsRequiredByDefault) {
    LOG(WARNING) << program
                 << ": no --tls_* flags: the transport runs WITHOUT TLS "
                    "(give --tls_ca/--tls_cert/--tls_key, or "
                    "--insecure_plaintext to say so explicitly)";
    return TransportTls();
  }
  if (FLAGS_tls_ca.empty() ||
      (server && (FLAGS_tls_cert.empty() || FLAGS_tls_key.empty()))) {
    return absl::FailedPreconditionError(absl::StrCat(
        program, ": TLS is required: give --tls_ca",
        server ? ", --tls_cert and --tls_key" : "",
        " (`kessctl certs init --dir DIR --cluster NAME` writes them), or "
        "--insecure_plaintext to run without TLS"));
  }
  if (client && FLAGS_tls_client_auth &&
      (FLAGS_tls_cert.empty() || FLAGS_tls_key.empty())) {
    // Otherwise this client would present no certificate and every server
    // with mutual TLS would refuse it.
    return absl::FailedPreconditionError(absl::StrCat(
        program,
        ": --tls_client_auth: this process presents a client certificate; "
        "give --tls_cert and --tls_key (`kessctl certs init` writes ",
        server ? "<role>" : "agent", ".pem and .key)"));
  }
  TlsOptions options;
  options.cert_file = FLAGS_tls_cert;
  options.key_file = FLAGS_tls_key;
  options.ca_file = FLAGS_tls_ca;
  options.reload_interval =
      absl::Milliseconds(std::max(0, FLAGS_tls_reload_interval_ms));
  options.registry = registry;
  TransportTls out;
  if (server) {
    TlsOptions server_options = options;
    server_options.require_client_cert = FLAGS_tls_client_auth;
    KESS_ASSIGN_OR_RETURN(out.server,
                          TlsContext::Create(TlsSide::kServer, server_options));
    out.http_server = out.server;
    if (server_options.require_client_cert) {
      // HTTPS serves browsers and kessctl: no client certificate asked.
      server_options.require_client_cert = false;
      KESS_ASSIGN_OR_RETURN(
          out.http_server, TlsContext::Create(TlsSide::kServer, server_options));
    }
  }
  out.ca_file = FLAGS_tls_ca;
  if (client) {
    TlsOptions client_options = options;
    client_options.server_name = FLAGS_tls_server_name;
    if (!FLAGS_tls_client_auth && server) {
      // A server's certificate is not sent as a client one unless asked.
      client_options.cert_file.clear();
      client_options.key_file.clear();
    }
    KESS_ASSIGN_OR_RETURN(out.client,
                          TlsContext::Create(TlsSide::kClient, client_options));
  }
  LOG(INFO) << program << ": TLS on (CA " << FLAGS_tls_ca
            << (FLAGS_tls_cert.empty() ? "" : ", certificate ")
            << FLAGS_tls_cert
            << (FLAGS_tls_client_auth ? ", mutual TLS" : "") << ")";
  return out;
}

}  // namespace tls
}  // namespace kess
