// The agent's local subscription API (HTTP on 127.0.0.1, so any language
// can use it with curl). See agent/README.md for examples.
//
//   POST /v1/subscriptions   {"configs":[{"namespace","key"}],"routes":[..]}
//                            adds keys (persisted), subscribes, waits up to
//                            subscribe_wait for the files; answers each
//                            key's path and revision
//   GET  /v1/subscriptions   every subscribed key, path and revision
//   GET  /v1/configs/<ns>/<key>, GET /v1/routes/<service>
//                            the cache file as is (404 if none)
//   GET  /v1/status          distributor in use, connected, revisions, ...
//
// Invalid names get 400 with the name validator's message and change
// nothing.
//
// Thread-safety: handlers are thread-safe (Agent is).
#pragma once

#include "absl/time/time.h"
#include "agent/agent.h"
#include "common/http_server.h"

namespace kess {
namespace agent {

struct HttpApiOptions {
  absl::Duration subscribe_wait = absl::Seconds(3);
};

// REQUIRES: before the server starts; `agent` outlives the server. Works
// on HttpServer and EventHttpServer alike (common/http_server.h HttpRoutes).
void RegisterHttpApi(HttpRoutes* server, Agent* agent,
                     HttpApiOptions options);

}  // namespace agent
}  // namespace kess
