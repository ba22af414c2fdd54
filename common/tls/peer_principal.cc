#include "common/tls/peer_principal.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <string>

#include "absl/strings/match.h"

namespace kess {
namespace tls {

absl::StatusOr<identity::Principal> CertificatePrincipal(X509* cert) {
  if (cert == nullptr) return absl::NotFoundError("no certificate");
  GENERAL_NAMES* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return absl::NotFoundError("no subjectAltName");
  absl::StatusOr<identity::Principal> found =
      absl::NotFoundError("no kess:// URI subjectAltName");
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type != GEN_URI) continue;
    const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
    const std::string text(reinterpret_cast<const char*>(uri->data),
                           static_cast<size_t>(uri->length));
    if (!absl::StartsWith(text, "kess://")) continue;
    found = identity::ParsePrincipalUri(text, identity::Proof::kCertificate);
    break;
  }
  GENERAL_NAMES_free(names);
  return found;
}

std::shared_ptr<const identity::Principal> PeerPrincipal(SSL* ssl) {
  if (ssl == nullptr) return identity::Anonymous();
  // A certificate that did not verify never gets here with mutual TLS
  // (the handshake fails); without it the server asks for none.
  if (SSL_get_verify_result(ssl) != X509_V_OK) return identity::Anonymous();
  X509* cert = SSL_get_peer_certificate(ssl);
  if (cert == nullptr) return identity::Anonymous();
  absl::StatusOr<identity::Principal> principal = CertificatePrincipal(cert);
  X509_free(cert);
  if (!principal.ok()) return identity::Anonymous();
  return std::make_shared<const identity::Principal>(std::move(*principal));
}

}  // namespace tls
}  // namespace kess
