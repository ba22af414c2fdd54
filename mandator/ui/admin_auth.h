// AdminAuth: who may use a mandator's admin UI and HTTP API, and with
// which rights (docs/security.md, "Admin roles and tokens").
//
// Principals (auth/access.h):
//  - the bootstrap admin: user --admin_user (default "admin") with the
//    secret of --admin_password_file, the same on every mandator; it logs in
//    to the UI and, as a Bearer token, authenticates API clients (kessctl
//    --token / KESS_TOKEN) until real users and tokens exist;
//  - stored users (UI login) and API tokens ("Authorization: Bearer
//    kt_<id>_<secret>") of auth/auth_store.h, with their roles;
//  - other mandators: "Authorization: Bearer <peer credential>"
//    (peer_secret, never the admin secret). A peer may read; a follower
//    forwarding a write adds X-Kess-On-Behalf-Of: <principal name> and the
//    request then runs as that principal, looked up here again (its current
//    role), which only a peer may ask for.
// A bootstrap secret that is empty, shorter than kMinSecretLength, or a
// well-known default ("admin", "password", "changeme", ...) is refused: the
// mandator does not start.
//
// Admit() is the HTTP server's gate (common/http_server.h Options::admit):
//  - the route's right comes from auth::RequiredAccess (the one table);
//  - open routes pass: GET /healthz, /metrics, /api/v1/status, the UI's
//    static files, POST /ui/login (it checks the Origin itself);
//  - everything else needs a valid Bearer token or session cookie: 401.
//    A request with an Authorization header is judged by it alone (an
//    invalid Bearer or another scheme is 401, never the cookie's
//    principal); a stored user's session is looked up in `store` on every
//    request: gone when the user is deleted, its role the current one;
//  - the principal's role must allow the route (auth::CheckAccess): 403
//    with a message naming what was needed, counted in
//    kess_http_access_denied_total{right};
//  - every state-changing request (not GET/HEAD/OPTIONS) must pass
//    auth::CheckWriteRequest (JSON content type, no foreign Origin), and
//    one authenticated by the cookie also needs X-CSRF-Token equal to the
//    session's token and an Origin (or, without one, a Referer) naming
//    this Host: 403. Bearer requests need no CSRF token: a browser never
//    adds that header on its own.
// Refused state-changing requests (401, 403, 429) are reported to
// `on_refused` (the audit log).
//
// Thread-safe. Sessions live in memory (a restart logs everyone out) and
// expire `session_ttl` after login; at most `max_sessions` (the oldest is
// dropped). Guessing is throttled per client address (auth_throttle.h):
// wrong logins and wrong Bearer tokens take a token of the address's
// bucket; an address without one gets 429 with Retry-After (before its
// credential is even compared, so the answer tells nothing) and
// kess_http_auth_throttled_total{kind="login"|"bearer"} counts it. Other
// addresses are not affected; successes take nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/http_server.h"
#include "common/metrics.h"
#include "common/status.h"
#include "mandator/auth/access.h"
#include "mandator/auth/auth_store.h"
#include "mandator/ui/auth_throttle.h"

namespace kess {
namespace mandator {
namespace ui {

inline constexpr size_t kMinSecretLength = 12;
inline constexpr char kSessionCookie[] = "kess_session";
inline constexpr char kCsrfHeader[] = "X-CSRF-Token";
inline constexpr char kOnBehalfOfHeader[] = "X-Kess-On-Behalf-Of";

// OK, or InvalidArgument saying why `secret` may not be used.
absl::Status ValidateAdminSecret(const std::string& secret);
// The file's content without surrounding white space, validated.
absl::StatusOr<std::string> LoadAdminSecretFile(const std::string& path);

struct AdminAuthOptions {
  std::string user = "admin";
  std::string secret;  // validated by Create
  absl::Duration session_ttl = absl::Hours(8);
  size_t max_sessions = 10000;
  // Adds "; Secure" to the cookie (when a TLS proxy fronts the mandator).
  bool secure_cookie = false;
  const Clock* clock = nullptr;  // nullptr: Clock::Steady()
  // Failed logins and Bearer tokens per client address (its clock is
  // `clock`).
  AuthThrottleOptions throttle;
  metrics::Registry* registry = &metrics::Registry::Default();
  // Stored users and tokens; nullptr = only the bootstrap admin.
  auth::AuthStore* store = nullptr;
  // The credential other mandators present (peer_credential.h); "" = no
  // peer is accepted.
  std::string peer_secret;
  // Called for every refused state-changing request (401/403/429) with the
  // principal's name if it was known ("" otherwise) and the answer.
  std::function<void(const HttpRequest&, const std::string& who,
                     const HttpResponse&)>
      on_refused;
};

struct AdminSession {
  std::string id;          // the cookie's value (32 hex digits)
  std::string csrf_token;  // 32 hex digits
  std::string user;
  auth::Principal principal;
  int64_t expires_ms = 0;  // on the clock
};

class AdminAuth {
 public:
  static absl::StatusOr<std::unique_ptr<AdminAuth>> Create(
      AdminAuthOptions options);

  // A new session, or Unauthenticated (wrong user or password; counted
  // against `client`, a ClientKey) / ResourceExhausted (`client` is
  // throttled: LoginRetryAfter says for how long).
  absl::StatusOr<AdminSession> Login(const std::string& user,
                                     const std::string& password,
                                     const std::string& client);
  // How long until `client` may try again; zero if it may now.
  absl::Duration LoginRetryAfter(const std::string& client);
  // 429 with "Retry-After: <seconds, rounded up, at least 1>".
  static HttpResponse TooManyAttempts(absl::Duration retry_after);
  void Logout(const std::string& session_id);
  // The request's live session (from its cookie), if any.
  std::optional<AdminSession> SessionOf(const HttpRequest& request);

  // The gate described above; nullopt = admitted.
  std::optional<HttpResponse> Admit(const HttpRequest& request);

  // The principal of an admitted request (its Bearer token, peer credential
  // with X-Kess-On-Behalf-Of, or session); nullopt if none. Handlers call
  // this for the history's author and the audit log: it does not count
  // failures (the gate did).
  std::optional<auth::Principal> PrincipalOf(const HttpRequest& request);

  // Reports a refused request to `on_refused` (the login's own refusals:
  // wrong password, throttled, foreign origin).
  void ReportRefused(const HttpRequest& request, const HttpResponse& answer) {
    if (options_.on_refused) options_.on_refused(request, "", answer);
  }

  // OK if the request's Origin (or Referer) names the Host it was sent to;
  // PermissionDenied otherwise (also when both are missing).
  static absl::Status CheckSameOrigin(const HttpRequest& request);

  // Set-Cookie values that set and clear the session cookie.
  std::string SessionCookie(const AdminSession& session) const;
  std::string ClearedCookie() const;
  const std::string& user() const { return options_.user; }
  absl::Duration session_ttl() const { return options_.session_ttl; }
  size_t session_count();

 private:
  explicit AdminAuth(AdminAuthOptions options);
  // The Bearer value's principal; nullopt if it is no live credential.
  std::optional<auth::Principal> BearerPrincipal(const HttpRequest& request,
                                                 const std::string& bearer);
  auth::Principal Bootstrap() const;
  std::optional<HttpResponse> Refuse(const HttpRequest& request,
                                     const std::string& who,
                                     HttpResponse response);

  const AdminAuthOptions options_;
  const Clock* const clock_;
  absl::Mutex mu_;
  std::map<std::string, AdminSession> sessions_ ABSL_GUARDED_BY(mu_);
  AuthThrottle throttle_;
  metrics::Counter* const throttled_login_;
  metrics::Counter* const throttled_bearer_;
  metrics::Counter* const failed_login_;
  metrics::Counter* const failed_bearer_;
  metrics::Registry* const registry_;
};

}  // namespace ui
}  // namespace mandator
}  // namespace kess
