#include "common/identity/credential.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace kess {
namespace identity {
namespace {

TEST(CredentialTest, IssuedSecretVerifiesAndOthersDoNot) {
  absl::StatusOr<IssuedCredential> issued =
      IssueCredential(Kind::kHost, "web-17", "");
  ASSERT_TRUE(issued.ok()) << issued.status();
  EXPECT_TRUE(absl::StartsWith(issued->secret, "kess1."));
  EXPECT_EQ(issued->secret.size(), 6u + 64u);
  EXPECT_TRUE(VerifySecret(issued->record, issued->secret));
  std::string wrong = issued->secret;
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  EXPECT_FALSE(VerifySecret(issued->record, wrong));
  EXPECT_FALSE(VerifySecret(issued->record, ""));
  // The record never holds the secret.
  EXPECT_EQ(issued->record.ToJson().find(issued->secret.substr(6)),
            std::string::npos);
}

TEST(CredentialTest, EveryIssueIsFresh) {
  IssuedCredential a = *IssueCredential(Kind::kService, "shop", "");
  IssuedCredential b = *IssueCredential(Kind::kService, "shop", "");
  EXPECT_NE(a.secret, b.secret);
  EXPECT_NE(a.record.id, b.record.id);
  EXPECT_NE(a.record.salt_hex, b.record.salt_hex);
  EXPECT_FALSE(VerifySecret(a.record, b.secret));
}

TEST(CredentialTest, RecordJsonRoundTrips) {
  IssuedCredential issued = *IssueCredential(Kind::kMandator, "m1", "dc1");
  absl::StatusOr<CredentialRecord> back =
      CredentialRecord::FromJson(issued.record.ToJson());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->kind, Kind::kMandator);
  EXPECT_EQ(back->name, "m1");
  EXPECT_EQ(back->dc, "dc1");
  EXPECT_EQ(back->id, issued.record.id);
  EXPECT_TRUE(VerifySecret(*back, issued.secret));
  EXPECT_FALSE(CredentialRecord::FromJson("{}").ok());
  EXPECT_FALSE(CredentialRecord::FromJson("not json").ok());
  EXPECT_FALSE(IssueCredential(Kind::kMandator, "m1", "").ok());
  EXPECT_FALSE(IssueCredential(Kind::kHost, "bad/name", "").ok());
}

TEST(CredentialTest, CredentialFileRoundTrips) {
  IssuedCredential issued = *IssueCredential(Kind::kHost, "web-17", "");
  CredentialFile file{Kind::kHost, "web-17", "", issued.secret};
  absl::StatusOr<CredentialFile> back = ParseCredentialFile(file.ToJson());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->name, "web-17");
  EXPECT_EQ(back->secret, issued.secret);
  EXPECT_FALSE(ParseCredentialFile(
                   R"({"kind":"host","name":"web-17","secret":"nope"})")
                   .ok());
  EXPECT_FALSE(ReadCredentialFile("/nonexistent/credential.json").ok());
}

TEST(CredentialRegistryTest, AuthenticatesRevokesAndReissues) {
  CredentialRegistry registry;
  IssuedCredential first = *IssueCredential(Kind::kHost, "web-17", "");
  EXPECT_TRUE(absl::IsUnauthenticated(
      registry.Authenticate(Kind::kHost, "web-17", "", first.secret)
          .status()));
  registry.Put(first.record);
  auto principal =
      registry.Authenticate(Kind::kHost, "web-17", "", first.secret);
  ASSERT_TRUE(principal.ok()) << principal.status();
  EXPECT_EQ((*principal)->Uri(), "kess://host/web-17");
  EXPECT_EQ((*principal)->proof, Proof::kCredential);
  EXPECT_EQ((*principal)->credential_id, first.record.id);
  EXPECT_TRUE(registry.StillValid(**principal));
  // Someone else's name with this secret: refused.
  EXPECT_FALSE(
      registry.Authenticate(Kind::kHost, "web-18", "", first.secret).ok());
  EXPECT_FALSE(
      registry.Authenticate(Kind::kService, "web-17", "", first.secret).ok());

  registry.Remove(Kind::kHost, "web-17", "");
  EXPECT_FALSE(registry.StillValid(**principal));
  EXPECT_FALSE(
      registry.Authenticate(Kind::kHost, "web-17", "", first.secret).ok());

  // Re-issued: the old connection's principal stays invalid.
  IssuedCredential second = *IssueCredential(Kind::kHost, "web-17", "");
  registry.Replace({second.record});
  EXPECT_FALSE(registry.StillValid(**principal));
  EXPECT_FALSE(
      registry.Authenticate(Kind::kHost, "web-17", "", first.secret).ok());
  EXPECT_TRUE(
      registry.Authenticate(Kind::kHost, "web-17", "", second.secret).ok());
  EXPECT_EQ(registry.size(), 1u);
  // Certificate-proven principals are not the registry's business.
  EXPECT_TRUE(registry.StillValid(
      *ParsePrincipalUri("kess://host/web-17", Proof::kCertificate)));
}

}  // namespace
}  // namespace identity
}  // namespace kess
