#include "common/identity/credential.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "Poco/JSON/Object.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/json_util.h"

namespace kess {
namespace identity {
namespace {

constexpr absl::string_view kSecretPrefix = "kess1.";
constexpr size_t kSecretBytes = 32;
constexpr size_t kSaltBytes = 16;
constexpr size_t kIdBytes = 8;

absl::StatusOr<std::string> RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&out[0]),
                 static_cast<int>(n)) != 1) {
    return absl::InternalError("RAND_bytes failed");
  }
  return out;
}

std::string Sha256(absl::string_view a, absl::string_view b) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  EVP_DigestUpdate(ctx, a.data(), a.size());
  EVP_DigestUpdate(ctx, b.data(), b.size());
  EVP_DigestFinal_ex(ctx, digest, &len);
  EVP_MD_CTX_free(ctx);
  return std::string(reinterpret_cast<char*>(digest), len);
}

std::string StringField(const Poco::JSON::Object::Ptr& o, const char* key) {
  if (!o->has(key)) return "";
  Poco::Dynamic::Var v = o->get(key);
  return v.isString() ? v.extract<std::string>() : std::string();
}

std::string UriOf(Kind kind, absl::string_view name, absl::string_view dc) {
  return PrincipalUri(kind, name, dc);
}

}  // namespace

std::string CredentialRecord::ToJson() const {
  Poco::JSON::Object::Ptr o = new Poco::JSON::Object;
  o->set("kind", std::string(KindName(kind)));
  o->set("name", name);
  o->set("dc", dc);
  o->set("id", id);
  o->set("salt", salt_hex);
  o->set("sha256", sha256_hex);
  o->set("created_unix", static_cast<Poco::Int64>(created_unix));
  return kess::ToJson(o);
}

absl::StatusOr<CredentialRecord> CredentialRecord::FromJson(
    const std::string& json) {
  KESS_ASSIGN_OR_RETURN(Poco::JSON::Object::Ptr o, ParseJsonObject(json));
  CredentialRecord r;
  KESS_ASSIGN_OR_RETURN(r.kind, ParseKind(StringField(o, "kind")));
  r.name = StringField(o, "name");
  r.dc = StringField(o, "dc");
  r.id = StringField(o, "id");
  r.salt_hex = StringField(o, "salt");
  r.sha256_hex = StringField(o, "sha256");
  if (o->has("created_unix")) {
    try {
      r.created_unix = o->getValue<Poco::Int64>("created_unix");
    } catch (const Poco::Exception&) {
      return absl::InvalidArgumentError("credential: bad created_unix");
    }
  }
  KESS_RETURN_IF_ERROR(ValidatePrincipalName(r.kind, r.name, r.dc));
  if (r.id.empty() || r.salt_hex.size() != 2 * kSaltBytes ||
      r.sha256_hex.size() != 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("credential of ", UriOf(r.kind, r.name, r.dc),
                     ": missing id, salt or sha256"));
  }
  return r;
}

Principal CredentialRecord::ToPrincipal() const {
  Principal p;
  p.kind = kind;
  p.name = name;
  p.dc = dc;
  p.proof = Proof::kCredential;
  p.credential_id = id;
  return p;
}

absl::StatusOr<IssuedCredential> IssueCredential(Kind kind,
                                                 absl::string_view name,
                                                 absl::string_view dc) {
  KESS_RETURN_IF_ERROR(ValidatePrincipalName(kind, name, dc));
  KESS_ASSIGN_OR_RETURN(std::string secret, RandomBytes(kSecretBytes));
  KESS_ASSIGN_OR_RETURN(std::string salt, RandomBytes(kSaltBytes));
  KESS_ASSIGN_OR_RETURN(std::string id, RandomBytes(kIdBytes));
  IssuedCredential out;
  out.secret = absl::StrCat(kSecretPrefix, absl::BytesToHexString(secret));
  out.record.kind = kind;
  out.record.name = std::string(name);
  out.record.dc = std::string(dc);
  out.record.id = absl::BytesToHexString(id);
  out.record.salt_hex = absl::BytesToHexString(salt);
  out.record.sha256_hex = absl::BytesToHexString(Sha256(salt, out.secret));
  out.record.created_unix = absl::ToUnixSeconds(absl::Now());
  return out;
}

bool VerifySecret(const CredentialRecord& record, absl::string_view secret) {
  const std::string salt = absl::HexStringToBytes(record.salt_hex);
  const std::string want = absl::HexStringToBytes(record.sha256_hex);
  const std::string got = Sha256(salt, secret);
  return want.size() == got.size() && !got.empty() &&
         CRYPTO_memcmp(want.data(), got.data(), got.size()) == 0;
}

std::string CredentialFile::ToJson() const {
  Poco::JSON::Object::Ptr o = new Poco::JSON::Object;
  o->set("kind", std::string(KindName(kind)));
  o->set("name", name);
  o->set("dc", dc);
  o->set("secret", secret);
  return kess::ToJson(o);
}

absl::StatusOr<CredentialFile> ParseCredentialFile(const std::string& json) {
  KESS_ASSIGN_OR_RETURN(Poco::JSON::Object::Ptr o, ParseJsonObject(json));
  CredentialFile f;
  KESS_ASSIGN_OR_RETURN(f.kind, ParseKind(StringField(o, "kind")));
  f.name = StringField(o, "name");
  f.dc = StringField(o, "dc");
  f.secret = StringField(o, "secret");
  KESS_RETURN_IF_ERROR(ValidatePrincipalName(f.kind, f.name, f.dc));
  if (!absl::StartsWith(f.secret, kSecretPrefix)) {
    return absl::InvalidArgumentError(
        "credential file: 'secret' is missing or not a kess1. secret");
  }
  return f;
}

absl::StatusOr<CredentialFile> ReadCredentialFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("cannot read credential file ", path));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  absl::StatusOr<CredentialFile> f = ParseCredentialFile(buffer.str());
  if (!f.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", f.status().message()));
  }
  return f;
}

void CredentialRegistry::Replace(const std::vector<CredentialRecord>& records) {
  absl::flat_hash_map<std::string, CredentialRecord> next;
  for (const CredentialRecord& r : records) {
    next[UriOf(r.kind, r.name, r.dc)] = r;
  }
  absl::MutexLock lock(&mu_);
  by_uri_.swap(next);
}

void CredentialRegistry::Put(const CredentialRecord& record) {
  absl::MutexLock lock(&mu_);
  by_uri_[UriOf(record.kind, record.name, record.dc)] = record;
}

void CredentialRegistry::Remove(Kind kind, absl::string_view name,
                                absl::string_view dc) {
  absl::MutexLock lock(&mu_);
  by_uri_.erase(UriOf(kind, name, dc));
}

absl::StatusOr<std::shared_ptr<const Principal>>
CredentialRegistry::Authenticate(Kind kind, absl::string_view name,
                                 absl::string_view dc,
                                 absl::string_view secret) const {
  const std::string uri = UriOf(kind, name, dc);
  CredentialRecord record;
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = by_uri_.find(uri);
    if (it != by_uri_.end()) record = it->second;
  }
  if (record.id.empty() || !VerifySecret(record, secret)) {
    return absl::UnauthenticatedError(absl::StrCat(
        "kess.Authenticate: no valid credential for ", uri,
        " (unknown, revoked, or wrong secret)"));
  }
  return std::make_shared<const Principal>(record.ToPrincipal());
}

bool CredentialRegistry::StillValid(const Principal& principal) const {
  if (principal.proof != Proof::kCredential) return true;
  const std::string uri = principal.Uri();
  absl::ReaderMutexLock lock(&mu_);
  auto it = by_uri_.find(uri);
  return it != by_uri_.end() && it->second.id == principal.credential_id;
}

size_t CredentialRegistry::size() const {
  absl::ReaderMutexLock lock(&mu_);
  return by_uri_.size();
}

std::vector<CredentialRecord> CredentialRegistry::List() const {
  std::vector<std::pair<std::string, CredentialRecord>> all;
  {
    absl::ReaderMutexLock lock(&mu_);
    all.assign(by_uri_.begin(), by_uri_.end());
  }
  std::sort(all.begin(), all.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<CredentialRecord> out;
  out.reserve(all.size());
  for (auto& e : all) out.push_back(std::move(e.second));
  return out;
}

}  // namespace identity
}  // namespace kess
