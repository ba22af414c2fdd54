#include "kessctl/command_errors.h"

#include "absl/strings/match.h"
#include "kessctl/client.h"

namespace kess {
namespace kessctl {

int UsageError(const Io& io, const std::string& message) {
  *io.err << "kessctl: " << message << "\nRun 'kessctl --help' for usage.\n";
  return kExitUsage;
}

int Fail(const Io& io, const std::string& what, const absl::Status& status) {
  std::string hint;
  if (absl::StartsWith(status.message(), "no mandator reachable")) {
    hint = " (set --mandators or KESS_MANDATORS)";
  } else if (status.code() == absl::StatusCode::kUnauthenticated) {
    hint = " (set --token or KESS_TOKEN)";
  }
  *io.err << "kessctl: " << what << ": " << status.message() << hint << "\n";
  return ExitCodeFor(status);
}

}  // namespace kessctl
}  // namespace kess
