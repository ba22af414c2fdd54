// The principal of a TLS peer, read from its verified certificate: the
// first URI subjectAltName that is a kess principal URI
// (common/identity/principal.h). The transport server calls it once per
// connection, right after the handshake; handlers see the result in
// transport::Request::principal.
//
// Thread-safety: thread-safe (the SSL object belongs to the caller).
#pragma once

#include <memory>

#include "common/identity/principal.h"

typedef struct ssl_st SSL;
typedef struct x509_st X509;

namespace kess {
namespace tls {

// The peer's principal (proof kCertificate) when the peer presented a
// certificate that verified (mutual TLS) and names a kess:// URI; else
// identity::Anonymous(). nullptr `ssl`: anonymous.
std::shared_ptr<const identity::Principal> PeerPrincipal(SSL* ssl);

// The first kess principal URI among `cert`'s subjectAltNames, parsed
// (proof kCertificate); NotFound when it has none.
absl::StatusOr<identity::Principal> CertificatePrincipal(X509* cert);

}  // namespace tls
}  // namespace kess
