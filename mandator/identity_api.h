// IdentityApi: the per-principal credentials of docs/security.md
// ("Identities and registration rights") on the mandator's HTTP server:
//
//   POST   /api/v1/identities   {"kind":"host","name":"web-17","dc":""}
//            -> 201 {"principal","kind","name","dc","id","created_unix",
//                    "secret","credential_file"}: the secret is shown once
//               (ZooKeeper keeps only its salted hash); "credential_file"
//               is the JSON an agent or SDK reads (--credential_file).
//               Issuing again replaces the credential (the old secret and
//               the connections it authenticated stop working).
//   GET    /api/v1/identities   {"identities":[{principal, kind, name, dc,
//                                 id, created_unix}]} (never a secret)
//   DELETE /api/v1/identities/{kind}/{name}[?dc=DC]   revokes: 200, or 404
//
// Credentials are issued and revoked in the main DC only (409 elsewhere):
// any main mandator writes <root>/identities (zk_schema/identities.h), the
// slave DCs' mandators copy it into their own ensemble, and every mandator
// (IdentityWatcher) refuses a revoked credential at the next request of a
// connection it authenticated, within about a second in its DC.
// Who may call these is the server's admission check (what guards every
// write); the routes are kept here so that roles can be wired in.
//
// Thread-safety: handlers run concurrently; ZkApi is thread-safe.
#pragma once

#include <string>

#include "common/http_server.h"
#include "zk_schema/layout.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace mandator {

class IdentityApi {
 public:
  struct Options {
    zk::ZkApi* zk = nullptr;  // this DC's; must outlive the API
    zk::Layout layout;
    zk::AclList acl;  // of the nodes created
    bool is_main = false;
    std::string main_datacenter;  // for the 409's message; may be ""
  };

  explicit IdentityApi(Options options);

  // REQUIRES: before the server starts; the API outlives the serving.
  void Register(HttpRoutes* server);

 private:
  HttpResponse Issue(const HttpRequest& request);
  HttpResponse List();
  HttpResponse Revoke(const HttpRequest& request);
  // 409 outside the main DC; nullopt there.
  std::optional<HttpResponse> MainOnly() const;

  const Options options_;
};

}  // namespace mandator
}  // namespace kess
