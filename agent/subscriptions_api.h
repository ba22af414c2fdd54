// The agent's subscription endpoints (docs/agent-api.md, "Subscriptions"):
//
//   POST   /v1/subscriptions  {"configs":[{"namespace","key"}],"routes":[..],
//                              "namespaces":[..],"app":"checkout"}
//          adds them for the owner (persisted), subscribes what no owner
//          held, waits up to `subscribe_wait` for the distributor's answer
//          and the files (at most kMaxSubscribeWaits requests wait at once;
//          more answer without waiting); answers each key's and
//          namespace's state
//   DELETE /v1/subscriptions  (same body) removes them from the owner;
//          what no owner holds any more is unsubscribed upstream; cache
//          files stay
//   GET    /v1/subscriptions  every key and namespace with its owners, and
//          each owner's own list
//
// The owner is the body's "app", else the X-Kess-App header, else (POST
// only) "default"; both given and different is an error, and a DELETE
// naming neither is an error (400), so that leaving the name out cannot
// remove another application's subscriptions. Invalid names get 400 with
// the name validator's message and change nothing. A new owner beyond
// kMaxOwners or an owner beyond kMaxPerOwner keys and namespaces gets 429
// (subscription_set.h).
//
// Thread-safety: handlers are thread-safe (Agent is).
#pragma once

#include "absl/time/time.h"
#include "agent/agent.h"
#include "common/http_server.h"

namespace kess {
namespace agent {

inline constexpr char kOwnerHeader[] = "x-kess-app";
// POSTs that wait for the distributor at once (each holds a worker thread
// of the server for up to `subscribe_wait`); more answer at once.
inline constexpr int kMaxSubscribeWaits = 4;

// REQUIRES: before the server starts; `agent` outlives the server.
void RegisterSubscriptionsApi(HttpRoutes* server, Agent* agent,
                              absl::Duration subscribe_wait);

}  // namespace agent
}  // namespace kess
