#include "common/http_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/http_client.h"
#include "common/version.h"
#include "common/json_util.h"
#include "common/transport/testing/test_util.h"
#include "gtest/gtest.h"

namespace kess {
namespace {

// One request to the server under test through common/http_client; the
// reply, or status 0 with the error as the body if there was none.
HttpReply Fetch(int port, const std::string& method, const std::string& uri,
                const std::string& body = "") {
  absl::StatusOr<HttpReply> reply =
      HttpCall(absl::StrCat("127.0.0.1:", port), method, uri, body);
  if (reply.ok()) return *std::move(reply);
  HttpReply failed;
  failed.body = std::string(reply.status().message());
  return failed;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpServer::Options opts;
    opts.registry = &registry_;
    opts.max_body_bytes = 1024;
    opts.health = [this] {
      return healthy_ ? absl::OkStatus()
                      : absl::UnavailableError("zookeeper unreachable");
    };
    auto s = HttpServer::Create(opts);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(s).value();
    server_->Handle("POST", "/echo", [](const HttpRequest& r) {
      return HttpResponse::Text(200, r.Query("p") + ":" + r.body);
    });
    server_->HandlePrefix("GET", "/items/", [](const HttpRequest& r) {
      return HttpResponse::Json(200, "{\"path\":" + JsonQuote(r.path) + "}");
    });
    server_->HandlePrefix("GET", "/items/special/", [](const HttpRequest&) {
      return HttpResponse::Text(200, "special");
    });
    server_->Handle("GET", "/boom", [](const HttpRequest&) -> HttpResponse {
      throw std::runtime_error("kaboom");
    });
    server_->Handle("GET", "/err", [](const HttpRequest&) {
      return HttpResponse::Error(absl::NotFoundError("key a.b not found"));
    });
    ASSERT_TRUE(server_->Start().ok());
  }

  metrics::Registry registry_;
  std::atomic<bool> healthy_{true};
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, RoutesExactAndLongestPrefix) {
  HttpReply r = Fetch(server_->port(), "POST", "/echo?p=x%20y", "body");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "x y:body");
  EXPECT_EQ(Fetch(server_->port(), "GET", "/items/a%2Fb").body,
            "{\"path\":\"/items/a/b\"}");
  EXPECT_EQ(Fetch(server_->port(), "GET", "/items/special/1").body, "special");
}

TEST_F(HttpServerTest, UnknownPathAndWrongMethod) {
  HttpReply r = Fetch(server_->port(), "GET", "/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("NOT_FOUND"), std::string::npos) << r.body;
  r = Fetch(server_->port(), "GET", "/echo");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.Header("allow"), "POST");
}

TEST_F(HttpServerTest, OversizedBodyGets413AndServerKeepsServing) {
  HttpReply r = Fetch(server_->port(), "POST", "/echo", std::string(1025, 'x'));
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(
      Fetch(server_->port(), "POST", "/echo", std::string(1024, 'x')).status,
      200);
}

TEST_F(HttpServerTest, ThrowingHandlerGives500NotACrash) {
  EXPECT_EQ(Fetch(server_->port(), "GET", "/boom").status, 500);
  EXPECT_EQ(Fetch(server_->port(), "GET", "/healthz").status, 200);
}

TEST_F(HttpServerTest, ErrorMapsStatusCode) {
  HttpReply r = Fetch(server_->port(), "GET", "/err");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body,
            "{\"error\":{\"code\":\"NOT_FOUND\",\"message\":\"key a.b not "
            "found\"}}");
}

TEST_F(HttpServerTest, HealthzReflectsHealth) {
  HttpReply ok = Fetch(server_->port(), "GET", "/healthz");
  EXPECT_EQ(ok.body, "ok\n");
  EXPECT_EQ(ok.Header("x-kess-version"), BuildVersion());
  EXPECT_EQ(ok.Header("x-kess-commit"), BuildCommit());
  healthy_ = false;
  HttpReply r = Fetch(server_->port(), "GET", "/healthz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "zookeeper unreachable\n");
  EXPECT_EQ(r.Header("x-kess-version"), BuildVersion());
}

TEST_F(HttpServerTest, MetricsCountRequests) {
  Fetch(server_->port(), "POST", "/echo", "a");
  Fetch(server_->port(), "GET", "/nope");
  std::string text = Fetch(server_->port(), "GET", "/metrics").body;
  EXPECT_NE(
      text.find("kess_http_requests_total{code=\"200\",route=\"/echo\"} 1"),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find("kess_http_requests_total{code=\"404\",route=\"unmatched\"} 1"),
      std::string::npos);
  EXPECT_NE(text.find("# TYPE kess_http_request_duration_seconds histogram"),
            std::string::npos);
}

TEST(HttpServerAdmitTest, RefusedBeforeTheHandlerAndTheBody) {
  metrics::Registry registry;
  HttpServer::Options opts;
  opts.registry = &registry;
  opts.max_body_bytes = 16;
  opts.admit = [](const HttpRequest& r) -> std::optional<HttpResponse> {
    if (r.Header("authorization") == "Bearer ok") return std::nullopt;
    return HttpResponse::Error(absl::UnauthenticatedError("who are you"));
  };
  auto server = HttpServer::Create(opts);
  ASSERT_TRUE(server.ok()) << server.status();
  std::atomic<int> calls{0};
  (*server)->Handle("POST", "/w", [&calls](const HttpRequest&) {
    ++calls;
    return HttpResponse::Text(200, "done");
  });
  ASSERT_TRUE((*server)->Start().ok());
  // Refused with 401, not 413: the oversized body was never read.
  HttpReply r = Fetch((*server)->port(), "POST", "/w", std::string(100, 'x'));
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.body.find("who are you"), std::string::npos);
  EXPECT_EQ(calls.load(), 0);
  // An unknown path is still 404 (admit sees only routed requests).
  EXPECT_EQ(Fetch((*server)->port(), "GET", "/nothing").status, 404);
}

TEST(HttpServerBodyLimitTest, PerPathLimitRefusesBeforeReadingTheBody) {
  metrics::Registry registry;
  HttpServer::Options opts;
  opts.registry = &registry;
  opts.max_body_bytes_by_path["/login"] = 64;
  auto server = HttpServer::Create(opts);
  ASSERT_TRUE(server.ok()) << server.status();
  std::atomic<int> calls{0};
  for (const char* path : {"/login", "/other"}) {
    (*server)->Handle("POST", path, [&calls](const HttpRequest& r) {
      ++calls;
      return HttpResponse::Text(200, std::to_string(r.body.size()));
    });
  }
  ASSERT_TRUE((*server)->Start().ok());
  // 24 MiB declared, none sent: refused on the Content-Length alone.
  absl::StatusOr<int> status = transport::testing::HeadOnlyRequestStatus(
      (*server)->port(), "POST", "/login", 24 << 20, {}, absl::Seconds(10));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(*status, 413);
  EXPECT_EQ(Fetch((*server)->port(), "POST", "/login", std::string(65, 'x'))
                .status,
            413);
  EXPECT_EQ(calls.load(), 0);
  EXPECT_EQ(Fetch((*server)->port(), "POST", "/login", std::string(64, 'x'))
                .status,
            200);
  // Other paths keep the server-wide limit.
  EXPECT_EQ(Fetch((*server)->port(), "POST", "/other", std::string(1000, 'x'))
                .status,
            200);
}

TEST(HttpServerCreateTest, ServesOnAUnixSocketWithItsMode) {
  metrics::Registry registry;
  // sun_path holds 107 bytes: not under the (long) test tmpdir.
  char dir[] = "/tmp/kess-http-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = absl::StrCat(dir, "/api.sock");
  HttpServer::Options opts;
  opts.registry = &registry;
  opts.unix_socket = path;
  opts.unix_socket_mode = 0600;
  {  // a stale socket (its server died without removing it) is replaced
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path.data(), path.size());
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    close(fd);
  }
  for (int round = 0; round < 2; ++round) {
    auto server = HttpServer::Create(opts);
    ASSERT_TRUE(server.ok()) << server.status();
    (*server)->Handle("PUT", "/x", [](const HttpRequest& r) {
      return HttpResponse::Text(200, "got " + r.body);
    });
    (*server)->Handle("GET", "/peer", [](const HttpRequest& r) {
      return HttpResponse::Text(
          200, r.peer.has_value() ? absl::StrCat("uid=", r.peer->uid) : "none");
    });
    ASSERT_TRUE((*server)->Start().ok());
    // A live socket is never taken over by a second server.
    EXPECT_EQ(HttpServer::Create(opts).status().code(),
              absl::StatusCode::kFailedPrecondition);
    auto peer = HttpCall("unix:" + path, "GET", "/peer");
    ASSERT_TRUE(peer.ok()) << peer.status();
    EXPECT_EQ(peer->body, absl::StrCat("uid=", getuid()));
    struct stat st;
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    auto reply = HttpCall("unix:" + path, "PUT", "/x", "{}");
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(reply->status, 200);
    EXPECT_EQ(reply->body, "got {}");
  }
  // A regular file in the way is not replaced.
  unlink(path.c_str());
  FILE* f = fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fclose(f);
  auto refused = HttpServer::Create(opts);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(HttpCall("unix:" + path + ".none", "GET", "/x").status().code(),
            absl::StatusCode::kUnavailable);
  unlink(path.c_str());
  // A directory others may write to (without the sticky bit) is refused.
  ASSERT_EQ(chmod(dir, 0777), 0);
  EXPECT_EQ(HttpServer::Create(opts).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(rmdir(dir), 0);  // nothing left behind
  opts.unix_socket = "/" + std::string(120, 'x');
  EXPECT_EQ(HttpServer::Create(opts).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(HttpServerCreateTest, PortInUseIsAClearError) {
  metrics::Registry registry;
  HttpServer::Options opts;
  opts.registry = &registry;
  auto first = HttpServer::Create(opts);
  ASSERT_TRUE(first.ok());
  opts.port = (*first)->port();
  auto second = HttpServer::Create(opts);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find("cannot listen on 127.0.0.1:"),
            std::string::npos);
}

}  // namespace
}  // namespace kess
