// The ACL policy of kess, in one place (invariant 14 of docs/design.md).
//
// Two digest users, with passwords from an auth file that only the
// operators and the daemons can read:
//   mandator  all permissions (create, write, delete, admin) on every node
//             kess creates; used by mandators only;
//   reader    read permission; used by distributors and by a slave DC's
//             leader reading the main DC's ZooKeeper.
// Everything else (unauthenticated clients, other users) can do nothing with
// kess nodes. ZooKeeper ACLs are per node, so every create passes KessAcl()
// (mandators set it as their client's default ACL).
//
// The auth file has one `user:password` per line for the users above;
// blank lines and lines starting with '#' are ignored:
//   mandator:<password>
//   reader:<password>
// Passwords are secrets: they never go into argv, logs, error messages,
// znode paths or node data (only their SHA-1 digests go into ACLs).
//
// The ZooKeeper C client of Debian has no TLS and no SASL: digest auth
// sends the password in clear over the ZooKeeper link, so that link must
// run on a trusted network.
//
// Thread-safe: pure functions.
#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "common/status.h"
#include "zk_schema/zk_acl.h"

namespace kess {
namespace zk {

inline constexpr absl::string_view kMandatorUser = "mandator";
inline constexpr absl::string_view kReaderUser = "reader";

struct KessAuth {
  DigestCredential mandator;  // user "mandator"
  DigestCredential reader;    // user "reader"
};

// Which users an auth file must hold: mandators need both; distributors
// only `reader` (so they can be given a file without the mandator password).
enum class AuthNeeds { kMandatorAndReader, kReaderOnly };

// Parses the contents of an auth file. The users `needs` names must be
// present with a non-empty password (with kReaderOnly, `mandator` stays
// empty when absent). InvalidArgument naming the line (never the secret)
// otherwise.
absl::StatusOr<KessAuth> ParseKessAuth(
    absl::string_view contents,
    AuthNeeds needs = AuthNeeds::kMandatorAndReader);

// Reads and parses the auth file at `path`.
absl::StatusOr<KessAuth> LoadKessAuthFile(
    const std::string& path, AuthNeeds needs = AuthNeeds::kMandatorAndReader);

// mandator: all permissions; reader: read. The ACL of every kess node.
absl::StatusOr<AclList> KessAcl(const KessAuth& auth);

// The reader's permissions on /kess/members/distributors: read and create,
// so that distributors (which hold only the reader password) can register
// their ephemeral member nodes there. Not delete: ZooKeeper checks DELETE
// on the parent, so a reader with it could delete every other
// distributor's member node. A member node goes away with its
// distributor's session (closing the session removes it at once).
inline constexpr int32_t kDistributorMembersReaderPerms =
    kPermRead | kPermCreate;

// The ACL of /kess/members/distributors: as KessAcl, with the reader's
// permissions kDistributorMembersReaderPerms.
absl::StatusOr<AclList> DistributorMembersAcl(const KessAuth& auth);

// The ACL of one distributor's member node, created by the distributor as
// `reader`: reader and everyone may read it (it holds addresses only), no
// one may change it (ZooKeeper lets nobody without WRITE set its data, and
// deleting it needs DELETE on the parent, which only the mandators hold).
absl::StatusOr<AclList> DistributorMemberNodeAcl(
    const DigestCredential& reader);

}  // namespace zk
}  // namespace kess
