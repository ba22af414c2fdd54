// kessctl services list|get|watch against canned answers in the formats of
// docs/http-api.md (GET /api/v1/services[/<svc>]) and docs/agent-api.md
// (POST /v1/subscriptions, GET /v1/watch). The watch's real agent end to
// end is tests/agent_watch_test.cc.
#include "kessctl/services_command.h"

#include <atomic>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/http/event_http_server.h"
#include "common/http_server.h"
#include "common/json_util.h"
#include "gtest/gtest.h"

namespace kess {
namespace kessctl {
namespace {

// A route-table cache file (docs/file-cache.md) as /v1/watch carries it.
std::string RouteFile(int64_t revision, const std::string& instances) {
  std::string table = absl::StrCat(
      "{\"format\":1,\"service\":\"payments\",\"revision\":", revision,
      ",\"instances\":[", instances, "]}");
  return absl::StrCat(
      "{\"format\":1,\"type\":\"route\",\"service\":\"payments\","
      "\"revision\":",
      revision, ",\"absent\":false,\"crc32\":0,\"encoding\":\"utf8\","
                "\"value\":",
      JsonQuote(table), ",\"content_type\":\"\"}");
}

const char kA[] =
    "{\"id\":\"pay-1\",\"host\":\"h1\",\"address\":\"127.0.0.1:80\","
    "\"datacenter\":\"dc1\",\"weight\":100,\"state\":\"healthy\","
    "\"health\":\"up\",\"check_status\":\"passing\"}";
const char kB[] =
    "{\"id\":\"pay-2\",\"host\":\"h2\",\"address\":\"127.0.0.2:80\","
    "\"datacenter\":\"dc2\",\"weight\":50,\"state\":\"healthy\","
    "\"health\":\"up\"}";
const char kBSuspect[] =
    "{\"id\":\"pay-2\",\"host\":\"h2\",\"address\":\"127.0.0.2:80\","
    "\"datacenter\":\"dc2\",\"weight\":50,\"state\":\"suspect\","
    "\"health\":\"up\",\"check_status\":\"critical\","
    "\"check_output\":\"HTTP 500\"}";

class ServicesCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpServer::Options opts;
    opts.registry = &registry_;
    auto server = HttpServer::Create(opts);
    ASSERT_TRUE(server.ok());
    server_ = std::move(server).value();
    server_->Handle("GET", "/api/v1/services", [](const HttpRequest&) {
      return HttpResponse::Json(
          200,
          "{\"source\":\"dc1\",\"services\":[{\"name\":\"payments\","
          "\"revision\":40,\"instances\":3,\"datacenters\":{\"dc1\":"
          "{\"healthy\":2},\"dc2\":{\"suspect\":1}}}]}");
    });
    server_->HandlePrefix("GET", "/api/v1/services/", [](const HttpRequest& r) {
      if (r.path != "/api/v1/services/payments") {
        return HttpResponse::Error(absl::NotFoundError("no such service"));
      }
      return HttpResponse::Json(
          200, absl::StrCat("{\"source\":\"dc1\",\"service\":\"payments\","
                            "\"revision\":40,\"table\":{\"format\":1,"
                            "\"service\":\"payments\",\"revision\":40,"
                            "\"instances\":[",
                            kA, ",", kBSuspect,
                            "]},\"heartbeat_age_ms\":{\"pay-1\":120,"
                            "\"pay-2\":null}}"));
    });
    server_->Handle("POST", "/v1/subscriptions", [this](const HttpRequest& r) {
      absl::MutexLock lock(&mu_);
      subscribed_ = r.body;
      return HttpResponse::Json(200, "{\"subscriptions\":[]}");
    });
    server_->Handle("GET", "/v1/watch", [this](const HttpRequest& r) {
      absl::MutexLock lock(&mu_);
      watch_queries_.push_back(r.query_string);
      // Answers in turn: full, a timeout, one change, another change.
      static const std::vector<std::string>* const kAnswers =
          new std::vector<std::string>{
              absl::StrCat("{\"epoch\":\"e\",\"index\":5,\"full\":true,"
                           "\"timed_out\":false,\"changes\":[",
                           RouteFile(40, absl::StrCat(kA, ",", kB)), "]}"),
              "{\"epoch\":\"e\",\"index\":5,\"full\":false,\"timed_out\":true,"
              "\"changes\":[]}",
              absl::StrCat("{\"epoch\":\"e\",\"index\":6,\"full\":false,"
                           "\"timed_out\":false,\"changes\":[",
                           RouteFile(41, absl::StrCat(kA, ",", kBSuspect)),
                           "]}"),
              absl::StrCat("{\"epoch\":\"e\",\"index\":7,\"full\":false,"
                           "\"timed_out\":false,\"changes\":[",
                           RouteFile(42, kBSuspect), "]}")};
      size_t i = std::min(watch_queries_.size() - 1, kAnswers->size() - 1);
      return HttpResponse::Json(200, (*kAnswers)[i]);
    });
    ASSERT_TRUE(server_->Start().ok());
    address_ = absl::StrCat("127.0.0.1:", server_->port());
  }

  int Run(std::vector<std::string> args, Options options) {
    out_.str("");
    err_.str("");
    Io io{nullptr, &out_, &err_};
    Client::Options c;
    c.addresses = {address_};
    auto client = Client::Create(c);
    return RunServices(args, options, io, client->get());
  }

  metrics::Registry registry_;
  std::unique_ptr<HttpServer> server_;
  std::string address_;
  std::ostringstream out_, err_;
  absl::Mutex mu_;
  std::string subscribed_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> watch_queries_ ABSL_GUARDED_BY(mu_);
};

TEST_F(ServicesCommandTest, ListCountsInstancesByState) {
  ASSERT_EQ(Run({"list"}, {}), kExitOk) << err_.str();
  EXPECT_EQ(out_.str(),
            "SERVICE   REVISION  INSTANCES  HEALTHY  SUSPECT  DISABLED  "
            "DATACENTERS\n"
            "payments  40        3          2        1        0         "
            "dc1:2 dc2:1\n");
  Options json;
  json.output = "json";
  ASSERT_EQ(Run({"list"}, json), kExitOk);
  EXPECT_TRUE(absl::StartsWith(out_.str(), "{\"source\":\"dc1\""));
}

TEST_F(ServicesCommandTest, GetShowsEveryInstance) {
  ASSERT_EQ(Run({"get", "payments"}, {}), kExitOk) << err_.str();
  const std::string out = out_.str();
  EXPECT_TRUE(absl::StartsWith(
      out, "payments: revision 40, 2 instances: healthy 1, suspect 1\n"))
      << out;
  EXPECT_TRUE(absl::StrContains(out, "ID     DC   HOST  ADDRESS"));
  EXPECT_TRUE(absl::StrContains(
      out, "pay-1  dc1  h1    127.0.0.1:80  healthy  100     up      passing "
           "  120 ms ago  -"))
      << out;
  EXPECT_TRUE(absl::StrContains(
      out, "pay-2  dc2  h2    127.0.0.2:80  suspect  50      up      critical"
           "  -           HTTP 500"))
      << out;
  EXPECT_EQ(Run({"get", "nothing"}, {}), kExitNotFound);
  EXPECT_EQ(Run({"get", "../etc"}, {}), kExitInvalid);
  EXPECT_EQ(Run({"get"}, {}), kExitUsage);
  EXPECT_EQ(Run({"bogus"}, {}), kExitUsage);
}

TEST_F(ServicesCommandTest, WatchPrintsTheTableThenChanges) {
  Options options;
  options.agent = address_;
  options.watch_changes = 3;
  ASSERT_EQ(Run({"watch", "payments"}, options), kExitOk) << err_.str();
  std::string out = out_.str();
  // Timestamps vary: compare from the first space of each line.
  std::vector<std::string> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line[0] == ' ' ? line : line.substr(line.find(' ') + 1));
  }
  std::vector<std::string> want = {
      "payments: revision 40, 2 instances: healthy 2",
      "  + pay-1 dc1 127.0.0.1:80 healthy weight 100 check passing",
      "  + pay-2 dc2 127.0.0.2:80 healthy weight 50",
      "payments: revision 41, 2 instances: healthy 1, suspect 1",
      "  ~ pay-2 dc2 127.0.0.2:80 suspect weight 50 check critical "
      "(HTTP 500)  (was healthy, weight 50)",
      "payments: revision 42, 1 instances: suspect 1",
      "  - pay-1 dc1 127.0.0.1:80 healthy weight 100 check passing",
  };
  EXPECT_EQ(lines, want) << out;
  absl::MutexLock lock(&mu_);
  EXPECT_EQ(subscribed_, "{\"app\":\"kessctl\",\"routes\":[\"payments\"]}");
  ASSERT_EQ(watch_queries_.size(), 4u);
  EXPECT_EQ(watch_queries_[0], "service=payments&timeout=60s");
  EXPECT_EQ(watch_queries_[1],
            "service=payments&timeout=60s&index=5&epoch=e");
  EXPECT_EQ(watch_queries_[3],
            "service=payments&timeout=60s&index=6&epoch=e");
}

TEST_F(ServicesCommandTest, WatchWithoutAnAgentExits5) {
  Options options;
  options.agent = "unix:/nonexistent/agent.sock";
  options.watch_changes = 1;
  EXPECT_EQ(Run({"watch", "payments"}, options), kExitUnavailable);
  EXPECT_TRUE(absl::StrContains(err_.str(), "set --agent or KESS_AGENT"));
}

// The agent restarting under a watch: the connection drops, kessctl retries
// and starts again from the full state (no index), and keeps printing.
TEST_F(ServicesCommandTest, WatchRetriesFromTheFullStateWhenTheAgentRestarts) {
  std::atomic<int> queries{0};
  absl::Mutex held_mu;
  std::vector<http::HttpResponder> held;
  std::vector<std::string> uris;
  auto make = [&](int port) {
    http::EventHttpServer::Options o;
    o.port = port;
    o.registry = &registry_;
    auto server = http::EventHttpServer::Create(o);
    EXPECT_TRUE(server.ok()) << server.status();
    (*server)->Handle("POST", "/v1/subscriptions", [](const HttpRequest&) {
      return HttpResponse::Json(200, "{\"subscriptions\":[]}");
    });
    (*server)->HandleAsync(
        "GET", "/v1/watch",
        [&](const HttpRequest& r, http::HttpResponder reply) {
          absl::MutexLock lock(&held_mu);
          uris.push_back(r.query_string);
          const int n = queries.fetch_add(1);
          if (n == 1) {
            held.push_back(reply);  // never answered: the agent goes away
            return;
          }
          reply.Send(HttpResponse::Json(
              200, absl::StrCat("{\"epoch\":\"e", n,
                                "\",\"index\":5,\"full\":true,"
                                "\"timed_out\":false,\"changes\":[",
                                RouteFile(40 + n, kA), "]}")));
        });
    EXPECT_TRUE((*server)->Start().ok());
    return std::move(server).value();
  };
  std::unique_ptr<http::EventHttpServer> agent = make(0);
  const int port = agent->port();
  Options options;
  options.agent = absl::StrCat("127.0.0.1:", port);
  options.watch_changes = 2;
  std::atomic<int> code{-1};
  std::thread watch([&] { code = Run({"watch", "payments"}, options); });
  // The first answer is in and the second query waits: the agent stops.
  for (int i = 0; i < 1000 && queries.load() < 2; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  const bool second = queries.load() >= 2;
  agent->Stop();
  agent.reset();
  agent = make(port);  // restarted on its port
  watch.join();
  ASSERT_TRUE(second);
  EXPECT_EQ(code.load(), kExitOk) << err_.str();
  absl::MutexLock lock(&held_mu);
  ASSERT_EQ(uris.size(), 3u);
  EXPECT_EQ(uris[1], "service=payments&timeout=60s&index=5&epoch=e0");
  EXPECT_EQ(uris[2], "service=payments&timeout=60s");  // from the start
  EXPECT_TRUE(absl::StrContains(err_.str(), "retrying")) << err_.str();
  EXPECT_TRUE(absl::StrContains(out_.str(), "revision 42")) << out_.str();
}

}  // namespace
}  // namespace kessctl
}  // namespace kess
