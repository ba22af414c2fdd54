// `kessctl status`: asks GET /api/v1/status of every mandator given (in
// parallel, not just the first) and prints them grouped by datacenter: per
// DC its leader, revision and replication lag, per mandator its role,
// revision and ZooKeeper state; mandators that did not answer are listed
// apart with the reason.
//
// Thread-compatible.
#pragma once

#include <ostream>

#include "common/status.h"
#include "kessctl/client.h"

namespace kess {
namespace kessctl {

// Writes the report to `out`: a table per DC, or with `json`
//   {"mandators": [{"address": a, "status": {...the API's answer...}},
//                  {"address": b, "error": {"code": c, "message": m}}]}
// OK when at least one mandator answered; otherwise Unavailable
// "no mandator reachable at A (reason), B (reason)" (the report is still
// written).
absl::Status RunStatus(const Client& client, bool json, std::ostream& out);

}  // namespace kessctl
}  // namespace kess
