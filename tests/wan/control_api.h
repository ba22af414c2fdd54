// The HTTP control API of wan_emulator, on common/http_server.h. Every
// parameter is in the query string (a POST with a body is refused); an
// unknown or missing parameter, an unknown DC or a bad value is a 400 with
// {"error": {"code": ..., "message": ...}}, a DC pair without links a 404.
//
//   GET  /links      every link: DCs, addresses, profiles, state, counters;
//                    and the pair table (WanEmulator::LinksJson)
//   POST /pair?from=dc1&to=dc2&profile=delay=50ms,loss=0.01
//   POST
//   /state?a=dc1&b=dc2&state=open|cut|blackhole[&direction=both|a_to_b|b_to_a]
//   POST /flap?a=dc1&b=dc2&period_ms=500&count=6[&direction=...]
//   GET  /metrics    the kess_wan_* metrics, then the HTTP server's own
//   GET  /healthz    "ok"
// A POST answers 200 {"links": [names of the links it changed]}.
// Semantics: emulator.h.
//
// Thread-safety: the handlers are thread-safe (WanEmulator is).
// A POST must say its body is empty (Content-Length: 0, e.g. `curl -d ''`);
// see AdmitControlRequest.
#pragma once

#include <optional>

#include "common/http_server.h"
#include "tests/wan/emulator.h"

namespace kess {
namespace wan {

// Registers the routes above on `server`. REQUIRES: before server->Start();
// `emulator` outlives the server.
void RegisterControlApi(WanEmulator* emulator, HttpServer* server);

// For HttpServer::Options::admit: answers 411 to a POST that declares no
// body length (`curl -X POST URL` does that), which the server would
// otherwise wait on until the client gives up. `curl -d '' URL` is right.
std::optional<HttpResponse> AdmitControlRequest(const HttpRequest& request);

}  // namespace wan
}  // namespace kess
