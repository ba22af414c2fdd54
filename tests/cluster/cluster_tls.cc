#include "tests/cluster/cluster_tls.h"

#include <unistd.h>

#include <utility>

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

namespace {

// The files of principal kind/name/dc, issued on first use.
absl::StatusOr<std::pair<std::string, std::string>> PrincipalFiles(
    const std::string& dir, const std::string& kind, const std::string& name,
    const std::string& dc) {
  const std::string base =
      absl::StrCat(dir, "/principals/", kind, "-",
                   dc.empty() ? "" : absl::StrCat(dc, "-"), name);
  if (access((base + ".pem").c_str(), R_OK) != 0) {
    tls::PrincipalCertOptions options;
    options.dir = dir;
    options.kind = kind;
    options.name = name;
    options.dc = dc;
    options.days = 30;
    options.force = true;
    KESS_RETURN_IF_ERROR(tls::IssuePrincipalCert(options).status());
  }
  return std::make_pair(base + ".pem", base + ".key");
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ClusterTls::PrincipalFlags(
    const std::string& kind, const std::string& name,
    const std::string& dc) const {
  if (!enabled()) return std::vector<std::string>{"--insecure_plaintext"};
  KESS_ASSIGN_OR_RETURN(auto files, PrincipalFiles(dir_, kind, name, dc));
  return std::vector<std::string>{"--tls_ca=" + ca(),
                                  "--tls_cert=" + files.first,
                                  "--tls_key=" + files.second,
                                  "--tls_client_auth"};
}

absl::StatusOr<std::shared_ptr<tls::TlsContext>> ClusterTls::PrincipalContext(
    const std::string& kind, const std::string& name,
    const std::string& dc) const {
  if (!enabled()) return std::shared_ptr<tls::TlsContext>();
  KESS_ASSIGN_OR_RETURN(auto files, PrincipalFiles(dir_, kind, name, dc));
  tls::TlsOptions options;
  options.cert_file = files.first;
  options.key_file = files.second;
  options.ca_file = ca();
  options.reload_interval = absl::ZeroDuration();
  return tls::TlsContext::Create(tls::TlsSide::kClient, options);
}

}  // namespace testing
}  // namespace kess
