// ZooKeeper ACLs and digest credentials.
//
// ZK checks ACLs per znode (they are not inherited), so every write in kess
// passes the ACL it wants; the usual one is "the mandators' user may do
// everything, the readers' user may read" built with DigestAcl().
// The digest scheme identifies a user as "user:base64(sha1(user:password))";
// a client proves it is that user with zoo_add_auth("digest",
// "user:password") (ZkClientOptions::credentials). Secrets never go into
// paths or node data.
//
// Thread-safe: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/status.h"

namespace kess {
namespace zk {

// ZooKeeper permission bits (ZOO_PERM_*).
inline constexpr int32_t kPermRead = 1;
inline constexpr int32_t kPermWrite = 2;
inline constexpr int32_t kPermCreate = 4;
inline constexpr int32_t kPermDelete = 8;
inline constexpr int32_t kPermAdmin = 16;
inline constexpr int32_t kPermAll = 31;

struct Acl {
  int32_t perms = 0;
  std::string scheme;  // "world", "digest", "ip", "auth"
  std::string id;      // "anyone", "user:base64digest", ...

  bool operator==(const Acl& o) const {
    return perms == o.perms && scheme == o.scheme && id == o.id;
  }
};
using AclList = std::vector<Acl>;

// A user for zoo_add_auth("digest", ...).
struct DigestCredential {
  std::string user;
  std::string password;
};

// world:anyone with all permissions (ZOO_OPEN_ACL_UNSAFE).
AclList OpenAcl();
// world:anyone read-only.
Acl WorldReadAcl();

// "user:" + base64(sha1("user:password")), as ZooKeeper's
// DigestAuthenticationProvider.generateDigest(). InvalidArgument if the user
// is empty or contains ':'.
absl::StatusOr<std::string> DigestId(absl::string_view user,
                                     absl::string_view password);
absl::StatusOr<Acl> DigestAcl(absl::string_view user,
                              absl::string_view password, int32_t perms);

// "digest:alice:...=:cdrwa" style, for logs and error messages.
std::string AclToString(const Acl& acl);

}  // namespace zk
}  // namespace kess
