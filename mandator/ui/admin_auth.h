// AdminAuth: who may use a mandator's admin UI and HTTP API.
//
// One admin secret, read at start from --admin_password_file, shared by every
// mandator of every DC. It is both
//  - the password of the UI's login (user --admin_user, default "admin"):
//    POST /ui/login answers with a session cookie (random 128-bit id,
//    HttpOnly, SameSite=Strict, Path=/, Max-Age = the session's lifetime)
//    and a CSRF token kept in the session;
//  - the Bearer token of API clients: "Authorization: Bearer <secret>"
//    (kessctl --token / KESS_TOKEN), and of one mandator forwarding a write
//    to its leader or asking a peer for its hosts.
// A secret that is empty, shorter than kMinSecretLength, or a well-known
// default ("admin", "password", "changeme", ...) is refused: the mandator
// does not start.
//
// Admit() is the HTTP server's gate (common/http_server.h Options::admit):
//  - open: GET /healthz, /metrics, /api/v1/status (monitoring and leader
//    discovery; nothing that /metrics does not tell), the UI's static files
//    (GET /ui, /ui/...), POST /ui/login (it checks the Origin itself);
//  - everything else needs a valid Bearer token or session cookie: 401;
//  - a state-changing request (not GET/HEAD/OPTIONS) authenticated by the
//    cookie also needs X-CSRF-Token equal to the session's token and an
//    Origin (or, without one, a Referer) naming this Host: 403. Bearer
//    requests are exempt: a browser never adds that header on its own.
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
#include "mandator/ui/auth_throttle.h"

namespace kess {
namespace mandator {
namespace ui {

inline constexpr size_t kMinSecretLength = 12;
inline constexpr char kSessionCookie[] = "kess_session";
inline constexpr char kCsrfHeader[] = "X-CSRF-Token";

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
};

struct AdminSession {
  std::string id;          // the cookie's value (32 hex digits)
  std::string csrf_token;  // 32 hex digits
  std::string user;
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

  // OK if the request's Origin (or Referer) names the Host it was sent to;
  // PermissionDenied otherwise (also when both are missing).
  static absl::Status CheckSameOrigin(const HttpRequest& request);

  // "Bearer <secret>", for calls from one mandator to another.
  std::string BearerHeader() const { return "Bearer " + options_.secret; }
  // Set-Cookie values that set and clear the session cookie.
  std::string SessionCookie(const AdminSession& session) const;
  std::string ClearedCookie() const;
  const std::string& user() const { return options_.user; }
  absl::Duration session_ttl() const { return options_.session_ttl; }
  size_t session_count();

 private:
  explicit AdminAuth(AdminAuthOptions options);
  bool BearerMatches(const HttpRequest& request) const;

  const AdminAuthOptions options_;
  const Clock* const clock_;
  absl::Mutex mu_;
  std::map<std::string, AdminSession> sessions_ ABSL_GUARDED_BY(mu_);
  AuthThrottle throttle_;
  metrics::Counter* const throttled_login_;
  metrics::Counter* const throttled_bearer_;
  metrics::Counter* const failed_login_;
  metrics::Counter* const failed_bearer_;
};

}  // namespace ui
}  // namespace mandator
}  // namespace kess
