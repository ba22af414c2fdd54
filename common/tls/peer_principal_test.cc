#include "common/tls/peer_principal.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/tls/cert_gen.h"
#include "gtest/gtest.h"

namespace kess {
namespace tls {
namespace {

X509* Parse(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return cert;
}

absl::StatusOr<identity::Principal> PrincipalOf(
    const std::vector<std::string>& uris) {
  absl::StatusOr<KeyAndCert> ca =
      MakeCa("test CA", absl::Now() - absl::Hours(1),
             absl::Now() + absl::Hours(1));
  EXPECT_TRUE(ca.ok());
  CertSpec spec;
  spec.common_name = "peer";
  spec.dns_names = {"localhost"};
  spec.uris = uris;
  absl::StatusOr<KeyAndCert> leaf = IssueCert(*ca, spec);
  EXPECT_TRUE(leaf.ok()) << leaf.status();
  X509* cert = Parse(leaf->cert_pem);
  EXPECT_NE(cert, nullptr);
  absl::StatusOr<identity::Principal> p = CertificatePrincipal(cert);
  X509_free(cert);
  return p;
}

TEST(PeerPrincipalTest, ReadsTheKessUriSan) {
  absl::StatusOr<identity::Principal> p = PrincipalOf({"kess://host/web-17"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->kind, identity::Kind::kHost);
  EXPECT_EQ(p->name, "web-17");
  EXPECT_EQ(p->proof, identity::Proof::kCertificate);

  p = PrincipalOf({"https://example.test/x", "kess://mandator/dc1/m2"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->Uri(), "kess://mandator/dc1/m2");
}

TEST(PeerPrincipalTest, NoOrBadUriIsNotFoundOrInvalid) {
  EXPECT_TRUE(absl::IsNotFound(PrincipalOf({}).status()));
  EXPECT_TRUE(absl::IsNotFound(PrincipalOf({"https://x.test/"}).status()));
  EXPECT_FALSE(PrincipalOf({"kess://robot/x"}).ok());
  EXPECT_TRUE(PeerPrincipal(nullptr)->anonymous());
}

}  // namespace
}  // namespace tls
}  // namespace kess
