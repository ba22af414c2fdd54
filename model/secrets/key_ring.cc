#include "model/secrets/key_ring.h"

#include <openssl/rand.h>

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace kess {
namespace secrets {

absl::StatusOr<KeyRing> KeyRing::Create(std::vector<Key> keys) {
  if (keys.empty() || keys.size() > kMaxKeys) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a key ring holds 1 to ", kMaxKeys, " keys, not ", keys.size()));
  }
  std::sort(keys.begin(), keys.end(),
            [](const Key& a, const Key& b) { return a.id < b.id; });
  for (size_t i = 0; i < keys.size(); ++i) {
    if (keys[i].id == 0) {
      return absl::InvalidArgumentError("key id 0 is not allowed");
    }
    if (keys[i].bytes.size() != kKeyBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("key ", keys[i].id, " has ", keys[i].bytes.size(),
                       " bytes, not ", kKeyBytes));
    }
    if (i > 0 && keys[i].id == keys[i - 1].id) {
      return absl::InvalidArgumentError(
          absl::StrCat("key id ", keys[i].id, " appears twice"));
    }
  }
  KeyRing ring;
  ring.keys_ = std::move(keys);
  return ring;
}

const Key& KeyRing::newest() const { return keys_.back(); }

const Key* KeyRing::Find(uint32_t id) const {
  for (const Key& k : keys_) {
    if (k.id == id) return &k;
  }
  return nullptr;
}

absl::StatusOr<KeyRing> ParseKeyRing(absl::string_view text) {
  if (text.size() > kMaxKeyRingFileBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a key ring file has at most ", kMaxKeyRingFileBytes, " bytes"));
  }
  bool header = false;
  std::vector<Key> keys;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> words =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (!header) {
      if (words.size() != 2 || words[0] != "kess-keyring" ||
          words[1] != "1") {
        return absl::InvalidArgumentError(absl::StrCat(
            "key ring line ", number,
            ": expected the header \"kess-keyring 1\""));
      }
      header = true;
      continue;
    }
    uint32_t id = 0;
    std::string bytes;
    if (words.size() != 3 || words[0] != "key" ||
        !absl::SimpleAtoi(words[1], &id) || id == 0 ||
        !absl::Base64Unescape(words[2], &bytes)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "key ring line ", number,
          ": expected \"key <id 1..4294967295> <base64 of 32 bytes>\""));
    }
    if (bytes.size() != kKeyBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("key ring line ", number, ": key ", id, " has ",
                       bytes.size(), " bytes, not ", kKeyBytes));
    }
    keys.push_back(Key{id, std::move(bytes)});
  }
  if (!header) {
    return absl::InvalidArgumentError(
        "not a key ring file (no \"kess-keyring 1\" header)");
  }
  return KeyRing::Create(std::move(keys));
}

std::string FormatKeyRing(const KeyRing& ring, absl::string_view ns) {
  std::string out = absl::StrCat(
      "# kess key ring of namespace ", ns,
      " (docs/security.md, \"Encrypted values\").\n"
      "# The highest id encrypts; every key decrypts. Keep it 0600.\n"
      "kess-keyring 1\n");
  for (const Key& k : ring.keys()) {
    absl::StrAppend(&out, "key ", k.id, " ", absl::Base64Escape(k.bytes),
                    "\n");
  }
  return out;
}

absl::StatusOr<std::string> RandomKeyBytes() {
  std::string bytes(kKeyBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()),
                 static_cast<int>(bytes.size())) != 1) {
    return absl::InternalError("RAND_bytes failed");
  }
  return bytes;
}

absl::StatusOr<KeyRing> AddNewKey(const KeyRing& ring) {
  std::vector<Key> keys = ring.keys();
  const uint32_t newest = ring.empty() ? 0 : ring.newest().id;
  if (newest == 0xffffffffu) {
    return absl::FailedPreconditionError("the key ring's ids are used up");
  }
  KESS_ASSIGN_OR_RETURN(std::string bytes, RandomKeyBytes());
  keys.push_back(Key{newest + 1, std::move(bytes)});
  return KeyRing::Create(std::move(keys));
}

}  // namespace secrets
}  // namespace kess
