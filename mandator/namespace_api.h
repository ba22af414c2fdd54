// NamespaceApi: a namespace's settings (docs/http-api.md, "Namespace
// settings"; mandator/core/namespace_settings.h): the format its values
// must be well-formed in, the JSON Schema they must satisfy, and whether
// they are stored encrypted (docs/security.md, "Encrypted values").
//
//   GET /api/v1/namespaces/{ns}/settings
//       {"namespace","format","json_schema","secret","author","mtime_ms"}
//       (format "" and json_schema null when unset)
//   PUT /api/v1/namespaces/{ns}/settings
//       {"format":"yaml","json_schema":{...} | "<schema text>" | null,
//        "secret":true|false}
//       -> the settings as stored. Format and schema are replaced (absent
//       = none); an absent "secret" keeps the stored one. "secret": true
//       is refused (409) unless the leader holds the namespace's key ring.
//
// Reads are answered from this DC's ZooKeeper by any mandator. A PUT goes
// through the rules of every write (HttpApi::Route: 409 in a slave DC,
// forwarded to the main DC's leader, which stores it); the body is
// checked first (400: unknown format, a schema that does not compile, a
// schema without format json or yaml), so nothing bad is forwarded. New
// settings apply to the next write; values already stored are not
// re-checked.
//
// Thread-safety: handlers run concurrently; the functions in Options must
// be thread-safe.
#pragma once

#include <functional>
#include <string>

#include "common/http_server.h"
#include "mandator/core/namespace_settings.h"

namespace kess {
namespace mandator {

class NamespaceApi {
 public:
  struct Options {
    // Must outlive the API.
    core::NamespaceSettingsStore* store = nullptr;
    // HttpApi::Route: refuse, commit here (the callback) or forward.
    std::function<HttpResponse(const HttpRequest&,
                               const std::function<HttpResponse()>&)>
        route;
    // The author of a change (the authenticated principal's name).
    std::function<std::string(const HttpRequest&)> author;
  };

  explicit NamespaceApi(Options options);

  // REQUIRES: before server->Start(); the API outlives the serving.
  void Register(HttpRoutes* server);

 private:
  HttpResponse Handle(const HttpRequest& request);

  const Options options_;
};

// The JSON of `settings` for namespace `ns`.
std::string NamespaceSettingsToJson(const std::string& ns,
                                    const core::NamespaceSettings& settings);

// Parses a PUT body: "format" (string or null), "json_schema" (an object,
// a string holding one, or null) and "secret" (boolean or null; *has_secret
// tells whether it was given). Unknown fields are refused.
absl::Status ParseNamespaceSettingsBody(const std::string& body,
                                        core::NamespaceSettings* settings,
                                        bool* has_secret = nullptr);

}  // namespace mandator
}  // namespace kess
