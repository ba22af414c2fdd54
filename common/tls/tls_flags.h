// The TLS flags every kess daemon and transport tool shares, and the
// contexts made from them. Linking this library defines:
//
//   --tls_cert, --tls_key   this process's certificate chain and key (PEM)
//   --tls_ca                the CA bundle that signs every peer (PEM)
//   --tls_client_auth       servers: require and verify client certificates
//                           (mutual TLS); clients present --tls_cert
//   --tls_server_name       clients: the name servers' certificates must
//                           carry, instead of the address dialled
//   --tls_reload_interval_ms  how often the files are checked for changes
//   --insecure_plaintext    run without TLS (logged as a WARNING)
//
// TLS is required: without --tls_ca (and, for a server or a client with
// --tls_client_auth, --tls_cert and --tls_key) a daemon refuses to start
// unless --insecure_plaintext is given explicitly. `kessctl certs init` writes a working set of files.
//
// Thread-safety: call TlsFromFlags once, from main, after flag parsing.
#pragma once

#include <memory>
#include <string>

#include "common/metrics.h"
#include "common/status.h"
#include "common/tls/tls_context.h"

namespace kess {
namespace tls {

// What a process uses for its transport links; both nullptr in plaintext
// mode.
struct TransportTls {
  std::shared_ptr<TlsContext> server;  // for the process's servers
  std::shared_ptr<TlsContext> client;  // for its outgoing connections
  // For its HTTPS server (server processes): `server` itself, or with
  // --tls_client_auth a context of the same files that asks browsers for
  // no certificate.
  std::shared_ptr<TlsContext> http_server;
  // --tls_ca: the CA bundle its HTTPS calls verify servers with.
  std::string ca_file;
  bool enabled() const { return server != nullptr || client != nullptr; }
};

// Builds the contexts `program` needs (`server`: it listens; `client`: it
// connects) from the flags. FailedPrecondition (with the flags to give) if
// TLS is not configured and --insecure_plaintext is not given, or if a
// client is asked for mutual TLS (--tls_client_auth) without --tls_cert
// and --tls_key; the file
// errors of TlsContext::Create otherwise. In plaintext mode logs a
// WARNING and returns empty contexts.
absl::StatusOr<TransportTls> TlsFromFlags(const std::string& program,
                                          bool server, bool client,
                                          metrics::Registry* registry = nullptr);

// Loads every context's files again now (SIGHUP); errors are logged and
// counted by TlsContext::Reload, the old contexts stay in use.
void ReloadTransportTls(const TransportTls& tls);

// True when --insecure_plaintext was given.
bool InsecurePlaintextFlag();

}  // namespace tls
}  // namespace kess
