// Secrets of users and API tokens: how they are made, stored and checked.
// Only hashes are ever stored (in ZooKeeper); a token's secret is shown
// once, when it is created.
//
//  - Passwords: PBKDF2-HMAC-SHA256 (OpenSSL), a random 16-byte salt,
//    kPasswordIterations rounds; stored as
//    "pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>".
//  - API tokens: "kt_<id: 16 hex>_<secret: 64 hex>" (256 random bits, so a
//    salted SHA-256 is enough: no dictionary can reach it); stored as
//    "sha256$<salt hex>$<hash hex>" under the id.
// Comparisons run in constant time (CRYPTO_memcmp).
//
// Thread-safety: pure functions (RAND_bytes is thread-safe).
#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "common/status.h"

namespace kess {
namespace mandator {
namespace auth {

inline constexpr int kPasswordIterations = 100000;
// Longer Bearer values and passwords are refused before any hashing.
inline constexpr size_t kMaxSecretBytes = 1024;
inline constexpr size_t kMinPasswordLength = 12;

// `bytes` random bytes as lower-case hex.
std::string RandomHex(size_t bytes);

// The stored form of `password` (a new salt each call).
std::string HashPassword(absl::string_view password,
                         int iterations = kPasswordIterations);
// True if `password` matches `stored` (a HashPassword result); false for a
// malformed `stored` too.
bool VerifyPassword(absl::string_view password, absl::string_view stored);

// The stored form of a token's secret part (a new salt each call).
std::string HashTokenSecret(absl::string_view secret);
bool VerifyTokenSecret(absl::string_view secret, absl::string_view stored);

struct NewToken {
  std::string id;      // 16 hex digits
  std::string secret;  // 64 hex digits
  std::string bearer;  // "kt_<id>_<secret>": what the client sends
};
NewToken MakeToken();

// Splits a Bearer value of MakeToken's form; InvalidArgument otherwise.
struct ParsedToken {
  std::string id;
  std::string secret;
};
absl::StatusOr<ParsedToken> ParseToken(absl::string_view bearer);

// Password rules for stored users (as ui::ValidateAdminSecret: at least
// kMinPasswordLength characters, no white space or control characters, at
// most kMaxSecretBytes).
absl::Status ValidatePassword(absl::string_view password);

// Constant-time equality (lengths may differ).
bool SecretEquals(absl::string_view a, absl::string_view b);

// SHA-256 of `data`, lower-case hex (the audit log's value digests).
std::string Sha256Hex(absl::string_view data);

// The credential mandators present to each other (docs/security.md,
// "Between mandators"): "kp_" + HMAC-SHA256(key, "kess-mandator-peer-v1")
// in hex. The daemon's key is the contents of --peer_token_file or, without
// it, the ZooKeeper password of user "mandator" (which only mandators
// hold), so it is never the admin secret and a distributor (user reader)
// cannot derive it.
std::string DerivePeerSecret(absl::string_view key);

}  // namespace auth
}  // namespace mandator
}  // namespace kess
