#include "common/tls/testing/test_certs.h"

#include <stdlib.h>

#include <cerrno>
#include <cstdio>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/tls/cert_gen.h"

namespace kess {
namespace tls {
namespace testing {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(path);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace

absl::StatusOr<TestCerts> TestCerts::Create(const std::string& cluster) {
  const char* base = getenv("TEST_TMPDIR");
  std::string pattern =
      absl::StrCat(base != nullptr ? base : "/tmp", "/kess_certs_XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    return ErrnoToStatus(errno, "mkdtemp");
  }
  ClusterCertOptions options;
  options.dir = pattern;
  options.cluster = cluster;
  options.days = 30;
  KESS_RETURN_IF_ERROR(WriteClusterCerts(options).status());
  return TestCerts(pattern);
}

std::string TestCerts::cert(const std::string& role) const {
  return absl::StrCat(dir_, "/", role, ".pem");
}

std::string TestCerts::key(const std::string& role) const {
  return absl::StrCat(dir_, "/", role, ".key");
}

TlsOptions TestCerts::Options(const std::string& role,
                              metrics::Registry* registry) const {
  TlsOptions options;
  if (!role.empty()) {
    options.cert_file = cert(role);
    options.key_file = key(role);
  }
  options.ca_file = ca();
  options.reload_interval = absl::ZeroDuration();
  options.registry = registry;
  return options;
}

std::shared_ptr<TlsContext> TestCerts::ServerTls(
    const std::string& role, bool require_client_cert,
    metrics::Registry* registry) const {
  TlsOptions options = Options(role, registry);
  options.require_client_cert = require_client_cert;
  absl::StatusOr<std::shared_ptr<TlsContext>> context =
      TlsContext::Create(TlsSide::kServer, options);
  if (!context.ok()) {
    fprintf(stderr, "TestCerts::ServerTls: %s\n",
            context.status().ToString().c_str());
    abort();
  }
  return *context;
}

std::shared_ptr<TlsContext> TestCerts::ClientTls(
    const std::string& role, metrics::Registry* registry) const {
  absl::StatusOr<std::shared_ptr<TlsContext>> context =
      TlsContext::Create(TlsSide::kClient, Options(role, registry));
  if (!context.ok()) {
    fprintf(stderr, "TestCerts::ClientTls: %s\n",
            context.status().ToString().c_str());
    abort();
  }
  return *context;
}

absl::Status TestCerts::WriteExpired(const std::string& name,
                                     absl::Duration ago) const {
  KeyAndCert ca;
  KESS_ASSIGN_OR_RETURN(ca.cert_pem, ReadFile(dir_ + "/ca.pem"));
  KESS_ASSIGN_OR_RETURN(ca.key_pem, ReadFile(dir_ + "/ca.key"));
  CertSpec spec;
  spec.common_name = name;
  spec.dns_names = {"localhost"};
  spec.ip_addresses = {"127.0.0.1"};
  spec.not_before = absl::Now() - ago - absl::Hours(24);
  spec.not_after = absl::Now() - ago;
  KESS_ASSIGN_OR_RETURN(KeyAndCert pair, IssueCert(ca, spec));
  KESS_RETURN_IF_ERROR(
      WriteFileAtomically(key(name), pair.key_pem, 0600));
  return WriteFileAtomically(cert(name), pair.cert_pem, 0644);
}

}  // namespace testing
}  // namespace tls
}  // namespace kess
