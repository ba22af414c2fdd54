#include "common/tls/tls_context.h"

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/metrics.h"
#include "common/testing/wait_for.h"
#include "common/tls/cert_gen.h"
#include "gtest/gtest.h"

namespace kess {
namespace tls {
namespace {

std::string TempDir() {
  std::string pattern =
      absl::StrCat(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp",
                   "/tls_XXXXXX");
  char* dir = mkdtemp(pattern.data());
  EXPECT_NE(dir, nullptr);
  return pattern;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

// The subjectAltName of a PEM certificate, as OpenSSL prints it.
std::string SansOf(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (cert == nullptr) return "";
  std::string out;
  GENERAL_NAMES* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type == GEN_DNS) {
      absl::StrAppend(&out, "DNS:",
                      reinterpret_cast<const char*>(
                          ASN1_STRING_get0_data(name->d.dNSName)),
                      " ");
    } else if (name->type == GEN_IPADD) {
      absl::StrAppend(&out, "IP/", ASN1_STRING_length(name->d.iPAddress), " ");
    }
  }
  GENERAL_NAMES_free(names);
  X509_free(cert);
  return out;
}

// The extendedKeyUsage bits (XKU_*) of a PEM certificate.
uint32_t ExtendedKeyUsageOf(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (cert == nullptr) return 0;
  const uint32_t xku = X509_get_extended_key_usage(cert);
  X509_free(cert);
  return xku;
}

class TlsContextTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempDir();
    ClusterCertOptions options;
    options.dir = dir_;
    options.cluster = "test";
    options.hosts = {"node-a.example", "127.0.0.2"};
    absl::StatusOr<std::vector<std::string>> written =
        WriteClusterCerts(options);
    ASSERT_TRUE(written.ok()) << written.status();
  }

  TlsOptions ServerOptions() {
    TlsOptions options;
    options.cert_file = dir_ + "/distributor.pem";
    options.key_file = dir_ + "/distributor.key";
    options.ca_file = dir_ + "/ca.pem";
    options.reload_interval = absl::ZeroDuration();
    options.registry = &registry_;
    return options;
  }

  double Reloads(const char* result) {
    return registry_
        .GetCounter("kess_tls_reloads_total", "",
                    {{"side", "server"}, {"result", result}})
        ->Value();
  }

  std::string dir_;
  metrics::Registry registry_;
};

TEST_F(TlsContextTest, WritesEveryFileKeysPrivate) {
  for (const char* role : kRoles) {
    struct stat st;
    ASSERT_EQ(stat(absl::StrCat(dir_, "/", role, ".key").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600) << role;
    ASSERT_EQ(stat(absl::StrCat(dir_, "/", role, ".pem").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0644) << role;
  }
  struct stat st;
  ASSERT_EQ(stat((dir_ + "/ca.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  ASSERT_EQ(stat((dir_ + "/hosts/node-a.example.key").c_str(), &st), 0);
  ASSERT_EQ(stat((dir_ + "/hosts/127.0.0.2.pem").c_str(), &st), 0);

  const std::string sans = SansOf(ReadFile(dir_ + "/distributor.pem"));
  EXPECT_NE(sans.find("DNS:localhost"), std::string::npos) << sans;
  EXPECT_NE(sans.find("DNS:node-a.example"), std::string::npos) << sans;
  EXPECT_NE(sans.find("IP/4"), std::string::npos) << sans;   // 127.0.0.1
  EXPECT_NE(sans.find("IP/16"), std::string::npos) << sans;  // ::1
  EXPECT_EQ(ExtendedKeyUsageOf(ReadFile(dir_ + "/distributor.pem")),
            XKU_SSL_SERVER | XKU_SSL_CLIENT);
  EXPECT_EQ(ExtendedKeyUsageOf(ReadFile(dir_ + "/mandator.pem")),
            XKU_SSL_SERVER | XKU_SSL_CLIENT);
  // The certificates whose keys are everywhere name no host and cannot
  // serve.
  for (const char* role : {"agent", "client"}) {
    const std::string pem = ReadFile(absl::StrCat(dir_, "/", role, ".pem"));
    EXPECT_EQ(SansOf(pem), "") << role;
    EXPECT_EQ(ExtendedKeyUsageOf(pem), XKU_SSL_CLIENT) << role;
  }
  const std::string host_sans =
      SansOf(ReadFile(dir_ + "/hosts/node-a.example.pem"));
  EXPECT_NE(host_sans.find("DNS:node-a.example"), std::string::npos);
}

TEST_F(TlsContextTest, RefusesToOverwriteWithoutForce) {
  const std::string before = ReadFile(dir_ + "/ca.pem");
  ClusterCertOptions options;
  options.dir = dir_;
  options.cluster = "test";
  absl::StatusOr<std::vector<std::string>> again = WriteClusterCerts(options);
  EXPECT_TRUE(absl::IsAlreadyExists(again.status())) << again.status();
  EXPECT_EQ(ReadFile(dir_ + "/ca.pem"), before);
  options.force = true;
  ASSERT_TRUE(WriteClusterCerts(options).ok());
  EXPECT_NE(ReadFile(dir_ + "/ca.pem"), before);
}

TEST_F(TlsContextTest, RejectsBadArguments) {
  ClusterCertOptions options;
  options.dir = dir_ + "/other";
  options.cluster = "";
  EXPECT_FALSE(WriteClusterCerts(options).ok());
  options.cluster = "c";
  options.hosts = {"a/b"};
  EXPECT_FALSE(WriteClusterCerts(options).ok());
}

TEST_F(TlsContextTest, CreateChecksFiles) {
  EXPECT_TRUE(TlsContext::Create(TlsSide::kServer, ServerOptions()).ok());

  TlsOptions missing = ServerOptions();
  missing.cert_file = dir_ + "/nope.pem";
  EXPECT_FALSE(TlsContext::Create(TlsSide::kServer, missing).ok());

  TlsOptions mismatched = ServerOptions();
  mismatched.key_file = dir_ + "/agent.key";
  absl::StatusOr<std::shared_ptr<TlsContext>> bad =
      TlsContext::Create(TlsSide::kServer, mismatched);
  ASSERT_FALSE(bad.ok());

  // A CA bundle is needed to verify peers: by clients always, by servers
  // that require client certificates. A server that asks for none (an
  // agent's HTTPS API with a certificate of another CA) may go without.
  TlsOptions no_ca = ServerOptions();
  no_ca.ca_file = "";
  EXPECT_TRUE(TlsContext::Create(TlsSide::kServer, no_ca).ok());
  no_ca.require_client_cert = true;
  EXPECT_FALSE(TlsContext::Create(TlsSide::kServer, no_ca).ok());
  no_ca.require_client_cert = false;
  EXPECT_FALSE(TlsContext::Create(TlsSide::kClient, no_ca).ok());

  TlsOptions no_cert = ServerOptions();
  no_cert.cert_file = no_cert.key_file = "";
  EXPECT_FALSE(TlsContext::Create(TlsSide::kServer, no_cert).ok());
  // A client needs only the CA bundle.
  EXPECT_TRUE(TlsContext::Create(TlsSide::kClient, no_cert).ok());
}

TEST_F(TlsContextTest, ReloadsChangedFilesAndKeepsOldOnError) {
  absl::StatusOr<std::shared_ptr<TlsContext>> context =
      TlsContext::Create(TlsSide::kServer, ServerOptions());
  ASSERT_TRUE(context.ok());
  EXPECT_EQ((*context)->generation(), 1u);
  EXPECT_TRUE((*context)->ReloadIfChanged().ok());
  EXPECT_EQ((*context)->generation(), 1u);  // nothing changed

  // New certificates (written by rename: a new inode).
  ClusterCertOptions options;
  options.dir = dir_;
  options.cluster = "test";
  options.force = true;
  ASSERT_TRUE(WriteClusterCerts(options).ok());
  EXPECT_TRUE((*context)->ReloadIfChanged().ok());
  EXPECT_EQ((*context)->generation(), 2u);
  EXPECT_EQ(Reloads("ok"), 1);

  // A broken key: the old context stays, the error is counted once.
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/distributor.key", "garbage", 0600)
                  .ok());
  EXPECT_FALSE((*context)->ReloadIfChanged().ok());
  EXPECT_TRUE((*context)->ReloadIfChanged().ok());  // same broken file
  EXPECT_EQ((*context)->generation(), 2u);
  EXPECT_EQ(Reloads("error"), 1);
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  SSL* ssl = (*context)->NewSsl(fds[0], "");
  EXPECT_NE(ssl, nullptr);
  SSL_free(ssl);
  close(fds[0]);
  close(fds[1]);
}

TEST_F(TlsContextTest, ExportsTheCertificateExpiryAndUpdatesItOnReload) {
  auto not_after = [&] {
    return registry_
        .GetGauge("kess_tls_cert_not_after_seconds", "",
                  {{"side", "server"}, {"file", dir_ + "/distributor.pem"}})
        ->Value();
  };
  absl::StatusOr<std::shared_ptr<TlsContext>> context =
      TlsContext::Create(TlsSide::kServer, ServerOptions());
  ASSERT_TRUE(context.ok());
  // SetUp wrote certificates valid for 365 days from now.
  const double year = absl::ToUnixSeconds(absl::Now() + absl::Hours(24 * 365));
  EXPECT_NEAR(not_after(), year, 3600);
  EXPECT_EQ(absl::ToUnixSeconds((*context)->cert_not_after()), not_after());

  // Rotated to certificates that expire in 10 days: the gauge follows.
  ClusterCertOptions options;
  options.dir = dir_;
  options.cluster = "test";
  options.days = 10;
  options.force = true;
  ASSERT_TRUE(WriteClusterCerts(options).ok());
  ASSERT_TRUE((*context)->ReloadIfChanged().ok());
  const double ten_days =
      absl::ToUnixSeconds(absl::Now() + absl::Hours(24 * 10));
  EXPECT_NEAR(not_after(), ten_days, 3600);

  // A client without a certificate of its own exports nothing.
  TlsOptions client = ServerOptions();
  client.cert_file = client.key_file = "";
  absl::StatusOr<std::shared_ptr<TlsContext>> no_cert =
      TlsContext::Create(TlsSide::kClient, client);
  ASSERT_TRUE(no_cert.ok());
  EXPECT_EQ((*no_cert)->cert_not_after(), absl::InfinitePast());
  for (absl::string_view line :
       absl::StrSplit(registry_.RenderText(), '\n')) {
    if (absl::StartsWith(line, "kess_tls_cert_not_after_seconds{")) {
      EXPECT_TRUE(absl::StrContains(line, "side=\"server\"")) << line;
    }
  }
}

TEST_F(TlsContextTest, ReloadThreadPicksUpChanges) {
  TlsOptions server = ServerOptions();
  server.reload_interval = absl::Milliseconds(20);
  absl::StatusOr<std::shared_ptr<TlsContext>> context =
      TlsContext::Create(TlsSide::kServer, server);
  ASSERT_TRUE(context.ok());
  ClusterCertOptions options;
  options.dir = dir_;
  options.cluster = "test";
  options.force = true;
  ASSERT_TRUE(WriteClusterCerts(options).ok());
  EXPECT_TRUE(kess::testing::WaitFor(
      [&] { return (*context)->generation() >= 2; }, absl::Seconds(10)));
}

TEST_F(TlsContextTest, ClientRefusesAnEmptyServerName) {
  TlsOptions options = ServerOptions();
  options.cert_file = options.key_file = "";
  absl::StatusOr<std::shared_ptr<TlsContext>> client =
      TlsContext::Create(TlsSide::kClient, options);
  ASSERT_TRUE(client.ok());
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  EXPECT_EQ((*client)->NewSsl(fds[0], ""), nullptr);
  SSL* ssl = (*client)->NewSsl(fds[0], "127.0.0.1", "127.0.0.1:7");
  EXPECT_NE(ssl, nullptr);
  SSL_free(ssl);
  close(fds[0]);
  close(fds[1]);
}

TEST(IsIpLiteralTest, Literals) {
  EXPECT_TRUE(IsIpLiteral("127.0.0.1"));
  EXPECT_TRUE(IsIpLiteral("::1"));
  EXPECT_FALSE(IsIpLiteral("localhost"));
  EXPECT_FALSE(IsIpLiteral("1.2.3"));
}

}  // namespace
}  // namespace tls
}  // namespace kess
