// TlsFromFlags: which flag combinations a daemon refuses at start.
#include "common/tls/tls_flags.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "gflags/gflags.h"
#include "common/tls/testing/test_certs.h"
#include "gtest/gtest.h"

DECLARE_string(tls_cert);
DECLARE_string(tls_key);
DECLARE_string(tls_ca);
DECLARE_bool(tls_client_auth);
DECLARE_bool(insecure_plaintext);

namespace kess {
namespace tls {
namespace {

class TlsFlagsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<testing::TestCerts> certs = testing::TestCerts::Create();
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = std::make_unique<testing::TestCerts>(*std::move(certs));
  }

  gflags::FlagSaver saver_;  // every test starts from the defaults
  std::unique_ptr<testing::TestCerts> certs_;
};

TEST_F(TlsFlagsTest, MutualTlsClientNeedsACertificate) {
  FLAGS_tls_ca = certs_->ca();
  FLAGS_tls_client_auth = true;
  // An agent (client only) without --tls_cert/--tls_key: refused, naming
  // the flags.
  absl::StatusOr<TransportTls> tls =
      TlsFromFlags("agent", /*server=*/false, /*client=*/true);
  ASSERT_TRUE(absl::IsFailedPrecondition(tls.status())) << tls.status();
  EXPECT_NE(tls.status().message().find("--tls_cert and --tls_key"),
            std::string::npos)
      << tls.status();
  // A certificate without its key: refused too.
  FLAGS_tls_cert = certs_->cert("agent");
  tls = TlsFromFlags("agent", /*server=*/false, /*client=*/true);
  EXPECT_TRUE(absl::IsFailedPrecondition(tls.status())) << tls.status();
  // Both: a client context that presents it.
  FLAGS_tls_key = certs_->key("agent");
  tls = TlsFromFlags("agent", /*server=*/false, /*client=*/true);
  ASSERT_TRUE(tls.ok()) << tls.status();
  EXPECT_NE(tls->client, nullptr);
  EXPECT_EQ(tls->server, nullptr);
}

TEST_F(TlsFlagsTest, ClientWithoutMutualTlsNeedsOnlyTheCa) {
  FLAGS_tls_ca = certs_->ca();
  absl::StatusOr<TransportTls> tls =
      TlsFromFlags("agent", /*server=*/false, /*client=*/true);
  ASSERT_TRUE(tls.ok()) << tls.status();
  EXPECT_NE(tls->client, nullptr);
}

TEST_F(TlsFlagsTest, ServerNeedsACertificate) {
  FLAGS_tls_ca = certs_->ca();
  absl::StatusOr<TransportTls> tls =
      TlsFromFlags("distributor", /*server=*/true, /*client=*/false);
  EXPECT_TRUE(absl::IsFailedPrecondition(tls.status())) << tls.status();
  FLAGS_tls_cert = certs_->cert("distributor");
  FLAGS_tls_key = certs_->key("distributor");
  FLAGS_tls_client_auth = true;
  tls = TlsFromFlags("mandator", /*server=*/true, /*client=*/true);
  ASSERT_TRUE(tls.ok()) << tls.status();
  EXPECT_NE(tls->server, nullptr);
  EXPECT_NE(tls->client, nullptr);
}

TEST_F(TlsFlagsTest, PlaintextContradictsTlsFlags) {
  FLAGS_insecure_plaintext = true;
  absl::StatusOr<TransportTls> tls =
      TlsFromFlags("agent", /*server=*/false, /*client=*/true);
  ASSERT_TRUE(tls.ok()) << tls.status();
  EXPECT_FALSE(tls->enabled());
  FLAGS_tls_client_auth = true;
  tls = TlsFromFlags("agent", /*server=*/false, /*client=*/true);
  EXPECT_TRUE(absl::IsInvalidArgument(tls.status())) << tls.status();
}

}  // namespace
}  // namespace tls
}  // namespace kess
