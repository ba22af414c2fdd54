// The agent's local registration API (docs/agent-api.md), on the same
// HTTP servers as the subscription API (localhost TCP and --api_socket):
//
//   PUT    /v1/services/<svc>/instances/<id>   register or update (JSON body)
//   DELETE /v1/services/<svc>/instances/<id>[?owner=<owner>]
//   GET    /v1/services                        every local registration with
//                                              its checks' states
//   GET    /v1/services/<svc>/instances/<id>
//   PUT    /v1/checks/<check id>/pass|warn|fail[?owner=<owner>]
//                                              a TTL check's update;
//                                              optional {"output": "..."}
//
// Requests on the unix socket carry the client's uid (HttpRequest::peer),
// which LocalServices uses (local_services.h: exec checks, instances
// registered over the socket). Errors are {"error": {"code", "message"}}
// and change nothing: 400 bad input, 403 exec checks disabled or not
// allowed for this client, or an instance of another uid, 404 unknown, 409
// another owner or a check id in use, 413 a body over 64 KiB, 429 too many
// instances, 503 the state file cannot be written.
//
// Thread-safety: handlers are thread-safe (LocalServices is).
#pragma once

#include "agent/local_services.h"
#include "common/http_server.h"

namespace kess {
namespace agent {

inline constexpr size_t kMaxRegistrationBodyBytes = 64 * 1024;

// REQUIRES: before server->Start(); `services` outlives the server.
void RegisterServicesApi(HttpRoutes* server, LocalServices* services);

}  // namespace agent
}  // namespace kess
