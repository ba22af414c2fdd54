#include "common/transport/protocol_version.h"

#include "absl/strings/str_cat.h"

namespace kess {
namespace transport {

absl::Status CheckPeerProtocolVersion(int peer_version, int min_version,
                                      const char* peer_role) {
  if (peer_version >= min_version) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "kess protocol version ", peer_version, " of the ", peer_role,
      " is no longer supported (this side speaks ", kProtocolVersion,
      " and accepts ", min_version, " and newer): upgrade the ", peer_role,
      " first (docs/operations.md, Upgrades and compatibility)"));
}

}  // namespace transport
}  // namespace kess
