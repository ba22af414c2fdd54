#include "tests/cluster/cluster_tls.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/http_client.h"
#include "common/tls/cert_gen.h"

namespace kess {
namespace testing {

absl::StatusOr<ClusterTls> ClusterTls::Create(
    const std::string& dir, const std::string& cluster,
    const std::vector<std::string>& hosts) {
  tls::ClusterCertOptions options;
  options.dir = dir;
  options.cluster = cluster;
  for (const std::string& host : hosts) {
    if (host.empty() || host == "127.0.0.1" || host == "localhost") continue;
    bool seen = false;
    for (const std::string& h : options.hosts) seen = seen || h == host;
    if (!seen) options.hosts.push_back(host);
  }
  options.days = 30;
  options.force = true;  // a fresh cluster dir; a restarted one rewrites
  KESS_RETURN_IF_ERROR(tls::WriteClusterCerts(options).status());
  SetDefaultHttpsCaFile(dir + "/ca.pem");
  return ClusterTls(dir);
}

std::string HttpUrl(const std::string& address) {
  return absl::StrContains(address, "://") ? address : "http://" + address;
}

bool ServesHttps(const std::vector<std::string>& tls_flags) {
  for (const std::string& flag : tls_flags) {
    if (absl::StartsWith(flag, "--tls_ca=")) return true;
  }
  return false;
}

std::string ClusterTls::cert(const std::string& role) const {
  return absl::StrCat(dir_, "/", role, ".pem");
}

std::string ClusterTls::key(const std::string& role) const {
  return absl::StrCat(dir_, "/", role, ".key");
}

std::vector<std::string> ClusterTls::Flags(const std::string& role) const {
  if (!enabled()) return {"--insecure_plaintext"};
  return {"--tls_ca=" + ca(), "--tls_cert=" + cert(role),
          "--tls_key=" + key(role)};
}

absl::StatusOr<std::shared_ptr<tls::TlsContext>> ClusterTls::ClientContext(
    const std::string& role) const {
  if (!enabled()) return std::shared_ptr<tls::TlsContext>();
  tls::TlsOptions options;
  if (!role.empty()) {
    options.cert_file = cert(role);
    options.key_file = key(role);
  }
  options.ca_file = ca();
  options.reload_interval = absl::ZeroDuration();
  return tls::TlsContext::Create(tls::TlsSide::kClient, options);
}

}  // namespace testing
}  // namespace kess
