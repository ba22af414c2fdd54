#include "mandator/auth/access.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace kess {
namespace mandator {
namespace auth {
namespace {

// One row of the table: `method` ("*" = any), a path that is `exact` or a
// prefix, and the right it needs. The first matching row wins.
struct Rule {
  const char* method;
  const char* path;
  bool exact;
  Right right;
};

// The table of docs/security.md, "Admin roles and tokens". Rows for other
// routes go here; what no row names needs kRead for GET/HEAD and kAdmin for
// every other method (unknown writes are admin-only).
constexpr Rule kRules[] = {
    // Monitoring, leader discovery, the UI's static files and its login.
    {"GET", "/healthz", true, Right::kOpen},
    {"GET", "/metrics", true, Right::kOpen},
    {"GET", "/api/v1/status", true, Right::kOpen},
    {"GET", "/ui/session", true, Right::kAuthenticated},
    {"GET", "/ui", true, Right::kOpen},
    {"GET", "/ui/", false, Right::kOpen},
    {"POST", "/ui/login", true, Right::kOpen},
    {"POST", "/ui/logout", true, Right::kAuthenticated},
    // Who am I (every principal may ask).
    {"GET", "/api/v1/auth/whoami", true, Right::kAuthenticated},
    // Users and tokens: admin only, reads included (who holds what).
    {"*", "/api/v1/auth/", false, Right::kAdmin},
    // Identities and ACLs (their own APIs): admin only, reads included.
    {"*", "/api/v1/identities", false, Right::kAdmin},
    {"*", "/api/v1/acls", false, Right::kAdmin},
    // Snapshot (every value at once) and restore.
    {"*", "/api/v1/admin/", false, Right::kAdmin},
    // The audit log: readable by viewers (it holds no secret).
    {"GET", "/api/v1/audit", true, Right::kRead},
    // Configs and gray releases: reads for all, writes per namespace.
    {"GET", "/api/v1/configs", false, Right::kRead},
    {"PUT", "/api/v1/configs/", false, Right::kWriteNamespace},
    {"DELETE", "/api/v1/configs/", false, Right::kWriteNamespace},
    {"POST", "/api/v1/configs/", false, Right::kWriteNamespace},
    // Instance overrides change routing for every caller: admin.
    {"PUT", "/api/v1/services/", false, Right::kAdmin},
    {"DELETE", "/api/v1/services/", false, Right::kAdmin},
};

bool MethodMatches(absl::string_view rule, absl::string_view method) {
  if (absl::string_view(rule) == "*") return true;
  if (rule == method) return true;
  return absl::string_view(rule) == "GET" && method == "HEAD";
}

bool PathMatches(const Rule& rule, absl::string_view path) {
  return rule.exact ? path == rule.path : absl::StartsWith(path, rule.path);
}

constexpr size_t kMaxPatterns = 64;
constexpr size_t kMaxPatternLength = 128;

}  // namespace

const char* RoleName(Role role) {
  switch (role) {
    case Role::kViewer:
      return "viewer";
    case Role::kPublisher:
      return "publisher";
    case Role::kAdmin:
      return "admin";
  }
  return "viewer";
}

absl::StatusOr<Role> ParseRole(absl::string_view name) {
  if (name == "viewer") return Role::kViewer;
  if (name == "publisher") return Role::kPublisher;
  if (name == "admin") return Role::kAdmin;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown role \"", name.substr(0, 64),
                   "\"; expected viewer, publisher or admin"));
}

const char* RightName(Right right) {
  switch (right) {
    case Right::kOpen:
      return "open";
    case Right::kAuthenticated:
      return "authenticated";
    case Right::kRead:
      return "read";
    case Right::kWriteNamespace:
      return "write_namespace";
    case Right::kAdmin:
      return "admin";
  }
  return "admin";
}

Requirement RequiredAccess(absl::string_view method, absl::string_view path) {
  Requirement out;
  const Rule* match = nullptr;
  for (const Rule& rule : kRules) {
    if (MethodMatches(rule.method, method) && PathMatches(rule, path)) {
      match = &rule;
      break;
    }
  }
  if (match == nullptr) {
    out.right = method == "GET" || method == "HEAD" ? Right::kRead
                                                     : Right::kAdmin;
    return out;
  }
  out.right = match->right;
  if (out.right == Right::kWriteNamespace) {
    absl::string_view rest = path.substr(std::string(match->path).size());
    out.ns = std::string(rest.substr(0, rest.find('/')));
  }
  return out;
}

bool GlobMatch(absl::string_view pattern, absl::string_view name) {
  // Iterative with one backtrack point: linear in practice, no recursion.
  size_t p = 0, n = 0;
  size_t star = absl::string_view::npos, star_n = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p;
      ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_n = n;
    } else if (star != absl::string_view::npos) {
      p = star + 1;
      n = ++star_n;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

absl::Status CheckAccess(const Principal& principal,
                         const Requirement& requirement) {
  const Right right = requirement.right;
  if (right == Right::kOpen || right == Right::kAuthenticated) {
    return absl::OkStatus();
  }
  if (principal.kind == PrincipalKind::kAnonymous) return absl::OkStatus();
  if (principal.kind == PrincipalKind::kPeer) {
    if (right == Right::kRead) return absl::OkStatus();
    return absl::PermissionDeniedError(absl::StrCat(
        principal.name,
        " is a mandator credential: it may read and forward a user's write, "
        "never write by itself"));
  }
  const Role role = principal.role;
  if (role == Role::kAdmin) return absl::OkStatus();
  if (right == Right::kRead) return absl::OkStatus();
  if (right == Right::kWriteNamespace && role == Role::kPublisher) {
    for (const std::string& pattern : principal.namespaces) {
      if (GlobMatch(pattern, requirement.ns)) return absl::OkStatus();
    }
    return absl::PermissionDeniedError(absl::StrCat(
        principal.name, " (publisher of ",
        principal.namespaces.empty()
            ? std::string("no namespace")
            : absl::StrJoin(principal.namespaces, ", "),
        ") may not write namespace \"", requirement.ns,
        "\"; nothing was written"));
  }
  return absl::PermissionDeniedError(absl::StrCat(
      principal.name, " (", RoleName(role), ") may not do this: it needs ",
      right == Right::kWriteNamespace
          ? absl::StrCat("the publisher role for namespace \"",
                         requirement.ns, "\" or admin")
          : std::string("the admin role"),
      "; nothing was changed"));
}

absl::Status ValidateNamespacePatterns(const std::vector<std::string>& p) {
  if (p.size() > kMaxPatterns) {
    return absl::InvalidArgumentError(
        absl::StrCat("at most ", kMaxPatterns, " namespace patterns"));
  }
  for (const std::string& pattern : p) {
    if (pattern.empty() || pattern.size() > kMaxPatternLength) {
      return absl::InvalidArgumentError(
          absl::StrCat("a namespace pattern has 1..", kMaxPatternLength,
                       " characters"));
    }
    for (char c : pattern) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                      c == '-' || c == '*' || c == '?';
      if (!ok) {
        return absl::InvalidArgumentError(
            "a namespace pattern may hold A-Z a-z 0-9 . _ - and the "
            "wildcards * and ?");
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace auth
}  // namespace mandator
}  // namespace kess
