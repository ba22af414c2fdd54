// The identity of a transport peer: who is on the other end of a
// connection, and how that was proven. Set once per connection by the
// transport server (from the verified client certificate after the TLS
// handshake, or by a kess.Authenticate credential) and handed to every
// handler in transport::Request::principal, so authorization costs a
// pointer copy per request, never a parse.
//
// A certificate names its principal in a URI subjectAltName:
//
//   kess://host/<host_id>             an agent host (and the apps on it)
//   kess://service/<service>          a provider registering directly
//   kess://mandator/<dc>/<member_id>  a mandator
//   kess://distributor/<dc>/<id>      a distributor
//   kess://operator/<name>            kessctl and other tools
//
// Anything else (no certificate, a certificate without a kess:// URI, or a
// plaintext connection) is the anonymous principal.
//
// Thread-safety: a Principal is immutable once shared (handlers receive
// std::shared_ptr<const Principal>); the functions are thread-safe.
#pragma once

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "common/status.h"

namespace kess {
namespace identity {

enum class Kind {
  kAnonymous,
  kHost,
  kService,
  kMandator,
  kDistributor,
  kOperator,
};

// How the principal was proven.
enum class Proof {
  kNone,         // anonymous
  kCertificate,  // a client certificate verified by the TLS handshake
  kCredential,   // a secret presented with kess.Authenticate
};

struct Principal {
  Kind kind = Kind::kAnonymous;
  // Host id, service name, or member id (mandator, distributor); the
  // operator's name. Empty for the anonymous principal.
  std::string name;
  // The datacenter of a mandator or distributor; empty for other kinds.
  std::string dc;
  Proof proof = Proof::kNone;
  // kCredential only: the id of the credential that proved it (a fresh id
  // per issue, so a revoked and re-issued credential does not revive the
  // connections of the old one).
  std::string credential_id;

  bool anonymous() const { return kind == Kind::kAnonymous; }
  // The certificate URI, "kess://host/web-17"; "" for anonymous.
  std::string Uri() const;
  // For logs and error messages: "host web-17 (certificate)",
  // "mandator dc1/m1 (credential)", "anonymous".
  std::string DebugString() const;

  bool operator==(const Principal& o) const {
    return kind == o.kind && name == o.name && dc == o.dc;
  }
  bool operator!=(const Principal& o) const { return !(*this == o); }
};

// "anonymous", "host", "service", "mandator", "distributor", "operator".
const char* KindName(Kind kind);
// The inverse of KindName; InvalidArgument for other words (and for
// "anonymous": nobody is issued that).
absl::StatusOr<Kind> ParseKind(absl::string_view word);
const char* ProofName(Proof proof);

// Whether `kind` carries a datacenter (mandator, distributor).
bool KindHasDc(Kind kind);

// Checks a name (and dc) for `kind`: 1..128 characters of [A-Za-z0-9._-],
// not starting with '.'; dc required for mandators and distributors,
// absent otherwise.
absl::Status ValidatePrincipalName(Kind kind, absl::string_view name,
                                   absl::string_view dc);

// Parses a kess:// URI (above) into a principal with `proof`.
// InvalidArgument for anything else, including a kess:// URI of an unknown
// kind or with a bad name.
absl::StatusOr<Principal> ParsePrincipalUri(absl::string_view uri,
                                            Proof proof = Proof::kCertificate);

// The URI for kind/name/dc (ValidatePrincipalName must hold).
std::string PrincipalUri(Kind kind, absl::string_view name,
                         absl::string_view dc = "");

// The one shared anonymous principal (never null).
const std::shared_ptr<const Principal>& Anonymous();

}  // namespace identity
}  // namespace kess
