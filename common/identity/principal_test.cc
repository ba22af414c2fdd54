#include "common/identity/principal.h"

#include "gtest/gtest.h"

namespace kess {
namespace identity {
namespace {

TEST(PrincipalTest, UriRoundTripsForEveryKind) {
  struct Case {
    Kind kind;
    const char* name;
    const char* dc;
    const char* uri;
  } cases[] = {
      {Kind::kHost, "web-17", "", "kess://host/web-17"},
      {Kind::kService, "shop.cart", "", "kess://service/shop.cart"},
      {Kind::kMandator, "m1", "dc1", "kess://mandator/dc1/m1"},
      {Kind::kDistributor, "d_2", "dc2", "kess://distributor/dc2/d_2"},
      {Kind::kOperator, "alice", "", "kess://operator/alice"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(PrincipalUri(c.kind, c.name, c.dc), c.uri);
    absl::StatusOr<Principal> p = ParsePrincipalUri(c.uri);
    ASSERT_TRUE(p.ok()) << c.uri << ": " << p.status();
    EXPECT_EQ(p->kind, c.kind);
    EXPECT_EQ(p->name, c.name);
    EXPECT_EQ(p->dc, c.dc);
    EXPECT_EQ(p->proof, Proof::kCertificate);
    EXPECT_EQ(p->Uri(), c.uri);
  }
}

TEST(PrincipalTest, RefusesMalformedUris) {
  for (const char* uri :
       {"", "https://host/web-17", "kess://", "kess://host", "kess://host/",
        "kess://host/a/b", "kess://anonymous/x", "kess://robot/x",
        "kess://mandator/m1", "kess://mandator/dc1/m1/extra",
        "kess://host/.hidden", "kess://host/sp ace", "kess://host/a%2Fb",
        "KESS://host/x"}) {
    EXPECT_FALSE(ParsePrincipalUri(uri).ok()) << uri;
  }
  EXPECT_FALSE(ParsePrincipalUri("kess://host/" + std::string(129, 'a')).ok());
  EXPECT_TRUE(ParsePrincipalUri("kess://host/" + std::string(128, 'a')).ok());
}

TEST(PrincipalTest, NamesAndDatacenters) {
  EXPECT_TRUE(ValidatePrincipalName(Kind::kHost, "web-17", "").ok());
  EXPECT_FALSE(ValidatePrincipalName(Kind::kHost, "web-17", "dc1").ok());
  EXPECT_FALSE(ValidatePrincipalName(Kind::kMandator, "m1", "").ok());
  EXPECT_FALSE(ValidatePrincipalName(Kind::kAnonymous, "x", "").ok());
  EXPECT_FALSE(ParseKind("anonymous").ok());
  EXPECT_EQ(*ParseKind("distributor"), Kind::kDistributor);
}

TEST(PrincipalTest, AnonymousAndEquality) {
  EXPECT_TRUE(Anonymous()->anonymous());
  EXPECT_EQ(Anonymous()->DebugString(), "anonymous");
  EXPECT_EQ(Anonymous()->Uri(), "");
  EXPECT_EQ(Anonymous().get(), Anonymous().get());
  Principal a = *ParsePrincipalUri("kess://mandator/dc1/m1");
  EXPECT_EQ(a.DebugString(), "mandator dc1/m1 (certificate)");
  Principal b = *ParsePrincipalUri("kess://mandator/dc1/m1",
                                   Proof::kCredential);
  EXPECT_EQ(a, b);  // the same principal, however proven
  EXPECT_NE(a, *ParsePrincipalUri("kess://mandator/dc2/m1"));
}

}  // namespace
}  // namespace identity
}  // namespace kess
