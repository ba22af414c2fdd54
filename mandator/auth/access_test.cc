#include "mandator/auth/access.h"

#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "mandator/auth/secrets.h"
#include "mandator/auth/write_guard.h"

namespace kess {
namespace mandator {
namespace auth {
namespace {

Principal Of(Role role, std::vector<std::string> namespaces = {}) {
  Principal p;
  p.kind = PrincipalKind::kToken;
  p.name = "token:t";
  p.role = role;
  p.namespaces = std::move(namespaces);
  return p;
}

absl::Status Check(const Principal& p, const std::string& method,
                   const std::string& path) {
  return CheckAccess(p, RequiredAccess(method, path));
}

TEST(RouteTableTest, EveryKnownRouteHasItsRight) {
  struct Case {
    const char* method;
    const char* path;
    Right right;
  };
  const Case cases[] = {
      {"GET", "/healthz", Right::kOpen},
      {"GET", "/metrics", Right::kOpen},
      {"GET", "/api/v1/status", Right::kOpen},
      {"GET", "/ui/", Right::kOpen},
      {"GET", "/ui/app.js", Right::kOpen},
      {"GET", "/ui/session", Right::kAuthenticated},
      {"POST", "/ui/login", Right::kOpen},
      {"POST", "/ui/logout", Right::kAuthenticated},
      {"GET", "/api/v1/auth/whoami", Right::kAuthenticated},
      {"GET", "/api/v1/auth/tokens", Right::kAdmin},
      {"POST", "/api/v1/auth/tokens", Right::kAdmin},
      {"DELETE", "/api/v1/auth/users/bob", Right::kAdmin},
      {"GET", "/api/v1/identities", Right::kAdmin},
      {"PUT", "/api/v1/acls/namespaces/x", Right::kAdmin},
      {"GET", "/api/v1/admin/snapshot", Right::kAdmin},
      {"POST", "/api/v1/admin/restore", Right::kAdmin},
      {"GET", "/api/v1/audit", Right::kRead},
      {"GET", "/api/v1/configs/payments/db", Right::kRead},
      {"HEAD", "/api/v1/configs", Right::kRead},
      {"PUT", "/api/v1/configs/payments/db", Right::kWriteNamespace},
      {"DELETE", "/api/v1/configs/payments/db", Right::kWriteNamespace},
      {"POST", "/api/v1/configs/payments/db/gray/promote",
       Right::kWriteNamespace},
      {"PUT", "/api/v1/services/s/instances/i/override", Right::kAdmin},
      {"GET", "/api/v1/services", Right::kRead},
      {"GET", "/api/v1/something/new", Right::kRead},
      {"POST", "/api/v1/something/new", Right::kAdmin},
      {"PATCH", "/api/v1/configs/payments/db", Right::kAdmin},
      {"POST", "/ui/anything", Right::kAdmin},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(RequiredAccess(c.method, c.path).right, c.right)
        << c.method << " " << c.path;
  }
  EXPECT_EQ(RequiredAccess("PUT", "/api/v1/configs/payments/db").ns,
            "payments");
  EXPECT_EQ(RequiredAccess("POST", "/api/v1/configs/team-a/k/rollback").ns,
            "team-a");
}

TEST(AccessTest, ViewerReadsOnly) {
  const Principal viewer = Of(Role::kViewer);
  EXPECT_TRUE(Check(viewer, "GET", "/api/v1/configs/a/b").ok());
  EXPECT_TRUE(Check(viewer, "GET", "/api/v1/audit").ok());
  absl::Status put = Check(viewer, "PUT", "/api/v1/configs/a/b");
  EXPECT_EQ(put.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StrContains(put.message(), "viewer")) << put;
  EXPECT_FALSE(Check(viewer, "GET", "/api/v1/auth/tokens").ok());
  EXPECT_FALSE(Check(viewer, "GET", "/api/v1/admin/snapshot").ok());
}

TEST(AccessTest, PublisherWritesOnlyItsNamespaces) {
  const Principal pub = Of(Role::kPublisher, {"payments", "team-*"});
  EXPECT_TRUE(Check(pub, "PUT", "/api/v1/configs/payments/db").ok());
  EXPECT_TRUE(Check(pub, "POST", "/api/v1/configs/team-x/k/gray").ok());
  absl::Status other = Check(pub, "PUT", "/api/v1/configs/billing/db");
  EXPECT_EQ(other.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StrContains(other.message(), "\"billing\"")) << other;
  EXPECT_TRUE(absl::StrContains(other.message(), "payments, team-*"));
  // A prefix is not a match; the pattern covers the whole name.
  EXPECT_FALSE(Check(pub, "PUT", "/api/v1/configs/payments2/db").ok());
  EXPECT_FALSE(Check(pub, "PUT", "/api/v1/services/s/instances/i/override")
                   .ok());
  EXPECT_FALSE(Check(pub, "POST", "/api/v1/auth/tokens").ok());
  EXPECT_FALSE(Check(pub, "POST", "/api/v1/admin/restore").ok());
}

TEST(AccessTest, AdminAndAnonymousDoEverythingPeerOnlyReads) {
  EXPECT_TRUE(Check(Of(Role::kAdmin), "POST", "/api/v1/auth/tokens").ok());
  Principal anon;
  EXPECT_TRUE(Check(anon, "DELETE", "/api/v1/configs/a/b").ok());
  Principal peer;
  peer.kind = PrincipalKind::kPeer;
  peer.name = "mandator:m2";
  peer.role = Role::kAdmin;  // ignored: a peer never writes by itself
  EXPECT_TRUE(Check(peer, "GET", "/api/v1/hosts").ok());
  EXPECT_FALSE(Check(peer, "PUT", "/api/v1/configs/a/b").ok());
  EXPECT_FALSE(Check(peer, "GET", "/api/v1/auth/tokens").ok());
}

TEST(GlobTest, Patterns) {
  EXPECT_TRUE(GlobMatch("*", "anything"));
  EXPECT_TRUE(GlobMatch("a*", "a"));
  EXPECT_TRUE(GlobMatch("a*c", "abbbc"));
  EXPECT_TRUE(GlobMatch("a?c", "abc"));
  EXPECT_FALSE(GlobMatch("a?c", "ac"));
  EXPECT_FALSE(GlobMatch("abc", "abcd"));
  EXPECT_TRUE(GlobMatch("*-prod", "pay-prod"));
  EXPECT_FALSE(GlobMatch("*-prod", "pay-prod2"));
  // A hostile pattern stays fast (no exponential backtracking).
  EXPECT_FALSE(GlobMatch("*a*a*a*a*a*a*a*a*a*b", std::string(120, 'a')));
}

TEST(AccessTest, NamespacePatternsAreValidated) {
  EXPECT_TRUE(ValidateNamespacePatterns({"payments", "team-*", "?x"}).ok());
  EXPECT_FALSE(ValidateNamespacePatterns({""}).ok());
  EXPECT_FALSE(ValidateNamespacePatterns({"a/b"}).ok());
  EXPECT_FALSE(ValidateNamespacePatterns({"a b"}).ok());
  EXPECT_FALSE(ValidateNamespacePatterns({std::string(129, 'a')}).ok());
  EXPECT_FALSE(
      ValidateNamespacePatterns(std::vector<std::string>(65, "a")).ok());
  EXPECT_FALSE(ParseRole("root").ok());
  EXPECT_EQ(*ParseRole("publisher"), Role::kPublisher);
}

TEST(SecretsTest, PasswordsAreSaltedPbkdf2) {
  const std::string a = HashPassword("correct-horse-battery", 1000);
  const std::string b = HashPassword("correct-horse-battery", 1000);
  EXPECT_NE(a, b);  // salted
  EXPECT_TRUE(absl::StartsWith(a, "pbkdf2-sha256$1000$"));
  EXPECT_FALSE(absl::StrContains(a, "correct-horse"));
  EXPECT_TRUE(VerifyPassword("correct-horse-battery", a));
  EXPECT_FALSE(VerifyPassword("correct-horse-batterY", a));
  EXPECT_FALSE(VerifyPassword("", a));
  EXPECT_FALSE(VerifyPassword(std::string(1 << 20, 'x'), a));
  for (const char* bad :
       {"", "pbkdf2-sha256", "pbkdf2-sha256$x$00$00", "md5$1$2$3",
        "pbkdf2-sha256$999999999999$00000000000000000000000000000000$00"}) {
    EXPECT_FALSE(VerifyPassword("correct-horse-battery", bad)) << bad;
  }
}

TEST(SecretsTest, TokensParseOnlyInTheirOwnForm) {
  const NewToken t = MakeToken();
  EXPECT_EQ(t.bearer.size(), 3u + 16 + 1 + 64);
  absl::StatusOr<ParsedToken> parsed = ParseToken(t.bearer);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->id, t.id);
  EXPECT_EQ(parsed->secret, t.secret);
  const std::string stored = HashTokenSecret(t.secret);
  EXPECT_FALSE(absl::StrContains(stored, t.secret));
  EXPECT_TRUE(VerifyTokenSecret(t.secret, stored));
  EXPECT_FALSE(VerifyTokenSecret(MakeToken().secret, stored));
  std::string upper = t.bearer;
  upper[5] = 'G';
  for (const std::string& bad :
       {std::string(), std::string("kt_"), t.bearer + "0", t.bearer.substr(1),
        upper, std::string(1 << 16, 'k'), std::string("kt_\0\0", 5),
        "kt_" + std::string(16, 'a') + "-" + std::string(64, 'b')}) {
    EXPECT_FALSE(ParseToken(bad).ok()) << bad.substr(0, 40);
  }
  EXPECT_NE(MakeToken().id, MakeToken().id);
}

TEST(SecretsTest, PeerSecretIsDerivedNotTheKey) {
  const std::string peer = DerivePeerSecret("zk-mandator-password");
  EXPECT_TRUE(absl::StartsWith(peer, "kp_"));
  EXPECT_EQ(peer.size(), 3u + 64);
  EXPECT_EQ(peer, DerivePeerSecret("zk-mandator-password"));
  EXPECT_NE(peer, DerivePeerSecret("zk-mandator-passwore"));
  EXPECT_FALSE(absl::StrContains(peer, "zk-mandator"));
  EXPECT_TRUE(SecretEquals("abc", "abc"));
  EXPECT_FALSE(SecretEquals("abc", "abcd"));
  EXPECT_FALSE(ValidatePassword("short").ok());
  EXPECT_FALSE(ValidatePassword("has a space 123").ok());
  EXPECT_TRUE(ValidatePassword("long-enough-pw").ok());
}

HttpRequest Write(const std::string& method) {
  HttpRequest r;
  r.method = method;
  r.path = "/api/v1/configs/ns/k/gray";
  r.headers["host"] = "127.0.0.1:7101";
  return r;
}

TEST(WriteGuardTest, CrossSiteFormsAndForeignOriginsAreRefused) {
  HttpRequest form = Write("POST");
  form.headers["content-type"] = "text/plain";
  form.headers["content-length"] = "20";
  EXPECT_EQ(CheckWriteRequest(form).code(),
            absl::StatusCode::kPermissionDenied);
  form.headers["content-type"] = "application/x-www-form-urlencoded";
  EXPECT_FALSE(CheckWriteRequest(form).ok());
  // A stated non-JSON type with an empty body (a form without fields).
  HttpRequest empty_form = Write("POST");
  empty_form.headers["content-type"] = "multipart/form-data; boundary=x";
  EXPECT_FALSE(CheckWriteRequest(empty_form).ok());
  HttpRequest json = Write("POST");
  json.headers["content-type"] = "Application/JSON; charset=utf-8";
  json.headers["content-length"] = "2";
  EXPECT_TRUE(CheckWriteRequest(json).ok());
  json.headers["origin"] = "http://evil.example";
  EXPECT_FALSE(CheckWriteRequest(json).ok());
  json.headers["origin"] = "http://127.0.0.1:7101";
  EXPECT_TRUE(CheckWriteRequest(json).ok());
  // A body without a type (chunked) is refused too.
  HttpRequest chunked = Write("PUT");
  chunked.headers["transfer-encoding"] = "chunked";
  EXPECT_FALSE(CheckWriteRequest(chunked).ok());
  // kessctl's DELETE: no body, no type, no Origin.
  EXPECT_TRUE(CheckWriteRequest(Write("DELETE")).ok());
  // Reads are never refused here.
  HttpRequest get = Write("GET");
  get.headers["origin"] = "http://evil.example";
  EXPECT_TRUE(CheckWriteRequest(get).ok());
}

}  // namespace
}  // namespace auth
}  // namespace mandator
}  // namespace kess
