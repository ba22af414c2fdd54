// Per-principal credentials: a random secret issued once by the main DC's
// mandator admin API (POST /v1/identities), of which ZooKeeper keeps only a
// salted hash. A peer presents {kind, name, dc, secret} with kess.Authenticate
// as the first request on a transport connection; the server checks it
// against a CredentialRegistry (filled from its own DC's ZooKeeper) and
// binds the principal to the connection.
//
// The secret is 32 random bytes (256 bits), so one salted SHA-256 is
// enough: there is no password to guess, and a slow hash would only make
// 50,000 reconnecting agents expensive. Comparisons are constant-time.
//
//   KESS_ASSIGN_OR_RETURN(IssuedCredential issued,
//                         IssueCredential(Kind::kHost, "web-17", ""));
//   // store issued.record (ToJson), show issued.secret once
//   registry.Put(issued.record);
//   registry.Authenticate(Kind::kHost, "web-17", "", issued.secret);  // ok
//
// Thread-safety: the functions are thread-safe; CredentialRegistry's
// methods may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/identity/principal.h"
#include "common/status.h"

namespace kess {
namespace identity {

// What ZooKeeper stores for one credential (never the secret).
struct CredentialRecord {
  Kind kind = Kind::kHost;
  std::string name;
  std::string dc;  // mandator and distributor credentials only
  // 16 hex digits, new at every issue.
  std::string id;
  std::string salt_hex;    // 16 random bytes
  std::string sha256_hex;  // SHA-256(salt || secret)
  int64_t created_unix = 0;

  // {"kind","name","dc","id","salt","sha256","created_unix"}.
  std::string ToJson() const;
  static absl::StatusOr<CredentialRecord> FromJson(const std::string& json);
  // The principal this record proves (proof kCredential, credential_id id).
  Principal ToPrincipal() const;
};

struct IssuedCredential {
  CredentialRecord record;
  // "kess1." then 64 hex digits; shown to the operator once.
  std::string secret;
};

// A new credential for kind/name/dc (ValidatePrincipalName must hold), with
// a fresh id, salt and secret from the OpenSSL CSPRNG.
absl::StatusOr<IssuedCredential> IssueCredential(Kind kind,
                                                 absl::string_view name,
                                                 absl::string_view dc);

// Whether `secret` is the one `record` was issued with (constant-time).
bool VerifySecret(const CredentialRecord& record, absl::string_view secret);

// The file an agent or SDK process reads its credential from
// (--credential_file): {"kind": "host", "name": "web-17", "dc": "",
// "secret": "kess1...."}. `kessctl identity issue --out` writes it (0600).
struct CredentialFile {
  Kind kind = Kind::kHost;
  std::string name;
  std::string dc;
  std::string secret;

  std::string ToJson() const;
};
absl::StatusOr<CredentialFile> ParseCredentialFile(const std::string& json);
// Reads and parses `path`; the error names the file.
absl::StatusOr<CredentialFile> ReadCredentialFile(const std::string& path);

// The credentials a server accepts, keyed by principal URI. Filled and kept
// current by a watcher of the DC's ZooKeeper (zk_schema/identities.h).
class CredentialRegistry {
 public:
  CredentialRegistry() = default;
  CredentialRegistry(const CredentialRegistry&) = delete;
  CredentialRegistry& operator=(const CredentialRegistry&) = delete;

  // Replaces every record (a full re-read).
  void Replace(const std::vector<CredentialRecord>& records);
  // Adds or replaces one record; removes one (no-op if absent).
  void Put(const CredentialRecord& record);
  void Remove(Kind kind, absl::string_view name, absl::string_view dc);

  // The principal proven by `secret`; UNAUTHENTICATED (the same message
  // whether the principal is unknown or the secret wrong) otherwise.
  absl::StatusOr<std::shared_ptr<const Principal>> Authenticate(
      Kind kind, absl::string_view name, absl::string_view dc,
      absl::string_view secret) const;

  // False for a credential-proven principal whose credential was revoked
  // or re-issued since; true for any other principal. One hash lookup.
  bool StillValid(const Principal& principal) const;

  size_t size() const;
  // The records, sorted by URI (for listings).
  std::vector<CredentialRecord> List() const;

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, CredentialRecord> by_uri_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace identity
}  // namespace kess
