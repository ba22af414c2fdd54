// A follower's write forwarding over HTTPS (HttpApi::Options::https_peers):
// the leader at https://<its published address> is verified against the
// CA (HttpCall's default, the daemon's --tls_ca); a leader of another CA
// is refused before the write and the admin Bearer leave, and the client
// is told the leader is unreachable (503, nothing written).
#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/http/event_http_server.h"
#include "common/http_client.h"
#include "common/metrics.h"
#include "common/tls/testing/test_certs.h"
#include "gtest/gtest.h"
#include "mandator/http_api.h"
#include "zk_schema/schema.pb.h"

namespace kess {
namespace mandator {
namespace {

using tls::testing::TestCerts;

// A leader's HTTPS server with `certs`' mandator certificate that takes
// every PUT.
class FakeLeader {
 public:
  explicit FakeLeader(const TestCerts& certs) {
    http::EventHttpServer::Options options;
    options.registry = &registry_;
    options.tls = certs.ServerTls("mandator", false, &registry_);
    auto server = http::EventHttpServer::Create(options);
    EXPECT_TRUE(server.ok()) << server.status();
    server_ = std::move(server).value();
    server_->HandlePrefix("PUT", "/api/v1/configs/", [this](const HttpRequest& r) {
      puts_.fetch_add(1);
      if (r.Header("authorization") == "Bearer peer-secret" &&
          r.Header("x-kess-forwarded-by") == "m2") {
        authorized_.fetch_add(1);
      }
      return HttpResponse::Json(200, "{\"revision\":7}");
    });
    EXPECT_TRUE(server_->Start().ok());
  }
  std::string published() const {
    return absl::StrCat("127.0.0.1:", server_->port());
  }
  int puts() const { return puts_.load(); }
  int authorized() const { return authorized_.load(); }

 private:
  metrics::Registry registry_;
  std::unique_ptr<http::EventHttpServer> server_;
  std::atomic<int> puts_{0};
  std::atomic<int> authorized_{0};
};

HttpResponse ForwardTo(const std::string& leader_address) {
  HttpApi::Options options;
  options.member_id = "m2";
  options.datacenter = "dc1";
  options.is_main = true;
  options.leads = [] { return false; };
  options.elected = [] { return false; };
  options.leader = [leader_address]()
      -> absl::StatusOr<std::optional<zk::MemberInfo>> {
    zk::MemberInfo info;
    info.set_id("m1");
    info.set_http_address(leader_address);
    return std::optional<zk::MemberInfo>(info);
  };
  options.forward_timeout = absl::Seconds(5);
  options.forward_authorization = "Bearer peer-secret";
  options.https_peers = true;
  HttpApi api(options);
  HttpRequest request;
  request.method = "PUT";
  request.path = "/api/v1/configs/ns/k";
  request.body = "{\"value\":\"v\"}";
  return api.Route(request, [] {
    return HttpResponse::Error(absl::InternalError("not the leader"));
  });
}

TEST(HttpsForwardTest, TheLeaderIsCalledOverVerifiedHttps) {
  absl::StatusOr<TestCerts> cluster = TestCerts::Create("cluster");
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  SetDefaultHttpsCaFile(cluster->ca());  // the daemon's --tls_ca
  FakeLeader leader(*cluster);
  HttpResponse r = ForwardTo(leader.published());
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(leader.authorized(), 1);
  SetDefaultHttpsCaFile("");
}

TEST(HttpsForwardTest, ALeaderOfAnotherCaGetsNothing) {
  absl::StatusOr<TestCerts> cluster = TestCerts::Create("cluster");
  absl::StatusOr<TestCerts> other = TestCerts::Create("other");
  ASSERT_TRUE(cluster.ok() && other.ok());
  SetDefaultHttpsCaFile(cluster->ca());
  FakeLeader impostor(*other);
  HttpResponse r = ForwardTo(impostor.published());
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_TRUE(absl::StrContains(r.body, "certificate is not accepted"))
      << r.body;
  EXPECT_EQ(impostor.puts(), 0) << "the write reached an unverified leader";
  SetDefaultHttpsCaFile("");
}

}  // namespace
}  // namespace mandator
}  // namespace kess
