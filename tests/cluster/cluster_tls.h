// A test cluster's TLS files: written once per cluster by the code of
// `kessctl certs init` (common/tls/cert_gen.h), and the flags and client
// contexts made from them. A disabled ClusterTls (the default) stands for
// a cluster run with --insecure_plaintext.
//
// Thread-safety: const methods are thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/tls/tls_context.h"

namespace kess {
namespace testing {

// True for a daemon started with these TLS flags (Flags(role) of an
// enabled ClusterTls: --tls_ca given): its HTTP is HTTPS, and the process
// wrappers' http_address() is "https://<host>:<port>".
bool ServesHttps(const std::vector<std::string>& tls_flags);

// "http://<address>", or `address` itself when it has a scheme already
// ("https://..."): the URL of an http_address() (UI links, Origin).
std::string HttpUrl(const std::string& address);

class ClusterTls {
 public:
  // Disabled: Flags() is {"--insecure_plaintext"}, ClientContext() null.
  ClusterTls() = default;

  // Writes the CA and every role's certificate into `dir` (created), for
  // localhost, 127.0.0.1, ::1 and `hosts` (the DCs' own addresses). The
  // process's https:// calls trust this CA from now on
  // (SetDefaultHttpsCaFile, common/http_client.h): the mandators and
  // distributors of the cluster serve HTTPS.
  static absl::StatusOr<ClusterTls> Create(
      const std::string& dir, const std::string& cluster,
      const std::vector<std::string>& hosts = {});

  bool enabled() const { return !dir_.empty(); }
  const std::string& dir() const { return dir_; }
  std::string ca() const { return dir_ + "/ca.pem"; }
  std::string cert(const std::string& role) const;
  std::string key(const std::string& role) const;

  // The daemon flags for `role` ("mandator", "distributor", "agent",
  // "client"): --tls_ca, --tls_cert, --tls_key; or --insecure_plaintext.
  std::vector<std::string> Flags(const std::string& role) const;

  // A client context trusting the cluster's CA (and presenting `role`'s
  // certificate if given), for a test's own transport clients; nullptr
  // when disabled.
  absl::StatusOr<std::shared_ptr<tls::TlsContext>> ClientContext(
      const std::string& role = "") const;

  // A certificate of its own for one principal (kind "host", "service",
  // "mandator", ...; dc for mandators and distributors), issued by the
  // cluster's CA into principals/ on first use (common/tls/cert_gen.h
  // IssuePrincipalCert), and the daemon flags that present it:
  // --tls_ca, --tls_cert, --tls_key, --tls_client_auth. Disabled:
  // {"--insecure_plaintext"}.
  absl::StatusOr<std::vector<std::string>> PrincipalFlags(
      const std::string& kind, const std::string& name,
      const std::string& dc = "") const;
  // A client context presenting that certificate; nullptr when disabled.
  absl::StatusOr<std::shared_ptr<tls::TlsContext>> PrincipalContext(
      const std::string& kind, const std::string& name,
      const std::string& dc = "") const;

 private:
  explicit ClusterTls(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

}  // namespace testing
}  // namespace kess
