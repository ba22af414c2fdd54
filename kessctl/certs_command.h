// `kessctl certs init`: a cluster's CA and certificates, written with
// common/tls/cert_gen.h (the same code the test clusters use).
#pragma once

#include <string>
#include <vector>

#include "kessctl/commands.h"

namespace kess {
namespace kessctl {

// `args` after "certs", e.g. {"init"}. Uses options.certs_dir,
// options.cluster, options.hosts, options.days and options.force; prints
// the files written. Exit codes as RunKessctl (3 when a file exists and
// --force is not given; nothing is written then).
int RunCerts(const std::vector<std::string>& args, const Options& options,
             const Io& io);

}  // namespace kessctl
}  // namespace kess
