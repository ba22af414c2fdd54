// Client against the real mandator HTTP API (mandator/testing/api_server.h:
// HttpApi over the in-memory ZooKeeper), against a socket that never
// answers, and against nothing.
#include "kessctl/client.h"

#include <chrono>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/transport/testing/test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mandator/testing/api_server.h"
#include "zk_schema/testing/fake_zk.h"

namespace kess {
namespace kessctl {
namespace {

using ::kess::mandator::testing::ApiServer;
using ::testing::HasSubstr;

using transport::testing::SilentServer;

// "127.0.0.1:<port>" where nothing listens.
std::string RefusingAddress() {
  return absl::StrCat("127.0.0.1:", transport::testing::UnusedPort());
}

// The main DC's leader, over its own in-memory ZooKeeper.
class Mandator {
 public:
  Mandator() {
    ApiServer::Options options;
    options.zk = &zk_;
    auto server = ApiServer::Start(options);
    EXPECT_TRUE(server.ok()) << server.status();
    if (server.ok()) server_ = *std::move(server);
  }
  ApiServer* operator->() { return server_.get(); }

 private:
  zk::testing::FakeZkServer zk_;
  std::unique_ptr<ApiServer> server_;
};

std::unique_ptr<Client> MakeClient(std::vector<std::string> addresses,
                                   absl::Duration timeout = absl::Seconds(2),
                                   std::string token = "") {
  Client::Options options;
  options.addresses = std::move(addresses);
  options.timeout = timeout;
  options.token = std::move(token);
  auto client = Client::Create(options);
  EXPECT_TRUE(client.ok()) << client.status();
  return std::move(client).value();
}

const HttpCall kList{"GET", "/api/v1/configs", {}, ""};

TEST(ClientTest, CreateValidatesAndNormalisesAddresses) {
  Client::Options options;
  EXPECT_EQ(Client::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.addresses = {"localhost"};
  EXPECT_THAT(std::string(Client::Create(options).status().message()),
              HasSubstr("\"localhost\" is not host:port"));
  options.addresses = {"h:99999"};
  EXPECT_FALSE(Client::Create(options).ok());
  options.addresses = {" http://h:1/ ", "", "[::1]:7101"};
  auto client = Client::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ((*client)->addresses(),
            (std::vector<std::string>{"h:1", "[::1]:7101"}));
  options.timeout = absl::ZeroDuration();
  EXPECT_THAT(std::string(Client::Create(options).status().message()),
              HasSubstr("timeout must be positive, got 0"));
}

TEST(ClientTest, SkipsRefusedAddress) {
  Mandator m;
  auto client = MakeClient({RefusingAddress(), m->address()});
  auto body = client->Call(kList);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body, "{\"namespaces\":[]}");
  EXPECT_EQ(m->requests(), 1);
}

TEST(ClientTest, ReadThatTimesOutMovesOn) {
  SilentServer silent;
  ASSERT_TRUE(silent.ok());
  Mandator m;
  auto client =
      MakeClient({silent.address(), m->address()}, absl::Milliseconds(300));
  auto start = std::chrono::steady_clock::now();
  auto body = client->Call(kList);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_GE(std::chrono::steady_clock::now() - start,
            std::chrono::milliseconds(250));
}

TEST(ClientTest, WriteSentWithoutAnswerIsNotRetried) {
  SilentServer silent;
  ASSERT_TRUE(silent.ok());
  Mandator m;
  auto client =
      MakeClient({silent.address(), m->address()}, absl::Milliseconds(300));
  auto body =
      client->Call({"PUT", "/api/v1/configs/ns/k", {}, "{\"value\":\"v\"}"});
  EXPECT_EQ(body.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(body.status().message()),
              HasSubstr("may or may not have been applied"));
  EXPECT_EQ(m->requests(), 0);
  EXPECT_TRUE(absl::IsNotFound(m->store().Get("ns", "k").status()));
}

TEST(ClientTest, HttpErrorIsFinal) {
  Mandator first, second;
  first->InjectError(absl::UnavailableError("no leader"));
  auto client = MakeClient({first->address(), second->address()});
  auto body = client->Call(kList);
  EXPECT_EQ(body.status(), absl::UnavailableError("no leader"));
  EXPECT_EQ(second->requests(), 0);
}

TEST(ClientTest, NoneReachableListsEveryAddress) {
  const std::string a = RefusingAddress(), b = RefusingAddress();
  auto client = MakeClient({a, b});
  auto body = client->Call(kList);
  EXPECT_EQ(body.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(body.status().message(), "no mandator reachable at " + a +
                                         " (connection refused), " + b +
                                         " (connection refused)");
}

TEST(ClientTest, SendsTokenQueryAndBody) {
  Mandator m;
  auto client = MakeClient({m->address()}, absl::Seconds(2), "s3cret");
  // Compare-and-set on a key that does not exist: 409, nothing deleted.
  auto body = client->Call(
      {"DELETE", "/api/v1/configs/ns/k", {{"expected_revision", "7"}}, ""});
  EXPECT_EQ(body.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(std::string(body.status().message()),
              HasSubstr("expected revision 7, current revision 0 (the key "
                        "does not exist)"));
  HttpRequest seen = m->last_request();
  EXPECT_EQ(seen.Header("authorization"), "Bearer s3cret");
  EXPECT_EQ(seen.Query("expected_revision"), "7");
  ASSERT_TRUE(m->last_write().has_value());
  EXPECT_EQ(m->last_write()->del.expected_revision, 7);

  const HttpCall put_call{
      "PUT", "/api/v1/configs/ns/k", {}, R"({"value":"v","comment":"c"})"};
  auto put = client->Call(put_call);
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(*put, "{\"revision\":1,\"version\":1}");
  EXPECT_EQ(m->last_request().Header("content-type"), "application/json");
  EXPECT_EQ(m->last_write()->put.value, "v");
  EXPECT_EQ(m->last_write()->put.comment, "c");

  auto no_token = MakeClient({m->address()});
  ASSERT_TRUE(no_token->Call(kList).ok());
  EXPECT_EQ(m->last_request().Header("authorization"), "");
}

TEST(ClientTest, SendReportsOneAddress) {
  Mandator m;
  auto client = MakeClient({m->address()});
  auto answer = client->Send(m->address(), kList);
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->status, 200);
  auto refused = client->Send(RefusingAddress(), kList);
  EXPECT_EQ(refused.status(), absl::UnavailableError("connection refused"));
}

absl::Status FromAnswer(int status, const std::string& code,
                        const std::string& leader = "") {
  HttpAnswer answer;
  answer.status = status;
  answer.body = "{\"error\":{\"code\":\"" + code + "\",\"message\":\"m\"}}";
  answer.leader = leader;
  return Client::StatusFromAnswer(answer);
}

TEST(ClientTest, MapsAnswersToStatusAndExitCodes) {
  struct Case {
    int http;
    std::string code;
    absl::StatusCode want;
    ExitCode exit;
  };
  const Case cases[] = {
      {400, "INVALID_ARGUMENT", absl::StatusCode::kInvalidArgument,
       kExitInvalid},
      {413, "RESOURCE_EXHAUSTED", absl::StatusCode::kInvalidArgument,
       kExitInvalid},
      {401, "UNAUTHENTICATED", absl::StatusCode::kUnauthenticated, kExitAuth},
      {403, "PERMISSION_DENIED", absl::StatusCode::kPermissionDenied,
       kExitAuth},
      {404, "NOT_FOUND", absl::StatusCode::kNotFound, kExitNotFound},
      {409, "ABORTED", absl::StatusCode::kAborted, kExitConflict},
      {409, "FAILED_PRECONDITION", absl::StatusCode::kFailedPrecondition,
       kExitConflict},
      {409, "ALREADY_EXISTS", absl::StatusCode::kAlreadyExists, kExitConflict},
      {409, "WHATEVER", absl::StatusCode::kAborted, kExitConflict},
      {429, "RESOURCE_EXHAUSTED", absl::StatusCode::kResourceExhausted,
       kExitServer},
      {503, "UNAVAILABLE", absl::StatusCode::kUnavailable, kExitUnavailable},
      {504, "DEADLINE_EXCEEDED", absl::StatusCode::kDeadlineExceeded,
       kExitUnavailable},
      {500, "INTERNAL", absl::StatusCode::kInternal, kExitServer},
      {502, "", absl::StatusCode::kInternal, kExitServer},
  };
  for (const Case& c : cases) {
    absl::Status s = FromAnswer(c.http, c.code);
    EXPECT_EQ(s.code(), c.want) << c.http << " " << c.code;
    EXPECT_EQ(s.message(), "m");
    EXPECT_EQ(ExitCodeFor(s), c.exit) << c.http << " " << c.code;
  }
  EXPECT_TRUE(FromAnswer(200, "").ok());
  EXPECT_EQ(ExitCodeFor(absl::OkStatus()), kExitOk);
  EXPECT_EQ(FromAnswer(503, "UNAVAILABLE", "127.0.0.1:7101").message(),
            "m (leader: 127.0.0.1:7101)");
}

TEST(ClientTest, NonJsonErrorBodyKeepsItsText) {
  HttpAnswer answer;
  answer.status = 502;
  answer.body = "  Bad Gateway\n";
  EXPECT_EQ(Client::StatusFromAnswer(answer),
            absl::InternalError("Bad Gateway"));
  answer.body = "";
  EXPECT_EQ(Client::StatusFromAnswer(answer).message(), "HTTP 502");
}

}  // namespace
}  // namespace kessctl
}  // namespace kess
