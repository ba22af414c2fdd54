#include "mandator/auth/audited_routes.h"

#include <utility>

#include "absl/strings/ascii.h"

namespace kess {
namespace mandator {
namespace auth {

AuditedRoutes::AuditedRoutes(HttpRoutes* inner, AuditLog* audit,
                             PrincipalOf principal_of,
                             std::string action_prefix)
    : inner_(inner),
      audit_(audit),
      principal_of_(std::move(principal_of)),
      action_prefix_(std::move(action_prefix)) {}

void AuditedRoutes::Handle(const std::string& method, const std::string& path,
                           HttpHandler handler) {
  inner_->Handle(method, path, Wrap(method, std::move(handler)));
}

void AuditedRoutes::HandlePrefix(const std::string& method,
                                 const std::string& prefix,
                                 HttpHandler handler) {
  inner_->HandlePrefix(method, prefix, Wrap(method, std::move(handler)));
}

HttpHandler AuditedRoutes::Wrap(const std::string& method,
                                HttpHandler handler) const {
  if (method == "GET" || method == "HEAD" || audit_ == nullptr) {
    return handler;
  }
  const std::string action =
      action_prefix_ + "." + absl::AsciiStrToLower(method);
  // By value: an AuditedRoutes is a registration helper that may be gone
  // (a local in Mandator::Start) when the handler runs.
  return [audit = audit_, principal_of = principal_of_, action,
          handler = std::move(handler)](const HttpRequest& r) {
    HttpResponse response = handler(r);
    std::optional<Principal> who =
        principal_of ? principal_of(r) : std::nullopt;
    audit->Record(RequestRecord(r, who.has_value() ? who->name : "", action, "",
                                response, who.has_value() && who->via_peer));
    return response;
  };
}

}  // namespace auth
}  // namespace mandator
}  // namespace kess
