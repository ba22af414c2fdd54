// The envelope of an encrypted config value (docs/security.md, "Encrypted
// values"): what ZooKeeper, replication, the distributors and the wire hold
// for a value of a secret namespace. One line of ASCII, so that it travels
// as a UTF-8 string everywhere a value does (HTTP API, UI, file cache):
//
//   kess:enc:v1:<key id>:<base64(nonce || ciphertext || tag)>
//
//   key id      decimal, 1..4294967295: the ring key that sealed it
//   nonce       12 random bytes (RAND_bytes) per value
//   ciphertext  AES-256-GCM of the plaintext, as long as it
//   tag         16 bytes, the GCM tag
//
// The associated data binds the envelope to its place:
//   "kess:enc:v1" NUL <namespace> NUL <config key> NUL <key id>
// so an envelope copied to another namespace or key, or relabelled with
// another key id, does not decrypt.
//
// Nonces are random: with 96-bit nonces the chance of a repeat under one
// key stays below 2^-32 for up to 2^32 encryptions (NIST SP 800-38D,
// 8.3); a namespace's writes are far fewer, and rotation (a new key)
// resets the count.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "common/status.h"
#include "model/secrets/key_ring.h"

namespace kess {
namespace secrets {

inline constexpr absl::string_view kEnvelopeMagic = "kess:enc:";
inline constexpr absl::string_view kEnvelopePrefixV1 = "kess:enc:v1:";
inline constexpr size_t kNonceBytes = 12;
inline constexpr size_t kTagBytes = 16;
// Longest envelope parsed (the 16 MiB value limit, base64, and the header).
inline constexpr size_t kMaxEnvelopeBytes = 24 * 1024 * 1024;

struct Envelope {
  uint32_t key_id = 0;
  std::string nonce;       // kNonceBytes
  std::string ciphertext;  // without the tag
  std::string tag;         // kTagBytes
};

// True when `value` starts with "kess:enc:" (an envelope, well-formed or
// not, of any version). Values of namespaces that are not secret may not
// start so (the main leader refuses them), so a host can tell.
bool LooksLikeEnvelope(absl::string_view value);

// Parses the envelope's syntax (no key needed). InvalidArgument when it is
// not one (an unknown version, a bad key id, bad base64, too short or above
// kMaxEnvelopeBytes).
absl::StatusOr<Envelope> ParseEnvelope(absl::string_view value);

// Encrypts `plaintext` for namespace `ns`, config key `key` with `k`.
absl::StatusOr<std::string> Seal(const Key& k, absl::string_view ns,
                                 absl::string_view key,
                                 absl::string_view plaintext);

// Decrypts an envelope of `ns`/`key`. InvalidArgument: not an envelope;
// NotFound: the ring has no key with its id; DataLoss: it does not
// authenticate (tampered, another namespace or key, or another key with the
// same id).
absl::StatusOr<std::string> Open(const KeyRing& ring, absl::string_view ns,
                                 absl::string_view key,
                                 absl::string_view value);

}  // namespace secrets
}  // namespace kess
