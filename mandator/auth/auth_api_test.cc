// AuthApi's handlers called directly (a routes table captured in the test)
// over the in-memory ZooKeeper: hostile bodies, names and parameters.
#include "mandator/auth/auth_api.h"
#include "mandator/auth/audited_routes.h"

#include <map>
#include <string>

#include "absl/strings/match.h"
#include "common/metrics.h"
#include "gtest/gtest.h"
#include "zk_schema/testing/fake_zk.h"

namespace kess {
namespace mandator {
namespace auth {
namespace {

// Keeps the handlers; finds them as the servers do (exact, else the
// longest prefix).
class Routes : public HttpRoutes {
 public:
  void Handle(const std::string& method, const std::string& path,
              HttpHandler handler) override {
    exact_[method + " " + path] = std::move(handler);
  }
  void HandlePrefix(const std::string& method, const std::string& prefix,
                    HttpHandler handler) override {
    prefix_[method + " " + prefix] = std::move(handler);
  }
  HttpResponse Call(const std::string& method, const std::string& path,
                    const std::string& body = "",
                    std::map<std::string, std::string> query = {}) {
    HttpRequest r;
    r.method = method;
    r.path = path;
    r.body = body;
    r.query = std::move(query);
    r.remote_address = "127.0.0.1:1";
    auto it = exact_.find(method + " " + path);
    if (it != exact_.end()) return it->second(r);
    const HttpHandler* best = nullptr;
    size_t best_len = 0;
    for (const auto& [key, h] : prefix_) {
      const std::string p = key.substr(method.size() + 1);
      if (absl::StartsWith(key, method + " ") && absl::StartsWith(path, p) &&
          p.size() > best_len) {
        best = &h;
        best_len = p.size();
      }
    }
    return best != nullptr ? (*best)(r) : HttpResponse::Text(404, "none");
  }

 private:
  std::map<std::string, HttpHandler> exact_, prefix_;
};

class AuthApiTest : public ::testing::Test {
 protected:
  AuthApiTest() {
    EXPECT_TRUE(zk_.Create("/kess", "").ok());
    store_ = std::make_unique<AuthStore>(&zk_, AuthStore::Options());
    AuditLog::Options a;
    a.datacenter = "dc1";
    a.member_id = "m1";
    a.registry = &registry_;
    audit_ = std::make_unique<AuditLog>(&zk_, a);
    AuthApi::Options o;
    o.store = store_.get();
    o.audit = audit_.get();
    o.principal_of = [](const HttpRequest&) -> std::optional<Principal> {
      Principal p;
      p.kind = PrincipalKind::kBootstrap;
      p.name = "admin";
      p.role = Role::kAdmin;
      return p;
    };
    api_ = std::make_unique<AuthApi>(o);
    api_->Register(&routes_);
  }

  metrics::Registry registry_;
  zk::testing::FakeZkServer server_;
  zk::testing::FakeZkClient zk_{&server_};
  std::unique_ptr<AuthStore> store_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<AuthApi> api_;
  Routes routes_;
};

TEST_F(AuthApiTest, HostileBodiesNamesAndParametersAreRefused) {
  const char* bad_tokens[] = {
      "", "not json", "[]", "{\"name\":1,\"role\":\"viewer\"}",
      "{\"name\":\"x\"}", "{\"name\":\"x\",\"role\":\"root\"}",
      "{\"name\":\"../x\",\"role\":\"viewer\"}",
      "{\"name\":\"x\",\"role\":\"publisher\",\"namespaces\":\"a\"}",
      "{\"name\":\"x\",\"role\":\"publisher\",\"namespaces\":[1]}",
      "{\"name\":\"x\",\"role\":\"publisher\",\"namespaces\":[\"a/b\"]}",
      "{\"name\":\"x\",\"role\":\"publisher\"}",
      "{\"name\":\"x\",\"role\":\"viewer\",\"namespaces\":[\"a\"]}",
      "{\"role\":\"viewer\"}"};
  for (const char* body : bad_tokens) {
    HttpResponse r = routes_.Call("POST", "/api/v1/auth/tokens", body);
    EXPECT_EQ(r.status, 400) << body << " -> " << r.body;
  }
  EXPECT_EQ(routes_.Call("POST", "/api/v1/auth/tokens",
                         std::string(kMaxAuthBodyBytes + 1, '{'))
                .status,
            413);
  EXPECT_EQ(routes_.Call("POST", "/api/v1/auth/users",
                         R"({"name":"bob","role":"viewer","password":"short"})")
                .status,
            400);
  EXPECT_EQ(routes_.Call("POST", "/api/v1/auth/users",
                         R"({"name":"bob","role":"viewer","password":7})")
                .status,
            400);
  EXPECT_EQ(routes_.Call("DELETE", "/api/v1/auth/users/nobody").status, 404);
  EXPECT_EQ(routes_.Call("DELETE", "/api/v1/auth/users/..").status, 400);
  EXPECT_EQ(routes_.Call("DELETE", "/api/v1/auth/tokens/zz").status, 400);
  EXPECT_EQ(
      routes_.Call("DELETE", "/api/v1/auth/tokens/0123456789abcdef").status,
      404);
  EXPECT_EQ(routes_.Call("PUT", "/api/v1/auth/users/bob/password", "{").status,
            400);
  EXPECT_EQ(routes_.Call("PUT", "/api/v1/auth/users/bob/other", "{}").status,
            404);
  for (const auto& [k, v] : std::map<std::string, std::string>{
           {"since", "yesterday"}, {"since", "-5"}, {"limit", "0"},
           {"limit", "501"}, {"cursor", "!!"}}) {
    EXPECT_EQ(routes_.Call("GET", "/api/v1/audit", "", {{k, v}}).status, 400)
        << k << "=" << v;
  }
  // Nothing was created by any of it.
  EXPECT_TRUE(store_->Tokens().empty());
  EXPECT_TRUE(store_->Users().empty());
}

TEST_F(AuthApiTest, CreateListRevokeAndTheirAuditRecords) {
  HttpResponse created = routes_.Call(
      "POST", "/api/v1/auth/tokens",
      R"({"name":"ci","role":"publisher","namespaces":["pay*"]})");
  ASSERT_EQ(created.status, 200) << created.body;
  const size_t at = created.body.find("\"bearer\":\"") + 10;
  const std::string bearer = created.body.substr(at, 3 + 16 + 1 + 64);
  EXPECT_TRUE(store_->AuthenticateToken(bearer).has_value());
  HttpResponse list = routes_.Call("GET", "/api/v1/auth/tokens");
  EXPECT_TRUE(absl::StrContains(list.body, "\"name\":\"ci\""));
  EXPECT_FALSE(absl::StrContains(list.body, bearer.substr(20)));
  EXPECT_FALSE(absl::StrContains(list.body, "hash"));
  const std::string id = bearer.substr(3, 16);
  EXPECT_EQ(routes_.Call("DELETE", "/api/v1/auth/tokens/" + id).status, 200);
  EXPECT_FALSE(store_->AuthenticateToken(bearer).has_value());
  ASSERT_TRUE(audit_->Flush(absl::Seconds(5)));
  HttpResponse records = routes_.Call("GET", "/api/v1/audit", "",
                                      {{"what", "token."}, {"limit", "10"}});
  ASSERT_EQ(records.status, 200);
  EXPECT_TRUE(absl::StrContains(records.body, "token.create"));
  EXPECT_TRUE(absl::StrContains(records.body, "token.revoke"));
  EXPECT_TRUE(absl::StrContains(records.body, "\"who\":\"admin\""));
  EXPECT_FALSE(absl::StrContains(records.body, bearer.substr(20)));
  EXPECT_TRUE(absl::StrContains(
      routes_.Call("GET", "/api/v1/auth/whoami").body, "\"role\":\"admin\""));
}

TEST_F(AuthApiTest, AuditedRoutesRecordWritesOnly) {
  AuditedRoutes audited(
      &routes_, audit_.get(),
      [](const HttpRequest&) -> std::optional<Principal> {
        Principal p;
        p.name = "alice";
        return p;
      },
      "identity");
  audited.Handle("POST", "/api/v1/identities", [](const HttpRequest&) {
    return HttpResponse::Json(200, "{}");
  });
  audited.HandlePrefix("DELETE", "/api/v1/identities/", [](const HttpRequest&) {
    return HttpResponse::Error(absl::NotFoundError("no such identity"));
  });
  audited.Handle("GET", "/api/v1/identities", [](const HttpRequest&) {
    return HttpResponse::Json(200, "{}");
  });
  routes_.Call("POST", "/api/v1/identities", "{}");
  routes_.Call("DELETE", "/api/v1/identities/host/x");
  routes_.Call("GET", "/api/v1/identities");
  ASSERT_TRUE(audit_->Flush(absl::Seconds(5)));
  auto page = audit_->List({}, 10, "");
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->records.size(), 2u);
  EXPECT_EQ(page->records[1].action, "identity.post");
  EXPECT_EQ(page->records[1].who, "alice");
  EXPECT_EQ(page->records[1].result, "ok");
  EXPECT_EQ(page->records[0].action, "identity.delete");
  EXPECT_EQ(page->records[0].http_status, 404);
  EXPECT_EQ(page->records[0].result, "no such identity");
}

// The forwarding headers name the receiving mandator and the original
// client only when the request came with the peer credential; any other
// client's are ignored (it cannot fill the record's mandator field).
TEST(RequestRecordTest, ForwardingHeadersBelievedOnlyFromThePeer) {
  HttpRequest r;
  r.method = "PUT";
  r.path = "/api/v1/configs/a/k";
  r.remote_address = "127.0.0.7:4100";
  r.headers["x-kess-forwarded-by"] = "m-forged";
  r.headers["x-kess-forwarded-for"] = "192.0.2.1:5000";
  HttpResponse ok;
  ok.status = 200;
  AuditRecord client = RequestRecord(r, "alice", "config.put", "", ok);
  EXPECT_EQ(client.mandator, "");
  EXPECT_EQ(client.client, "127.0.0.7:4100");
  AuditRecord peer =
      RequestRecord(r, "alice", "config.put", "", ok, /*via_peer=*/true);
  EXPECT_EQ(peer.mandator, "m-forged");
  EXPECT_EQ(peer.client, "192.0.2.1:5000 via 127.0.0.7:4100");
}

}  // namespace
}  // namespace auth
}  // namespace mandator
}  // namespace kess
