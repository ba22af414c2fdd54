#include "mandator/acl_api.h"

#include <utility>
#include <vector>

#include "Poco/JSON/Array.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/json_util.h"
#include "model/names.h"
#include "zk_schema/read_acl.h"

namespace kess {
namespace mandator {
namespace {

constexpr char kAclsPath[] = "/api/v1/acls";
constexpr char kAclsPrefix[] = "/api/v1/acls/";

std::string StringArray(const google::protobuf::RepeatedPtrField<std::string>& v) {
  std::string out = "[";
  for (int i = 0; i < v.size(); ++i) {
    absl::StrAppend(&out, i > 0 ? "," : "", JsonQuote(v[i]));
  }
  return out + "]";
}

absl::Status ReadStrings(const Poco::JSON::Object::Ptr& object,
                         const std::string& field,
                         std::vector<std::string>* out) {
  if (!object->has(field) || object->isNull(field)) return absl::OkStatus();
  Poco::JSON::Array::Ptr array = object->getArray(field);
  if (array.isNull()) {
    return absl::InvalidArgumentError(
        absl::StrCat("field \"", field, "\" must be an array of strings"));
  }
  if (array->size() > zk::kMaxReadAclEntries) {
    return absl::InvalidArgumentError(
        absl::StrCat("field \"", field, "\" has more than ",
                     zk::kMaxReadAclEntries, " entries"));
  }
  for (size_t i = 0; i < array->size(); ++i) {
    Poco::Dynamic::Var v = array->get(i);
    if (!v.isString()) {
      return absl::InvalidArgumentError(
          absl::StrCat("field \"", field, "\" must be an array of strings"));
    }
    out->push_back(v.extract<std::string>());
  }
  return absl::OkStatus();
}

absl::Status ReadString(const Poco::JSON::Object::Ptr& object,
                        const std::string& field, std::string* out) {
  if (!object->has(field) || object->isNull(field)) return absl::OkStatus();
  Poco::Dynamic::Var v = object->get(field);
  if (!v.isString()) {
    return absl::InvalidArgumentError(
        absl::StrCat("field \"", field, "\" must be a string"));
  }
  *out = v.extract<std::string>();
  return absl::OkStatus();
}

// {kind, name} of /api/v1/acls/{namespaces|services}/{name}.
absl::StatusOr<std::pair<core::AclKind, std::string>> Target(
    const HttpRequest& request) {
  std::vector<std::string> seg = absl::StrSplit(
      absl::string_view(request.path).substr(sizeof(kAclsPrefix) - 1), '/');
  if (seg.size() != 2 || (seg[0] != "namespaces" && seg[0] != "services")) {
    return absl::NotFoundError(
        absl::StrCat("no such resource: ", request.method, " ",
                     request.path.substr(0, 200)));
  }
  const bool ns = seg[0] == "namespaces";
  KESS_RETURN_IF_ERROR(
      ValidateName(ns ? NameKind::kNamespace : NameKind::kService, seg[1]));
  return std::make_pair(ns ? core::AclKind::kNamespace : core::AclKind::kService,
                        seg[1]);
}

}  // namespace

std::string AclToJson(const zk::ReadAclRecord& r) {
  const bool ns = !r.namespace_name().empty();
  return absl::StrCat(
      "{\"kind\":", ns ? "\"namespace\"" : "\"service\"",
      ",\"name\":", JsonQuote(ns ? r.namespace_name() : r.service()),
      ",\"hosts\":", StringArray(r.hosts()),
      ",\"identities\":", StringArray(r.identities()),
      ",\"revision\":", r.revision(), ",\"author\":", JsonQuote(r.meta().author()),
      ",\"comment\":", JsonQuote(r.meta().comment()),
      ",\"mtime_ms\":", r.meta().mtime_ms(), "}");
}

absl::Status ParseAclBody(const std::string& body, core::AclWrite* write) {
  if (body.size() > kMaxAclBodyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("an ACL body is at most ", kMaxAclBodyBytes, " bytes"));
  }
  KESS_ASSIGN_OR_RETURN(Poco::JSON::Object::Ptr object, ParseJsonObject(body));
  try {
    KESS_RETURN_IF_ERROR(ReadStrings(object, "hosts", &write->hosts));
    KESS_RETURN_IF_ERROR(ReadStrings(object, "identities", &write->identities));
    KESS_RETURN_IF_ERROR(ReadString(object, "author", &write->author));
    KESS_RETURN_IF_ERROR(ReadString(object, "comment", &write->comment));
  } catch (const Poco::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected {\"hosts\": [...], \"identities\": [...]}: ",
                     e.displayText()));
  }
  // Every entry is checked here, before anything is forwarded.
  zk::ReadAclRecord check;
  for (const std::string& h : write->hosts) check.add_hosts(h);
  for (const std::string& i : write->identities) check.add_identities(i);
  return zk::ValidateReadAcl(check);
}

AclApi::AclApi(Options options) : options_(std::move(options)) {}

void AclApi::Register(HttpRoutes* server) {
  server->Handle("GET", kAclsPath, [this](const HttpRequest&) { return List(); });
  for (const char* method : {"GET", "PUT", "DELETE"}) {
    server->HandlePrefix(method, kAclsPrefix,
                         [this](const HttpRequest& r) { return Handle(r); });
  }
}

HttpResponse AclApi::List() {
  std::string json = "{";
  for (core::AclKind kind :
       {core::AclKind::kNamespace, core::AclKind::kService}) {
    absl::StatusOr<std::vector<zk::ReadAclRecord>> acls =
        options_.store->List(kind);
    if (!acls.ok()) return HttpResponse::Error(acls.status());
    absl::StrAppend(&json, kind == core::AclKind::kNamespace
                               ? "\"namespaces\":["
                               : ",\"services\":[");
    for (size_t i = 0; i < acls->size(); ++i) {
      absl::StrAppend(&json, i > 0 ? "," : "", AclToJson((*acls)[i]));
    }
    json += "]";
  }
  return HttpResponse::Json(200, json + "}");
}

HttpResponse AclApi::Handle(const HttpRequest& request) {
  absl::StatusOr<std::pair<core::AclKind, std::string>> target =
      Target(request);
  if (!target.ok()) return HttpResponse::Error(target.status());
  const core::AclKind kind = target->first;
  const std::string name = target->second;
  if (request.method == "GET") {
    absl::StatusOr<std::optional<zk::ReadAclRecord>> acl =
        options_.store->Get(kind, name);
    if (!acl.ok()) return HttpResponse::Error(acl.status());
    if (!acl->has_value()) {
      return HttpResponse::Error(absl::NotFoundError(absl::StrCat(
          core::AclKindName(kind), " ", name,
          " has no read ACL (the distributors' default applies)")));
    }
    return HttpResponse::Json(200, AclToJson(**acl));
  }
  if (request.method == "PUT") {
    core::AclWrite write;
    write.kind = kind;
    write.name = name;
    absl::Status parsed = ParseAclBody(request.body, &write);
    if (!parsed.ok()) return HttpResponse::Error(parsed);
    return options_.route(request, [&] {
      absl::StatusOr<int64_t> revision =
          options_.store->Put(write, options_.fence());
      if (!revision.ok()) return HttpResponse::Error(revision.status());
      return HttpResponse::Json(
          200, absl::StrCat("{\"kind\":\"", core::AclKindName(kind),
                            "\",\"name\":", JsonQuote(name),
                            ",\"revision\":", *revision, "}"));
    });
  }
  const std::string author = request.Query("author");
  return options_.route(request, [&] {
    absl::StatusOr<int64_t> revision =
        options_.store->Delete(kind, name, author, options_.fence());
    if (!revision.ok()) return HttpResponse::Error(revision.status());
    return HttpResponse::Json(
        200, absl::StrCat("{\"kind\":\"", core::AclKindName(kind),
                          "\",\"name\":", JsonQuote(name),
                          ",\"revision\":", *revision, ",\"deleted\":true}"));
  });
}

}  // namespace mandator
}  // namespace kess
