// Who may do what on a mandator's HTTP API: roles, principals, and the one
// table of every route's required right (docs/security.md, "Admin roles and
// tokens").
//
// Roles:
//  - viewer: reads everything of the API and the UI (GET), nothing else;
//  - publisher: a viewer that may also write configs and gray releases
//    (PUT/DELETE/POST under /api/v1/configs/{ns}/...) in the namespaces its
//    patterns match ("payments", "team-*", "?a*"; '*' any run, '?' one
//    character; "*" alone: every namespace);
//  - admin: everything, including users, tokens, overrides, snapshots,
//    restores, and every route this table does not name.
// A mandator principal (another mandator's peer credential) may read, and
// forward a user's write on that user's behalf (the leader checks the
// user's own role again: the peer itself never writes).
//
// RequiredAccess(method, path) is the table: one place to read what every
// route needs. Engineers adding routes add a row to kRules in access.cc (or
// rely on the default: a GET needs kRead, any other method kAdmin).
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/status.h"

namespace kess {
namespace mandator {
namespace auth {

enum class Role { kViewer, kPublisher, kAdmin };

// "viewer", "publisher", "admin".
const char* RoleName(Role role);
absl::StatusOr<Role> ParseRole(absl::string_view name);

enum class PrincipalKind {
  kAnonymous,  // --insecure_dev_mode only: every right
  kBootstrap,  // the --admin_password_file admin
  kUser,       // a stored user (UI login)
  kToken,      // a stored API token
  kPeer,       // another mandator (its peer credential)
};

struct Principal {
  PrincipalKind kind = PrincipalKind::kAnonymous;
  // What the history's author and the audit log's "who" show: the user's
  // name, "token:<name>", "mandator:<id>", "anonymous".
  std::string name;
  Role role = Role::kViewer;
  // Publisher only: namespace patterns.
  std::vector<std::string> namespaces;
  // Authenticated with the mandators' peer credential (a peer, or a write a
  // follower forwards on behalf of `name`): only then are the forwarding
  // headers (X-Kess-Forwarded-For, X-Kess-Forwarded-By) believed.
  bool via_peer = false;
};

// Every right a route can require.
enum class Right {
  kOpen,           // no authentication (health, metrics, status, UI files)
  kAuthenticated,  // any principal (logout, whoami)
  kRead,           // viewer and up
  kWriteNamespace,  // publisher of the path's namespace, admin
  kAdmin,          // admin only
};

const char* RightName(Right right);

struct Requirement {
  Right right = Right::kAdmin;
  std::string ns;  // kWriteNamespace: the namespace written
};

// The table. `path` is the decoded path without the query.
Requirement RequiredAccess(absl::string_view method, absl::string_view path);

// True if `name` matches the glob `pattern` ('*' and '?').
bool GlobMatch(absl::string_view pattern, absl::string_view name);

// OK, or PermissionDenied with a message naming the principal, its role and
// what was needed (never Unauthenticated: that is the gate's). A peer
// principal passes kRead and kAuthenticated only.
absl::Status CheckAccess(const Principal& principal,
                         const Requirement& requirement);

// Checks a publisher's namespace patterns (each non-empty, at most 128
// characters of names' characters plus '*' and '?'); at most 64 patterns.
absl::Status ValidateNamespacePatterns(const std::vector<std::string>& p);

}  // namespace auth
}  // namespace mandator
}  // namespace kess
