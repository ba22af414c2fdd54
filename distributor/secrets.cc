#include "distributor/secrets.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "zk_schema/kess_auth.h"

namespace kess {
namespace distributor {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     absl::string_view what) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read ", what, " ", path));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace

absl::StatusOr<std::string> ParseAuthToken(absl::string_view contents) {
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!line.empty()) return std::string(line);
  }
  return absl::InvalidArgumentError("the auth token file is empty");
}

absl::StatusOr<std::string> LoadAuthTokenFile(const std::string& path) {
  KESS_ASSIGN_OR_RETURN(std::string contents,
                        ReadFile(path, "the auth token file"));
  absl::StatusOr<std::string> token = ParseAuthToken(contents);
  if (!token.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", token.status().message()));
  }
  return token;
}

absl::StatusOr<zk::DigestCredential> ParseReaderCredential(
    absl::string_view contents) {
  KESS_ASSIGN_OR_RETURN(
      zk::KessAuth auth,
      zk::ParseKessAuth(contents, zk::AuthNeeds::kReaderOnly));
  return auth.reader;
}

absl::StatusOr<zk::DigestCredential> LoadReaderCredentialFile(
    const std::string& path) {
  KESS_ASSIGN_OR_RETURN(std::string contents,
                        ReadFile(path, "the ZooKeeper auth file"));
  absl::StatusOr<zk::DigestCredential> credential =
      ParseReaderCredential(contents);
  if (!credential.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", credential.status().message()));
  }
  return credential;
}

}  // namespace distributor
}  // namespace kess
