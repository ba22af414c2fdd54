// `kessctl certs init`: a cluster's CA and certificates, written with
// common/tls/cert_gen.h (the same code the test clusters use).
// `kessctl certs issue --kind=host --name=web-17`: one principal's
// certificate (its kess:// URI in a subjectAltName; docs/tls.md), signed by
// the CA in --dir, into <dir>/principals/.
#pragma once

#include <string>
#include <vector>

#include "kessctl/commands.h"

namespace kess {
namespace kessctl {

// `args` after "certs", e.g. {"init"} or {"issue"}. Uses
// options.certs_dir, options.cluster (init), options.principal_kind,
// principal_name, principal_dc (issue), options.hosts, options.days and
// options.force; prints the files written. Exit codes as RunKessctl (3 when a file exists and
// --force is not given; nothing is written then).
int RunCerts(const std::vector<std::string>& args, const Options& options,
             const Io& io);

}  // namespace kessctl
}  // namespace kess
