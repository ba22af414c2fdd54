// ApiServer: the real API over the in-memory ZooKeeper behaves as a DC of
// mandators does: the first server leads and commits, another forwards to
// it, a slave DC refuses, a leader without its ZooKeeper connection pauses,
// the admin secret gates the API; and the test controls.
#include "mandator/testing/api_server.h"

#include <memory>
#include <string>

#include "common/http_client.h"
#include "common/testing/wait_for.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "zk_schema/testing/fake_zk.h"

namespace kess {
namespace mandator {
namespace testing {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = absl::Seconds(10);
constexpr char kPut[] = R"({"value":"v1","author":"alice"})";

std::unique_ptr<ApiServer> Start(ApiServer::Options options) {
  absl::StatusOr<std::unique_ptr<ApiServer>> server =
      ApiServer::Start(std::move(options));
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

ApiServer::Options In(zk::testing::FakeZkServer* zk, const std::string& id) {
  ApiServer::Options options;
  options.zk = zk;
  options.member_id = id;
  return options;
}

HttpReply Call(const ApiServer& server, const std::string& method,
               const std::string& uri, const std::string& body = "",
               const std::string& token = "") {
  std::vector<std::pair<std::string, std::string>> headers;
  if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
  absl::StatusOr<HttpReply> reply =
      HttpCall(server.address(), method, uri, body, kTimeout, headers);
  EXPECT_TRUE(reply.ok()) << reply.status();
  return reply.ok() ? *std::move(reply) : HttpReply();
}

TEST(ApiServerTest, FirstLeadsOthersForward) {
  zk::testing::FakeZkServer dc1;
  std::unique_ptr<ApiServer> m1 = Start(In(&dc1, "m1"));
  std::unique_ptr<ApiServer> m2 = Start(In(&dc1, "m2"));
  ASSERT_TRUE(m1 && m2);
  EXPECT_TRUE(m1->IsLeader());
  EXPECT_FALSE(m2->IsLeader());

  HttpReply put = Call(*m2, "PUT", "/api/v1/configs/ns/k", kPut);
  EXPECT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(put.body, R"({"revision":1,"version":1})");
  EXPECT_EQ(put.Header("x-kess-forwarded-to"), m1->address());
  // The leader parsed and committed it; the follower only forwarded.
  ASSERT_TRUE(m1->last_write().has_value());
  EXPECT_EQ(m1->last_write()->put.author, "alice");
  EXPECT_FALSE(m2->last_write().has_value());
  EXPECT_EQ(m2->last_request().method, "PUT");
  EXPECT_EQ(m2->requests(), 1);

  HttpReply get = Call(*m2, "GET", "/api/v1/configs/ns/k");
  EXPECT_EQ(get.status, 200);
  EXPECT_THAT(get.body, HasSubstr(R"("value":"v1")"));
  absl::StatusOr<core::Config> stored = m1->store().Get("ns", "k");
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->record.meta().writer(), "m1");

  HttpReply status = Call(*m2, "GET", "/api/v1/status");
  EXPECT_THAT(status.body,
              HasSubstr(absl::StrCat(R"("member_id":"m2","leader":{"id":"m1",)",
                                     R"("http_address":")", m1->address(),
                                     R"("},"is_leader":false,"revision":1)")));
}

TEST(ApiServerTest, SlaveDatacenterRefusesWritesAndAmendsStatus) {
  zk::testing::FakeZkServer dc2;
  ApiServer::Options options = In(&dc2, "m3");
  options.datacenter = "dc2";
  options.is_main = false;
  options.main_datacenter = "dc1";
  options.amend_status = [](StatusInfo* s) {
    s->main_revision = s->revision + 2;
    s->replication_lag_seconds = 0.5;
  };
  std::unique_ptr<ApiServer> m3 = Start(options);
  ASSERT_TRUE(m3);
  EXPECT_TRUE(m3->IsLeader());
  HttpReply put = Call(*m3, "PUT", "/api/v1/configs/ns/k", kPut);
  EXPECT_EQ(put.status, 409);
  EXPECT_THAT(put.body, HasSubstr("datacenter dc2 is not the main datacenter"));
  EXPECT_FALSE(m3->last_write().has_value());

  // Written as replication would, with no fence.
  core::PutRequest replicated;
  replicated.ns = "ns";
  replicated.key = "k";
  replicated.value = "v1";
  ASSERT_TRUE(m3->store().Put(replicated).ok());
  HttpReply status = Call(*m3, "GET", "/api/v1/status");
  EXPECT_THAT(status.body, HasSubstr(R"("revision":1,"main_revision":3,)"
                                     R"("replication_lag_revisions":2,)"
                                     R"("replication_lag_seconds":0.5)"));
}

TEST(ApiServerTest, LeaderWithoutZooKeeperPauses) {
  zk::testing::FakeZkServer dc1;
  std::unique_ptr<ApiServer> m1 = Start(In(&dc1, "m1"));
  ASSERT_TRUE(m1);
  m1->zk_client().DropConnection();
  ASSERT_TRUE(
      kess::testing::WaitFor([&] { return !m1->IsLeader(); }, kTimeout));
  HttpReply put = Call(*m1, "PUT", "/api/v1/configs/ns/k", kPut);
  EXPECT_EQ(put.status, 503);
  EXPECT_THAT(put.body, HasSubstr("has lost its ZooKeeper connection"));
  m1->zk_client().RestoreConnection();
  ASSERT_TRUE(kess::testing::WaitFor([&] { return m1->IsLeader(); }, kTimeout));
  EXPECT_EQ(Call(*m1, "PUT", "/api/v1/configs/ns/k", kPut).status, 200);
}

TEST(ApiServerTest, AdminSecretAndInjectedErrors) {
  zk::testing::FakeZkServer dc1;
  ApiServer::Options options = In(&dc1, "m1");
  options.admin_secret = "test-admin-secret";
  std::unique_ptr<ApiServer> m1 = Start(options);
  ASSERT_TRUE(m1);
  EXPECT_EQ(Call(*m1, "GET", "/api/v1/configs").status, 401);
  EXPECT_EQ(Call(*m1, "GET", "/api/v1/configs", "", "wrong-token").status, 401);
  EXPECT_EQ(Call(*m1, "GET", "/api/v1/configs", "", "test-admin-secret").status,
            200);
  EXPECT_EQ(Call(*m1, "GET", "/api/v1/status").status, 200);  // open

  m1->InjectError(absl::ResourceExhaustedError("slow down"));
  HttpReply refused =
      Call(*m1, "GET", "/api/v1/configs", "", "test-admin-secret");
  EXPECT_EQ(refused.status, 429);
  EXPECT_THAT(refused.body, HasSubstr("slow down"));
  EXPECT_EQ(Call(*m1, "GET", "/healthz").status, 200);  // not /api/v1
  m1->InjectError(absl::OkStatus());
  EXPECT_EQ(Call(*m1, "GET", "/api/v1/configs", "", "test-admin-secret").status,
            200);
  EXPECT_EQ(m1->requests(), 6);
  EXPECT_EQ(m1->last_request().Header("authorization"),
            "Bearer test-admin-secret");
}

}  // namespace
}  // namespace testing
}  // namespace mandator
}  // namespace kess
