// `kessctl identity`: per-principal credentials (docs/security.md,
// "Identities and registration rights"), through the main DC's mandator
// API (mandator/identity_api.h):
//
//   identity issue <kind> <name> [--dc=DC] [--out=FILE]
//                      a new credential; the secret is shown once: written
//                      to FILE (0600, the --credential_file of an agent,
//                      SDK process or mandator) or printed. Issuing again
//                      replaces it.
//   identity list      every credential (never a secret)
//   identity revoke <kind> <name> [--dc=DC]
//                      every mandator refuses it within seconds, and closes
//                      the connections it authenticated at their next call
//
// <kind>: host, service, mandator, distributor, operator. --output=json
// prints the API's answers.
//
// Thread-compatible.
#pragma once

#include <string>
#include <vector>

#include "kessctl/client.h"
#include "kessctl/commands.h"

namespace kess {
namespace kessctl {

// `args` starts after "identity". Returns the exit code.
int RunIdentity(const std::vector<std::string>& args, const Options& options,
                const Io& io, const Client& client);

}  // namespace kessctl
}  // namespace kess
