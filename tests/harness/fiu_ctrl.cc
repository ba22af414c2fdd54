#include "tests/harness/fiu_ctrl.h"

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "tests/harness/run_command.h"

namespace kess {
namespace testing {

absl::Status FiuCtrl(const std::string& fifo, pid_t pid,
                     const std::string& command, absl::Duration timeout) {
  absl::StatusOr<CommandResult> result = RunCommand(
      {"fiu-ctrl", "-f", fifo, "-c", command, absl::StrCat(pid)}, timeout);
  if (!result.ok()) return result.status();
  if (result->exit_code != 0) {
    return absl::InternalError(absl::StrCat("fiu-ctrl -c '", command, "' ", pid,
                                            " exited with ", result->exit_code,
                                            ": ", result->out));
  }
  return absl::OkStatus();
}

}  // namespace testing
}  // namespace kess
