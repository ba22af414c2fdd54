// AclApi: the read-ACL routes of docs/http-api.md ("Read ACLs") on the
// mandator's HTTP server (docs/security.md, "Read rights").
//
//   GET    /api/v1/acls                         every ACL, both kinds
//   GET    /api/v1/acls/namespaces/{ns}         one ACL (404: none)
//   PUT    /api/v1/acls/namespaces/{ns}         {"hosts":[...],
//                                                "identities":[...],
//                                                "author":"","comment":""}
//   DELETE /api/v1/acls/namespaces/{ns}?author=
//   ... and the same under /api/v1/acls/services/{service}.
//
// Reads are answered from this DC's ZooKeeper by any mandator. Writes go
// through the same rules as every write (HttpApi::Route: slave DC 409,
// forwarded to the main DC's leader, which commits them with AclStore);
// the body and names are checked first (400) so nothing bad is forwarded.
// Who may write is the server's admission check (the admin secret today).
//
// Thread-safety: handlers run concurrently; the functions in Options must
// be thread-safe.
#pragma once

#include <functional>
#include <string>

#include "common/http_server.h"
#include "mandator/core/acl_store.h"

namespace kess {
namespace mandator {

inline constexpr size_t kMaxAclBodyBytes = 256 * 1024;

class AclApi {
 public:
  struct Options {
    // Reads of this DC's ZooKeeper, and the main leader's writes. Must
    // outlive the API.
    core::AclStore* store = nullptr;
    // The leader's election node, the fence of every write.
    std::function<std::string()> fence;
    // HttpApi::Route: refuse, commit here (the callback) or forward.
    std::function<HttpResponse(const HttpRequest&,
                               const std::function<HttpResponse()>&)>
        route;
  };

  explicit AclApi(Options options);

  // REQUIRES: before server->Start(); the API outlives the serving.
  void Register(HttpRoutes* server);

 private:
  HttpResponse Handle(const HttpRequest& request);
  HttpResponse List();

  const Options options_;
};

// The JSON of one ACL: {"kind","name","hosts","identities","revision",
// "author","comment","mtime_ms"}.
std::string AclToJson(const zk::ReadAclRecord& record);

// Parses a PUT body into `write` (kind and name are the caller's).
absl::Status ParseAclBody(const std::string& body, core::AclWrite* write);

}  // namespace mandator
}  // namespace kess
