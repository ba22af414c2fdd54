// `kessctl token ...`, `kessctl user ...`, `kessctl audit`: API tokens, users
// and the audit log of the mandators (docs/security.md, "Admin roles and
// tokens" and "Audit log"; docs/http-api.md).
//
//   token list                         every token (never a secret)
//   token create <name> --role=viewer|publisher|admin [--namespaces=a,b*]
//                                      prints the Bearer value ONCE (stdout;
//                                      the rest goes to stderr)
//   token revoke <id>                  refused by every mandator within
//                                      seconds
//   user list
//   user create <name> --role=... [--namespaces=...] [--file=<password
//                                      file>|-]  (the password from the
//                                      file, or stdin)
//   user delete <name>
//   user passwd <name> [--file=...|-]
//   audit [--who=] [--what=] [--since=<unix ms>|<seconds>s] [--refused]
//         [--limit=N] [--cursor=<from a previous page>]
//
// All but `audit` need an admin token (--token / KESS_TOKEN); `audit` any
// viewer. --output=json prints the API's answers as they are.
//
// Thread-compatible.
#pragma once

#include <string>
#include <vector>

#include "kessctl/client.h"
#include "kessctl/commands.h"

namespace kess {
namespace kessctl {

// `args` starts after the command's name ("token", "user" or "audit"
// itself is `command`). Returns the exit code.
int RunAuth(const std::string& command, const std::vector<std::string>& args,
            const Options& options, const Io& io, const Client& client);

}  // namespace kessctl
}  // namespace kess
