// `kessctl certs init`: the files, their modes, the refusal to overwrite,
// and that what it writes makes working TLS contexts.
#include <sys/stat.h>

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/identity/principal.h"
#include "common/tls/peer_principal.h"
#include "common/tls/tls_context.h"
#include "gtest/gtest.h"
#include "kessctl/client.h"
#include "kessctl/commands.h"

namespace kess {
namespace kessctl {
namespace {

struct Result {
  int code;
  std::string out, err;
};

Result RunCommand(const std::vector<std::string>& args, const Options& options) {
  std::istringstream in;
  std::ostringstream out, err;
  Io io{&in, &out, &err};
  Result r;
  r.code = RunKessctl(args, options, io);
  r.out = out.str();
  r.err = err.str();
  return r;
}

std::string NewDir() {
  std::string pattern =
      absl::StrCat(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp",
                   "/certs_XXXXXX");
  EXPECT_NE(mkdtemp(pattern.data()), nullptr);
  return pattern + "/tls";  // created by the command
}

int ModeOf(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return -1;
  return st.st_mode & 0777;
}

TEST(CertsCommandTest, InitWritesUsableFilesOnce) {
  Options options;
  options.certs_dir = NewDir();
  options.cluster = "prod";
  options.hosts = {"kess-1.example", "127.1.2.3"};
  options.days = 30;
  Result r = RunCommand({"certs", "init"}, options);
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_NE(r.out.find("ca.pem"), std::string::npos);
  EXPECT_EQ(ModeOf(options.certs_dir), 0700);
  EXPECT_EQ(ModeOf(options.certs_dir + "/ca.key"), 0600);
  for (const char* role : {"mandator", "distributor", "agent", "client"}) {
    EXPECT_EQ(ModeOf(absl::StrCat(options.certs_dir, "/", role, ".key")), 0600);
    EXPECT_EQ(ModeOf(absl::StrCat(options.certs_dir, "/", role, ".pem")), 0644);
  }
  EXPECT_EQ(ModeOf(options.certs_dir + "/hosts/kess-1.example.key"), 0600);
  EXPECT_EQ(ModeOf(options.certs_dir + "/hosts/127.1.2.3.pem"), 0644);

  tls::TlsOptions tls_options;
  tls_options.cert_file = options.certs_dir + "/mandator.pem";
  tls_options.key_file = options.certs_dir + "/mandator.key";
  tls_options.ca_file = options.certs_dir + "/ca.pem";
  tls_options.reload_interval = absl::ZeroDuration();
  EXPECT_TRUE(tls::TlsContext::Create(tls::TlsSide::kServer, tls_options).ok());

  // Again: refused, nothing changed; with --force: rewritten.
  r = RunCommand({"certs", "init"}, options);
  EXPECT_EQ(r.code, kExitConflict);
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
  options.force = true;
  EXPECT_EQ(RunCommand({"certs", "init"}, options).code, kExitOk);
}

TEST(CertsCommandTest, UsageErrors) {
  Options options;
  options.certs_dir = NewDir();
  EXPECT_EQ(RunCommand({"certs", "init"}, options).code, kExitUsage);  // no cluster
  options.cluster = "c";
  EXPECT_EQ(RunCommand({"certs"}, options).code, kExitUsage);
  EXPECT_EQ(RunCommand({"certs", "make"}, options).code, kExitUsage);
  options.days = 0;
  EXPECT_EQ(RunCommand({"certs", "init"}, options).code, kExitUsage);
  options.days = 1;
  options.hosts = {"a/b"};
  EXPECT_EQ(RunCommand({"certs", "init"}, options).code, kExitInvalid);
  EXPECT_EQ(ModeOf(options.certs_dir), -1);  // nothing written
}

TEST(CertsCommandTest, IssueNamesThePrincipal) {
  Options options;
  options.certs_dir = NewDir();
  options.cluster = "test";
  ASSERT_EQ(RunCommand({"certs", "init"}, options).code, kExitOk);
  options.principal_kind = "host";
  options.principal_name = "web-17";
  Result r = RunCommand({"certs", "issue"}, options);
  ASSERT_EQ(r.code, kExitOk) << r.err;
  const std::string pem = options.certs_dir + "/principals/host-web-17.pem";
  EXPECT_EQ(ModeOf(pem), 0644);
  EXPECT_EQ(ModeOf(options.certs_dir + "/principals/host-web-17.key"), 0600);
  FILE* f = fopen(pem.c_str(), "r");
  ASSERT_NE(f, nullptr);
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  fclose(f);
  ASSERT_NE(cert, nullptr);
  absl::StatusOr<identity::Principal> p = tls::CertificatePrincipal(cert);
  X509_free(cert);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->Uri(), "kess://host/web-17");
  // A client certificate only: it cannot serve.
  tls::TlsOptions server;
  server.cert_file = pem;
  server.key_file = options.certs_dir + "/principals/host-web-17.key";
  server.ca_file = options.certs_dir + "/ca.pem";
  server.reload_interval = absl::ZeroDuration();
  EXPECT_TRUE(tls::TlsContext::Create(tls::TlsSide::kClient, server).ok());

  // Again: refused without --force; a mandator needs its DC.
  EXPECT_EQ(RunCommand({"certs", "issue"}, options).code, kExitConflict);
  options.principal_kind = "mandator";
  options.principal_name = "m1";
  EXPECT_EQ(RunCommand({"certs", "issue"}, options).code, kExitInvalid);
  options.principal_dc = "dc1";
  EXPECT_EQ(RunCommand({"certs", "issue"}, options).code, kExitOk);
  EXPECT_EQ(ModeOf(options.certs_dir + "/principals/mandator-dc1-m1.pem"),
            0644);
  options.principal_name = "";
  EXPECT_EQ(RunCommand({"certs", "issue"}, options).code, kExitUsage);
}

}  // namespace
}  // namespace kessctl
}  // namespace kess
