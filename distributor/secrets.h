// The distributor's two secrets, read from files (never from argv):
//  - the agents' shared auth token (--auth_token_file): the first non-empty
//    line, surrounding whitespace removed;
//  - the ZooKeeper reader credential (--zk_auth_file): the format of
//    zk_schema/kess_auth.h (`user:password` lines, '#' comments), of which
//    the distributor needs and uses only the `reader` line, so an operator
//    can give distributors a file without the mandator password.
// Error messages never contain the secrets.
//
// Thread-safe: pure functions.
#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "common/status.h"
#include "zk_schema/zk_acl.h"

namespace kess {
namespace distributor {

absl::StatusOr<std::string> ParseAuthToken(absl::string_view contents);
absl::StatusOr<std::string> LoadAuthTokenFile(const std::string& path);

absl::StatusOr<zk::DigestCredential> ParseReaderCredential(
    absl::string_view contents);
absl::StatusOr<zk::DigestCredential> LoadReaderCredentialFile(
    const std::string& path);

}  // namespace distributor
}  // namespace kess
