#include "zk_schema/zk_acl.h"

#include <sstream>

#include "Poco/Base64Encoder.h"
#include "Poco/SHA1Engine.h"
#include "absl/strings/str_cat.h"

namespace kess {
namespace zk {

AclList OpenAcl() { return {Acl{kPermAll, "world", "anyone"}}; }

Acl WorldReadAcl() { return Acl{kPermRead, "world", "anyone"}; }

absl::StatusOr<std::string> DigestId(absl::string_view user,
                                     absl::string_view password) {
  if (user.empty() || user.find(':') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "digest user must be non-empty and must not contain ':'");
  }
  Poco::SHA1Engine sha1;
  std::string input = absl::StrCat(user, ":", password);
  sha1.update(input.data(), static_cast<unsigned>(input.size()));
  const Poco::DigestEngine::Digest& digest = sha1.digest();
  std::ostringstream out;
  {
    Poco::Base64Encoder encoder(out);
    encoder.rdbuf()->setLineLength(0);  // no line breaks
    encoder.write(reinterpret_cast<const char*>(digest.data()),
                  static_cast<std::streamsize>(digest.size()));
    encoder.close();
  }
  return absl::StrCat(user, ":", out.str());
}

absl::StatusOr<Acl> DigestAcl(absl::string_view user,
                              absl::string_view password, int32_t perms) {
  KESS_ASSIGN_OR_RETURN(std::string id, DigestId(user, password));
  return Acl{perms, "digest", std::move(id)};
}

std::string AclToString(const Acl& acl) {
  std::string perms;
  if (acl.perms & kPermCreate) perms += 'c';
  if (acl.perms & kPermDelete) perms += 'd';
  if (acl.perms & kPermRead) perms += 'r';
  if (acl.perms & kPermWrite) perms += 'w';
  if (acl.perms & kPermAdmin) perms += 'a';
  return absl::StrCat(acl.scheme, ":", acl.id, ":", perms);
}

}  // namespace zk
}  // namespace kess
