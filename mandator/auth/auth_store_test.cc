// AuthStore and AuditLog over the in-memory ZooKeeper.
#include <string>

#include "absl/strings/match.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "gtest/gtest.h"
#include "mandator/auth/audit_log.h"
#include "mandator/auth/auth_store.h"
#include "mandator/auth/secrets.h"
#include "zk_schema/testing/fake_zk.h"

namespace kess {
namespace mandator {
namespace auth {
namespace {

class AuthStoreTest : public ::testing::Test {
 protected:
  AuthStoreTest() {
    EXPECT_TRUE(zk_.Create("/kess", "").ok());
  }
  AuthStore::Options Main() {
    AuthStore::Options o;
    o.root = "/kess";
    return o;
  }

  zk::testing::FakeZkServer server_;
  zk::testing::FakeZkClient zk_{&server_};
};

TEST_F(AuthStoreTest, TokenCreatedAuthenticatesAndRevokedDoesNotAnywhere) {
  AuthStore a(&zk_, Main());
  zk::testing::FakeZkClient other_zk(&server_);
  AuthStore b(&other_zk, Main());  // another mandator of the DC
  auto created =
      a.CreateToken("deploy", Role::kPublisher, {"payments"}, "admin");
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(absl::StartsWith(created->bearer, "kt_"));
  // Only a hash is stored.
  auto node = zk_.Get("/kess/auth/tokens/" + created->info.id);
  ASSERT_TRUE(node.ok());
  const std::string secret = created->bearer.substr(20);
  EXPECT_FALSE(absl::StrContains(node->data, secret));
  EXPECT_TRUE(absl::StrContains(node->data, "sha256$"));

  std::optional<Principal> p = a.AuthenticateToken(created->bearer);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->name, "token:deploy");
  EXPECT_EQ(p->role, Role::kPublisher);
  EXPECT_EQ(p->namespaces, std::vector<std::string>{"payments"});
  // The other mandator knows it after its refresh.
  EXPECT_FALSE(b.AuthenticateToken(created->bearer).has_value());
  ASSERT_TRUE(b.Refresh().ok());
  EXPECT_TRUE(b.AuthenticateToken(created->bearer).has_value());
  EXPECT_EQ(b.PrincipalByName("token:deploy")->role, Role::kPublisher);

  // Wrong secrets, hostile input.
  std::string wrong = created->bearer;
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  EXPECT_FALSE(a.AuthenticateToken(wrong).has_value());
  EXPECT_FALSE(a.AuthenticateToken("").has_value());
  EXPECT_FALSE(a.AuthenticateToken(std::string(100000, 'x')).has_value());
  EXPECT_FALSE(a.AuthenticateToken(MakeToken().bearer).has_value());

  // Names are unique; bad names and scopes refused.
  EXPECT_EQ(a.CreateToken("deploy", Role::kViewer, {}, "admin")
                .status()
                .code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_FALSE(a.CreateToken("../x", Role::kViewer, {}, "admin").ok());
  EXPECT_FALSE(a.CreateToken(std::string(65, 'a'), Role::kViewer, {}, "a").ok());
  EXPECT_FALSE(a.CreateToken("p", Role::kPublisher, {}, "admin").ok());
  EXPECT_FALSE(a.CreateToken("v", Role::kViewer, {"x"}, "admin").ok());
  EXPECT_FALSE(a.CreateToken("q", Role::kPublisher, {"a/b"}, "admin").ok());

  ASSERT_TRUE(a.RevokeToken(created->info.id).ok());
  EXPECT_FALSE(a.AuthenticateToken(created->bearer).has_value());
  ASSERT_TRUE(b.Refresh().ok());
  EXPECT_FALSE(b.AuthenticateToken(created->bearer).has_value());
  EXPECT_EQ(a.RevokeToken(created->info.id).code(),
            absl::StatusCode::kNotFound);
  EXPECT_FALSE(a.RevokeToken("../../x").ok());
}

TEST_F(AuthStoreTest, UsersLogInWithHashedPasswords) {
  AuthStore a(&zk_, Main());
  ASSERT_TRUE(a.CreateUser("alice", Role::kViewer, {}, "alice-password-1",
                           "admin")
                  .ok());
  auto node = zk_.Get("/kess/auth/users/alice");
  ASSERT_TRUE(node.ok());
  EXPECT_FALSE(absl::StrContains(node->data, "alice-password-1"));
  EXPECT_TRUE(absl::StrContains(node->data, "pbkdf2-sha256$"));
  EXPECT_EQ(a.AuthenticatePassword("alice", "alice-password-1")->name,
            "alice");
  EXPECT_FALSE(a.AuthenticatePassword("alice", "alice-password-2"));
  EXPECT_FALSE(a.AuthenticatePassword("bob", "alice-password-1"));
  EXPECT_FALSE(a.CreateUser("bob", Role::kViewer, {}, "short", "admin").ok());
  EXPECT_FALSE(
      a.CreateUser("token-x", Role::kViewer, {}, "long-enough-pw", "a").ok());
  EXPECT_EQ(
      a.CreateUser("alice", Role::kAdmin, {}, "long-enough-pw", "a").code(),
      absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(a.SetPassword("alice", "alice-password-2").ok());
  EXPECT_TRUE(a.AuthenticatePassword("alice", "alice-password-2"));
  EXPECT_FALSE(a.AuthenticatePassword("alice", "alice-password-1"));
  ASSERT_TRUE(a.DeleteUser("alice").ok());
  EXPECT_FALSE(a.AuthenticatePassword("alice", "alice-password-2"));
  EXPECT_FALSE(a.PrincipalByName("alice").has_value());
}

TEST_F(AuthStoreTest, SlaveDcRefusesChangesAndMalformedNodesAreSkipped) {
  AuthStore::Options slave = Main();
  slave.is_main = false;
  slave.main_datacenter = "dc1";
  AuthStore s(&zk_, slave);
  absl::Status refused =
      s.CreateToken("t", Role::kViewer, {}, "admin").status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(refused.message(), "dc1"));
  // A hand-written broken node does not stop the others from loading.
  ASSERT_TRUE(zk_.Create("/kess/auth", "1").ok());
  ASSERT_TRUE(zk_.Create("/kess/auth/tokens", "").ok());
  ASSERT_TRUE(zk_.Create("/kess/auth/tokens/0123456789abcdef", "{not").ok());
  EXPECT_TRUE(s.Refresh().ok());
  EXPECT_TRUE(s.Tokens().empty());
}

TEST_F(AuthStoreTest, AuditRecordsPagesFiltersRetentionAndRateLimit) {
  ManualClock clock(1700000000000);
  metrics::Registry registry;
  AuditLog::Options o;
  o.datacenter = "dc1";
  o.member_id = "m1";
  o.clock = &clock;
  o.registry = &registry;
  o.max_records = 30;
  o.refused_burst = 3;
  o.refused_per_second = 1;
  AuditLog log(&zk_, o);
  for (int i = 0; i < 20; ++i) {
    AuditRecord r;
    r.who = i % 2 == 0 ? "alice" : "token:ci";
    r.action = "config.put";
    r.what = "PUT /api/v1/configs/ns/k" + std::to_string(i);
    r.http_status = 200;
    r.result = "ok";
    log.Record(r);
    clock.Advance(10);
  }
  // Refused attempts: 3 at once pass, the other 7 are only counted.
  for (int i = 0; i < 10; ++i) {
    AuditRecord r;
    r.who = "";
    r.action = "refused";
    r.what = "PUT /api/v1/configs/x/y";
    r.http_status = 401;
    log.Record(r);
  }
  clock.Advance(1000);
  AuditRecord late;
  late.action = "refused";
  late.http_status = 403;
  late.who = "bob";
  log.Record(late);
  ASSERT_TRUE(log.Flush(absl::Seconds(5)));

  // Paging walks everything once, newest first.
  std::vector<std::string> seen;
  std::string cursor;
  for (int pages = 0; pages < 100; ++pages) {
    auto page = log.List({}, 7, cursor);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const AuditRecord& r : page->records) seen.push_back(r.id);
    cursor = page->next_cursor;
    if (cursor.empty()) break;
  }
  ASSERT_EQ(seen.size(), 24u);
  for (size_t i = 1; i < seen.size(); ++i) EXPECT_GT(seen[i - 1], seen[i]);
  auto newest = log.List({}, 1, "");
  ASSERT_TRUE(newest.ok());
  EXPECT_EQ(newest->records[0].who, "bob");
  EXPECT_EQ(newest->records[0].suppressed, 7);
  EXPECT_EQ(newest->records[0].datacenter, "dc1");
  EXPECT_EQ(newest->records[0].mandator, "m1");

  AuditFilter by_who;
  by_who.who = "alice";
  auto alice = log.List(by_who, 100, "");
  ASSERT_TRUE(alice.ok());
  EXPECT_EQ(alice->records.size(), 10u);
  AuditFilter what;
  what.what = "configs/ns/k1";  // k1, k10..k19
  EXPECT_EQ(log.List(what, 100, "")->records.size(), 11u);
  AuditFilter refused;
  refused.refused_only = true;
  EXPECT_EQ(log.List(refused, 100, "")->records.size(), 4u);
  AuditFilter since;
  since.since_ms = 1700000000000 + 150;
  // k15..k19, the three refused ones written, and the late one.
  EXPECT_EQ(log.List(since, 100, "")->records.size(), 5u + 3u + 1u);
  EXPECT_FALSE(log.List({}, 10, "not-a-cursor!").ok());

  // Retention by count, then by age.
  for (int i = 0; i < 10; ++i) {
    AuditRecord r;
    r.action = "config.put";
    r.http_status = 200;
    log.Record(r);
  }
  ASSERT_TRUE(log.Flush(absl::Seconds(5)));
  auto trimmed = log.Trim();
  ASSERT_TRUE(trimmed.ok());
  EXPECT_EQ(*trimmed, 4u);
  EXPECT_EQ(zk_.GetChildren("/kess/audit")->children.size(), 30u);
  clock.Advance(absl::ToInt64Milliseconds(absl::Hours(24 * 91)));
  EXPECT_EQ(*log.Trim(), 30u);
}

TEST_F(AuthStoreTest, AuditRecordsHoldNoHugeFields) {
  metrics::Registry registry;
  AuditLog::Options o;
  o.datacenter = "dc1";
  o.member_id = "m1";
  o.registry = &registry;
  AuditLog log(&zk_, o);
  AuditRecord r;
  r.who = std::string(100000, 'w');
  r.what = std::string(100000, 'p');
  r.detail = std::string(100000, 'd');
  r.http_status = 200;
  log.Record(r);
  ASSERT_TRUE(log.Flush(absl::Seconds(5)));
  auto page = log.List({}, 10, "");
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->records.size(), 1u);
  EXPECT_LT(page->records[0].who.size(), 600u);
  EXPECT_LT(page->records[0].detail.size(), 2100u);
}

}  // namespace
}  // namespace auth
}  // namespace mandator
}  // namespace kess
