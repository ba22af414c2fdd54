// `kessctl acl ...`: the read ACLs of namespaces and services
// (docs/security.md, "Read rights"; docs/http-api.md, "Read ACLs").
//
//   acl list                              every ACL
//   acl get namespace|service <name>      one ACL (exit 3 when it has none)
//   acl set namespace|service <name> <entry>...
//                                         replace it; an entry is a host-id
//                                         pattern ('web-*', 'db-0?', quote
//                                         it for the shell) or an identity
//                                         <kind>/<name> ("service/billing");
//                                         --hosts=a,b adds entries too; no
//                                         entry: nobody may read
//   acl delete namespace|service <name>   back to the distributors' default
//
// Writes go to the main DC's leader like every write (--author and
// --comment are recorded). --output=json prints the API's answers.
//
// Thread-compatible.
#pragma once

#include <string>
#include <vector>

#include "kessctl/client.h"
#include "kessctl/commands.h"

namespace kess {
namespace kessctl {

// `args` starts after "acl". Returns the exit code.
int RunAcl(const std::vector<std::string>& args, const Options& options,
           const Io& io, const Client& client);

}  // namespace kessctl
}  // namespace kess
