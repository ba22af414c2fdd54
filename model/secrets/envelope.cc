#include "model/secrets/envelope.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace kess {
namespace secrets {
namespace {

using CipherCtx =
    std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

std::string AssociatedData(absl::string_view ns, absl::string_view key,
                           uint32_t key_id) {
  std::string aad = "kess:enc:v1";
  aad.push_back('\0');
  absl::StrAppend(&aad, ns);
  aad.push_back('\0');
  absl::StrAppend(&aad, key);
  aad.push_back('\0');
  absl::StrAppend(&aad, key_id);
  return aad;
}

unsigned char* U(std::string* s) {
  return reinterpret_cast<unsigned char*>(s->data());
}
const unsigned char* U(absl::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

bool LooksLikeEnvelope(absl::string_view value) {
  return absl::StartsWith(value, kEnvelopeMagic);
}

absl::StatusOr<Envelope> ParseEnvelope(absl::string_view value) {
  if (value.size() > kMaxEnvelopeBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("an encrypted value has at most ", kMaxEnvelopeBytes,
                     " bytes, not ", value.size()));
  }
  if (!absl::StartsWith(value, kEnvelopeMagic)) {
    return absl::InvalidArgumentError("not an encrypted value (kess:enc:)");
  }
  if (!absl::StartsWith(value, kEnvelopePrefixV1)) {
    return absl::InvalidArgumentError(
        "an encrypted value of an unknown version (this build reads "
        "kess:enc:v1:)");
  }
  absl::string_view rest = value.substr(kEnvelopePrefixV1.size());
  const size_t colon = rest.find(':');
  if (colon == absl::string_view::npos || colon == 0 || colon > 10) {
    return absl::InvalidArgumentError(
        "an encrypted value without a key id (kess:enc:v1:<id>:<data>)");
  }
  Envelope out;
  const absl::string_view id = rest.substr(0, colon);
  uint64_t parsed = 0;
  for (char c : id) {
    if (c < '0' || c > '9') {
      return absl::InvalidArgumentError(
          "the key id of an encrypted value is not a decimal number");
    }
  }
  if (!absl::SimpleAtoi(id, &parsed) || parsed == 0 || parsed > 0xffffffffu ||
      id[0] == '0') {
    return absl::InvalidArgumentError(
        "the key id of an encrypted value is not in 1..4294967295");
  }
  out.key_id = static_cast<uint32_t>(parsed);
  std::string raw;
  const absl::string_view data = rest.substr(colon + 1);
  // Strict standard base64 with padding: one spelling per envelope.
  if (data.size() % 4 != 0 || !absl::Base64Unescape(data, &raw) ||
      absl::Base64Escape(raw) != data) {
    return absl::InvalidArgumentError(
        "the data of an encrypted value is not standard base64");
  }
  if (raw.size() < kNonceBytes + kTagBytes) {
    return absl::InvalidArgumentError(
        "an encrypted value is too short for its nonce and tag");
  }
  out.nonce = raw.substr(0, kNonceBytes);
  out.tag = raw.substr(raw.size() - kTagBytes);
  out.ciphertext = raw.substr(kNonceBytes, raw.size() - kNonceBytes -
                                               kTagBytes);
  return out;
}

absl::StatusOr<std::string> Seal(const Key& k, absl::string_view ns,
                                 absl::string_view key,
                                 absl::string_view plaintext) {
  if (k.bytes.size() != kKeyBytes || k.id == 0) {
    return absl::InvalidArgumentError("not a 256-bit key with an id");
  }
  // base64 of the plaintext plus 28 bytes stays below kMaxEnvelopeBytes.
  if (plaintext.size() > kMaxEnvelopeBytes / 4 * 3 - 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("a value to encrypt has at most ",
                     kMaxEnvelopeBytes / 4 * 3 - 64, " bytes"));
  }
  std::string raw(kNonceBytes + plaintext.size() + kTagBytes, '\0');
  if (RAND_bytes(U(&raw), kNonceBytes) != 1) {
    return absl::InternalError("RAND_bytes failed");
  }
  const std::string aad = AssociatedData(ns, key, k.id);
  CipherCtx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  int len = 0;
  if (ctx == nullptr ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr,
                         nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes,
                          nullptr) != 1 ||
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, U(k.bytes),
                         U(&raw)) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, U(aad),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), U(&raw) + kNonceBytes, &len, U(plaintext),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), U(&raw) + kNonceBytes + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes,
                          U(&raw) + kNonceBytes + plaintext.size()) != 1) {
    return absl::InternalError("AES-256-GCM encryption failed");
  }
  return absl::StrCat(kEnvelopePrefixV1, k.id, ":", absl::Base64Escape(raw));
}

absl::StatusOr<std::string> Open(const KeyRing& ring, absl::string_view ns,
                                 absl::string_view key,
                                 absl::string_view value) {
  KESS_ASSIGN_OR_RETURN(Envelope env, ParseEnvelope(value));
  const Key* k = ring.Find(env.key_id);
  if (k == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "the key ring of namespace ", ns, " has no key ", env.key_id));
  }
  const std::string aad = AssociatedData(ns, key, env.key_id);
  std::string plain(env.ciphertext.size(), '\0');
  CipherCtx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  int len = 0;
  if (ctx == nullptr ||
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr,
                         nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes,
                          nullptr) != 1 ||
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, U(k->bytes),
                         U(env.nonce)) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, U(aad),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), U(&plain), &len, U(env.ciphertext),
                        static_cast<int>(env.ciphertext.size())) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes,
                          env.tag.data()) != 1) {
    return absl::InternalError("AES-256-GCM decryption failed to start");
  }
  int final_len = 0;
  if (EVP_DecryptFinal_ex(ctx.get(), U(&plain) + len, &final_len) != 1) {
    return absl::DataLossError(absl::StrCat(
        "the encrypted value of ", ns, "/", key, " does not authenticate "
        "with key ", env.key_id, " (tampered, copied from another namespace "
        "or key, or sealed by another key with that id)"));
  }
  plain.resize(static_cast<size_t>(len + final_len));
  return plain;
}

}  // namespace secrets
}  // namespace kess
