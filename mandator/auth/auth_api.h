// AuthApi: the HTTP routes of users, API tokens and the audit log
// (docs/http-api.md, "Users, tokens and the audit log"):
//
//   GET    /api/v1/auth/whoami              the caller's principal
//   GET    /api/v1/auth/tokens              {"tokens":[...]} (never a secret)
//   POST   /api/v1/auth/tokens              {"name","role","namespaces"?}
//                                           -> {"token":{...},"bearer":"kt_..."}
//                                           (the bearer is shown only here)
//   DELETE /api/v1/auth/tokens/{id}         revoke
//   GET    /api/v1/auth/users               {"users":[...]}
//   POST   /api/v1/auth/users               {"name","role","namespaces"?,
//                                            "password"}
//   DELETE /api/v1/auth/users/{name}
//   PUT    /api/v1/auth/users/{name}/password  {"password"}
//   GET    /api/v1/audit?who=&what=&since=&refused=&limit=&cursor=
//                                           {"records":[...],"next_cursor"?}
//
// Who may call what is the gate's (access.h: /api/v1/auth/ is admin only but
// whoami; /api/v1/audit is read); this only runs the calls, and records
// every change in the audit log (never the secret). Changes are taken by the
// main DC's mandators; a slave DC answers 409.
//
// Thread-safe.
#pragma once

#include <functional>
#include <optional>

#include "common/http_server.h"
#include "mandator/auth/access.h"
#include "mandator/auth/audit_log.h"
#include "mandator/auth/auth_store.h"

namespace kess {
namespace mandator {
namespace auth {

inline constexpr size_t kMaxAuthBodyBytes = 16 * 1024;

class AuthApi {
 public:
  struct Options {
    AuthStore* store = nullptr;  // nullptr: no user/token routes
    AuditLog* audit = nullptr;   // nullptr: no audit route
    // The admitted request's principal (ui::AdminAuth::PrincipalOf; the
    // anonymous admin in --insecure_dev_mode).
    std::function<std::optional<Principal>(const HttpRequest&)> principal_of;
  };

  explicit AuthApi(Options options);

  // REQUIRES: before server->Start().
  void Register(HttpRoutes* server);

 private:
  HttpResponse WhoAmI(const HttpRequest& request);
  HttpResponse Tokens(const HttpRequest& request);
  HttpResponse Users(const HttpRequest& request);
  HttpResponse Audit(const HttpRequest& request);
  std::string Who(const HttpRequest& request);
  void Record(const HttpRequest& request, const std::string& action,
              const std::string& detail, const HttpResponse& response);

  const Options options_;
};

// {"name","kind","role","namespaces"}.
std::string PrincipalToJson(const Principal& principal);

}  // namespace auth
}  // namespace mandator
}  // namespace kess
