// KeyRing: the keys of one secret namespace (docs/security.md, "Encrypted
// values"). A ring holds one or more 256-bit keys, each with an id; the
// newest (highest id) encrypts, every key decrypts. Rotation adds a key with
// a higher id; removing the old one ends its use.
//
// Key ring file (one per namespace, <keys_dir>/<namespace>.key, mode 0600),
// UTF-8 text:
//
//   # comments and blank lines are ignored
//   kess-keyring 1
//   key 1 <standard base64 of 32 random bytes>
//   key 2 <...>
//
// The first non-comment line names the format version (1). Ids are 1 to
// 4294967295, each at most once; at most kMaxKeys keys.
//
// Thread-safety: KeyRing is an immutable value after parsing; the free
// functions are thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/status.h"

namespace kess {
namespace secrets {

inline constexpr size_t kKeyBytes = 32;  // AES-256
inline constexpr size_t kMaxKeys = 64;
inline constexpr size_t kMaxKeyRingFileBytes = 64 * 1024;

struct Key {
  uint32_t id = 0;
  std::string bytes;  // kKeyBytes
};

class KeyRing {
 public:
  KeyRing() = default;
  // InvalidArgument unless ids are unique and non-zero, every key has
  // kKeyBytes and there are 1..kMaxKeys keys.
  static absl::StatusOr<KeyRing> Create(std::vector<Key> keys);

  // The key that encrypts: the highest id. REQUIRES: !empty().
  const Key& newest() const;
  // nullptr if the ring has no key with this id.
  const Key* Find(uint32_t id) const;
  const std::vector<Key>& keys() const { return keys_; }  // ascending ids
  bool empty() const { return keys_.empty(); }

 private:
  std::vector<Key> keys_;
};

// Parses a key ring file's content; InvalidArgument naming the line.
absl::StatusOr<KeyRing> ParseKeyRing(absl::string_view text);
// The file content for `ring` (ParseKeyRing(FormatKeyRing(r)) gives r).
std::string FormatKeyRing(const KeyRing& ring, absl::string_view ns);

// A new key of kKeyBytes from OpenSSL's CSPRNG (RAND_bytes).
absl::StatusOr<std::string> RandomKeyBytes();

// `ring` with a new random key added, its id one above the newest (1 for an
// empty ring).
absl::StatusOr<KeyRing> AddNewKey(const KeyRing& ring);

}  // namespace secrets
}  // namespace kess
