// How kessctl's commands report a bad command line and a failed call on
// `io.err`, shared by commands.cc and transfer_command.cc.
//
// Thread-compatible.
#pragma once

#include <string>

#include "common/status.h"
#include "kessctl/commands.h"

namespace kess {
namespace kessctl {

// Prints "kessctl: <message>" and the pointer to --help. Returns kExitUsage.
int UsageError(const Io& io, const std::string& message);

// Prints "kessctl: <what>: <message>" plus a hint where one is obvious (no
// mandator reachable: --mandators; unauthenticated: --token). Returns
// ExitCodeFor(status).
int Fail(const Io& io, const std::string& what, const absl::Status& status);

}  // namespace kessctl
}  // namespace kess
