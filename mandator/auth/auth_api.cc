#include "mandator/auth/auth_api.h"

#include <vector>

#include "Poco/JSON/Array.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/json_util.h"
#include "common/paging.h"

namespace kess {
namespace mandator {
namespace auth {
namespace {

constexpr char kTokensPath[] = "/api/v1/auth/tokens";
constexpr char kUsersPath[] = "/api/v1/auth/users";
constexpr size_t kMaxAuditPage = 500;

HttpResponse Ok(std::string json) { return HttpResponse::Json(200, json); }

HttpResponse TooLarge() {
  HttpResponse r = HttpResponse::Error(absl::ResourceExhaustedError(
      absl::StrCat("a body here is at most ", kMaxAuthBodyBytes, " bytes")));
  r.status = 413;
  return r;
}

const char* KindName(PrincipalKind kind) {
  switch (kind) {
    case PrincipalKind::kAnonymous:
      return "anonymous";
    case PrincipalKind::kBootstrap:
      return "bootstrap";
    case PrincipalKind::kUser:
      return "user";
    case PrincipalKind::kToken:
      return "token";
    case PrincipalKind::kPeer:
      return "mandator";
  }
  return "anonymous";
}

// {"name","role","namespaces"?,"password"?} of a create.
struct Grant {
  std::string name;
  Role role = Role::kViewer;
  std::vector<std::string> namespaces;
  std::string password;
};

// The string member `field` ("" when absent); InvalidArgument when it is
// anything but a string (Poco would turn 1 into "1").
absl::StatusOr<std::string> StringField(const Poco::JSON::Object::Ptr& o,
                                        const std::string& field) {
  if (!o->has(field) || o->isNull(field)) return std::string();
  const Poco::Dynamic::Var v = o->get(field);
  if (!v.isString()) {
    return absl::InvalidArgumentError(field + " must be a string");
  }
  return v.extract<std::string>();
}

absl::StatusOr<Grant> ParseGrant(const std::string& body, bool password) {
  KESS_ASSIGN_OR_RETURN(Poco::JSON::Object::Ptr o, ParseJsonObject(body));
  Grant g;
  try {
    KESS_ASSIGN_OR_RETURN(g.name, StringField(o, "name"));
    KESS_ASSIGN_OR_RETURN(std::string role, StringField(o, "role"));
    KESS_ASSIGN_OR_RETURN(g.role, ParseRole(role));
    if (o->has("namespaces") && !o->isNull("namespaces")) {
      Poco::JSON::Array::Ptr ns = o->getArray("namespaces");
      if (!ns) {
        return absl::InvalidArgumentError(
            "namespaces must be an array of strings");
      }
      for (size_t i = 0; i < ns->size(); ++i) {
        if (!ns->get(i).isString()) {
          return absl::InvalidArgumentError(
              "namespaces must be an array of strings");
        }
        g.namespaces.push_back(ns->getElement<std::string>(i));
      }
    }
    if (password) {
      KESS_ASSIGN_OR_RETURN(g.password, StringField(o, "password"));
    }
  } catch (const Poco::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        "expected {\"name\": string, \"role\": \"viewer\"|\"publisher\"|"
        "\"admin\", \"namespaces\"?: [string]",
        password ? ", \"password\": string" : "", "}: ", e.displayText()));
  }
  if (g.name.empty()) return absl::InvalidArgumentError("name is required");
  return g;
}

std::string Describe(const std::string& name, Role role,
                     const std::vector<std::string>& namespaces) {
  return absl::StrCat("name=", name, " role=", RoleName(role),
                      namespaces.empty()
                          ? ""
                          : absl::StrCat(" namespaces=",
                                         absl::StrJoin(namespaces, ",")));
}

}  // namespace

std::string PrincipalToJson(const Principal& p) {
  std::vector<std::string> ns;
  for (const std::string& n : p.namespaces) ns.push_back(JsonQuote(n));
  return absl::StrCat("{\"name\":", JsonQuote(p.name),
                      ",\"kind\":", JsonQuote(KindName(p.kind)),
                      ",\"role\":", JsonQuote(RoleName(p.role)),
                      ",\"namespaces\":[", absl::StrJoin(ns, ","), "]}");
}

AuthApi::AuthApi(Options options) : options_(std::move(options)) {}

void AuthApi::Register(HttpRoutes* server) {
  server->Handle("GET", "/api/v1/auth/whoami",
                 [this](const HttpRequest& r) { return WhoAmI(r); });
  if (options_.store != nullptr) {
    server->Handle("GET", kTokensPath,
                   [this](const HttpRequest& r) { return Tokens(r); });
    server->Handle("POST", kTokensPath,
                   [this](const HttpRequest& r) { return Tokens(r); });
    server->HandlePrefix("DELETE", std::string(kTokensPath) + "/",
                         [this](const HttpRequest& r) { return Tokens(r); });
    server->Handle("GET", kUsersPath,
                   [this](const HttpRequest& r) { return Users(r); });
    server->Handle("POST", kUsersPath,
                   [this](const HttpRequest& r) { return Users(r); });
    for (const char* method : {"DELETE", "PUT"}) {
      server->HandlePrefix(method, std::string(kUsersPath) + "/",
                           [this](const HttpRequest& r) { return Users(r); });
    }
  }
  if (options_.audit != nullptr) {
    server->Handle("GET", "/api/v1/audit",
                   [this](const HttpRequest& r) { return Audit(r); });
  }
}

std::string AuthApi::Who(const HttpRequest& request) {
  std::optional<Principal> p = options_.principal_of(request);
  return p.has_value() ? p->name : "";
}

void AuthApi::Record(const HttpRequest& request, const std::string& action,
                     const std::string& detail, const HttpResponse& response) {
  if (options_.audit == nullptr) return;
  std::optional<Principal> p = options_.principal_of(request);
  options_.audit->Record(RequestRecord(request, p.has_value() ? p->name : "",
                                       action, detail, response,
                                       p.has_value() && p->via_peer));
}

HttpResponse AuthApi::WhoAmI(const HttpRequest& request) {
  std::optional<Principal> p = options_.principal_of(request);
  if (!p.has_value()) {
    return HttpResponse::Error(
        absl::UnauthenticatedError("not authenticated"));
  }
  return Ok(PrincipalToJson(*p));
}

HttpResponse AuthApi::Tokens(const HttpRequest& request) {
  if (request.method == "GET") {
    std::vector<std::string> items;
    for (const TokenInfo& t : options_.store->Tokens()) {
      items.push_back(TokenToJson(t));
    }
    return Ok(absl::StrCat("{\"tokens\":[", absl::StrJoin(items, ","), "]}"));
  }
  if (request.body.size() > kMaxAuthBodyBytes) return TooLarge();
  if (request.method == "POST") {
    absl::StatusOr<Grant> grant = ParseGrant(request.body, false);
    HttpResponse r;
    std::string detail;
    if (!grant.ok()) {
      r = HttpResponse::Error(grant.status());
    } else {
      detail = Describe(grant->name, grant->role, grant->namespaces);
      absl::StatusOr<AuthStore::CreatedToken> created =
          options_.store->CreateToken(grant->name, grant->role,
                                      grant->namespaces, Who(request));
      if (!created.ok()) {
        r = HttpResponse::Error(created.status());
      } else {
        absl::StrAppend(&detail, " id=", created->info.id);
        r = Ok(absl::StrCat("{\"token\":", TokenToJson(created->info),
                            ",\"bearer\":", JsonQuote(created->bearer), "}"));
      }
    }
    Record(request, "token.create", detail, r);
    return r;
  }
  const std::string id =
      request.path.substr(std::string(kTokensPath).size() + 1);
  absl::Status revoked = options_.store->RevokeToken(id);
  HttpResponse r = revoked.ok()
                       ? Ok(absl::StrCat("{\"revoked\":", JsonQuote(id), "}"))
                       : HttpResponse::Error(revoked);
  Record(request, "token.revoke", absl::StrCat("id=", id.substr(0, 64)), r);
  return r;
}

HttpResponse AuthApi::Users(const HttpRequest& request) {
  if (request.method == "GET") {
    std::vector<std::string> items;
    for (const UserInfo& u : options_.store->Users()) {
      items.push_back(UserToJson(u));
    }
    return Ok(absl::StrCat("{\"users\":[", absl::StrJoin(items, ","), "]}"));
  }
  if (request.body.size() > kMaxAuthBodyBytes) return TooLarge();
  HttpResponse r;
  if (request.method == "POST" && request.path == kUsersPath) {
    absl::StatusOr<Grant> grant = ParseGrant(request.body, true);
    std::string detail;
    if (!grant.ok()) {
      r = HttpResponse::Error(grant.status());
    } else {
      detail = Describe(grant->name, grant->role, grant->namespaces);
      absl::Status created = options_.store->CreateUser(
          grant->name, grant->role, grant->namespaces, grant->password,
          Who(request));
      r = created.ok() ? Ok(absl::StrCat("{\"created\":",
                                         JsonQuote(grant->name), "}"))
                       : HttpResponse::Error(created);
    }
    Record(request, "user.create", detail, r);
    return r;
  }
  const std::vector<std::string> seg = absl::StrSplit(
      request.path.substr(std::string(kUsersPath).size() + 1), '/');
  if (request.method == "DELETE" && seg.size() == 1) {
    absl::Status deleted = options_.store->DeleteUser(seg[0]);
    r = deleted.ok() ? Ok(absl::StrCat("{\"deleted\":", JsonQuote(seg[0]), "}"))
                     : HttpResponse::Error(deleted);
    Record(request, "user.delete", absl::StrCat("name=", seg[0]), r);
    return r;
  }
  if (request.method == "PUT" && seg.size() == 2 && seg[1] == "password") {
    absl::StatusOr<Poco::JSON::Object::Ptr> body =
        ParseJsonObject(request.body);
    absl::Status done = body.status();
    if (done.ok()) {
      absl::StatusOr<std::string> password = StringField(*body, "password");
      done = password.ok() ? options_.store->SetPassword(seg[0], *password)
                           : password.status();
    }
    r = done.ok() ? Ok(absl::StrCat("{\"password_set\":", JsonQuote(seg[0]),
                                    "}"))
                  : HttpResponse::Error(done);
    Record(request, "user.password", absl::StrCat("name=", seg[0]), r);
    return r;
  }
  return HttpResponse::Error(absl::NotFoundError(
      absl::StrCat("no such resource: ", request.method, " ",
                   request.path.substr(0, 256))));
}

HttpResponse AuthApi::Audit(const HttpRequest& request) {
  absl::StatusOr<size_t> limit = ParseLimit(request, 100, kMaxAuditPage);
  if (!limit.ok()) return HttpResponse::Error(limit.status());
  AuditFilter filter;
  filter.who = request.Query("who");
  filter.what = request.Query("what");
  const std::string since = request.Query("since");
  if (!since.empty()) {
    // Unix milliseconds, or seconds ago with an "s" suffix ("3600s").
    absl::string_view text = since;
    int64_t value = 0;
    const bool ago = absl::ConsumeSuffix(&text, "s");
    if (!absl::SimpleAtoi(text, &value) || value < 0) {
      return HttpResponse::Error(absl::InvalidArgumentError(
          "since is unix milliseconds or seconds ago with an s suffix "
          "(\"3600s\")"));
    }
    filter.since_ms =
        ago ? absl::ToUnixMillis(absl::Now()) - value * 1000 : value;
  }
  const std::string refused = request.Query("refused");
  filter.refused_only = refused == "1" || refused == "true";
  absl::StatusOr<AuditPage> page =
      options_.audit->List(filter, *limit, request.Query("cursor"));
  if (!page.ok()) return HttpResponse::Error(page.status());
  std::vector<std::string> items;
  for (const AuditRecord& r : page->records) {
    items.push_back(AuditRecordToJson(r));
  }
  std::string json =
      absl::StrCat("{\"records\":[", absl::StrJoin(items, ","), "]");
  if (!page->next_cursor.empty()) {
    absl::StrAppend(&json, ",\"next_cursor\":", JsonQuote(page->next_cursor));
  }
  return Ok(json + "}");
}

}  // namespace auth
}  // namespace mandator
}  // namespace kess
