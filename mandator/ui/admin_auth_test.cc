#include "mandator/ui/admin_auth.h"

#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "common/clock.h"
#include "gtest/gtest.h"
#include "mandator/auth/auth_store.h"
#include "mandator/auth/secrets.h"
#include "zk_schema/testing/fake_zk.h"

namespace kess {
namespace mandator {
namespace ui {
namespace {

constexpr char kSecret[] = "s3cret-Admin-2026";
constexpr char kClient[] = "127.0.0.1";

std::unique_ptr<AdminAuth> Make(const Clock* clock,
                                absl::Duration ttl = absl::Hours(1)) {
  AdminAuthOptions o;
  o.secret = kSecret;
  o.session_ttl = ttl;
  o.clock = clock;
  auto auth = AdminAuth::Create(o);
  EXPECT_TRUE(auth.ok()) << auth.status();
  return std::move(auth).value();
}

HttpRequest Request(const std::string& method, const std::string& path) {
  HttpRequest r;
  r.method = method;
  r.path = path;
  r.headers["host"] = "127.0.0.1:7101";
  return r;
}

HttpRequest WithSession(HttpRequest r, const AdminSession& s) {
  r.headers["cookie"] = "other=1; kess_session=" + s.id;
  return r;
}

TEST(AdminSecretTest, EmptyShortAndDefaultSecretsAreRefused) {
  for (const char* weak : {"", "admin", "Password", "changeme", "short-1",
                           "12345678", "passwordpassword", "with space 12"}) {
    EXPECT_FALSE(ValidateAdminSecret(weak).ok()) << weak;
    AdminAuthOptions o;
    o.secret = weak;
    EXPECT_FALSE(AdminAuth::Create(o).ok()) << weak;
  }
  EXPECT_TRUE(ValidateAdminSecret(kSecret).ok());
}

TEST(AdminSecretTest, FileIsTrimmedAndValidated) {
  const std::string dir =
      getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp";
  const std::string good = dir + "/good.secret";
  std::ofstream(good) << kSecret << "\n";
  auto secret = LoadAdminSecretFile(good);
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_EQ(*secret, kSecret);
  const std::string empty = dir + "/empty.secret";
  std::ofstream(empty) << "\n";
  EXPECT_FALSE(LoadAdminSecretFile(empty).ok());
  EXPECT_FALSE(LoadAdminSecretFile(dir + "/missing.secret").ok());
}

TEST(AdminAuthTest, LoginGivesRandomSessionsAndCsrfTokens) {
  ManualClock clock;
  auto auth = Make(&clock);
  EXPECT_EQ(auth->Login("admin", "wrong", kClient).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(auth->Login("root", kSecret, kClient).status().code(),
            absl::StatusCode::kUnauthenticated);
  auto a = auth->Login("admin", kSecret, kClient);
  auto b = auth->Login("admin", kSecret, kClient);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->id.size(), 32u);  // 128 bits in hex
  EXPECT_NE(a->id, b->id);
  EXPECT_NE(a->csrf_token, a->id);
  const std::string cookie = auth->SessionCookie(*a);
  EXPECT_TRUE(absl::StrContains(cookie, "HttpOnly"));
  EXPECT_TRUE(absl::StrContains(cookie, "SameSite=Strict"));
  EXPECT_TRUE(absl::StrContains(cookie, "Max-Age=3600"));
}

TEST(AdminAuthTest, SessionsExpireAndLogoutEndsThem) {
  ManualClock clock;
  auto auth = Make(&clock, absl::Minutes(10));
  auto s = auth->Login("admin", kSecret, kClient);
  ASSERT_TRUE(s.ok());
  HttpRequest get = WithSession(Request("GET", "/api/v1/configs"), *s);
  EXPECT_FALSE(auth->Admit(get).has_value());
  clock.Advance(absl::ToInt64Milliseconds(absl::Minutes(10)) - 1);
  EXPECT_FALSE(auth->Admit(get).has_value());
  clock.Advance(1);
  auto refused = auth->Admit(get);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 401);
  EXPECT_EQ(auth->session_count(), 0u);  // dropped when seen expired

  auto t = auth->Login("admin", kSecret, kClient);
  ASSERT_TRUE(t.ok());
  auth->Logout(t->id);
  EXPECT_EQ(
      auth->Admit(WithSession(Request("GET", "/api/v1/configs"), *t))->status,
      401);
}

TEST(AdminAuthTest, GateOpenPathsBearerAndCsrf) {
  ManualClock clock;
  auto auth = Make(&clock);
  for (const char* open : {"/healthz", "/metrics", "/api/v1/status", "/ui",
                           "/ui/", "/ui/app.js"}) {
    EXPECT_FALSE(auth->Admit(Request("GET", open)).has_value()) << open;
  }
  EXPECT_FALSE(auth->Admit(Request("POST", "/ui/login")).has_value());
  EXPECT_EQ(auth->Admit(Request("GET", "/ui/session"))->status, 401);
  EXPECT_EQ(auth->Admit(Request("GET", "/api/v1/configs"))->status, 401);

  HttpRequest bearer = Request("PUT", "/api/v1/configs/a/b");
  bearer.headers["authorization"] = std::string("Bearer ") + kSecret;
  EXPECT_FALSE(auth->Admit(bearer).has_value());  // no CSRF needed
  bearer.headers["authorization"] = std::string("Bearer ") + kSecret + "x";
  EXPECT_EQ(auth->Admit(bearer)->status, 401);

  auto s = auth->Login("admin", kSecret, kClient);
  ASSERT_TRUE(s.ok());
  HttpRequest put = WithSession(Request("PUT", "/api/v1/configs/a/b"), *s);
  EXPECT_EQ(auth->Admit(put)->status, 403);  // no Origin, no token
  put.headers["origin"] = "http://127.0.0.1:7101";
  EXPECT_EQ(auth->Admit(put)->status, 403);  // no token
  put.headers["x-csrf-token"] = s->id;       // the wrong secret
  EXPECT_EQ(auth->Admit(put)->status, 403);
  put.headers["x-csrf-token"] = s->csrf_token;
  EXPECT_FALSE(auth->Admit(put).has_value());
  put.headers["origin"] = "http://evil.example";
  EXPECT_EQ(auth->Admit(put)->status, 403);
  put.headers["origin"] = "null";
  EXPECT_EQ(auth->Admit(put)->status, 403);
  put.headers.erase("origin");
  put.headers["referer"] = "http://127.0.0.1:7101/ui/";
  EXPECT_FALSE(auth->Admit(put).has_value());
  put.headers["referer"] = "http://127.0.0.1:7101.evil.example/ui/";
  EXPECT_EQ(auth->Admit(put)->status, 403);
}

std::unique_ptr<AdminAuth> MakeWithRegistry(const Clock* clock,
                                            metrics::Registry* registry) {
  AdminAuthOptions o;
  o.secret = kSecret;
  o.clock = clock;
  o.registry = registry;
  auto auth = AdminAuth::Create(o);
  EXPECT_TRUE(auth.ok()) << auth.status();
  return std::move(auth).value();
}

double Counter(metrics::Registry& r, const char* name, const char* kind) {
  return r.GetCounter(name, "", {{"kind", kind}})->Value();
}

TEST(AdminAuthTest, FailedLoginsAreThrottledPerAddress) {
  ManualClock clock;
  metrics::Registry registry;
  auto auth = MakeWithRegistry(&clock, &registry);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(auth->Login("admin", "guess", "127.0.0.9").status().code(),
              absl::StatusCode::kUnauthenticated);
  }
  // Refused without a comparison, even with the right password.
  EXPECT_EQ(auth->Login("admin", kSecret, "127.0.0.9").status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(auth->LoginRetryAfter("127.0.0.9"), absl::Seconds(1));
  // Never global: another address logs in at once.
  EXPECT_TRUE(auth->Login("admin", kSecret, "127.0.0.10").ok());
  // Successes take nothing: many in a row from one address.
  for (int i = 0; i < 20; ++i) {
    EXPECT_TRUE(auth->Login("admin", kSecret, "127.0.0.11").ok()) << i;
  }
  // One guess per second after the burst.
  clock.Advance(1000);
  EXPECT_EQ(auth->Login("admin", "guess", "127.0.0.9").status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(auth->Login("admin", "guess", "127.0.0.9").status().code(),
            absl::StatusCode::kResourceExhausted);
  clock.Advance(1000);
  EXPECT_TRUE(auth->Login("admin", kSecret, "127.0.0.9").ok());
  EXPECT_EQ(Counter(registry, "kess_http_auth_failures_total", "login"), 6);
  EXPECT_EQ(Counter(registry, "kess_http_auth_throttled_total", "login"), 2);
}

TEST(AdminAuthTest, WrongBearerTokensAreThrottledPerAddress) {
  ManualClock clock;
  metrics::Registry registry;
  auto auth = MakeWithRegistry(&clock, &registry);
  HttpRequest guess = Request("GET", "/api/v1/configs");
  guess.remote_address = "192.0.2.7:40000";
  guess.headers["authorization"] = "Bearer not-the-secret-0";
  for (int i = 0; i < 5; ++i) {
    guess.remote_address = "192.0.2.7:" + std::to_string(40000 + i);
    EXPECT_EQ(auth->Admit(guess)->status, 401) << i;
  }
  std::optional<HttpResponse> throttled = auth->Admit(guess);
  ASSERT_TRUE(throttled.has_value());
  EXPECT_EQ(throttled->status, 429);
  bool retry_after = false;
  for (const auto& [name, value] : throttled->headers) {
    if (name == "Retry-After") retry_after = value == "1";
  }
  EXPECT_TRUE(retry_after);
  // The right token from the throttled address waits too (a 200 there
  // would tell a guesser which guess was right)...
  HttpRequest right = guess;
  right.headers["authorization"] = std::string("Bearer ") + kSecret;
  EXPECT_EQ(auth->Admit(right)->status, 429);
  // ...but from any other address it is admitted at once.
  right.remote_address = "192.0.2.8:40000";
  EXPECT_FALSE(auth->Admit(right).has_value());
  // Requests without a Bearer token are not guesses.
  HttpRequest none = Request("GET", "/api/v1/configs");
  none.remote_address = "192.0.2.7:40000";
  EXPECT_EQ(auth->Admit(none)->status, 401);
  clock.Advance(1000);
  right.remote_address = "192.0.2.7:40001";
  EXPECT_FALSE(auth->Admit(right).has_value());
  EXPECT_EQ(Counter(registry, "kess_http_auth_failures_total", "bearer"), 5);
  EXPECT_EQ(Counter(registry, "kess_http_auth_throttled_total", "bearer"), 2);
}

// Roles through the gate: stored tokens and users (AuthStore over the
// in-memory ZooKeeper), the peer credential, refusals reported.
class AdminAuthRolesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(zk_.Create("/kess", "").ok());
    store_ = std::make_unique<auth::AuthStore>(&zk_, auth::AuthStore::Options());
    AdminAuthOptions o;
    o.secret = kSecret;
    o.registry = &registry_;
    o.store = store_.get();
    o.peer_secret = "kp_peer-secret-for-tests";
    o.on_refused = [this](const HttpRequest& r, const std::string& who,
                          const HttpResponse& answer) {
      refused_.push_back(who + " " + r.method + " " + r.path + " " +
                         std::to_string(answer.status));
    };
    auto made = AdminAuth::Create(o);
    ASSERT_TRUE(made.ok());
    auth_ = std::move(made).value();
    auto pub = store_->CreateToken("pub", auth::Role::kPublisher, {"pay*"}, "t");
    ASSERT_TRUE(pub.ok());
    publisher_ = pub->bearer;
  }
  static HttpRequest With(HttpRequest r, const std::string& bearer) {
    r.headers["authorization"] = "Bearer " + bearer;
    if (r.method != "GET") {
      r.headers["content-type"] = "application/json";
      r.headers["content-length"] = "2";
    }
    return r;
  }

  metrics::Registry registry_;
  zk::testing::FakeZkServer server_;
  zk::testing::FakeZkClient zk_{&server_};
  std::unique_ptr<auth::AuthStore> store_;
  std::unique_ptr<AdminAuth> auth_;
  std::string publisher_;
  std::vector<std::string> refused_;
};

TEST_F(AdminAuthRolesTest, PublisherTokenIsScopedAndRefusalsReported) {
  EXPECT_FALSE(auth_->Admit(With(Request("GET", "/api/v1/configs/x/k"),
                                 publisher_)).has_value());
  EXPECT_FALSE(auth_->Admit(With(Request("PUT", "/api/v1/configs/payments/k"),
                                 publisher_)).has_value());
  std::optional<HttpResponse> other =
      auth_->Admit(With(Request("PUT", "/api/v1/configs/billing/k"), publisher_));
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(other->status, 403);
  EXPECT_TRUE(absl::StrContains(other->body, "billing")) << other->body;
  EXPECT_EQ(auth_->Admit(With(Request("POST", "/api/v1/auth/tokens"),
                              publisher_))->status,
            403);
  // A text/plain body is refused even with a good token.
  HttpRequest plain = With(Request("PUT", "/api/v1/configs/payments/k"),
                           publisher_);
  plain.headers["content-type"] = "text/plain";
  EXPECT_EQ(auth_->Admit(plain)->status, 403);
  // A wrong token: 401 and reported without a name.
  EXPECT_EQ(auth_->Admit(With(Request("PUT", "/api/v1/configs/payments/k"),
                              auth::MakeToken().bearer))->status,
            401);
  ASSERT_EQ(refused_.size(), 4u);
  EXPECT_EQ(refused_[0], "token:pub PUT /api/v1/configs/billing/k 403");
  EXPECT_EQ(refused_[3], " PUT /api/v1/configs/payments/k 401");
  EXPECT_EQ(auth_->PrincipalOf(With(Request("GET", "/x"), publisher_))->name,
            "token:pub");
}

TEST_F(AdminAuthRolesTest, PeerCredentialActsOnlyOnBehalfOfAKnownPrincipal) {
  const std::string peer = "kp_peer-secret-for-tests";
  // Alone: it reads, never writes.
  EXPECT_FALSE(auth_->Admit(With(Request("GET", "/api/v1/status/x"), peer))
                   .has_value());
  EXPECT_EQ(auth_->Admit(With(Request("PUT", "/api/v1/configs/payments/k"),
                              peer))->status,
            403);
  // On behalf of the publisher: its role, checked again here.
  HttpRequest forwarded = With(Request("PUT", "/api/v1/configs/payments/k"), peer);
  forwarded.headers["x-kess-on-behalf-of"] = "token:pub";
  EXPECT_FALSE(auth_->Admit(forwarded).has_value());
  EXPECT_EQ(auth_->PrincipalOf(forwarded)->name, "token:pub");
  forwarded.path = "/api/v1/configs/billing/k";
  EXPECT_EQ(auth_->Admit(forwarded)->status, 403);
  // On behalf of nobody known: 401. Without the peer credential the header
  // means nothing.
  forwarded.headers["x-kess-on-behalf-of"] = "token:ghost";
  EXPECT_EQ(auth_->Admit(forwarded)->status, 401);
  HttpRequest spoof = With(Request("PUT", "/api/v1/configs/billing/k"),
                           publisher_);
  spoof.headers["x-kess-on-behalf-of"] = "admin";
  EXPECT_EQ(auth_->Admit(spoof)->status, 403);
  // The bootstrap admin's secret still works (documented as the bootstrap).
  EXPECT_FALSE(auth_->Admit(With(Request("POST", "/api/v1/auth/tokens"),
                                 kSecret)).has_value());
}

TEST_F(AdminAuthRolesTest, StoredUsersLogIn) {
  ASSERT_TRUE(store_->CreateUser("carol", auth::Role::kViewer, {},
                                 "carol-Password-1", "admin")
                  .ok());
  auto session = auth_->Login("carol", "carol-Password-1", kClient);
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_EQ(session->principal.role, auth::Role::kViewer);
  EXPECT_FALSE(auth_->Login("carol", "wrong-Password-1", kClient).ok());
  HttpRequest put = WithSession(Request("PUT", "/api/v1/configs/a/k"), *session);
  put.headers["x-csrf-token"] = session->csrf_token;
  put.headers["origin"] = "http://127.0.0.1:7101";
  EXPECT_EQ(auth_->Admit(put)->status, 403);
  EXPECT_FALSE(auth_->Admit(WithSession(Request("GET", "/api/v1/configs"),
                                        *session)).has_value());
}

// A session is only as good as its user: deleted -> the cookie is 401 on the
// next request (and the session is gone); a role lowered -> refused at once.
TEST_F(AdminAuthRolesTest, DeletedUsersSessionEndsAndLoweredRoleAppliesAtOnce) {
  ASSERT_TRUE(store_->CreateUser("dave", auth::Role::kAdmin, {},
                                 "dave-Password-1", "admin")
                  .ok());
  ASSERT_TRUE(store_->CreateUser("erin", auth::Role::kAdmin, {},
                                 "erin-Password-1", "admin")
                  .ok());
  auto dave = auth_->Login("dave", "dave-Password-1", kClient);
  auto erin = auth_->Login("erin", "erin-Password-1", kClient);
  ASSERT_TRUE(dave.ok() && erin.ok());
  auto write = [](const AdminSession& s, const std::string& path) {
    HttpRequest r = WithSession(Request("POST", path), s);
    r.headers["x-csrf-token"] = s.csrf_token;
    r.headers["origin"] = "http://127.0.0.1:7101";
    r.headers["content-type"] = "application/json";
    r.headers["content-length"] = "2";
    return r;
  };
  EXPECT_FALSE(auth_->Admit(write(*dave, "/api/v1/auth/tokens")).has_value());
  EXPECT_FALSE(auth_->Admit(write(*erin, "/api/v1/auth/tokens")).has_value());
  EXPECT_EQ(auth_->session_count(), 2u);

  ASSERT_TRUE(store_->DeleteUser("dave").ok());
  ASSERT_TRUE(store_->Refresh().ok());
  EXPECT_EQ(auth_->Admit(write(*dave, "/api/v1/auth/tokens"))->status, 401);
  EXPECT_EQ(auth_->Admit(WithSession(Request("GET", "/api/v1/configs"), *dave))
                ->status,
            401);
  EXPECT_FALSE(auth_->PrincipalOf(WithSession(Request("GET", "/x"), *dave))
                   .has_value());
  EXPECT_FALSE(auth_->SessionOf(WithSession(Request("GET", "/x"), *dave))
                   .has_value());
  EXPECT_EQ(auth_->session_count(), 1u);
  // A new user of the same name does not revive the old session.
  ASSERT_TRUE(store_->CreateUser("dave", auth::Role::kAdmin, {},
                                 "dave-Password-2", "admin")
                  .ok());
  ASSERT_TRUE(store_->Refresh().ok());
  EXPECT_EQ(auth_->Admit(write(*dave, "/api/v1/auth/tokens"))->status, 401);

  // erin is lowered to viewer (re-created with that role): her next write is
  // refused, her reads still pass, and the handler sees the new role.
  ASSERT_TRUE(store_->DeleteUser("erin").ok());
  ASSERT_TRUE(store_->CreateUser("erin", auth::Role::kViewer, {},
                                 "erin-Password-1", "admin")
                  .ok());
  ASSERT_TRUE(store_->Refresh().ok());
  EXPECT_EQ(auth_->Admit(write(*erin, "/api/v1/auth/tokens"))->status, 403);
  EXPECT_FALSE(auth_->Admit(WithSession(Request("GET", "/api/v1/configs"),
                                        *erin)).has_value());
  EXPECT_EQ(auth_->PrincipalOf(WithSession(Request("GET", "/x"), *erin))->role,
            auth::Role::kViewer);
}

// The bootstrap admin's session does not depend on the store.
TEST_F(AdminAuthRolesTest, BootstrapSessionStaysWithoutAStoredUser) {
  auto s = auth_->Login("admin", kSecret, kClient);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(store_->Refresh().ok());
  auto p = auth_->PrincipalOf(WithSession(Request("GET", "/x"), *s));
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->kind, auth::PrincipalKind::kBootstrap);
  EXPECT_EQ(p->role, auth::Role::kAdmin);
}

// Credentials in the Authorization header are judged alone: a wrong Bearer
// (or another scheme) next to a valid cookie is 401, never the cookie's
// principal, so no write runs without a principal.
TEST_F(AdminAuthRolesTest, InvalidAuthorizationDoesNotFallBackToTheCookie) {
  ASSERT_TRUE(store_->CreateUser("frank", auth::Role::kAdmin, {},
                                 "frank-Password-1", "admin")
                  .ok());
  auto s = auth_->Login("frank", "frank-Password-1", kClient);
  ASSERT_TRUE(s.ok());
  HttpRequest put = WithSession(Request("PUT", "/api/v1/configs/a/k"), *s);
  put.headers["x-csrf-token"] = s->csrf_token;
  put.headers["origin"] = "http://127.0.0.1:7101";
  put.headers["content-type"] = "application/json";
  put.headers["content-length"] = "2";
  EXPECT_FALSE(auth_->Admit(put).has_value());  // the cookie alone: admitted
  EXPECT_EQ(auth_->PrincipalOf(put)->name, "frank");
  for (const std::string& header :
       {std::string("Bearer ") + auth::MakeToken().bearer,
        std::string("Bearer "), std::string("Basic YWRtaW46eA==")}) {
    HttpRequest bad = put;
    bad.headers["authorization"] = header;
    std::optional<HttpResponse> answer = auth_->Admit(bad);
    ASSERT_TRUE(answer.has_value()) << header;
    EXPECT_EQ(answer->status, 401) << header;
    EXPECT_FALSE(auth_->PrincipalOf(bad).has_value()) << header;
    HttpRequest read = WithSession(Request("GET", "/api/v1/configs"), *s);
    read.headers["authorization"] = header;
    EXPECT_EQ(auth_->Admit(read)->status, 401) << header;
  }
}

// Only a peer's forwarding headers are believed (Principal::via_peer).
TEST_F(AdminAuthRolesTest, OnlyThePeerCredentialIsMarkedViaPeer) {
  HttpRequest r = With(Request("GET", "/x"), publisher_);
  r.headers["x-kess-forwarded-by"] = "m9";
  EXPECT_FALSE(auth_->PrincipalOf(r)->via_peer);
  HttpRequest peer = With(Request("GET", "/x"), "kp_peer-secret-for-tests");
  EXPECT_TRUE(auth_->PrincipalOf(peer)->via_peer);
  peer.headers["x-kess-on-behalf-of"] = "token:pub";
  EXPECT_TRUE(auth_->PrincipalOf(peer)->via_peer);
  EXPECT_EQ(auth_->PrincipalOf(peer)->name, "token:pub");
}

}  // namespace
}  // namespace ui
}  // namespace mandator
}  // namespace kess
