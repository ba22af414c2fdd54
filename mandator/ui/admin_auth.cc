#include "mandator/ui/admin_auth.h"

#include <sys/random.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "mandator/auth/secrets.h"
#include "mandator/auth/write_guard.h"

namespace kess {
namespace mandator {
namespace ui {
namespace {

// Well-known defaults, compared case-insensitively (most are also too short;
// listed so the error names the real problem).
constexpr const char* kDefaultSecrets[] = {"admin",
                                           "administrator",
                                           "password",
                                           "changeme",
                                           "secret",
                                           "kess",
                                           "root",
                                           "123456",
                                           "12345678",
                                           "123456789012",
                                           "passwordpassword",
                                           "adminadmin123",
                                           "changemechangeme",
                                           "kesskesskess"};

// 16 random bytes from the kernel as 32 hex digits.
std::string RandomHex128() {
  unsigned char bytes[16];
  size_t got = 0;
  while (got < sizeof(bytes)) {
    ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

// Compares without an early exit, so timing tells nothing about a prefix.
bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  const size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? a[i] : 0;
    const unsigned char y = i < b.size() ? b[i] : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

std::string CookieValue(const HttpRequest& request, absl::string_view name) {
  for (absl::string_view part :
       absl::StrSplit(request.Header("cookie"), ';', absl::SkipEmpty())) {
    part = absl::StripAsciiWhitespace(part);
    if (absl::ConsumePrefix(&part, name) && absl::ConsumePrefix(&part, "=")) {
      return std::string(part);
    }
  }
  return "";
}

// "http://h:p/x" -> "h:p"; "" if it has no scheme.
std::string HostOf(absl::string_view url) {
  const size_t scheme = url.find("://");
  if (scheme == absl::string_view::npos) return "";
  url.remove_prefix(scheme + 3);
  return std::string(url.substr(0, url.find('/')));
}

bool IsSafeMethod(const std::string& method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS";
}

}  // namespace

absl::Status ValidateAdminSecret(const std::string& secret) {
  if (secret.empty()) {
    return absl::InvalidArgumentError("the admin secret is empty");
  }
  const std::string lower = absl::AsciiStrToLower(secret);
  for (const char* known : kDefaultSecrets) {
    if (lower == known) {
      return absl::InvalidArgumentError(
          "the admin secret is a well-known default; choose a random one "
          "(e.g. openssl rand -hex 16)");
    }
  }
  if (secret.size() < kMinSecretLength) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the admin secret has ", secret.size(), " characters; at least ",
        kMinSecretLength, " are required"));
  }
  for (char c : secret) {
    if (static_cast<unsigned char>(c) < 0x21 || c == 0x7f) {
      return absl::InvalidArgumentError(
          "the admin secret may not contain white space or control "
          "characters (it is also sent as a Bearer token)");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> LoadAdminSecretFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("cannot read the admin password file ", path));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string secret(absl::StripAsciiWhitespace(buffer.str()));
  absl::Status valid = ValidateAdminSecret(secret);
  if (!valid.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", valid.message()));
  }
  return secret;
}

absl::StatusOr<std::unique_ptr<AdminAuth>> AdminAuth::Create(
    AdminAuthOptions options) {
  KESS_RETURN_IF_ERROR(ValidateAdminSecret(options.secret));
  if (options.user.empty()) {
    return absl::InvalidArgumentError("the admin user name is empty");
  }
  if (options.session_ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the session lifetime must be positive");
  }
  return std::unique_ptr<AdminAuth>(new AdminAuth(std::move(options)));
}

namespace {

AuthThrottleOptions ThrottleOptions(const AdminAuthOptions& options) {
  AuthThrottleOptions t = options.throttle;
  if (t.clock == nullptr) t.clock = options.clock;
  return t;
}

metrics::Counter* AuthCounter(metrics::Registry* registry, bool throttled,
                              const char* kind) {
  if (throttled) {
    return registry->GetCounter(
        "kess_http_auth_throttled_total",
        "Authentication attempts refused with 429 because their client "
        "address failed too often (kind: login, bearer)",
        {{"kind", kind}});
  }
  return registry->GetCounter(
      "kess_http_auth_failures_total",
      "Wrong passwords at /ui/login and wrong Bearer tokens (kind: login, "
      "bearer)",
      {{"kind", kind}});
}

}  // namespace

AdminAuth::AdminAuth(AdminAuthOptions options)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : Clock::Steady()),
      throttle_(ThrottleOptions(options_)),
      throttled_login_(AuthCounter(options_.registry, true, "login")),
      throttled_bearer_(AuthCounter(options_.registry, true, "bearer")),
      failed_login_(AuthCounter(options_.registry, false, "login")),
      failed_bearer_(AuthCounter(options_.registry, false, "bearer")),
      registry_(options_.registry) {}

auth::Principal AdminAuth::Bootstrap() const {
  auth::Principal p;
  p.kind = auth::PrincipalKind::kBootstrap;
  p.name = options_.user;
  p.role = auth::Role::kAdmin;
  return p;
}

absl::Duration AdminAuth::LoginRetryAfter(const std::string& client) {
  return throttle_.RetryAfter(client);
}

HttpResponse AdminAuth::TooManyAttempts(absl::Duration retry_after) {
  const int64_t seconds = std::max<int64_t>(
      1, absl::ToInt64Seconds(absl::Ceil(retry_after, absl::Seconds(1))));
  HttpResponse r = HttpResponse::Error(absl::ResourceExhaustedError(
      absl::StrCat("too many failed authentication attempts from this "
                   "address; try again in ",
                   seconds, " s")));
  r.status = 429;
  r.headers.emplace_back("Retry-After", absl::StrCat(seconds));
  return r;
}

absl::StatusOr<AdminSession> AdminAuth::Login(const std::string& user,
                                              const std::string& password,
                                              const std::string& client) {
  const absl::Duration wait = throttle_.RetryAfter(client);
  if (wait > absl::ZeroDuration()) {
    throttled_login_->Increment();
    return absl::ResourceExhaustedError(absl::StrCat(
        "too many failed logins from this address; try again in ",
        absl::FormatDuration(absl::Ceil(wait, absl::Seconds(1)))));
  }
  // Both compared, so timing does not tell which one was wrong.
  const bool user_ok = ConstantTimeEquals(user, options_.user);
  const bool password_ok = ConstantTimeEquals(password, options_.secret);
  std::optional<auth::Principal> principal;
  if (user_ok && password_ok) {
    principal = Bootstrap();
  } else if (!user_ok && options_.store != nullptr) {
    principal = options_.store->AuthenticatePassword(user, password);
  }
  if (!principal.has_value()) {
    throttle_.Failed(client);
    failed_login_->Increment();
    return absl::UnauthenticatedError("wrong user name or password");
  }
  const int64_t now = clock_->NowMs();
  absl::MutexLock lock(&mu_);
  // Expired sessions go first; then, if still full, the oldest.
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    it = it->second.expires_ms <= now ? sessions_.erase(it) : std::next(it);
  }
  while (sessions_.size() >= options_.max_sessions) {
    auto oldest = sessions_.begin();
    for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
      if (it->second.expires_ms < oldest->second.expires_ms) oldest = it;
    }
    sessions_.erase(oldest);
  }
  AdminSession session;
  session.id = RandomHex128();
  session.csrf_token = RandomHex128();
  session.user = user;
  session.principal = *std::move(principal);
  session.expires_ms = now + absl::ToInt64Milliseconds(options_.session_ttl);
  sessions_[session.id] = session;
  return session;
}

void AdminAuth::Logout(const std::string& session_id) {
  absl::MutexLock lock(&mu_);
  sessions_.erase(session_id);
}

std::optional<AdminSession> AdminAuth::SessionOf(const HttpRequest& request) {
  const std::string id = CookieValue(request, kSessionCookie);
  if (id.empty()) return std::nullopt;
  const int64_t now = clock_->NowMs();
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return std::nullopt;
  if (it->second.expires_ms <= now) {
    sessions_.erase(it);
    return std::nullopt;
  }
  if (it->second.principal.kind == auth::PrincipalKind::kBootstrap) {
    return it->second;
  }
  // A stored user's session is only as good as the user: looked up on every
  // request (the store is in memory), so a deleted user is logged out and a
  // changed role applies at once.
  std::optional<auth::Principal> now_known =
      options_.store == nullptr
          ? std::nullopt
          : options_.store->PrincipalByName(it->second.user);
  if (!now_known.has_value() || now_known->kind != it->second.principal.kind) {
    sessions_.erase(it);
    return std::nullopt;
  }
  it->second.principal = *std::move(now_known);
  return it->second;
}

size_t AdminAuth::session_count() {
  absl::MutexLock lock(&mu_);
  return sessions_.size();
}

std::optional<auth::Principal> AdminAuth::BearerPrincipal(
    const HttpRequest& request, const std::string& bearer) {
  if (bearer.empty() || bearer.size() > auth::kMaxSecretBytes) {
    return std::nullopt;
  }
  if (ConstantTimeEquals(bearer, options_.secret)) return Bootstrap();
  if (!options_.peer_secret.empty() &&
      ConstantTimeEquals(bearer, options_.peer_secret)) {
    const std::string on_behalf = request.Header("x-kess-on-behalf-of");
    if (on_behalf.empty()) {
      auth::Principal peer;
      peer.kind = auth::PrincipalKind::kPeer;
      const std::string by = request.Header("x-kess-forwarded-by");
      peer.name = by.empty() ? "mandator" : "mandator:" + by.substr(0, 128);
      peer.via_peer = true;
      return peer;
    }
    // A follower forwards a write of the principal it authenticated; its
    // role is the one this mandator knows now.
    std::optional<auth::Principal> principal;
    if (on_behalf == options_.user) {
      principal = Bootstrap();
    } else if (options_.store != nullptr) {
      principal = options_.store->PrincipalByName(on_behalf);
    }
    if (principal.has_value()) principal->via_peer = true;
    return principal;
  }
  if (options_.store != nullptr) return options_.store->AuthenticateToken(bearer);
  return std::nullopt;
}

std::optional<auth::Principal> AdminAuth::PrincipalOf(
    const HttpRequest& request) {
  const std::string header = request.Header("authorization");
  absl::string_view value = header;
  // A request that carries credentials is judged by them alone: never the
  // cookie as well (Admit answers 401).
  if (absl::ConsumePrefix(&value, "Bearer ")) {
    return BearerPrincipal(request, std::string(value));
  }
  if (!header.empty()) return std::nullopt;
  std::optional<AdminSession> session = SessionOf(request);
  if (!session.has_value()) return std::nullopt;
  return session->principal;
}

absl::Status AdminAuth::CheckSameOrigin(const HttpRequest& request) {
  const std::string host = request.Header("host");
  const std::string origin = request.Header("origin");
  const std::string referer = request.Header("referer");
  std::string claimed;
  if (!origin.empty()) {
    claimed = HostOf(origin);
  } else if (!referer.empty()) {
    claimed = HostOf(referer);
  } else {
    return absl::PermissionDeniedError(
        "a state-changing request from the UI needs an Origin or Referer "
        "header (cross-site request protection)");
  }
  if (host.empty() || claimed != host) {
    return absl::PermissionDeniedError(
        absl::StrCat("cross-site request refused: origin ",
                     origin.empty() ? referer : origin, " is not this server"));
  }
  return absl::OkStatus();
}

std::optional<HttpResponse> AdminAuth::Refuse(const HttpRequest& request,
                                              const std::string& who,
                                              HttpResponse response) {
  if (!IsSafeMethod(request.method) && options_.on_refused) {
    options_.on_refused(request, who, response);
  }
  return response;
}

std::optional<HttpResponse> AdminAuth::Admit(const HttpRequest& request) {
  const auth::Requirement need =
      auth::RequiredAccess(request.method, request.path);
  if (need.right == auth::Right::kOpen) return std::nullopt;
  std::optional<auth::Principal> principal;
  bool by_bearer = false;
  std::optional<AdminSession> session;
  const std::string header = request.Header("authorization");
  absl::string_view bearer = header;
  if (absl::ConsumePrefix(&bearer, "Bearer ")) {
    const std::string client = ClientKey(request.remote_address);
    const absl::Duration wait = throttle_.RetryAfter(client);
    if (wait > absl::ZeroDuration()) {  // not even compared
      throttled_bearer_->Increment();
      return Refuse(request, "", TooManyAttempts(wait));
    }
    principal = BearerPrincipal(request, std::string(bearer));
    if (principal.has_value()) {
      by_bearer = true;
    } else {
      throttle_.Failed(client);
      failed_bearer_->Increment();
      // No fallback to the cookie: PrincipalOf judges such a request by its
      // Authorization header alone, so the handler would have no principal.
      return Refuse(request, "",
                    HttpResponse::Error(absl::UnauthenticatedError(
                        "the Authorization header's Bearer credential is not "
                        "valid (unknown, revoked or mistyped)")));
    }
  } else if (!header.empty()) {
    return Refuse(request, "",
                  HttpResponse::Error(absl::UnauthenticatedError(
                      "unsupported Authorization header: send "
                      "\"Authorization: Bearer <API token>\" or none and "
                      "the session cookie")));
  }
  if (!principal.has_value()) {
    session = SessionOf(request);
    if (session.has_value()) principal = session->principal;
  }
  if (!principal.has_value()) {
    return Refuse(request, "",
                  HttpResponse::Error(absl::UnauthenticatedError(
                      "authentication required: log in at /ui/ or send "
                      "\"Authorization: Bearer <API token>\"")));
  }
  absl::Status allowed = auth::CheckAccess(*principal, need);
  if (!allowed.ok()) {
    registry_
        ->GetCounter("kess_http_access_denied_total",
                     "Requests refused with 403 because the principal's role "
                     "does not allow them (right: what the route needs)",
                     {{"right", auth::RightName(need.right)}})
        ->Increment();
    return Refuse(request, principal->name, HttpResponse::Error(allowed));
  }
  if (IsSafeMethod(request.method)) return std::nullopt;
  absl::Status write_ok = auth::CheckWriteRequest(request);
  if (!write_ok.ok()) {
    return Refuse(request, principal->name, HttpResponse::Error(write_ok));
  }
  if (by_bearer) return std::nullopt;
  absl::Status same_origin = CheckSameOrigin(request);
  if (!same_origin.ok()) {
    return Refuse(request, principal->name, HttpResponse::Error(same_origin));
  }
  const std::string token = request.Header("x-csrf-token");
  if (token.empty() || !ConstantTimeEquals(token, session->csrf_token)) {
    return Refuse(request, principal->name,
                  HttpResponse::Error(absl::PermissionDeniedError(
                      "missing or wrong X-CSRF-Token header (cross-site "
                      "request protection); reload the page")));
  }
  return std::nullopt;
}

std::string AdminAuth::SessionCookie(const AdminSession& session) const {
  return absl::StrCat(kSessionCookie, "=", session.id,
                      "; Path=/; HttpOnly; SameSite=Strict; Max-Age=",
                      absl::ToInt64Seconds(options_.session_ttl),
                      options_.secure_cookie ? "; Secure" : "");
}

std::string AdminAuth::ClearedCookie() const {
  return absl::StrCat(kSessionCookie,
                      "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
                      options_.secure_cookie ? "; Secure" : "");
}

}  // namespace ui
}  // namespace mandator
}  // namespace kess
