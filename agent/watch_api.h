// GET /v1/watch: the agent's blocking watch (long poll) over its file
// cache, for processes in any language (docs/agent-api.md "Blocking
// watch").
//
//   GET /v1/watch?config=shop/db.timeout&namespace=shop&service=payments
//                 &index=<n>&epoch=<e>&timeout=30s[&values=false]
//
// `config`, `namespace`, `service` may each be repeated or hold a comma
// list. The answer (200, JSON; also headers X-Kess-Epoch, X-Kess-Index):
//
//   {"epoch":"9f..","index":57,"full":false,"timed_out":false,
//    "changes":[ <the cache file's JSON object, docs/file-cache.md>, ...]}
//
// With values=false each change is {"type","namespace","key"|"service",
// "revision","absent"} only. "full": true means the answer is the complete
// current state of the selection (first call, or the agent restarted):
// every key of the selection the agent holds (subscribed by itself or
// through a subscribed namespace) that has a file. Keys must be
// subscribed (POST /v1/subscriptions) to ever change.
//
// Errors: 400 for invalid names, an empty selection, more than
// kMaxWatchSelection entries, a bad index or timeout; 429 when too many
// watches wait.
//
// Thread-safety: the handler runs on the http::EventHttpServer's loop thread.
#pragma once

#include <functional>
#include <vector>

#include "agent/agent.h"
#include "agent/watch_registry.h"
#include "common/http/event_http_server.h"
#include "common/http_server.h"
#include "model/file_cache/format.h"

namespace kess {
namespace agent {

inline constexpr size_t kMaxWatchSelection = 1000;
inline constexpr absl::Duration kDefaultWatchTimeout = absl::Seconds(60);

// The current version of every key of a selection (for full answers).
using CurrentEntries = std::function<std::vector<file_cache::CacheEntry>(
    const WatchSelection&)>;

// Every subscribed key of `agent` matching the selection, read from its
// file cache (keys without a file are left out).
CurrentEntries CurrentFromAgent(Agent* agent);

// Parses the query of a GET /v1/watch (exposed for tests).
absl::StatusOr<WatchRequest> ParseWatchRequest(const HttpRequest& request,
                                               bool* values);

// The JSON body of an answer (exposed for tests and the benchmark).
std::string RenderWatchAnswer(const WatchAnswer& answer, bool values,
                              const std::vector<file_cache::CacheEntry>* full);

// REQUIRES: before server->Start(); `registry` outlives the server.
void RegisterWatchApi(http::EventHttpServer* server, WatchRegistry* registry,
                      CurrentEntries current);

}  // namespace agent
}  // namespace kess
