// `kessctl services ...`: the route tables, for operators.
//
//   services list          GET /api/v1/services of a mandator: every
//                          service, its instances by state, per DC
//   services get <svc>     GET /api/v1/services/<svc>: every instance with
//                          DC, host, address, state, weight, health, check
//                          status and output, heartbeat age
//   services watch <svc>   the local agent (--agent, $KESS_AGENT, default
//                          127.0.0.1:7310, or unix:<path>): subscribes the
//                          route table, then long-polls GET /v1/watch and
//                          prints the table once, then every change as
//                          instance lines (+ added, - removed, ~ changed)
//
// --output=json prints the API's answers as they are (watch: one line per
// answer). `watch` stops after --watch_changes answers (0: until
// interrupted), or with exit 5 when the agent cannot be reached at the
// start; an agent that goes away during the watch (a restart) is retried
// every second for about a minute, from the full state.
//
// Thread-compatible.
#pragma once

#include <string>
#include <vector>

#include "kessctl/client.h"
#include "kessctl/commands.h"

namespace kess {
namespace kessctl {

// `args` starts after "services". Returns the exit code. `client` is used
// by list and get (may be null for watch).
int RunServices(const std::vector<std::string>& args, const Options& options,
                const Io& io, const Client* client);

}  // namespace kessctl
}  // namespace kess
