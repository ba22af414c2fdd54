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
    if (line.substr(0, colon) != zk::kReaderUser) continue;
    if (colon + 1 == line.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("auth file line ", line_number, ": empty password for ",
                       zk::kReaderUser));
    }
    return zk::DigestCredential{std::string(zk::kReaderUser),
                                std::string(line.substr(colon + 1))};
  }
  return absl::InvalidArgumentError(
      absl::StrCat("auth file has no line for user \"", zk::kReaderUser, "\""));
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
