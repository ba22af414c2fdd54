// AdminUi: the routes of the admin web UI on a mandator's HTTP server.
//   GET  /ui, /ui/            the single page (index.html)
//   GET  /ui/<file>           its static files (compiled in, assets.h)
//   POST /ui/login            {"user","password"} -> session cookie and
//                             {"user","csrf_token","expires_in_s"}
//   POST /ui/logout           ends the session (needs the CSRF token)
//   GET  /ui/session          {"user","csrf_token"} of the cookie's session
// Authentication and CSRF are AdminAuth's (admin_auth.h); this only adds the
// login's own checks (same origin, body at most kMaxLoginBody -> 413) and
// the security headers of the pages: a Content-Security-Policy that allows
// only this server's own scripts and styles (no inline script), no framing,
// no referrer to other sites.
//
// Thread-safe (AdminAuth is).
#pragma once

#include "common/http_server.h"
#include "mandator/ui/admin_auth.h"

namespace kess {
namespace mandator {
namespace ui {

inline constexpr size_t kMaxLoginBody = 4096;

class AdminUi {
 public:
  explicit AdminUi(AdminAuth* auth) : auth_(auth) {}  // must outlive this

  // REQUIRES: before server->Start().
  void Register(HttpRoutes* server);

 private:
  HttpResponse Login(const HttpRequest& request);
  HttpResponse Logout(const HttpRequest& request);
  HttpResponse Session(const HttpRequest& request);

  AdminAuth* const auth_;
};

}  // namespace ui
}  // namespace mandator
}  // namespace kess
