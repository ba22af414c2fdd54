#include "mandator/ui/admin_ui.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/json_util.h"
#include "mandator/ui/assets.h"

namespace kess {
namespace mandator {
namespace ui {
namespace {

void AddPageHeaders(HttpResponse* r) {
  r->headers.emplace_back(
      "Content-Security-Policy",
      "default-src 'none'; script-src 'self'; style-src 'self'; "
      "img-src 'self'; connect-src 'self'; form-action 'self'; "
      "base-uri 'none'; frame-ancestors 'none'");
  r->headers.emplace_back("X-Frame-Options", "DENY");
  r->headers.emplace_back("Referrer-Policy", "same-origin");
}

HttpResponse ServeAsset(const HttpRequest& request) {
  std::string name = request.path.substr(std::string("/ui").size());
  if (!name.empty() && name[0] == '/') name.erase(0, 1);
  if (name.empty()) name = "index.html";
  // Only base names of compiled-in files: "../x", "a/b" never match.
  const Asset* asset = name.find('/') == std::string::npos &&
                               name.find("..") == std::string::npos
                           ? FindAsset(name)
                           : nullptr;
  if (asset == nullptr) {
    return HttpResponse::Error(
        absl::NotFoundError(absl::StrCat("no such UI file: ", request.path)));
  }
  HttpResponse r;
  r.content_type = asset->content_type;
  r.body.assign(asset->data, asset->size);
  AddPageHeaders(&r);
  return r;
}

std::string SessionJson(const AdminSession& s, int64_t expires_in_s) {
  return absl::StrCat("{\"user\":", JsonQuote(s.user),
                      ",\"csrf_token\":", JsonQuote(s.csrf_token),
                      ",\"expires_in_s\":", expires_in_s, "}");
}

}  // namespace

void AdminUi::Register(HttpRoutes* server) {
  server->Handle("GET", "/ui", [](const HttpRequest&) {
    HttpResponse r = HttpResponse::Text(302, "see /ui/");
    r.headers.emplace_back("Location", "/ui/");
    return r;
  });
  server->HandlePrefix("GET", "/ui/", ServeAsset);
  server->Handle("POST", "/ui/login",
                 [this](const HttpRequest& r) { return Login(r); });
  server->Handle("POST", "/ui/logout",
                 [this](const HttpRequest& r) { return Logout(r); });
  server->Handle("GET", "/ui/session",
                 [this](const HttpRequest& r) { return Session(r); });
}

HttpResponse AdminUi::Login(const HttpRequest& request) {
  if (request.body.size() > kMaxLoginBody) {
    HttpResponse r = HttpResponse::Error(absl::ResourceExhaustedError(
        absl::StrCat("a login body is at most ", kMaxLoginBody, " bytes")));
    r.status = 413;
    return r;
  }
  // Login CSRF: a foreign page must not log a browser into its own session.
  absl::Status same_origin = AdminAuth::CheckSameOrigin(request);
  if (!same_origin.ok()) {
    HttpResponse r = HttpResponse::Error(same_origin);
    auth_->ReportRefused(request, r);
    return r;
  }
  absl::StatusOr<Poco::JSON::Object::Ptr> body = ParseJsonObject(request.body);
  if (!body.ok()) return HttpResponse::Error(body.status());
  std::string user;
  std::string password;
  try {
    user = (*body)->optValue<std::string>("user", "");
    password = (*body)->optValue<std::string>("password", "");
  } catch (const Poco::Exception&) {
    return HttpResponse::Error(
        absl::InvalidArgumentError("user and password must be strings"));
  }
  const std::string client = ClientKey(request.remote_address);
  absl::StatusOr<AdminSession> session = auth_->Login(user, password, client);
  if (absl::IsResourceExhausted(session.status())) {
    HttpResponse r = AdminAuth::TooManyAttempts(auth_->LoginRetryAfter(client));
    auth_->ReportRefused(request, r);
    return r;
  }
  if (!session.ok()) {
    HttpResponse r = HttpResponse::Error(session.status());
    auth_->ReportRefused(request, r);  // rate-limited in the audit log
    return r;
  }
  HttpResponse r = HttpResponse::Json(
      200, SessionJson(*session, absl::ToInt64Seconds(auth_->session_ttl())));
  r.headers.emplace_back("Set-Cookie", auth_->SessionCookie(*session));
  return r;
}

HttpResponse AdminUi::Logout(const HttpRequest& request) {
  std::optional<AdminSession> session = auth_->SessionOf(request);
  if (session.has_value()) auth_->Logout(session->id);
  HttpResponse r = HttpResponse::Json(200, "{\"logged_out\":true}");
  r.headers.emplace_back("Set-Cookie", auth_->ClearedCookie());
  return r;
}

HttpResponse AdminUi::Session(const HttpRequest& request) {
  std::optional<AdminSession> session = auth_->SessionOf(request);
  if (!session.has_value()) {
    // Bearer clients have no session (and need no CSRF token).
    return HttpResponse::Error(
        absl::UnauthenticatedError("no session; log in first"));
  }
  return HttpResponse::Json(
      200, SessionJson(*session, absl::ToInt64Seconds(auth_->session_ttl())));
}

}  // namespace ui
}  // namespace mandator
}  // namespace kess
