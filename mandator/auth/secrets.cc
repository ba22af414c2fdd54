#include "mandator/auth/secrets.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "glog/logging.h"

namespace kess {
namespace mandator {
namespace auth {
namespace {

constexpr size_t kSaltBytes = 16;
constexpr size_t kTokenIdBytes = 8;
constexpr size_t kTokenSecretBytes = 32;
constexpr int kMaxIterations = 10000000;

std::string Hex(const unsigned char* data, size_t n) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(data), n));
}

bool IsLowerHex(absl::string_view s, size_t n) {
  if (s.size() != n) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string Pbkdf2(absl::string_view password, absl::string_view salt,
                   int iterations) {
  unsigned char out[32];
  CHECK_EQ(PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                             reinterpret_cast<const unsigned char*>(salt.data()),
                             static_cast<int>(salt.size()), iterations,
                             EVP_sha256(), sizeof(out), out),
           1);
  return Hex(out, sizeof(out));
}

std::string SaltedSha256(absl::string_view salt, absl::string_view secret) {
  return Sha256Hex(absl::StrCat(salt, ":", secret));
}

}  // namespace

std::string RandomHex(size_t bytes) {
  std::vector<unsigned char> buffer(bytes);
  CHECK_EQ(RAND_bytes(buffer.data(), static_cast<int>(bytes)), 1)
      << "no randomness from OpenSSL";
  return Hex(buffer.data(), bytes);
}

bool SecretEquals(absl::string_view a, absl::string_view b) {
  // Compare digests of both: equal length, so CRYPTO_memcmp tells nothing
  // about a prefix or the length.
  unsigned char da[SHA256_DIGEST_LENGTH];
  unsigned char db[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(a.data()), a.size(), da);
  SHA256(reinterpret_cast<const unsigned char*>(b.data()), b.size(), db);
  return CRYPTO_memcmp(da, db, sizeof(da)) == 0 && a.size() == b.size();
}

std::string Sha256Hex(absl::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         digest);
  return Hex(digest, sizeof(digest));
}

std::string HashPassword(absl::string_view password, int iterations) {
  const std::string salt = RandomHex(kSaltBytes);
  return absl::StrCat("pbkdf2-sha256$", iterations, "$", salt, "$",
                      Pbkdf2(password, salt, iterations));
}

bool VerifyPassword(absl::string_view password, absl::string_view stored) {
  if (password.size() > kMaxSecretBytes) return false;
  std::vector<absl::string_view> parts = absl::StrSplit(stored, '$');
  int iterations = 0;
  if (parts.size() != 4 || parts[0] != "pbkdf2-sha256" ||
      !absl::SimpleAtoi(parts[1], &iterations) || iterations < 1 ||
      iterations > kMaxIterations || !IsLowerHex(parts[2], 2 * kSaltBytes) ||
      !IsLowerHex(parts[3], 64)) {
    return false;
  }
  return SecretEquals(Pbkdf2(password, parts[2], iterations), parts[3]);
}

std::string HashTokenSecret(absl::string_view secret) {
  const std::string salt = RandomHex(kSaltBytes);
  return absl::StrCat("sha256$", salt, "$", SaltedSha256(salt, secret));
}

bool VerifyTokenSecret(absl::string_view secret, absl::string_view stored) {
  std::vector<absl::string_view> parts = absl::StrSplit(stored, '$');
  if (parts.size() != 3 || parts[0] != "sha256" ||
      !IsLowerHex(parts[1], 2 * kSaltBytes) || !IsLowerHex(parts[2], 64)) {
    return false;
  }
  return SecretEquals(SaltedSha256(parts[1], secret), parts[2]);
}

std::string DerivePeerSecret(absl::string_view key) {
  static constexpr char kLabel[] = "kess-mandator-peer-v1";
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  CHECK(HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
             reinterpret_cast<const unsigned char*>(kLabel),
             sizeof(kLabel) - 1, out, &n) != nullptr);
  return "kp_" + Hex(out, n);
}

NewToken MakeToken() {
  NewToken t;
  t.id = RandomHex(kTokenIdBytes);
  t.secret = RandomHex(kTokenSecretBytes);
  t.bearer = absl::StrCat("kt_", t.id, "_", t.secret);
  return t;
}

absl::StatusOr<ParsedToken> ParseToken(absl::string_view bearer) {
  const size_t expected = 3 + 2 * kTokenIdBytes + 1 + 2 * kTokenSecretBytes;
  if (bearer.size() != expected || bearer.substr(0, 3) != "kt_" ||
      bearer[3 + 2 * kTokenIdBytes] != '_') {
    return absl::InvalidArgumentError("not a kess API token");
  }
  ParsedToken t;
  t.id = std::string(bearer.substr(3, 2 * kTokenIdBytes));
  t.secret = std::string(bearer.substr(4 + 2 * kTokenIdBytes));
  if (!IsLowerHex(t.id, 2 * kTokenIdBytes) ||
      !IsLowerHex(t.secret, 2 * kTokenSecretBytes)) {
    return absl::InvalidArgumentError("not a kess API token");
  }
  return t;
}

absl::Status ValidatePassword(absl::string_view password) {
  if (password.size() < kMinPasswordLength) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a password has at least ", kMinPasswordLength, " characters"));
  }
  if (password.size() > kMaxSecretBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("a password has at most ", kMaxSecretBytes, " bytes"));
  }
  for (char c : password) {
    if (static_cast<unsigned char>(c) < 0x21 || c == 0x7f) {
      return absl::InvalidArgumentError(
          "a password may not contain white space or control characters");
    }
  }
  return absl::OkStatus();
}

}  // namespace auth
}  // namespace mandator
}  // namespace kess
