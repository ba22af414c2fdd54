#include "mandator/identity_api.h"

#include <vector>

#include "Poco/JSON/Array.h"
#include "Poco/JSON/Object.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/identity/credential.h"
#include "common/json_util.h"
#include "glog/logging.h"
#include "zk_schema/identities.h"

namespace kess {
namespace mandator {
namespace {

constexpr char kPath[] = "/api/v1/identities";
constexpr size_t kMaxBody = 4096;

std::string Field(const Poco::JSON::Object::Ptr& o, const char* key) {
  if (!o->has(key)) return "";
  Poco::Dynamic::Var v = o->get(key);
  return v.isString() ? v.extract<std::string>() : std::string("\x01");
}

Poco::JSON::Object::Ptr Describe(const identity::CredentialRecord& r) {
  Poco::JSON::Object::Ptr o = new Poco::JSON::Object;
  o->set("principal", identity::PrincipalUri(r.kind, r.name, r.dc));
  o->set("kind", std::string(identity::KindName(r.kind)));
  o->set("name", r.name);
  o->set("dc", r.dc);
  o->set("id", r.id);
  o->set("created_unix", static_cast<Poco::Int64>(r.created_unix));
  return o;
}

}  // namespace

IdentityApi::IdentityApi(Options options) : options_(std::move(options)) {}

void IdentityApi::Register(HttpRoutes* server) {
  server->Handle("POST", kPath,
                 [this](const HttpRequest& r) { return Issue(r); });
  server->Handle("GET", kPath, [this](const HttpRequest&) { return List(); });
  server->HandlePrefix("DELETE", absl::StrCat(kPath, "/"),
                       [this](const HttpRequest& r) { return Revoke(r); });
}

std::optional<HttpResponse> IdentityApi::MainOnly() const {
  if (options_.is_main) return std::nullopt;
  return HttpResponse::Error(absl::FailedPreconditionError(absl::StrCat(
      "credentials are issued and revoked in the main DC",
      options_.main_datacenter.empty()
          ? std::string()
          : absl::StrCat(" (", options_.main_datacenter, ")"),
      "; this DC copies them")));
}

HttpResponse IdentityApi::Issue(const HttpRequest& request) {
  if (auto refused = MainOnly()) return *refused;
  if (request.body.size() > kMaxBody) {
    return HttpResponse::Error(absl::InvalidArgumentError("body too large"));
  }
  absl::StatusOr<Poco::JSON::Object::Ptr> body = ParseJsonObject(request.body);
  if (!body.ok()) return HttpResponse::Error(body.status());
  absl::StatusOr<identity::Kind> kind =
      identity::ParseKind(Field(*body, "kind"));
  if (!kind.ok()) return HttpResponse::Error(kind.status());
  const std::string name = Field(*body, "name");
  const std::string dc = Field(*body, "dc");
  absl::StatusOr<identity::IssuedCredential> issued =
      identity::IssueCredential(*kind, name, dc);
  if (!issued.ok()) return HttpResponse::Error(issued.status());
  absl::Status put = zk::PutIdentity(*options_.zk, options_.layout,
                                     issued->record, options_.acl);
  if (!put.ok()) {
    return HttpResponse::Error(absl::UnavailableError(
        absl::StrCat("storing the credential: ", put.message())));
  }
  LOG(INFO) << "identities: issued a credential for "
            << identity::PrincipalUri(*kind, name, dc) << " (id "
            << issued->record.id << ")";
  Poco::JSON::Object::Ptr out = Describe(issued->record);
  out->set("secret", issued->secret);
  out->set("credential_file",
           identity::CredentialFile{*kind, name, dc, issued->secret}.ToJson());
  return HttpResponse::Json(201, ToJson(out));
}

HttpResponse IdentityApi::List() {
  absl::StatusOr<zk::IdentitySnapshot> snapshot =
      zk::ReadIdentities(*options_.zk, options_.layout);
  if (!snapshot.ok()) {
    return HttpResponse::Error(absl::UnavailableError(
        absl::StrCat("reading the credentials: ", snapshot.status().message())));
  }
  identity::CredentialRegistry sorted;
  sorted.Replace(snapshot->records);
  Poco::JSON::Array::Ptr list = new Poco::JSON::Array;
  for (const identity::CredentialRecord& r : sorted.List()) {
    list->add(Describe(r));
  }
  Poco::JSON::Object::Ptr out = new Poco::JSON::Object;
  out->set("identities", list);
  return HttpResponse::Json(200, ToJson(out));
}

HttpResponse IdentityApi::Revoke(const HttpRequest& request) {
  if (auto refused = MainOnly()) return *refused;
  std::vector<std::string> parts = absl::StrSplit(
      request.path.substr(sizeof(kPath)), '/', absl::SkipEmpty());
  if (parts.size() != 2) {
    return HttpResponse::Error(absl::InvalidArgumentError(
        "DELETE /api/v1/identities/<kind>/<name>[?dc=<dc>]"));
  }
  absl::StatusOr<identity::Kind> kind = identity::ParseKind(parts[0]);
  if (!kind.ok()) return HttpResponse::Error(kind.status());
  const std::string dc = request.Query("dc");
  absl::Status valid = identity::ValidatePrincipalName(*kind, parts[1], dc);
  if (!valid.ok()) return HttpResponse::Error(valid);
  absl::Status deleted =
      zk::DeleteIdentity(*options_.zk, options_.layout, *kind, parts[1], dc);
  if (absl::IsNotFound(deleted)) return HttpResponse::Error(deleted);
  if (!deleted.ok()) {
    return HttpResponse::Error(absl::UnavailableError(
        absl::StrCat("revoking the credential: ", deleted.message())));
  }
  const std::string uri = identity::PrincipalUri(*kind, parts[1], dc);
  LOG(INFO) << "identities: revoked the credential of " << uri;
  Poco::JSON::Object::Ptr out = new Poco::JSON::Object;
  out->set("revoked", uri);
  return HttpResponse::Json(200, ToJson(out));
}

}  // namespace mandator
}  // namespace kess
