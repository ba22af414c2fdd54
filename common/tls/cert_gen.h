// Certificates for a kess cluster, made with OpenSSL's C API: a CA and the
// certificates it signs (ECDSA P-256, SHA-256). `kessctl certs init` and the
// test clusters both call WriteClusterCerts, so tests run with exactly the
// files an operator gets.
//
// Thread-safety: the functions are thread-safe (no shared state).
#pragma once

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/status.h"

namespace kess {
namespace tls {

// A PEM private key and certificate.
struct KeyAndCert {
  std::string key_pem;
  std::string cert_pem;
};

struct CertSpec {
  std::string common_name;
  // subjectAltName entries: DNS names, and IP addresses (v4 or v6).
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  // URI subjectAltName entries; a kess principal URI
  // (common/identity/principal.h, "kess://host/web-17") names the peer
  // that presents the certificate.
  std::vector<std::string> uris;
  // extendedKeyUsage: clientAuth always; serverAuth too when true. A
  // certificate without serverAuth is refused by every kess client as a
  // server's certificate.
  bool server_auth = true;
  absl::Time not_before = absl::Now() - absl::Hours(1);
  absl::Time not_after = absl::Now() + absl::Hours(24 * 365);
};

// A self-signed CA certificate (basicConstraints CA:TRUE, keyCertSign).
absl::StatusOr<KeyAndCert> MakeCa(const std::string& common_name,
                                  absl::Time not_before, absl::Time not_after);

// A leaf certificate signed by `ca`: extendedKeyUsage serverAuth and
// clientAuth (a mandator is both), or clientAuth only when
// `spec.server_auth` is false. Any validity is allowed, so tests can make
// expired or not-yet-valid ones.
absl::StatusOr<KeyAndCert> IssueCert(const KeyAndCert& ca,
                                     const CertSpec& spec);

struct ClusterCertOptions {
  std::string dir;      // created if missing (0700)
  std::string cluster;  // in every subject, e.g. "kess CA prod-eu"
  // Extra host names and IP addresses every daemon certificate names
  // besides localhost, 127.0.0.1 and ::1; each also gets a certificate of
  // its own, hosts/<host>.pem (and .key), naming it and loopback.
  std::vector<std::string> hosts;
  int days = 365;
  // The datacenter word in the URI SANs of the shared role certificates:
  // "mandator" names kess://mandator/<dc>/mandator and "distributor"
  // kess://distributor/<dc>/distributor. "" = "any" (one certificate for
  // every DC). Per-member certificates: IssuePrincipalCert.
  std::string dc;
  // Overwrite existing files; without it any existing file is an error
  // (ALREADY_EXISTS) and nothing is written.
  bool force = false;
};

// The files WriteClusterCerts writes, relative to its dir: ca.pem, ca.key,
// and <role>.pem / <role>.key for each of kRoles. "mandator" and
// "distributor" (and hosts/<host>) are server and client certificates;
// "agent" and "client" are client certificates only (clientAuth, no
// subjectAltName): their keys sit on every agent host and with every
// kessctl user, so they must not be able to serve as a mandator or a
// distributor.
inline constexpr const char* kRoles[] = {"mandator", "distributor", "agent",
                                         "client"};

// Writes the CA and a certificate per role (and per host) into dir. Keys
// are 0600, certificates 0644; each file is written to a temporary name
// and renamed, so a daemon that reloads never reads half a file. Returns
// the paths written.
absl::StatusOr<std::vector<std::string>> WriteClusterCerts(
    const ClusterCertOptions& options);

struct PrincipalCertOptions {
  std::string dir;  // holds ca.pem and ca.key (WriteClusterCerts)
  // kind, name and dc of the principal (ValidatePrincipalName must hold).
  std::string kind;  // host, service, mandator, distributor, operator
  std::string name;
  std::string dc;
  // Mandators and distributors serve too: their host names and IP
  // addresses (besides localhost and loopback, always included for them).
  std::vector<std::string> hosts;
  int days = 365;
  bool force = false;
};

// Issues a certificate for one principal, signed by the CA in dir, naming
// it in a URI SAN (kess://<kind>/[<dc>/]<name>): clientAuth only for hosts,
// services and operators; serverAuth and clientAuth (and host names) for
// mandators and distributors. Writes principals/<kind>-[<dc>-]<name>.pem and
// .key under dir (refusing to overwrite without force) and returns the two
// paths.
absl::StatusOr<std::vector<std::string>> IssuePrincipalCert(
    const PrincipalCertOptions& options);

// Writes `contents` to `path` through a temporary file and rename, with
// `mode`.
absl::Status WriteFileAtomically(const std::string& path,
                                 const std::string& contents, int mode);

}  // namespace tls
}  // namespace kess
