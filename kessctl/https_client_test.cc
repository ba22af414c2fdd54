// kessctl's client against HTTPS mandators: a server whose certificate
// verifies against --ca is used; one of another CA, or without any CA
// given, is refused with a clear error before the request (and its Bearer
// token) is sent.
#include <atomic>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/http/event_http_server.h"
#include "common/http_client.h"
#include "common/metrics.h"
#include "common/tls/testing/test_certs.h"
#include "gtest/gtest.h"
#include "kessctl/client.h"

namespace kess {
namespace kessctl {
namespace {

using tls::testing::TestCerts;

class HttpsClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<TestCerts> certs = TestCerts::Create("kessctl");
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = std::make_unique<TestCerts>(*std::move(certs));
    http::EventHttpServer::Options options;
    options.registry = &registry_;
    options.tls = certs_->ServerTls("mandator", false, &registry_);
    auto server = http::EventHttpServer::Create(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(server).value();
    server_->Handle("GET", "/api/v1/configs", [this](const HttpRequest& r) {
      requests_.fetch_add(1);
      if (r.Header("authorization") == "Bearer secret") tokens_.fetch_add(1);
      return HttpResponse::Json(200, "{\"namespaces\":[\"app\"]}");
    });
    ASSERT_TRUE(server_->Start().ok());
  }

  void TearDown() override { SetDefaultHttpsCaFile(""); }

  absl::StatusOr<std::string> List() {
    Client::Options options;
    options.addresses = {absl::StrCat("https://127.0.0.1:", server_->port())};
    options.token = "secret";
    auto client = Client::Create(options);
    if (!client.ok()) return client.status();
    return (*client)->Call({"GET", "/api/v1/configs", {}, ""});
  }

  metrics::Registry registry_;
  std::unique_ptr<TestCerts> certs_;
  std::unique_ptr<http::EventHttpServer> server_;
  std::atomic<int> requests_{0};
  std::atomic<int> tokens_{0};
};

TEST_F(HttpsClientTest, TheRightCaIsUsed) {
  SetDefaultHttpsCaFile(certs_->ca());  // kessctl --ca
  absl::StatusOr<std::string> body = List();
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body, "{\"namespaces\":[\"app\"]}");
  EXPECT_EQ(tokens_.load(), 1);
}

TEST_F(HttpsClientTest, AServerOfAnotherCaIsRefusedBeforeTheToken) {
  absl::StatusOr<TestCerts> other = TestCerts::Create("other");
  ASSERT_TRUE(other.ok()) << other.status();
  SetDefaultHttpsCaFile(other->ca());
  absl::StatusOr<std::string> body = List();
  ASSERT_FALSE(body.ok());
  EXPECT_EQ(ExitCodeFor(body.status()), kExitUnavailable);
  const std::string message(body.status().message());
  EXPECT_TRUE(absl::StrContains(message, "certificate is not accepted"))
      << message;
  EXPECT_TRUE(absl::StrContains(message, other->ca())) << message;
  EXPECT_EQ(requests_.load(), 0) << "the request reached an untrusted server";
}

TEST_F(HttpsClientTest, WithoutACaNothingIsSent) {
  SetDefaultHttpsCaFile("");
  absl::StatusOr<std::string> body = List();
  ASSERT_FALSE(body.ok());
  EXPECT_TRUE(absl::StrContains(body.status().message(), "no CA bundle"))
      << body.status();
  EXPECT_TRUE(absl::StrContains(body.status().message(), "--ca"))
      << body.status();
  EXPECT_EQ(requests_.load(), 0);
}

}  // namespace
}  // namespace kessctl
}  // namespace kess
