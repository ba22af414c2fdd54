// NamespaceApi's handlers on the in-memory ZooKeeper: GET and PUT of a
// namespace's settings, hostile and careless bodies refused with 400
// before the write is routed, and the route callback honoured (a slave
// DC's refusal reaches the client and nothing is stored).
#include "mandator/namespace_api.h"

#include <map>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "mandator/core/config_store.h"
#include "mandator/testing/test_util.h"

namespace kess {
namespace mandator {
namespace {

using ::kess::mandator::testing::TestAcl;

// The routes an API registers, dispatched by method and longest prefix,
// without a server.
class RecordedRoutes : public HttpRoutes {
 public:
  void Handle(const std::string& method, const std::string& path,
              HttpHandler handler) override {
    exact_[method + " " + path] = std::move(handler);
  }
  void HandlePrefix(const std::string& method, const std::string& prefix,
                    HttpHandler handler) override {
    prefixes_[method + " " + prefix] = std::move(handler);
  }
  HttpResponse Dispatch(const HttpRequest& request) const {
    const std::string key = request.method + " " + request.path;
    if (auto it = exact_.find(key); it != exact_.end()) {
      return it->second(request);
    }
    const HttpHandler* best = nullptr;
    size_t best_length = 0;
    for (const auto& [prefix, handler] : prefixes_) {
      if (key.compare(0, prefix.size(), prefix) == 0 &&
          prefix.size() > best_length) {
        best = &handler;
        best_length = prefix.size();
      }
    }
    if (best == nullptr) return HttpResponse::Text(404, "no route");
    return (*best)(request);
  }

 private:
  std::map<std::string, HttpHandler> exact_;
  std::map<std::string, HttpHandler> prefixes_;
};

class NamespaceApiTest : public mandator::testing::FakeZkTest {
 protected:
  void SetUp() override {
    FakeZkTest::SetUp();
    auto store = core::ConfigStore::Create(
        client_.get(),
        core::ConfigStore::Options{*layout_, TestAcl(), 5, "m1"});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(store).value();
    NamespaceApi::Options options;
    options.store = &store_->namespace_settings();
    options.route = [this](const HttpRequest&,
                           const std::function<HttpResponse()>& commit) {
      ++routed_;
      return refuse_ ? HttpResponse::Error(absl::FailedPreconditionError(
                           "this DC is not the main DC"))
                     : commit();
    };
    options.author = [](const HttpRequest&) { return std::string("admin"); };
    api_ = std::make_unique<NamespaceApi>(std::move(options));
    api_->Register(&routes_);
  }

  HttpResponse Call(const std::string& method, const std::string& path,
                    const std::string& body = "") {
    HttpRequest request;
    request.method = method;
    request.path = path;
    request.body = body;
    return routes_.Dispatch(request);
  }

  std::unique_ptr<core::ConfigStore> store_;
  std::unique_ptr<NamespaceApi> api_;
  RecordedRoutes routes_;
  int routed_ = 0;
  bool refuse_ = false;
};

TEST_F(NamespaceApiTest, PutThenGet) {
  HttpResponse put = Call("PUT", "/api/v1/namespaces/app/settings",
                          R"({"format":"json","json_schema":{"type":"object"}})");
  EXPECT_EQ(put.status, 200) << put.body;
  EXPECT_NE(put.body.find("\"format\":\"json\""), std::string::npos);
  EXPECT_NE(put.body.find("\"author\":\"admin\""), std::string::npos);
  HttpResponse get = Call("GET", "/api/v1/namespaces/app/settings");
  EXPECT_EQ(get.status, 200);
  EXPECT_NE(get.body.find("\"json_schema\":{\"type\":\"object\"}"),
            std::string::npos)
      << get.body;
  // Unset: empty format, null schema.
  HttpResponse other = Call("GET", "/api/v1/namespaces/other/settings");
  EXPECT_EQ(other.status, 200);
  EXPECT_NE(other.body.find("\"format\":\"\",\"json_schema\":null"),
            std::string::npos)
      << other.body;
  // A schema given as a string holding one.
  EXPECT_EQ(Call("PUT", "/api/v1/namespaces/app/settings",
                 R"({"format":"yaml","json_schema":"{\"type\":\"object\"}"})")
                .status,
            200);
  // Clearing.
  EXPECT_EQ(Call("PUT", "/api/v1/namespaces/app/settings", "{}").status, 200);
  EXPECT_EQ(store_->namespace_settings().Get("app")->format, "");
}

TEST_F(NamespaceApiTest, BadBodiesAreRefusedBeforeRouting) {
  for (const char* body : {
           "", "[]", "{", R"({"format":"toml"})", R"({"format":7})",
           R"({"format":"json","json_schema":{"type":7}})",
           R"({"format":"json","json_schema":42})",
           R"({"format":"json","extra":1})",
       }) {
    HttpResponse r = Call("PUT", "/api/v1/namespaces/app/settings", body);
    EXPECT_EQ(r.status, 400) << body << " -> " << r.body;
  }
  const std::string huge = "{\"format\":\"json\",\"json_schema\":\"" +
                           std::string(300 * 1024, 'x') + "\"}";
  EXPECT_EQ(Call("PUT", "/api/v1/namespaces/app/settings", huge).status, 400);
  EXPECT_EQ(routed_, 0);
  // The leader's own checks: a schema needs a json or yaml format.
  HttpResponse no_format = Call("PUT", "/api/v1/namespaces/app/settings",
                                R"({"json_schema":{"type":"object"}})");
  EXPECT_EQ(no_format.status, 400) << no_format.body;
  EXPECT_EQ(store_->namespace_settings().Get("app")->json_schema, "");
}

TEST_F(NamespaceApiTest, PathsAndTheRoute) {
  EXPECT_EQ(Call("GET", "/api/v1/namespaces/app").status, 404);
  EXPECT_EQ(Call("GET", "/api/v1/namespaces/app/settings/x").status, 404);
  EXPECT_EQ(Call("GET", "/api/v1/namespaces/../settings").status, 400);
  refuse_ = true;
  HttpResponse refused = Call("PUT", "/api/v1/namespaces/app/settings",
                              R"({"format":"json"})");
  EXPECT_EQ(refused.status, 409) << refused.body;
  EXPECT_EQ(store_->namespace_settings().Get("app")->format, "");
}

TEST_F(NamespaceApiTest, SecretNeedsTheLeadersKeyRing) {
  // This store has no key ring directory: the leader refuses to mark the
  // namespace secret, and nothing changes.
  HttpResponse put = Call("PUT", "/api/v1/namespaces/app/settings",
                          R"({"format":"text","secret":true})");
  EXPECT_EQ(put.status, 409) << put.body;
  EXPECT_NE(put.body.find("key ring"), std::string::npos) << put.body;
  HttpResponse get = Call("GET", "/api/v1/namespaces/app/settings");
  EXPECT_NE(get.body.find("\"secret\":false"), std::string::npos)
      << get.body;
  EXPECT_EQ(Call("PUT", "/api/v1/namespaces/app/settings",
                 R"({"secret":"yes"})")
                .status,
            400);
}

}  // namespace
}  // namespace mandator
}  // namespace kess
