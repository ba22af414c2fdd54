// The read API of the route tables (docs/http-api.md, "Services"):
//   GET /api/v1/services        names, instance counts per DC and state;
//                               with limit/page_token/prefix/q/state, one
//                               page of them (ServicesPageJson)
//   GET /api/v1/services/{svc}  the table (route-table JSON) and the last
//                               heartbeat age of each instance
// The main-DC leader answers from its route loop's last cycle (with
// heartbeat ages, "source": "leader"); every other mandator from its own
// DC's ZooKeeper ("source": "zookeeper", no ages).
//
// Thread-safety: handlers run concurrently; `view` and `store` must be
// thread-safe.
#pragma once

#include <functional>
#include <memory>

#include "common/http_server.h"
#include "mandator/routes/route_store.h"
#include "mandator/routes/routes_role.h"

namespace kess {
namespace mandator {
namespace routes {

class RoutesHttp {
 public:
  struct Options {
    // The leader's view; null when this mandator does not build tables.
    std::function<std::shared_ptr<const RoutesView>()> view;
    RouteStore* store = nullptr;  // must outlive the server's serving
  };

  explicit RoutesHttp(Options options) : options_(std::move(options)) {}

  // REQUIRES: before server->Start().
  void Register(HttpRoutes* server);

 private:
  HttpResponse List(const HttpRequest& request);
  HttpResponse Get(const HttpRequest& request);

  const Options options_;
};

// The JSON bodies (exposed for tests).
std::string ServicesToJson(const RouteTables& tables, const char* source);
// One page in name order: `limit` (1..1000, default 50), `page_token` (the
// previous page's next_page_token), `prefix`, `q` (name contains), `state`
// (services with at least one instance healthy / suspect / disabled, whose
// checks are critical, or "unhealthy": suspect, disabled or critical).
// Adds "total" (matches) and "next_page_token" when more follow.
absl::StatusOr<std::string> ServicesPageJson(const RouteTables& tables,
                                             const char* source,
                                             const HttpRequest& request);
std::string ServiceToJson(const RouteTable& table,
                          const std::map<std::string, int64_t>* ages,
                          const char* source);

}  // namespace routes
}  // namespace mandator
}  // namespace kess
