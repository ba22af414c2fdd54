// The admin UI's security over real HTTP, end to end inside one process:
// the in-memory ZooKeeper (zk_schema/testing/fake_zk.h, through the
// mandators' ZkConnector), a main-DC leader and follower with an admin
// secret.
// 401 without authentication, 403 without the CSRF token or from a foreign
// origin, 413 for oversized bodies, "../" names refused, HTML escaped in
// JSON, Bearer for kessctl, login/logout, forwarding with the secret,
// operator overrides in ZooKeeper, /api/v1/cluster and /api/v1/hosts.
#include <memory>
#include <string>
#include <vector>

#include "Poco/JSON/Array.h"
#include "Poco/JSON/Object.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/http_client.h"
#include "common/json_util.h"
#include "common/testing/wait_for.h"
#include "common/transport/testing/test_util.h"
#include "gtest/gtest.h"
#include "mandator/mandator.h"
#include "mandator/routes/override_store.h"
#include "mandator/testing/test_util.h"
#include "zk_schema/testing/fake_zk.h"

namespace kess {
namespace mandator {
namespace ui {
namespace {

using ::kess::testing::WaitFor;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr char kSecret[] = "ui-test-Secret-8f2e41";
constexpr char kRoot[] = "/ui_test/kess";
constexpr char kEnsemble[] = "dc1-zk";  // the connect string of the fake

class UiHttpTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    zk_ = new zk::testing::FakeZkServer();
    auto m1 = Start("m1", kSecret);
    auto m2 = Start("m2", kSecret);
    ASSERT_TRUE(m1.ok() && m2.ok());
    m1_ = m1->release();
    m2_ = m2->release();
    ASSERT_TRUE(WaitFor([] { return m1_->IsLeader(); }, absl::Seconds(30)));
  }
  static void TearDownTestSuite() {
    delete m2_;
    delete m1_;
    delete zk_;  // after every client
  }

  static absl::StatusOr<std::unique_ptr<Mandator>> Start(
      const std::string& id, const std::string& secret) {
    MandatorOptions o;
    o.id = id;
    o.datacenter = "dc1";
    o.is_main = true;
    o.zk = kEnsemble;
    o.zk_connector = testing::FakeConnector({{kEnsemble, zk_}});
    o.zk_root = kRoot;
    o.auth = testing::TestAuth();
    o.zk_session_timeout = absl::Seconds(4);
    o.admin_secret = secret;
    o.registry = new metrics::Registry();  // one per mandator; leaked
    return Mandator::Create(o);
  }

  static HttpReply Call(Mandator* m, const std::string& method,
                        const std::string& uri, const std::string& body = "",
                        Headers headers = {}) {
    auto reply = HttpCall(m->http_address(), method, uri, body,
                          absl::Seconds(60), headers);
    EXPECT_TRUE(reply.ok()) << reply.status();
    return reply.ok() ? *reply : HttpReply{};
  }
  static Headers Bearer() {
    return {{"Authorization", std::string("Bearer ") + kSecret}};
  }
  static std::string Origin(Mandator* m) {
    return "http://" + m->http_address();
  }

  struct Login {
    std::string cookie;  // "kess_session=..."
    std::string csrf;
  };
  static Login LogIn(Mandator* m) {
    HttpReply r =
        Call(m, "POST", "/ui/login",
             absl::StrCat(R"({"user":"admin","password":")", kSecret, "\"}"),
             {{"Origin", Origin(m)}});
    EXPECT_EQ(r.status, 200) << r.body;
    Login out;
    const std::string set_cookie = r.Header("set-cookie");
    out.cookie = set_cookie.substr(0, set_cookie.find(';'));
    auto json = ParseJsonObject(r.body);
    if (json.ok()) out.csrf = (*json)->optValue<std::string>("csrf_token", "");
    return out;
  }
  // A browser's write: cookie, CSRF token, Origin of this server.
  static Headers Browser(Mandator* m, const Login& login) {
    return {{"Cookie", login.cookie},
            {"X-CSRF-Token", login.csrf},
            {"Origin", Origin(m)}};
  }

  static zk::testing::FakeZkServer* zk_;
  static Mandator* m1_;
  static Mandator* m2_;
};

zk::testing::FakeZkServer* UiHttpTest::zk_ = nullptr;
Mandator* UiHttpTest::m1_ = nullptr;
Mandator* UiHttpTest::m2_ = nullptr;

TEST_F(UiHttpTest, RefusesToStartWithAWeakSecret) {
  for (const char* weak : {"admin", "changeme", "password", "short-one"}) {
    auto m = Start("weak", weak);
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument) << weak;
  }
}

TEST_F(UiHttpTest, EverythingButHealthMetricsAndPagesNeedsAuthentication) {
  for (const char* path :
       {"/api/v1/configs", "/api/v1/configs/ui", "/api/v1/services",
        "/api/v1/cluster", "/api/v1/hosts", "/ui/session"}) {
    EXPECT_EQ(Call(m1_, "GET", path).status, 401) << path;
  }
  EXPECT_EQ(Call(m1_, "PUT", "/api/v1/configs/ui/a", R"({"value":"x"})").status,
            401);
  EXPECT_EQ(
      Call(m1_, "POST", "/api/v1/configs/ui/a/rollback", R"({"to_revision":1})")
          .status,
      401);
  EXPECT_EQ(Call(m1_, "DELETE", "/api/v1/configs/ui/a").status, 401);
  EXPECT_EQ(Call(m1_, "PUT", "/api/v1/services/s/instances/i/override",
                 R"({"disabled":true})")
                .status,
            401);
  EXPECT_EQ(Call(m1_, "GET", "/healthz").status, 200);
  EXPECT_EQ(Call(m1_, "GET", "/metrics").status, 200);
  EXPECT_EQ(Call(m1_, "GET", "/api/v1/status").status, 200);
  HttpReply page = Call(m1_, "GET", "/ui/");
  EXPECT_EQ(page.status, 200);
  EXPECT_TRUE(absl::StrContains(page.body, "<title>kess admin</title>"));
  EXPECT_TRUE(absl::StrContains(page.Header("content-security-policy"),
                                "script-src 'self'"));
  EXPECT_EQ(Call(m1_, "GET", "/ui/app.js").status, 200);
  // Only compiled-in files: no way out of the UI.
  EXPECT_EQ(Call(m1_, "GET", "/ui/..%2F..%2Fetc%2Fpasswd").status, 404);
  EXPECT_EQ(Call(m1_, "GET", "/ui/nothing.js").status, 404);
}

TEST_F(UiHttpTest, BearerTokenAsKessctlSendsIt) {
  HttpReply put = Call(m1_, "PUT", "/api/v1/configs/ui/bearer",
                       R"({"value":"1"})", Bearer());
  EXPECT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(Call(m1_, "GET", "/api/v1/configs/ui/bearer", "", Bearer()).status,
            200);
  Headers wrong = {{"Authorization", "Bearer not-the-secret-123"}};
  EXPECT_EQ(Call(m1_, "GET", "/api/v1/configs/ui/bearer", "", wrong).status,
            401);
}

TEST_F(UiHttpTest, LoginLogoutAndCsrf) {
  // Wrong password; a login from another site; a login body too large.
  EXPECT_EQ(Call(m1_, "POST", "/ui/login",
                 R"({"user":"admin","password":"guess-guess-guess"})",
                 {{"Origin", Origin(m1_)}})
                .status,
            401);
  EXPECT_EQ(
      Call(m1_, "POST", "/ui/login",
           absl::StrCat(R"({"user":"admin","password":")", kSecret, "\"}"),
           {{"Origin", "http://evil.example"}})
          .status,
      403);
  EXPECT_EQ(Call(m1_, "POST", "/ui/login", std::string(5000, ' '),
                 {{"Origin", Origin(m1_)}})
                .status,
            413);

  Login login = LogIn(m1_);
  ASSERT_FALSE(login.cookie.empty());
  ASSERT_EQ(login.csrf.size(), 32u);
  HttpReply session =
      Call(m1_, "GET", "/ui/session", "", {{"Cookie", login.cookie}});
  EXPECT_EQ(session.status, 200);
  EXPECT_TRUE(absl::StrContains(session.body, login.csrf));
  EXPECT_EQ(Call(m1_, "GET", "/api/v1/configs", "", {{"Cookie", login.cookie}})
                .status,
            200);

  const std::string uri = "/api/v1/configs/ui/csrf";
  const std::string body = R"({"value":"v"})";
  // Cookie only: no CSRF token -> 403.
  EXPECT_EQ(Call(m1_, "PUT", uri, body,
                 {{"Cookie", login.cookie}, {"Origin", Origin(m1_)}})
                .status,
            403);
  // The token, but from another origin -> 403; with no Origin/Referer -> 403.
  EXPECT_EQ(Call(m1_, "PUT", uri, body,
                 {{"Cookie", login.cookie},
                  {"X-CSRF-Token", login.csrf},
                  {"Origin", "http://evil.example"}})
                .status,
            403);
  EXPECT_EQ(Call(m1_, "PUT", uri, body,
                 {{"Cookie", login.cookie}, {"X-CSRF-Token", login.csrf}})
                .status,
            403);
  // Nothing was written by the refused requests.
  EXPECT_EQ(Call(m1_, "GET", uri, "", Bearer()).status, 404);
  HttpReply ok = Call(m1_, "PUT", uri, body, Browser(m1_, login));
  EXPECT_EQ(ok.status, 200) << ok.body;

  EXPECT_EQ(Call(m1_, "POST", "/ui/logout", "", Browser(m1_, login)).status,
            200);
  EXPECT_EQ(Call(m1_, "GET", "/api/v1/configs", "", {{"Cookie", login.cookie}})
                .status,
            401);
}

// Sends only the headers of a request declaring `length` body bytes and
// reads the answer (the server answers before the body, as for a client
// that would stream 24 MiB).
int DeclaredBodyStatus(Mandator* m, const std::string& uri, size_t length,
                       Headers headers) {
  // A body must state JSON (auth/write_guard.h): stated, so the size is
  // what decides.
  headers.emplace_back("Content-Type", "application/json");
  absl::StatusOr<int> status = transport::testing::HeadOnlyRequestStatus(
      m->http_port(), "PUT", uri, length, headers, absl::Seconds(30));
  EXPECT_TRUE(status.ok()) << status.status();
  return status.value_or(-1);
}

TEST_F(UiHttpTest, OversizedBodiesGet413) {
  Login login = LogIn(m1_);
  EXPECT_EQ(DeclaredBodyStatus(m1_, "/api/v1/configs/ui/huge",
                               kMaxRequestBodyBytes + 1, Browser(m1_, login)),
            413);
  EXPECT_EQ(DeclaredBodyStatus(m1_, "/api/v1/configs/ui/huge",
                               kMaxRequestBodyBytes + 1, Bearer()),
            413);
  // Without authentication the body is not even considered: 401.
  EXPECT_EQ(DeclaredBodyStatus(m1_, "/api/v1/configs/ui/huge",
                               kMaxRequestBodyBytes + 1, {}),
            401);
  EXPECT_EQ(Call(m1_, "PUT", "/api/v1/services/s/instances/i/override",
                 std::string(kMaxOverrideBodyBytes + 1, ' '), Bearer())
                .status,
            413);
}

TEST_F(UiHttpTest, PathTraversalNamesAreRefused) {
  Login login = LogIn(m1_);
  for (const char* uri :
       {"/api/v1/configs/..%2F..%2Fetc/passwd", "/api/v1/configs/ui/..%2Fx",
        "/api/v1/configs/ui/../x",
        "/api/v1/services/..%2Fx/instances/a/override",
        "/api/v1/services/svc/instances/..%2F..%2Fa/override"}) {
    HttpReply r =
        Call(m1_, "PUT", uri, R"({"value":"x"})", Browser(m1_, login));
    EXPECT_EQ(r.status, 400) << uri << ": " << r.body;
  }
  EXPECT_EQ(Call(m1_, "GET", "/api/v1/services/..%2Fx", "", Bearer()).status,
            400);
}

TEST_F(UiHttpTest, HtmlInValuesIsEscapedInJson) {
  const std::string value =
      "<script>alert(1)</script><img src=x onerror=alert(2)>&";
  Poco::JSON::Object::Ptr body = new Poco::JSON::Object();
  body->set("value", value);
  ASSERT_EQ(Call(m1_, "PUT", "/api/v1/configs/ui/html", ToJson(body), Bearer())
                .status,
            200);
  HttpReply get = Call(m1_, "GET", "/api/v1/configs/ui/html", "", Bearer());
  ASSERT_EQ(get.status, 200);
  EXPECT_FALSE(absl::StrContains(get.body, "<script"));
  EXPECT_FALSE(absl::StrContains(get.body, "<img"));
  EXPECT_TRUE(absl::StrContains(get.body, "\\u003cscript\\u003e"));
  EXPECT_EQ(get.Header("x-content-type-options"), "nosniff");
  auto parsed = ParseJsonObject(get.body);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ((*parsed)->getValue<std::string>("value"), value);  // intact
}

TEST_F(UiHttpTest, FollowerForwardsABrowserWriteWithTheSecret) {
  ASSERT_FALSE(m2_->IsLeader());
  Login login = LogIn(m2_);  // a session on the follower only
  HttpReply put = Call(m2_, "PUT", "/api/v1/configs/ui/forwarded",
                       R"({"value":"via m2"})", Browser(m2_, login));
  EXPECT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(put.Header("x-kess-forwarded-to"), m1_->http_address());
  EXPECT_EQ(
      Call(m1_, "GET", "/api/v1/configs/ui/forwarded", "", Bearer()).status,
      200);
}

TEST_F(UiHttpTest, OverridesAreStoredInZooKeeperByTheLeader) {
  Login login = LogIn(m2_);
  const std::string uri = "/api/v1/services/checkout/instances/c-1/override";
  EXPECT_EQ(
      Call(m2_, "PUT", uri, R"({"weight":0})", Browser(m2_, login)).status,
      400);
  HttpReply put = Call(m2_, "PUT", uri, R"({"weight":7,"disabled":true})",
                       Browser(m2_, login));
  ASSERT_EQ(put.status, 200) << put.body;
  auto client = testing::FakeMandator(zk_);
  auto layout = zk::Layout::Create(kRoot);
  ASSERT_TRUE(layout.ok());
  routes::OverrideStore store(client.get(), *layout, {});
  auto current = store.Current();
  ASSERT_TRUE(current.ok()) << current.status();
  const routes::InstanceOverride& o = (*current)["checkout"]["c-1"];
  EXPECT_EQ(o.weight, 7);
  EXPECT_TRUE(o.disabled);
  ASSERT_EQ(Call(m1_, "DELETE", uri, "", Bearer()).status, 200);
  store.Invalidate();
  EXPECT_EQ(store.Current()->count("checkout"), 0u);
}

TEST_F(UiHttpTest, ClusterAndHosts) {
  HttpReply cluster = Call(m2_, "GET", "/api/v1/cluster", "", Bearer());
  ASSERT_EQ(cluster.status, 200) << cluster.body;
  auto json = ParseJsonObject(cluster.body);
  ASSERT_TRUE(json.ok());
  Poco::JSON::Array::Ptr dcs = (*json)->getArray("datacenters");
  ASSERT_EQ(dcs->size(), 1u);
  Poco::JSON::Object::Ptr dc = dcs->getObject(0);
  EXPECT_EQ(dc->getValue<std::string>("name"), "dc1");
  Poco::JSON::Array::Ptr mandators = dc->getArray("mandators");
  ASSERT_EQ(mandators->size(), 2u);
  int leaders = 0;
  for (size_t i = 0; i < mandators->size(); ++i) {
    Poco::JSON::Object::Ptr status =
        mandators->getObject(static_cast<unsigned>(i))->getObject("status");
    ASSERT_FALSE(status.isNull()) << cluster.body;  // m1 answered m2's call
    leaders += status->getValue<bool>("is_leader") ? 1 : 0;
  }
  EXPECT_EQ(leaders, 1);
  EXPECT_FALSE(absl::StrContains(cluster.body, "mandator:"));  // no creds
  HttpReply hosts = Call(m1_, "GET", "/api/v1/hosts", "", Bearer());
  EXPECT_EQ(hosts.status, 200) << hosts.body;
  EXPECT_TRUE(absl::StrContains(hosts.body, "\"unreachable\":[]"))
      << hosts.body;
  // The summary and a page, gathered from both mandators (m2 asked over
  // HTTP with the secret): no host has sent a heartbeat here.
  HttpReply summary = Call(m2_, "GET", "/api/v1/hosts/summary", "", Bearer());
  ASSERT_EQ(summary.status, 200) << summary.body;
  auto sum = ParseJsonObject(summary.body);
  ASSERT_TRUE(sum.ok());
  EXPECT_EQ((*sum)->getValue<int>("hosts"), 0);
  EXPECT_EQ((*sum)->getArray("unreachable")->size(), 0u) << summary.body;
  HttpReply page =
      Call(m2_, "GET", "/api/v1/hosts?limit=10&behind=true", "", Bearer());
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_TRUE(absl::StrContains(page.body, "\"total\":0")) << page.body;
  EXPECT_EQ(Call(m2_, "GET", "/api/v1/hosts?limit=0", "", Bearer()).status,
            400);
  EXPECT_EQ(Call(m2_, "GET", "/api/v1/hosts/summary").status, 401);
}

}  // namespace
}  // namespace ui
}  // namespace mandator
}  // namespace kess
