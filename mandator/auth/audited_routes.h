// AuditedRoutes: an HttpRoutes that registers its caller's routes on
// another one, and records every state-changing request (not GET/HEAD)
// they answer in the audit log: `action_prefix` + "." + the method in lower
// case ("identity.post"), the principal, the client, the path and the
// answer. For APIs whose every write is taken by the mandator that
// receives it (no forwarding), so that each is recorded once.
//
// Thread-safe as the handlers it wraps; the log and `principal_of` must
// outlive the serving.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "common/http_server.h"
#include "mandator/auth/access.h"
#include "mandator/auth/audit_log.h"

namespace kess {
namespace mandator {
namespace auth {

class AuditedRoutes : public HttpRoutes {
 public:
  using PrincipalOf =
      std::function<std::optional<Principal>(const HttpRequest&)>;

  AuditedRoutes(HttpRoutes* inner, AuditLog* audit, PrincipalOf principal_of,
                std::string action_prefix);

  void Handle(const std::string& method, const std::string& path,
              HttpHandler handler) override;
  void HandlePrefix(const std::string& method, const std::string& prefix,
                    HttpHandler handler) override;

 private:
  HttpHandler Wrap(const std::string& method, HttpHandler handler) const;

  HttpRoutes* const inner_;
  AuditLog* const audit_;
  const PrincipalOf principal_of_;
  const std::string action_prefix_;
};

}  // namespace auth
}  // namespace mandator
}  // namespace kess
