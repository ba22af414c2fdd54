#include "kessctl/certs_command.h"

#include "absl/strings/str_cat.h"
#include "common/identity/principal.h"
#include "common/tls/cert_gen.h"
#include "kessctl/client.h"

namespace kess {
namespace kessctl {

int RunCerts(const std::vector<std::string>& args, const Options& options,
             const Io& io) {
  auto usage = [&](const std::string& message) {
    *io.err << "kessctl: " << message
            << "\nusage: kessctl certs init --dir=DIR --cluster=NAME "
               "[--hosts=a,b,...] [--days=N] [--force]\n"
               "       kessctl certs issue --dir=DIR --kind=KIND --name=NAME "
               "[--dc=DC] [--hosts=a,b,...] [--days=N] [--force]\n";
    return kExitUsage;
  };
  if (args.size() == 1 && args[0] == "issue") {
    if (options.certs_dir.empty()) return usage("certs issue needs --dir");
    if (options.principal_kind.empty() || options.principal_name.empty()) {
      return usage("certs issue needs --kind and --name");
    }
    if (options.days < 1) return usage("--days must be 1 or more");
    tls::PrincipalCertOptions issue;
    issue.dir = options.certs_dir;
    issue.kind = options.principal_kind;
    issue.name = options.principal_name;
    issue.dc = options.principal_dc;
    issue.hosts = options.hosts;
    issue.days = options.days;
    issue.force = options.force;
    absl::StatusOr<std::vector<std::string>> written =
        tls::IssuePrincipalCert(issue);
    if (!written.ok()) {
      *io.err << "kessctl: certs issue: " << written.status().message()
              << "\n";
      if (absl::IsAlreadyExists(written.status())) return kExitConflict;
      if (absl::IsInvalidArgument(written.status())) return kExitInvalid;
      return kExitServer;
    }
    for (const std::string& path : *written) *io.out << path << "\n";
    *io.out << "\nThe certificate names "
            << identity::PrincipalUri(
                   *identity::ParseKind(options.principal_kind),
                   options.principal_name, options.principal_dc)
            << ". Give it to that daemon as --tls_cert/--tls_key (with "
               "--tls_client_auth, so that it presents it).\n";
    return kExitOk;
  }
  if (args.size() != 1 || args[0] != "init") {
    return usage("certs needs the subcommand init or issue");
  }
  if (options.certs_dir.empty()) return usage("certs init needs --dir");
  if (options.cluster.empty()) return usage("certs init needs --cluster");
  if (options.days < 1) return usage("--days must be 1 or more");
  tls::ClusterCertOptions cert_options;
  cert_options.dir = options.certs_dir;
  cert_options.cluster = options.cluster;
  cert_options.hosts = options.hosts;
  cert_options.days = options.days;
  cert_options.force = options.force;
  absl::StatusOr<std::vector<std::string>> written =
      tls::WriteClusterCerts(cert_options);
  if (!written.ok()) {
    *io.err << "kessctl: certs init: " << written.status().message() << "\n";
    if (absl::IsAlreadyExists(written.status())) return kExitConflict;
    if (absl::IsInvalidArgument(written.status())) return kExitInvalid;
    return kExitServer;
  }
  for (const std::string& path : *written) *io.out << path << "\n";
  *io.out << "\nDaemons: --tls_ca=" << options.certs_dir
          << "/ca.pem --tls_cert=" << options.certs_dir
          << "/<role>.pem --tls_key=" << options.certs_dir
          << "/<role>.key (role: mandator, distributor, agent, client).\n"
          << "Keep " << options.certs_dir
          << "/ca.key offline: it signs new certificates.\n";
  return kExitOk;
}

}  // namespace kessctl
}  // namespace kess
