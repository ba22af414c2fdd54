#include "zk_schema/kess_auth.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace kess {
namespace zk {

absl::StatusOr<KessAuth> ParseKessAuth(absl::string_view contents,
                                       AuthNeeds needs) {
  KessAuth auth;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "auth file line ", line_number, ": expected user:password"));
    }
    absl::string_view user = line.substr(0, colon);
    absl::string_view password = line.substr(colon + 1);
    DigestCredential* target = nullptr;
    if (user == kMandatorUser) target = &auth.mandator;
    if (user == kReaderUser) target = &auth.reader;
    if (target == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "auth file line ", line_number, ": unknown user \"", user,
          "\" (expected \"", kMandatorUser, "\" or \"", kReaderUser, "\")"));
    }
    if (password.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "auth file line ", line_number, ": empty password for ", user));
    }
    target->user = std::string(user);
    target->password = std::string(password);
  }
  for (const DigestCredential* cred : {&auth.mandator, &auth.reader}) {
    if (cred == &auth.mandator && needs == AuthNeeds::kReaderOnly) continue;
    if (cred->user.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "auth file has no line for user \"",
          cred == &auth.mandator ? kMandatorUser : kReaderUser, "\""));
    }
  }
  return auth;
}

absl::StatusOr<KessAuth> LoadKessAuthFile(const std::string& path,
                                          AuthNeeds needs) {
  if (path.empty()) {
    return absl::InvalidArgumentError(
        "no ZooKeeper auth file given (it must hold mandator:<password> and "
        "reader:<password>)");
  }
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("cannot read the ZooKeeper auth file ", path));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  absl::StatusOr<KessAuth> auth = ParseKessAuth(buffer.str(), needs);
  if (!auth.ok()) {
    return absl::Status(auth.status().code(),
                        absl::StrCat(path, ": ", auth.status().message()));
  }
  return auth;
}

namespace {

absl::StatusOr<AclList> AclWithReaderPerms(const KessAuth& auth,
                                           int32_t reader_perms) {
  KESS_ASSIGN_OR_RETURN(
      Acl mandator,
      DigestAcl(auth.mandator.user, auth.mandator.password, kPermAll));
  KESS_ASSIGN_OR_RETURN(
      Acl reader,
      DigestAcl(auth.reader.user, auth.reader.password, reader_perms));
  return AclList{mandator, reader};
}

}  // namespace

absl::StatusOr<AclList> KessAcl(const KessAuth& auth) {
  return AclWithReaderPerms(auth, kPermRead);
}

absl::StatusOr<AclList> DistributorMembersAcl(const KessAuth& auth) {
  return AclWithReaderPerms(auth, kDistributorMembersReaderPerms);
}

absl::StatusOr<AclList> DistributorMemberNodeAcl(
    const DigestCredential& reader) {
  KESS_ASSIGN_OR_RETURN(Acl own,
                        DigestAcl(reader.user, reader.password, kPermRead));
  return AclList{own, WorldReadAcl()};
}

}  // namespace zk
}  // namespace kess
