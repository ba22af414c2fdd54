// Admin roles, API tokens, the audit log and CSRF against a real two-DC
// cluster (ZooKeeper and 2 mandators per DC, HTTPS, the bootstrap admin's
// password): docs/security.md, "Admin roles and tokens", "Audit log",
// "CSRF". Every attack must be refused with nothing written, and leave an
// audit record.
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "Poco/JSON/Array.h"
#include "Poco/JSON/Object.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "common/http_client.h"
#include "common/json_util.h"
#include "common/testing/wait_for.h"
#include "gtest/gtest.h"
#include "tests/cluster/mandator_cluster.h"
#include "tests/cluster/multi_dc_cluster.h"
#include "tests/harness/run_command.h"

namespace kess {
namespace testing {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr absl::Duration kPropagation = absl::Seconds(30);
// Polls that may see a wrong credential wait this long between tries: each
// wrong one takes a token of the client address's bucket (1 back per
// second), and an empty bucket would answer 429 to every Bearer request of
// this test for a while.
constexpr absl::Duration kSlowPoll = absl::Milliseconds(1500);

Headers Bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

HttpReply Call(const MandatorProcess& m, const std::string& method,
               const std::string& uri, const std::string& body,
               const Headers& headers) {
  absl::StatusOr<HttpReply> r =
      HttpCall(m.http_address(), method, uri, body, absl::Seconds(20), headers);
  EXPECT_TRUE(r.ok()) << method << " " << uri << ": " << r.status();
  return r.ok() ? *r : HttpReply{};
}

Poco::JSON::Object::Ptr Json(const std::string& body) {
  absl::StatusOr<Poco::JSON::Object::Ptr> o = ParseJsonObject(body);
  EXPECT_TRUE(o.ok()) << body;
  return o.ok() ? *o : Poco::JSON::Object::Ptr(new Poco::JSON::Object);
}

class AdminRolesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    MultiDcClusterOptions o;
    o.mandators_per_dc = 2;
    o.slave_dcs = 1;
    o.admin_secret = true;
    auto cluster = MultiDcCluster::Start(o);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = cluster->release();
    ASSERT_TRUE(cluster_->WaitLeaders(absl::Seconds(60)).ok());
    std::ifstream in(cluster_->admin_password_file());
    std::stringstream secret;
    secret << in.rdbuf();
    admin_ = new std::string(absl::StripAsciiWhitespace(secret.str()));
    viewer_ = new std::string(CreateToken("viewer1", "viewer", ""));
    publisher_ =
        new std::string(CreateToken("pub1", "publisher", "\"payments\",\"team-*\""));
    // Every mandator of both DCs knows them within its refresh (the slave
    // DC's after its mirror's round).
    for (int dc = 0; dc < cluster_->dc_count(); ++dc) {
      for (auto& m : cluster_->dc(dc).mandators) {
        ASSERT_TRUE(WaitFor(
            [&] {
              return Get(*m, "/api/v1/auth/whoami", *viewer_) == 200 &&
                     Get(*m, "/api/v1/auth/whoami", *publisher_) == 200;
            },
            kPropagation, kSlowPoll));
      }
    }
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

  static MandatorProcess& Leader() {
    MandatorProcess* leader = FindLeader(cluster_->main());
    EXPECT_NE(leader, nullptr);
    return leader != nullptr ? *leader : *cluster_->main()[0];
  }
  static MandatorProcess& Follower() {
    MandatorProcess* leader = FindLeader(cluster_->main());
    for (auto& m : cluster_->main()) {
      if (m.get() != leader) return *m;
    }
    return *cluster_->main()[0];
  }
  static MandatorProcess& Slave() { return *cluster_->slave()[0]; }

  // A new token's Bearer value, created by the bootstrap admin.
  static std::string CreateToken(const std::string& name,
                                 const std::string& role,
                                 const std::string& namespaces) {
    HttpReply r = Call(Leader(), "POST", "/api/v1/auth/tokens",
                       absl::StrCat("{\"name\":\"", name, "\",\"role\":\"",
                                    role, "\",\"namespaces\":[", namespaces,
                                    "]}"),
                       Bearer(*admin_));
    EXPECT_EQ(r.status, 200) << r.body;
    return Json(r.body)->optValue<std::string>("bearer", "");
  }

  static int Get(const MandatorProcess& m, const std::string& uri,
                 const std::string& token) {
    return Call(m, "GET", uri, "", Bearer(token)).status;
  }

  // Audit records matching the query, newest first (one page of 500).
  static std::vector<Poco::JSON::Object::Ptr> Audit(
      const MandatorProcess& m, const std::string& query) {
    HttpReply r = Call(m, "GET", "/api/v1/audit?limit=500&" + query, "",
                       Bearer(*admin_));
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<Poco::JSON::Object::Ptr> out;
    Poco::JSON::Array::Ptr records = Json(r.body)->getArray("records");
    for (size_t i = 0; records && i < records->size(); ++i) {
      out.push_back(records->getObject(static_cast<unsigned>(i)));
    }
    return out;
  }

  static MultiDcCluster* cluster_;
  static std::string* admin_;
  static std::string* viewer_;
  static std::string* publisher_;
};

MultiDcCluster* AdminRolesTest::cluster_ = nullptr;
std::string* AdminRolesTest::admin_ = nullptr;
std::string* AdminRolesTest::viewer_ = nullptr;
std::string* AdminRolesTest::publisher_ = nullptr;

TEST_F(AdminRolesTest, ViewerReadsButCannotWrite) {
  ASSERT_EQ(Call(Leader(), "PUT", "/api/v1/configs/payments/v",
                 R"({"value":"1"})", Bearer(*admin_))
                .status,
            200);
  EXPECT_EQ(Get(Leader(), "/api/v1/configs/payments/v", *viewer_), 200);
  for (MandatorProcess* m : {&Leader(), &Follower()}) {
    HttpReply put = Call(*m, "PUT", "/api/v1/configs/payments/v",
                         R"({"value":"2"})", Bearer(*viewer_));
    EXPECT_EQ(put.status, 403) << put.body;
    EXPECT_TRUE(absl::StrContains(put.body, "viewer")) << put.body;
    EXPECT_EQ(Call(*m, "POST", "/api/v1/auth/tokens",
                   R"({"name":"x","role":"admin"})", Bearer(*viewer_))
                  .status,
              403);
  }
  HttpReply value =
      Call(Leader(), "GET", "/api/v1/configs/payments/v", "", Bearer(*viewer_));
  EXPECT_EQ(Json(value.body)->optValue<std::string>("value", ""), "1");
  // The refusals are in the audit log, with who and from where.
  std::vector<Poco::JSON::Object::Ptr> refused =
      Audit(Leader(), "who=token:viewer1&refused=1");
  ASSERT_FALSE(refused.empty());
  EXPECT_EQ(refused[0]->optValue<int>("http_status", 0), 403);
  EXPECT_FALSE(refused[0]->optValue<std::string>("client", "").empty());
}

TEST_F(AdminRolesTest, PublisherWritesOnlyItsNamespacesAndIsTheAuthor) {
  // The body's author is ignored: the history names the token.
  HttpReply put = Call(Follower(), "PUT", "/api/v1/configs/payments/db",
                       R"({"value":"250","author":"mallory"})",
                       Bearer(*publisher_));
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_FALSE(put.Header("x-kess-forwarded-to").empty());  // via the leader
  HttpReply history = Call(Leader(), "GET",
                           "/api/v1/configs/payments/db/history", "",
                           Bearer(*viewer_));
  EXPECT_TRUE(absl::StrContains(history.body, "\"author\":\"token:pub1\""))
      << history.body;
  EXPECT_FALSE(absl::StrContains(history.body, "mallory"));
  EXPECT_EQ(Call(Leader(), "PUT", "/api/v1/configs/team-red/k",
                 R"({"value":"x"})", Bearer(*publisher_))
                .status,
            200);
  // Outside its namespaces: 403 naming them, nothing written.
  for (const char* uri : {"/api/v1/configs/billing/db",
                          "/api/v1/configs/payments2/db"}) {
    HttpReply other =
        Call(Follower(), "PUT", uri, R"({"value":"1"})", Bearer(*publisher_));
    EXPECT_EQ(other.status, 403) << other.body;
    EXPECT_TRUE(absl::StrContains(other.body, "payments, team-*"))
        << other.body;
    EXPECT_EQ(Get(Leader(), uri, *admin_), 404);
  }
  EXPECT_EQ(Call(Leader(), "POST", "/api/v1/configs/billing/db/gray",
                 R"({"value":"1","percentage":10})", Bearer(*publisher_))
                .status,
            403);
  // The audit log holds the write with the new value's digest, never the
  // value itself.
  std::vector<Poco::JSON::Object::Ptr> writes =
      Audit(Leader(), "who=token:pub1&what=payments/db");
  bool found = false;
  for (const auto& r : writes) {
    if (r->optValue<std::string>("action", "") != "config.put") continue;
    found = true;
    EXPECT_EQ(r->optValue<int>("http_status", 0), 200);
    EXPECT_TRUE(absl::StrContains(r->optValue<std::string>("detail", ""),
                                  "new_sha256="));
    EXPECT_FALSE(
        absl::StrContains(r->optValue<std::string>("detail", ""), "250"));
    // Received by the follower, committed by the leader.
    EXPECT_TRUE(
        absl::StrContains(r->optValue<std::string>("client", ""), " via "));
  }
  EXPECT_TRUE(found);
}

TEST_F(AdminRolesTest, RevokedTokenIsRefusedAtTheSlaveDc) {
  const std::string token = CreateToken("short-lived", "viewer", "");
  // The token reaches the slave DC with the data.
  ASSERT_TRUE(WaitFor(
      [&] { return Get(Slave(), "/api/v1/configs", token) == 200; },
      kPropagation, kSlowPoll));
  HttpReply list = Call(Leader(), "GET", "/api/v1/auth/tokens", "",
                        Bearer(*admin_));
  std::string id;
  Poco::JSON::Array::Ptr tokens = Json(list.body)->getArray("tokens");
  for (size_t i = 0; tokens && i < tokens->size(); ++i) {
    auto t = tokens->getObject(static_cast<unsigned>(i));
    if (t->optValue<std::string>("name", "") == "short-lived") {
      id = t->optValue<std::string>("id", "");
    }
  }
  ASSERT_FALSE(id.empty()) << list.body;
  EXPECT_FALSE(absl::StrContains(list.body, token.substr(20)));  // no secret
  ASSERT_EQ(Call(Follower(), "DELETE", "/api/v1/auth/tokens/" + id, "",
                 Bearer(*admin_))
                .status,
            200);
  const absl::Time revoked = absl::Now();
  ASSERT_TRUE(WaitFor(
      [&] { return Get(Slave(), "/api/v1/configs", token) == 401; },
      kPropagation, absl::Milliseconds(200)));
  std::cout << "SECURITY|token revocation reached the slave DC in "
            << absl::ToDoubleSeconds(absl::Now() - revoked) << " s\n";
  for (auto& m : cluster_->main()) {
    absl::SleepFor(kSlowPoll);
    EXPECT_EQ(Get(*m, "/api/v1/configs", token), 401);
  }
  // A slave DC takes no change of users or tokens.
  EXPECT_EQ(Call(Slave(), "POST", "/api/v1/auth/tokens",
                 R"({"name":"y","role":"viewer"})", Bearer(*admin_))
                .status,
            409);
}

TEST_F(AdminRolesTest, CrossSiteRequestsWithTheSessionCookieChangeNothing) {
  MandatorProcess& m = Leader();
  const std::string host = m.http_address().substr(
      m.http_address().find("://") == std::string::npos
          ? 0
          : m.http_address().find("://") + 3);
  const std::string origin =
      absl::StrCat(absl::StartsWith(m.http_address(), "https") ? "https://"
                                                               : "http://",
                   host);
  HttpReply login = Call(m, "POST", "/ui/login",
                         absl::StrCat(R"({"user":"admin","password":")",
                                      *admin_, "\"}"),
                         {{"Origin", origin}});
  ASSERT_EQ(login.status, 200) << login.body;
  const std::string cookie =
      login.Header("set-cookie").substr(0, login.Header("set-cookie").find(';'));
  const std::string csrf = Json(login.body)->optValue<std::string>("csrf_token", "");
  ASSERT_EQ(Call(m, "PUT", "/api/v1/configs/payments/gray-target",
                 R"({"value":"base"})", Bearer(*admin_))
                .status,
            200);
  // A foreign page's form: text/plain, foreign Origin, the cookie (as a
  // browser without SameSite would send it), with and without a stolen
  // CSRF token.
  for (const Headers& h : std::vector<Headers>{
           {{"Cookie", cookie},
            {"Origin", "https://evil.example"},
            {"Content-Type", "text/plain"}},
           {{"Cookie", cookie},
            {"Origin", "https://evil.example"},
            {"Content-Type", "text/plain"},
            {"X-CSRF-Token", csrf}},
           {{"Cookie", cookie}, {"Content-Type", "text/plain"}},
           {{"Cookie", cookie},
            {"Origin", origin},
            {"Content-Type", "text/plain"},
            {"X-CSRF-Token", csrf}},
       }) {
    HttpReply gray = Call(m, "POST", "/api/v1/configs/payments/gray-target/gray",
                          R"({"value":"evil","percentage":100})", h);
    EXPECT_EQ(gray.status, 403) << gray.body;
    HttpReply promote =
        Call(m, "POST", "/api/v1/configs/payments/gray-target/gray/promote",
             "{}", h);
    EXPECT_EQ(promote.status, 403) << promote.body;
  }
  EXPECT_EQ(Get(m, "/api/v1/configs/payments/gray-target/gray", *admin_), 404);
  // Even with a Bearer token a foreign Origin is refused.
  EXPECT_EQ(Call(m, "PUT", "/api/v1/configs/payments/gray-target",
                 R"({"value":"evil"})",
                 {{"Authorization", "Bearer " + *admin_},
                  {"Origin", "https://evil.example"}})
                .status,
            403);
  // The UI's own request (JSON, same origin, the token) works.
  HttpReply own = Call(m, "POST", "/api/v1/configs/payments/gray-target/gray",
                       R"({"value":"new","percentage":10})",
                       {{"Cookie", cookie},
                        {"Origin", origin},
                        {"X-CSRF-Token", csrf}});
  EXPECT_EQ(own.status, 200) << own.body;
  HttpReply value = Call(m, "GET", "/api/v1/configs/payments/gray-target", "",
                         Bearer(*admin_));
  EXPECT_EQ(Json(value.body)->optValue<std::string>("value", ""), "base");
}

TEST_F(AdminRolesTest, UsersLogInWithTheirRole) {
  ASSERT_EQ(Call(Leader(), "POST", "/api/v1/auth/users",
                 R"({"name":"alice","role":"publisher","namespaces":["team-*"],)"
                 R"("password":"alice-Password-1"})",
                 Bearer(*admin_))
                .status,
            200);
  // Any main mandator knows her within its refresh.
  MandatorProcess& m = Follower();
  const std::string origin = absl::StrCat(
      absl::StartsWith(m.http_address(), "https") ? "" : "http://",
      m.http_address());
  HttpReply login;
  ASSERT_TRUE(WaitFor(
      [&] {
        login = Call(m, "POST", "/ui/login",
                     R"({"user":"alice","password":"alice-Password-1"})",
                     {{"Origin", origin}});
        return login.status == 200;
      },
      kPropagation, kSlowPoll));
  const std::string cookie =
      login.Header("set-cookie").substr(0, login.Header("set-cookie").find(';'));
  const Headers browser = {
      {"Cookie", cookie},
      {"Origin", origin},
      {"X-CSRF-Token",
       Json(login.body)->optValue<std::string>("csrf_token", "")}};
  HttpReply who = Call(m, "GET", "/api/v1/auth/whoami", "", browser);
  EXPECT_TRUE(absl::StrContains(who.body, "\"role\":\"publisher\"")) << who.body;
  EXPECT_EQ(Call(m, "PUT", "/api/v1/configs/team-a/k", R"({"value":"1"})",
                 browser)
                .status,
            200);
  EXPECT_EQ(Call(m, "PUT", "/api/v1/configs/payments/k", R"({"value":"1"})",
                 browser)
                .status,
            403);
  HttpReply history = Call(Leader(), "GET", "/api/v1/configs/team-a/k/history",
                           "", Bearer(*admin_));
  EXPECT_TRUE(absl::StrContains(history.body, "\"author\":\"alice\""))
      << history.body;
  // Wrong passwords are refused (and throttled per address, 429 after 5).
  EXPECT_EQ(Call(m, "POST", "/ui/login",
                 R"({"user":"alice","password":"wrong-Password-1"})",
                 {{"Origin", origin}})
                .status,
            401);
}

// A session ends when its user is deleted; a wrong Bearer next to a valid
// cookie is 401 (no fallback to the cookie, no author from the body).
TEST_F(AdminRolesTest, DeletedUserIsLoggedOutAndWrongBearerIsNotTheCookie) {
  ASSERT_EQ(Call(Leader(), "POST", "/api/v1/auth/users",
                 R"({"name":"bob","role":"admin","password":"bob-Password-12"})",
                 Bearer(*admin_))
                .status,
            200);
  MandatorProcess& m = Leader();
  const std::string origin = absl::StrCat(
      absl::StartsWith(m.http_address(), "https") ? "" : "http://",
      m.http_address());
  HttpReply login;
  ASSERT_TRUE(WaitFor(
      [&] {
        login = Call(m, "POST", "/ui/login",
                     R"({"user":"bob","password":"bob-Password-12"})",
                     {{"Origin", origin}});
        return login.status == 200;
      },
      kPropagation, kSlowPoll));
  const std::string cookie =
      login.Header("set-cookie").substr(0, login.Header("set-cookie").find(';'));
  Headers browser = {
      {"Cookie", cookie},
      {"Origin", origin},
      {"X-CSRF-Token",
       Json(login.body)->optValue<std::string>("csrf_token", "")}};
  EXPECT_EQ(Call(m, "PUT", "/api/v1/configs/team-b/k", R"({"value":"1"})",
                 browser)
                .status,
            200);
  // A wrong Bearer with the good cookie: 401, nothing written.
  Headers forged = browser;
  forged.emplace_back("Authorization", "Bearer kt_0000_wrong");
  EXPECT_EQ(Call(m, "PUT", "/api/v1/configs/team-b/k",
                 R"({"value":"2","author":"mallory"})", forged)
                .status,
            401);
  HttpReply value =
      Call(m, "GET", "/api/v1/configs/team-b/k", "", Bearer(*admin_));
  EXPECT_EQ(Json(value.body)->optValue<std::string>("value", ""), "1");
  HttpReply history = Call(m, "GET", "/api/v1/configs/team-b/k/history", "",
                           Bearer(*admin_));
  EXPECT_FALSE(absl::StrContains(history.body, "mallory")) << history.body;
  EXPECT_TRUE(absl::StrContains(history.body, "\"author\":\"bob\""))
      << history.body;

  // Deleted: the next request with the cookie is 401 (within the store's
  // refresh, a second), and a new admin token cannot be minted with it.
  ASSERT_EQ(Call(Leader(), "DELETE", "/api/v1/auth/users/bob", "",
                 Bearer(*admin_))
                .status,
            200);
  EXPECT_TRUE(WaitFor(
      [&] {
        return Call(m, "GET", "/api/v1/auth/whoami", "", browser).status ==
               401;
      },
      absl::Seconds(10), absl::Milliseconds(100)));
  EXPECT_EQ(Call(m, "POST", "/api/v1/auth/tokens",
                 R"({"name":"bob-backdoor","role":"admin","namespaces":[]})",
                 browser)
                .status,
            401);
  HttpReply tokens = Call(m, "GET", "/api/v1/auth/tokens", "", Bearer(*admin_));
  EXPECT_FALSE(absl::StrContains(tokens.body, "bob-backdoor")) << tokens.body;
}

// X-Kess-Forwarded-By from a client does not name the audit record's
// mandator (only the peer credential's is believed).
TEST_F(AdminRolesTest, ClientsForwardingHeadersDoNotFillTheAudit) {
  Headers h = Bearer(*publisher_);
  h.emplace_back("X-Kess-Forwarded-By", "forged-mandator");
  h.emplace_back("X-Kess-Forwarded-For", "203.0.113.9:1");
  ASSERT_EQ(Call(Leader(), "PUT", "/api/v1/configs/team-f/k",
                 R"({"value":"1"})", h)
                .status,
            200);
  std::vector<Poco::JSON::Object::Ptr> records;
  ASSERT_TRUE(WaitFor(
      [&] {
        records = Audit(Leader(), "who=token:pub1&what=/api/v1/configs/team-f/k");
        return !records.empty();
      },
      absl::Seconds(10), absl::Milliseconds(200)));
  EXPECT_NE(records[0]->optValue<std::string>("mandator", ""),
            "forged-mandator");
  EXPECT_FALSE(records[0]->optValue<std::string>("mandator", "").empty());
  EXPECT_FALSE(absl::StrContains(
      records[0]->optValue<std::string>("client", ""), "203.0.113.9"));
}

TEST_F(AdminRolesTest, AuditPagesAndFilters) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(Call(Leader(), "PUT", absl::StrCat("/api/v1/configs/team-p/k", i),
                   R"({"value":"1"})", Bearer(*publisher_))
                  .status,
              200);
  }
  // Unauthenticated write attempts are recorded without a who.
  EXPECT_EQ(Call(Follower(), "PUT", "/api/v1/configs/team-p/x",
                 R"({"value":"1"})", {})
                .status,
            401);
  std::vector<std::string> ids;
  std::string cursor;
  for (int page = 0; page < 10; ++page) {
    HttpReply r = Call(
        Leader(), "GET",
        absl::StrCat("/api/v1/audit?limit=2&what=team-p/k",
                     cursor.empty() ? "" : "&cursor=" + cursor),
        "", Bearer(*viewer_));
    ASSERT_EQ(r.status, 200) << r.body;
    auto body = Json(r.body);
    Poco::JSON::Array::Ptr records = body->getArray("records");
    for (size_t i = 0; records && i < records->size(); ++i) {
      ids.push_back(records->getObject(static_cast<unsigned>(i))
                        ->optValue<std::string>("id", ""));
    }
    cursor = body->optValue<std::string>("next_cursor", "");
    if (cursor.empty()) break;
  }
  EXPECT_EQ(ids.size(), 5u);
  for (size_t i = 1; i < ids.size(); ++i) EXPECT_GT(ids[i - 1], ids[i]);
  // The refused unauthenticated write, recorded by the follower.
  bool unauthenticated = false;
  for (const auto& r : Audit(Follower(), "refused=1&what=team-p/x")) {
    unauthenticated |= r->optValue<int>("http_status", 0) == 401 &&
                       r->optValue<std::string>("who", "x").empty();
  }
  EXPECT_TRUE(unauthenticated);
  // The main DC's records reach the slave DC.
  ASSERT_TRUE(WaitFor(
      [&] { return Audit(Slave(), "what=team-p/k").size() == 5; },
      kPropagation, absl::Milliseconds(500)));
  EXPECT_EQ(Call(Leader(), "GET", "/api/v1/audit?limit=0", "",
                 Bearer(*admin_))
                .status,
            400);
  EXPECT_EQ(Call(Leader(), "GET", "/api/v1/audit?cursor=%25%25", "",
                 Bearer(*admin_))
                .status,
            400);
}

// The real kessctl binary: token create (printed once), list, revoke, and
// audit with filters, with the bootstrap password as KESS_TOKEN's value.
TEST_F(AdminRolesTest, KessctlManagesTokensAndReadsTheAudit) {
  auto kessctl = [&](std::vector<std::string> args, const std::string& token) {
    std::vector<std::string> argv = {
        absl::StrCat(std::getenv("TEST_SRCDIR"), "/kess/kessctl/kessctl"),
        "--mandators=" + Follower().http_address() + "," +
            Leader().http_address(),
        "--token=" + token};
    if (!DefaultHttpsCaFile().empty()) {
      argv.push_back("--ca=" + DefaultHttpsCaFile());
    }
    argv.insert(argv.end(), args.begin(), args.end());
    absl::StatusOr<CommandResult> r = RunCommand(argv, absl::Seconds(60));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : CommandResult{};
  };
  CommandResult created = kessctl(
      {"token", "create", "cli-pub", "--role=publisher",
       "--namespaces=team-cli"},
      *admin_);
  ASSERT_EQ(created.exit_code, 0) << created.out;
  const std::string bearer(absl::StripAsciiWhitespace(created.out));
  ASSERT_TRUE(absl::StartsWith(bearer, "kt_")) << created.out;
  CommandResult list = kessctl({"token", "list"}, *admin_);
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(list.out, "cli-pub  publisher of team-cli"))
      << list.out;
  EXPECT_FALSE(absl::StrContains(list.out, bearer.substr(20)));
  // A viewer may not create tokens: exit 6 (401/403).
  EXPECT_EQ(kessctl({"token", "create", "x", "--role=admin"}, *viewer_)
                .exit_code,
            6);
  // The new token writes its namespace once every mandator knows it.
  ASSERT_TRUE(WaitFor(
      [&] {
        return kessctl({"config", "put", "team-cli", "k", "v1"}, bearer)
                   .exit_code == 0;
      },
      kPropagation, kSlowPoll));
  EXPECT_EQ(kessctl({"config", "put", "payments", "k", "v1"}, bearer).exit_code,
            6);
  CommandResult audit = kessctl(
      {"audit", "--who=token:cli-pub", "--what=team-cli", "--limit=5"},
      *viewer_);
  EXPECT_EQ(audit.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(audit.out, "config.put")) << audit.out;
  EXPECT_TRUE(absl::StrContains(audit.out, "new_sha256=")) << audit.out;
  const std::string id = bearer.substr(3, 16);
  EXPECT_EQ(kessctl({"token", "revoke", id}, *admin_).exit_code, 0);
  ASSERT_TRUE(WaitFor(
      [&] {
        return kessctl({"config", "get", "team-cli", "k"}, bearer).exit_code ==
               6;
      },
      kPropagation, kSlowPoll));
}

}  // namespace
}  // namespace testing
}  // namespace kess
