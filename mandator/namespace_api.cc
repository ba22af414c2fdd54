#include "mandator/namespace_api.h"

#include <utility>
#include <vector>

#include "Poco/JSON/Object.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/json_util.h"
#include "model/formats/json_schema.h"
#include "model/names.h"

namespace kess {
namespace mandator {
namespace {

constexpr char kNamespacesPrefix[] = "/api/v1/namespaces/";
constexpr size_t kMaxBodyBytes = formats::kMaxSchemaBytes + 4096;

// The namespace of /api/v1/namespaces/{ns}/settings.
absl::StatusOr<std::string> Target(const HttpRequest& request) {
  std::vector<std::string> seg = absl::StrSplit(
      absl::string_view(request.path).substr(sizeof(kNamespacesPrefix) - 1),
      '/');
  if (seg.size() != 2 || seg[1] != "settings") {
    return absl::NotFoundError(absl::StrCat(
        "no such resource: ", request.method, " ",
        request.path.substr(0, 200),
        " (namespaces have /api/v1/namespaces/{ns}/settings)"));
  }
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kNamespace, seg[0]));
  return seg[0];
}

}  // namespace

std::string NamespaceSettingsToJson(const std::string& ns,
                                    const core::NamespaceSettings& s) {
  // The schema is JSON already (it compiled when it was set).
  return absl::StrCat(
      "{\"namespace\":", JsonQuote(ns), ",\"format\":", JsonQuote(s.format),
      ",\"json_schema\":", s.json_schema.empty() ? "null" : s.json_schema,
      ",\"secret\":", s.secret ? "true" : "false",
      ",\"author\":", JsonQuote(s.author), ",\"mtime_ms\":", s.mtime_ms, "}");
}

absl::Status ParseNamespaceSettingsBody(const std::string& body,
                                        core::NamespaceSettings* settings,
                                        bool* has_secret) {
  if (has_secret != nullptr) *has_secret = false;
  if (body.size() > kMaxBodyBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a settings body is at most ", kMaxBodyBytes, " bytes"));
  }
  KESS_ASSIGN_OR_RETURN(Poco::JSON::Object::Ptr object, ParseJsonObject(body));
  for (const auto& [name, value] : *object) {
    if (name != "format" && name != "json_schema" && name != "secret") {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown field \"", name.substr(0, 40),
          "\"; the settings are \"format\", \"json_schema\" and "
          "\"secret\""));
    }
  }
  try {
    if (object->has("format") && !object->isNull("format")) {
      const Poco::Dynamic::Var v = object->get("format");
      if (!v.isString()) {
        return absl::InvalidArgumentError("\"format\" must be a string");
      }
      settings->format = v.extract<std::string>();
    }
    if (object->has("secret") && !object->isNull("secret")) {
      const Poco::Dynamic::Var v = object->get("secret");
      if (!v.isBoolean()) {
        return absl::InvalidArgumentError("\"secret\" must be true or false");
      }
      settings->secret = v.extract<bool>();
      if (has_secret != nullptr) *has_secret = true;
    }
    if (object->has("json_schema") && !object->isNull("json_schema")) {
      if (Poco::JSON::Object::Ptr schema = object->getObject("json_schema")) {
        settings->json_schema = ToJson(schema);
      } else {
        const Poco::Dynamic::Var v = object->get("json_schema");
        if (!v.isString()) {
          return absl::InvalidArgumentError(
              "\"json_schema\" must be an object, a string holding one, or "
              "null");
        }
        settings->json_schema = v.extract<std::string>();
      }
    }
  } catch (const Poco::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        "expected {\"format\": \"json|yaml|properties|text\", "
        "\"json_schema\": {...}}: ",
        e.displayText()));
  }
  // Checked here too (the leader checks again), so nothing bad is
  // forwarded.
  if (!settings->format.empty()) {
    KESS_RETURN_IF_ERROR(formats::ParseFormat(settings->format).status());
  }
  if (!settings->json_schema.empty()) {
    KESS_RETURN_IF_ERROR(
        formats::JsonSchema::Compile(settings->json_schema).status());
  }
  return absl::OkStatus();
}

NamespaceApi::NamespaceApi(Options options) : options_(std::move(options)) {}

void NamespaceApi::Register(HttpRoutes* server) {
  for (const char* method : {"GET", "PUT"}) {
    server->HandlePrefix(method, kNamespacesPrefix,
                         [this](const HttpRequest& r) { return Handle(r); });
  }
}

HttpResponse NamespaceApi::Handle(const HttpRequest& request) {
  absl::StatusOr<std::string> ns = Target(request);
  if (!ns.ok()) return HttpResponse::Error(ns.status());
  if (request.method == "GET") {
    absl::StatusOr<core::NamespaceSettings> settings =
        options_.store->Get(*ns);
    if (!settings.ok()) return HttpResponse::Error(settings.status());
    return HttpResponse::Json(200, NamespaceSettingsToJson(*ns, *settings));
  }
  core::NamespaceSettings settings;
  bool has_secret = false;
  absl::Status parsed =
      ParseNamespaceSettingsBody(request.body, &settings, &has_secret);
  if (!parsed.ok()) return HttpResponse::Error(parsed);
  return options_.route(request, [&]() -> HttpResponse {
    const std::string author =
        options_.author ? options_.author(request) : std::string();
    if (!has_secret) {
      // A body without "secret" keeps the namespace's: setting a format
      // never turns encryption off by omission.
      absl::StatusOr<core::NamespaceSettings> current =
          options_.store->Get(*ns);
      if (!current.ok()) return HttpResponse::Error(current.status());
      settings.secret = current->secret;
    }
    absl::Status set = options_.store->Set(*ns, settings, author);
    if (!set.ok()) return HttpResponse::Error(set);
    absl::StatusOr<core::NamespaceSettings> stored = options_.store->Get(*ns);
    if (!stored.ok()) return HttpResponse::Error(stored.status());
    return HttpResponse::Json(200, NamespaceSettingsToJson(*ns, *stored));
  });
}

}  // namespace mandator
}  // namespace kess
