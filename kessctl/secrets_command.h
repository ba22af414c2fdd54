// `kessctl secrets ...`: key rings of secret namespaces and their values
// (docs/security.md, "Encrypted values"; docs/operations.md, "Rotating a
// secret namespace's key").
//
//   secrets keygen <ns>            create <keys_dir>/<ns>.key with key 1, or
//                                  add a key (newest id + 1) to it; mode 0600,
//                                  written through a temp file and rename
//   secrets drop-key <ns> <id>     remove a key from the ring (never the
//                                  newest): what it sealed stops opening
//   secrets reencrypt <ns>         write every value of the namespace back
//                                  through the main leader, which seals it
//                                  with its newest key (values already under
//                                  the newest key of the local ring, when
//                                  there is one, are skipped); each write is
//                                  a compare-and-set on the value read
//   secrets show <ns> <key>        read a value from a mandator (which only
//                                  ever answers the envelope) and decrypt it
//                                  here with the local ring
//
// --keys_dir (default /etc/kess/keys) is where the rings are. keygen and
// drop-key touch only local files; reencrypt and show call the mandators
// (--mandators, --token).
//
// Thread-compatible.
#pragma once

#include <string>
#include <vector>

#include "kessctl/commands.h"

namespace kess {
namespace kessctl {

// `args` starts after "secrets". Returns the exit code.
int RunSecrets(const std::vector<std::string>& args, const Options& options,
               const Io& io);

}  // namespace kessctl
}  // namespace kess
