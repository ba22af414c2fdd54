// The cross-site request rules every state-changing request (any method
// but GET, HEAD, OPTIONS) must pass at a mandator, authenticated or not
// (docs/security.md, "CSRF"):
//  - a request that states an Origin must come from this server: the
//    Origin's host:port equals the Host header (a browser adds Origin to
//    every cross-site POST, PUT and DELETE; kessctl and the mandators send
//    none);
//  - a body, or any stated Content-Type, must be application/json: an HTML
//    form or a "simple" cross-site fetch can only send
//    application/x-www-form-urlencoded, multipart/form-data or text/plain.
// A UI session's writes must also carry its X-CSRF-Token
// (ui/admin_auth.h): the cookie is SameSite=Strict as well, so three
// independent checks stand between a foreign page and a write.
//
// Thread-safety: pure function.
#pragma once

#include "common/http_server.h"
#include "common/status.h"

namespace kess {
namespace mandator {
namespace auth {

// OK for safe methods; else OK or PermissionDenied saying which rule failed.
absl::Status CheckWriteRequest(const HttpRequest& request);

}  // namespace auth
}  // namespace mandator
}  // namespace kess
