#include "common/http/event_http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/http_client.h"
#include "common/version.h"
#include "common/testing/wait_for.h"
#include "common/transport/testing/test_util.h"
#include "gtest/gtest.h"

namespace kess {
namespace http {
namespace {

using transport::testing::ConnectRaw;
using transport::testing::WaitForPeerClose;
using transport::testing::WriteAll;

// Reads from a blocking socket until `count` whole responses (by
// Content-Length) arrived, the peer closed, or `timeout` passed. Returns
// everything read.
std::string ReadResponses(int fd, int count, absl::Duration timeout) {
  std::string in;
  auto deadline = absl::Now() + timeout;
  int complete = 0;
  while (complete < count && absl::Now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    int ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (poll(&p, 1, std::max(1, ms)) <= 0) continue;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    in.append(buf, static_cast<size_t>(n));
    // Count complete responses.
    complete = 0;
    size_t pos = 0;
    while (true) {
      size_t end = in.find("\r\n\r\n", pos);
      if (end == std::string::npos) break;
      size_t cl = in.find("Content-Length: ", pos);
      if (cl == std::string::npos || cl > end) break;
      size_t len = std::stoul(in.substr(cl + 16));
      if (in.size() < end + 4 + len) break;
      ++complete;
      pos = end + 4 + len;
    }
  }
  return in;
}

int StatusOf(const std::string& response) {
  if (!absl::StartsWith(response, "HTTP/1.1 ")) return 0;
  return std::atoi(response.c_str() + 9);
}

class EventHttpServerTest : public ::testing::Test {
 protected:
  void StartServer(EventHttpServer::Options opts) {
    opts.registry = &registry_;
    auto server = EventHttpServer::Create(opts);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(server).value();
    server_->Handle("GET", "/echo", [](const HttpRequest& r) {
      return HttpResponse::Text(
          200, absl::StrCat(r.method, " ", r.path, " q=", r.query_string,
                            " x=", r.Query("x"), " body=", r.body));
    });
    server_->Handle("POST", "/echo", [](const HttpRequest& r) {
      return HttpResponse::Text(200, "posted " + r.body);
    });
    server_->Handle("GET", "/peer", [](const HttpRequest& r) {
      if (!r.peer.has_value()) return HttpResponse::Text(200, "none");
      return HttpResponse::Text(
          200, absl::StrCat("uid=", r.peer->uid, " pid=", r.peer->pid));
    });
    server_->Handle("GET", "/block", [this](const HttpRequest&) {
      release_.WaitForNotificationWithTimeout(absl::Seconds(20));
      return HttpResponse::Text(200, "released");
    });
    server_->HandlePrefix("GET", "/files/", [](const HttpRequest& r) {
      return HttpResponse::Text(200, "file " + r.path);
    });
    server_->HandleAsync(
        "GET", "/wait", [this](const HttpRequest&, HttpResponder reply) {
          reply.OnCancel([this] { cancelled_.fetch_add(1); });
          absl::MutexLock lock(&mu_);
          waiting_.push_back(reply);
        });
    ASSERT_TRUE(server_->Start().ok());
  }

  size_t Waiting() {
    absl::MutexLock lock(&mu_);
    return waiting_.size();
  }

  std::string Address() const {
    return absl::StrCat("127.0.0.1:", server_->port());
  }

  double Counted(const std::string& name, const std::string& reason) {
    return registry_.GetCounter(name, "", {{"reason", reason}})->Value();
  }

  ~EventHttpServerTest() override {
    if (!release_.HasBeenNotified()) release_.Notify();
  }

  metrics::Registry registry_;
  absl::Notification release_;  // lets GET /block answer
  std::unique_ptr<EventHttpServer> server_;
  absl::Mutex mu_;
  std::vector<HttpResponder> waiting_ ABSL_GUARDED_BY(mu_);
  std::atomic<int> cancelled_{0};
};

TEST_F(EventHttpServerTest, BlockingHandlersRoutesAndBuiltins) {
  StartServer({});
  auto r = HttpCall(Address(), "GET", "/echo?x=a%20b&y=1&y=2");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "GET /echo q=x=a%20b&y=1&y=2 x=a b body=");
  r = HttpCall(Address(), "POST", "/echo", "{\"a\":1}");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "posted {\"a\":1}");
  r = HttpCall(Address(), "GET", "/files/a/b");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body, "file /files/a/b");
  r = HttpCall(Address(), "GET", "/nothing");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404);
  r = HttpCall(Address(), "DELETE", "/echo");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->Header("allow"), "GET, POST");
  r = HttpCall(Address(), "GET", "/healthz");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->Header("x-kess-version"), BuildVersion());
  EXPECT_EQ(r->Header("x-kess-commit"), BuildCommit());
  r = HttpCall(Address(), "GET", "/metrics");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(absl::StrContains(r->body, "kess_http_requests_total"));
}

TEST_F(EventHttpServerTest, AsyncResponseFromAnotherThreadAndCancel) {
  StartServer({});
  std::thread client([&] {
    auto r = HttpCall(Address(), "GET", "/wait", "", absl::Seconds(10));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "late");
  });
  ASSERT_TRUE(testing::WaitFor([&] { return Waiting() == 1; },
                               absl::Seconds(5)));
  std::thread([&] {
    absl::MutexLock lock(&mu_);
    waiting_[0].Send(HttpResponse::Text(200, "late"));
    waiting_[0].Send(HttpResponse::Text(500, "ignored"));  // first one wins
  }).join();
  client.join();
  EXPECT_EQ(cancelled_.load(), 0);

  // A client that leaves while waiting: OnCancel runs, a later Send is a
  // no-op.
  int fd = ConnectRaw(server_->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(WriteAll(fd, "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(testing::WaitFor([&] { return Waiting() == 2; },
                               absl::Seconds(5)));
  close(fd);
  ASSERT_TRUE(testing::WaitFor([&] { return cancelled_.load() == 1; },
                               absl::Seconds(5)));
  absl::MutexLock lock(&mu_);
  waiting_[1].Send(HttpResponse::Text(200, "nobody"));
}

TEST_F(EventHttpServerTest, MalformedRequestsGet400AndClose) {
  StartServer({});
  struct Case {
    std::string request;
    int status;
  };
  std::vector<Case> cases = {
      {"GARBAGE\r\n\r\n", 400},
      {"GET noslash HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"GET /echo HTTP/1.1\r\n\r\n", 400},  // no Host
      {"GET / HTTP/2.0\r\n\r\n", 505},
      {"GET / FTP/1.1\r\n\r\n", 400},
      {"GET /echo HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n", 400},
      {"GET /echo HTTP/1.1\r\nHost: x\r\nBad Name: x\r\n\r\n", 400},
      {"GET /echo HTTP/1.1\r\nHost: x\r\n folded: x\r\n\r\n", 400},
      {"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400},
      {"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
       400},
      {"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 501},
      {"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n", 413},
      {"GET /echo%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      {"GET /echo HTTP/1.1\r\nHost: x\r\nX: " + std::string(20000, 'a') + "\r\n\r\n",
       431},
  };
  for (const Case& c : cases) {
    int fd = ConnectRaw(server_->port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(WriteAll(fd, c.request));
    std::string response = ReadResponses(fd, 1, absl::Seconds(5));
    EXPECT_EQ(StatusOf(response), c.status) << c.request.substr(0, 60);
    EXPECT_TRUE(absl::StrContains(response, "Connection: close"));
    EXPECT_TRUE(WaitForPeerClose(fd, absl::Seconds(5)))
        << c.request.substr(0, 60);
    close(fd);
  }
  // Headers that never end, sent without "\r\n\r\n": 431 once over the cap.
  int fd = ConnectRaw(server_->port());
  ASSERT_TRUE(WriteAll(fd, "GET /echo HTTP/1.1\r\nHost: x\r\n" +
                               std::string(17 * 1024, 'a')));
  EXPECT_EQ(StatusOf(ReadResponses(fd, 1, absl::Seconds(5))), 431);
  close(fd);
  // The server still serves.
  auto r = HttpCall(Address(), "GET", "/echo");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
}

TEST_F(EventHttpServerTest, SlowHeadersClosedAtTheReadDeadline) {
  EventHttpServer::Options opts;
  opts.read_timeout = absl::Milliseconds(300);
  StartServer(opts);
  int fd = ConnectRaw(server_->port());
  ASSERT_GE(fd, 0);
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(WriteAll(fd, "GET /echo HTTP/1.1\r\nHost: x\r\n"));
  // A byte now and then does not extend the deadline.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(WriteAll(fd, "X-A: 1\r\n"));
  std::string response = ReadResponses(fd, 1, absl::Seconds(5));
  double seconds = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - start)
                       .count();
  EXPECT_EQ(StatusOf(response), 408);
  EXPECT_TRUE(WaitForPeerClose(fd, absl::Seconds(2)));
  EXPECT_GE(seconds, 0.29);
  EXPECT_LT(seconds, 2.0);
  close(fd);
}

TEST_F(EventHttpServerTest, IdleKeepAliveConnectionClosed) {
  EventHttpServer::Options opts;
  opts.idle_timeout = absl::Milliseconds(300);
  StartServer(opts);
  int fd = ConnectRaw(server_->port());
  ASSERT_TRUE(WriteAll(fd, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(StatusOf(ReadResponses(fd, 1, absl::Seconds(5))), 200);
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(WaitForPeerClose(fd, absl::Seconds(5)));
  double seconds = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - start)
                       .count();
  EXPECT_GE(seconds, 0.2);
  close(fd);
}

TEST_F(EventHttpServerTest, ConnectionCap) {
  EventHttpServer::Options opts;
  opts.max_connections = 3;
  StartServer(opts);
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) {
    int fd = ConnectRaw(server_->port());
    ASSERT_GE(fd, 0);
    fds.push_back(fd);
  }
  ASSERT_TRUE(testing::WaitFor([&] { return server_->connections() == 3; },
                               absl::Seconds(5)));
  int extra = ConnectRaw(server_->port());
  ASSERT_GE(extra, 0);
  std::string refused = ReadResponses(extra, 1, absl::Seconds(5));
  EXPECT_EQ(StatusOf(refused), 503);
  EXPECT_TRUE(WaitForPeerClose(extra, absl::Seconds(5)));
  close(extra);
  // The three admitted ones are served.
  for (int fd : fds) {
    ASSERT_TRUE(WriteAll(fd, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT_EQ(StatusOf(ReadResponses(fd, 1, absl::Seconds(5))), 200);
  }
  // Freeing one makes room again.
  close(fds[0]);
  ASSERT_TRUE(testing::WaitFor([&] { return server_->connections() == 2; },
                               absl::Seconds(5)));
  auto r = HttpCall(Address(), "GET", "/echo");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  close(fds[1]);
  close(fds[2]);
}

TEST_F(EventHttpServerTest, KeepAliveAndPipelining) {
  StartServer({});
  int fd = ConnectRaw(server_->port());
  ASSERT_GE(fd, 0);
  // Two requests one after the other on one connection.
  ASSERT_TRUE(WriteAll(fd, "GET /echo?x=1 HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string first = ReadResponses(fd, 1, absl::Seconds(5));
  EXPECT_TRUE(absl::StrContains(first, "x=1"));
  EXPECT_TRUE(absl::StrContains(first, "Connection: keep-alive"));
  ASSERT_TRUE(WriteAll(fd, "GET /echo?x=2 HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_TRUE(absl::StrContains(ReadResponses(fd, 1, absl::Seconds(5)),
                                "x=2"));
  // Three pipelined in one write (one with a body, one async 404-free):
  // answered in order.
  ASSERT_TRUE(WriteAll(fd,
                       "GET /echo?x=3 HTTP/1.1\r\nHost: x\r\n\r\n"
                       "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                       "GET /echo?x=5 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  std::string all = ReadResponses(fd, 3, absl::Seconds(5));
  size_t a = all.find("x=3"), b = all.find("posted hello"), c = all.find("x=5");
  ASSERT_NE(a, std::string::npos) << all;
  ASSERT_NE(b, std::string::npos) << all;
  ASSERT_NE(c, std::string::npos) << all;
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  // "Connection: close" on the last one closes.
  EXPECT_TRUE(WaitForPeerClose(fd, absl::Seconds(5)));
  close(fd);
  // HTTP/1.0 closes unless asked to keep alive.
  fd = ConnectRaw(server_->port());
  ASSERT_TRUE(WriteAll(fd, "GET /echo HTTP/1.0\r\n\r\n"));
  EXPECT_EQ(StatusOf(ReadResponses(fd, 1, absl::Seconds(5))), 200);
  EXPECT_TRUE(WaitForPeerClose(fd, absl::Seconds(5)));
  close(fd);
}

// One shared body answered to several long polls: every client gets it
// whole (4 MiB: written over several EPOLLOUT rounds), and a pipelined
// request behind it is answered after it, in order; the connections let
// go of the buffer once written.
TEST_F(EventHttpServerTest, SharedBodyToManyClients) {
  StartServer({});
  std::string text(4 << 20, 'x');
  for (size_t i = 0; i < text.size(); i += 997) text[i] = 'a' + i % 26;
  auto shared = std::make_shared<const std::string>(text);
  constexpr int kClients = 4;
  std::vector<int> fds;
  for (int i = 0; i < kClients; ++i) {
    int fd = ConnectRaw(server_->port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(WriteAll(fd,
                         "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n"
                         "GET /echo?x=after HTTP/1.1\r\nHost: x\r\n\r\n"));
    fds.push_back(fd);
  }
  ASSERT_TRUE(testing::WaitFor([&] { return Waiting() == kClients; },
                               absl::Seconds(10)));
  {
    absl::MutexLock lock(&mu_);
    for (HttpResponder& r : waiting_) {
      r.Send(HttpResponse::SharedJson(200, shared));
    }
  }
  for (int fd : fds) {
    std::string all = ReadResponses(fd, 2, absl::Seconds(20));
    const size_t body = all.find("\r\n\r\n");
    ASSERT_NE(body, std::string::npos);
    EXPECT_TRUE(absl::StrContains(all.substr(0, body),
                                  absl::StrCat("Content-Length: ", text.size())));
    EXPECT_TRUE(all.compare(body + 4, text.size(), text) == 0);
    EXPECT_TRUE(absl::StrContains(all.substr(body + 4 + text.size()),
                                  "x=after"));
    close(fd);
  }
  EXPECT_TRUE(testing::WaitFor([&] { return shared.use_count() == 1; },
                               absl::Seconds(10)));
}

TEST_F(EventHttpServerTest, PipelinedRequestBehindALongPollWaits) {
  StartServer({});
  int fd = ConnectRaw(server_->port());
  ASSERT_TRUE(WriteAll(fd,
                       "GET /wait HTTP/1.1\r\nHost: x\r\n\r\nGET /echo?x=after "
                       "HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(testing::WaitFor([&] { return Waiting() == 1; },
                               absl::Seconds(5)));
  {
    absl::MutexLock lock(&mu_);
    waiting_[0].Send(HttpResponse::Text(200, "woken"));
  }
  std::string all = ReadResponses(fd, 2, absl::Seconds(5));
  size_t a = all.find("woken"), b = all.find("x=after");
  ASSERT_NE(a, std::string::npos) << all;
  ASSERT_NE(b, std::string::npos) << all;
  EXPECT_LT(a, b);
  close(fd);
}

// Behind a request in flight (a long poll) the server buffers at most
// max_header_bytes of pipelined bytes, not a body's worth per connection.
TEST_F(EventHttpServerTest, PipelinedBytesBehindALongPollAreCapped) {
  EventHttpServer::Options opts;
  opts.max_header_bytes = 4096;
  StartServer(opts);
  int fd = ConnectRaw(server_->port());
  ASSERT_TRUE(WriteAll(fd, "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(testing::WaitFor([&] { return Waiting() == 1; },
                               absl::Seconds(5)));
  std::string big = absl::StrCat(
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 20000\r\n\r\n",
      std::string(20000, 'x'));
  WriteAll(fd, big);  // may fail once the server closed
  EXPECT_TRUE(WaitForPeerClose(fd, absl::Seconds(5)));
  EXPECT_GE(registry_
                .GetCounter("kess_http_bad_requests_total", "",
                            {{"reason", "pipelined_too_large"}})
                ->Value(),
            1);
  close(fd);
}

TEST_F(EventHttpServerTest, ThousandWaitersOneThread) {
  StartServer({});
  constexpr int kClients = 1000;
  std::vector<int> fds;
  for (int i = 0; i < kClients; ++i) {
    int fd = ConnectRaw(server_->port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(WriteAll(fd, "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n"));
    fds.push_back(fd);
  }
  ASSERT_TRUE(testing::WaitFor([&] { return Waiting() == kClients; },
                               absl::Seconds(20)));
  {
    absl::MutexLock lock(&mu_);
    for (HttpResponder& r : waiting_) r.Send(HttpResponse::Text(200, "go"));
  }
  int ok = 0;
  for (int fd : fds) {
    ok += StatusOf(ReadResponses(fd, 1, absl::Seconds(10))) == 200;
    close(fd);
  }
  EXPECT_EQ(ok, kClients);
}

TEST_F(EventHttpServerTest, UnixSocket) {
  // sun_path holds 107 bytes: a short directory, not the test's TempDir.
  char dir[] = "/tmp/ehs-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string path = absl::StrCat(dir, "/api.sock");
  EventHttpServer::Options opts;
  opts.unix_socket = path;
  opts.unix_socket_mode = 0600;
  StartServer(opts);
  EXPECT_EQ(server_->port(), 0);
  auto r = HttpCall("unix:" + path, "GET", "/echo?x=u");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(absl::StrContains(r->body, "x=u"));
  // The client's credentials, from the kernel.
  r = HttpCall("unix:" + path, "GET", "/peer");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, absl::StrCat("uid=", getuid(), " pid=", getpid()));
  struct stat st;
  ASSERT_EQ(lstat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // A live socket is never taken over by a second server.
  EventHttpServer::Options again = opts;
  again.registry = &registry_;
  auto second = EventHttpServer::Create(again);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition)
      << second.status();
  EXPECT_TRUE(HttpCall("unix:" + path, "GET", "/echo").ok());
  server_->Stop();
  EXPECT_NE(access(path.c_str(), F_OK), 0);
  // Nothing but the socket is left in the directory.
  EXPECT_EQ(rmdir(dir), 0);
}

TEST_F(EventHttpServerTest, UnixSocketStaleReplacedUnsafeDirectoryRefused) {
  char dir[] = "/tmp/ehs-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = absl::StrCat(dir, "/api.sock");
  // A stale socket (its server died without removing it) is replaced.
  {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path.data(), path.size());
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    close(fd);
  }
  EventHttpServer::Options opts;
  opts.unix_socket = path;
  opts.unix_socket_mode = 0660;
  StartServer(opts);
  auto r = HttpCall("unix:" + path, "GET", "/echo");
  ASSERT_TRUE(r.ok()) << r.status();
  // Stop removes only its own socket: another one put there since stays.
  ASSERT_EQ(unlink(path.c_str()), 0);
  {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path.data(), path.size());
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    close(fd);
  }
  server_->Stop();
  EXPECT_EQ(access(path.c_str(), F_OK), 0);
  unlink(path.c_str());
  // Any other kind of file is never replaced.
  FILE* f = fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fclose(f);
  opts.registry = &registry_;
  EXPECT_EQ(EventHttpServer::Create(opts).status().code(),
            absl::StatusCode::kFailedPrecondition);
  unlink(path.c_str());
  // A directory others may write to (without the sticky bit) is refused.
  ASSERT_EQ(chmod(dir, 0777), 0);
  auto refused = EventHttpServer::Create(opts);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition)
      << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "writable"))
      << refused.status();
  ASSERT_EQ(chmod(dir, 01777), 0);  // like /tmp: allowed
  auto sticky = EventHttpServer::Create(opts);
  EXPECT_TRUE(sticky.ok()) << sticky.status();
  sticky->reset();
  EXPECT_EQ(rmdir(dir), 0);
}

// DNS rebinding: a page of evil.example whose name now resolves to
// 127.0.0.1 sends "Host: evil.example"; allowed_hosts refuses it.
TEST_F(EventHttpServerTest, AllowedHostsRefuseOtherHostHeaders) {
  EventHttpServer::Options opts;
  opts.allowed_hosts = {"localhost", "127.0.0.1", "::1"};
  StartServer(opts);
  auto status_for = [&](const std::string& host_line) {
    int fd = ConnectRaw(server_->port());
    EXPECT_GE(fd, 0);
    EXPECT_TRUE(WriteAll(fd, "GET /echo HTTP/1.1\r\n" + host_line +
                                 "Connection: close\r\n\r\n"));
    const int status = StatusOf(ReadResponses(fd, 1, absl::Seconds(10)));
    close(fd);
    return status;
  };
  EXPECT_EQ(status_for("Host: evil.example\r\n"), 403);
  EXPECT_EQ(status_for("Host: evil.example:7310\r\n"), 403);
  EXPECT_EQ(status_for("Host: 127.0.0.2\r\n"), 403);
  EXPECT_EQ(status_for("Host: localhost.evil.example\r\n"), 403);
  EXPECT_EQ(status_for("Host: localhost:7310\r\n"), 200);
  EXPECT_EQ(status_for("Host: LOCALHOST\r\n"), 200);
  EXPECT_EQ(status_for("Host: 127.0.0.1:7310\r\n"), 200);
  EXPECT_EQ(status_for("Host: [::1]:7310\r\n"), 200);
  // HTTP/1.1 without Host is a 400 (RFC 9112); HTTP/1.0 needs none.
  EXPECT_EQ(status_for(""), 400);
  {
    int fd = ConnectRaw(server_->port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(WriteAll(fd, "GET /echo HTTP/1.0\r\n\r\n"));
    const std::string in = ReadResponses(fd, 1, absl::Seconds(10));
    close(fd);
    EXPECT_TRUE(absl::StrContains(in, " 200 ")) << in;
  }
  // Our own client sends an allowed Host.
  auto r = HttpCall(Address(), "GET", "/echo");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
}

TEST_F(EventHttpServerTest, StopCancelsWaiters) {
  StartServer({});
  int fd = ConnectRaw(server_->port());
  ASSERT_TRUE(WriteAll(fd, "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(testing::WaitFor([&] { return Waiting() == 1; },
                               absl::Seconds(5)));
  server_->Stop();
  EXPECT_EQ(cancelled_.load(), 1);
  EXPECT_TRUE(WaitForPeerClose(fd, absl::Seconds(5)));
  close(fd);
  absl::MutexLock lock(&mu_);
  waiting_[0].Send(HttpResponse::Text(200, "after stop"));  // no-op
}

// A blocking TCP connection from `from` (a loopback address) to
// 127.0.0.1:port; -1 on error.
int ConnectFrom(const char* from, int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in local{};
  local.sin_family = AF_INET;
  inet_pton(AF_INET, from, &local.sin_addr);
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0 ||
      connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof(remote)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                       start)
      .count();
}

TEST_F(EventHttpServerTest, TricklingFromAcceptIsCutAtTheHeaderDeadline) {
  EventHttpServer::Options opts;
  opts.read_timeout = absl::Milliseconds(600);
  StartServer(opts);
  // One byte every 50 ms: every read is quick, the headers never end.
  int trickler = ConnectRaw(server_->port());
  int silent = ConnectRaw(server_->port());  // sends nothing at all
  ASSERT_GE(trickler, 0);
  ASSERT_GE(silent, 0);
  const auto start = std::chrono::steady_clock::now();
  const std::string request = "GET /echo HTTP/1.1\r\nHost: x\r\nX-Slow: " +
                              std::string(200, 'a');
  bool closed = false;
  for (size_t i = 0; i < request.size() && SecondsSince(start) < 5; ++i) {
    if (!WriteAll(trickler, request.substr(i, 1))) {
      closed = true;
      break;
    }
    pollfd p{trickler, POLLIN, 0};
    if (poll(&p, 1, 50) > 0) break;  // the 408 (or the close) arrived
  }
  (void)closed;
  std::string answer = ReadResponses(trickler, 1, absl::Seconds(5));
  const double seconds = SecondsSince(start);
  EXPECT_EQ(StatusOf(answer), 408) << answer;
  EXPECT_TRUE(WaitForPeerClose(trickler, absl::Seconds(2)));
  EXPECT_GE(seconds, 0.55);
  EXPECT_LT(seconds, 3.0);
  // The silent connection is gone by the same deadline (counted from
  // accept, not from a first byte).
  EXPECT_TRUE(WaitForPeerClose(silent, absl::Seconds(2)));
  EXPECT_LT(SecondsSince(start), 4.0);
  EXPECT_EQ(Counted("kess_http_bad_requests_total", "read_timeout"), 2);
  close(trickler);
  close(silent);
  // A kept-alive connection's next request gets its own deadline.
  int fd = ConnectRaw(server_->port());
  ASSERT_TRUE(WriteAll(fd, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(StatusOf(ReadResponses(fd, 1, absl::Seconds(5))), 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  ASSERT_TRUE(WriteAll(fd, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(StatusOf(ReadResponses(fd, 1, absl::Seconds(5))), 200);
  close(fd);
}

TEST_F(EventHttpServerTest, SlowBodyClosedAtTheBodyDeadline) {
  EventHttpServer::Options opts;
  opts.read_timeout = absl::Seconds(10);
  opts.body_timeout = absl::Milliseconds(500);
  StartServer(opts);
  int fd = ConnectRaw(server_->port());
  ASSERT_GE(fd, 0);
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(WriteAll(
      fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789"));
  // More body bytes now and then do not extend the deadline.
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    WriteAll(fd, "x");
  }
  std::string answer = ReadResponses(fd, 1, absl::Seconds(5));
  const double seconds = SecondsSince(start);
  EXPECT_EQ(StatusOf(answer), 408) << answer;
  EXPECT_TRUE(WaitForPeerClose(fd, absl::Seconds(2)));
  EXPECT_GE(seconds, 0.45);
  EXPECT_LT(seconds, 3.0);
  EXPECT_EQ(Counted("kess_http_bad_requests_total", "body_timeout"), 1);
  close(fd);
  // A body that arrives in time, in pieces, is served.
  fd = ConnectRaw(server_->port());
  ASSERT_TRUE(WriteAll(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nab"));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(WriteAll(fd, "cdef"));
  answer = ReadResponses(fd, 1, absl::Seconds(5));
  EXPECT_EQ(StatusOf(answer), 200);
  EXPECT_TRUE(absl::StrContains(answer, "posted abcdef")) << answer;
  close(fd);
}

TEST_F(EventHttpServerTest, ConnectionCapPerClientAddress) {
  EventHttpServer::Options opts;
  opts.max_connections_per_address = 2;
  StartServer(opts);
  std::vector<int> fds;
  for (int i = 0; i < 2; ++i) {
    int fd = ConnectFrom("127.0.0.2", server_->port());
    ASSERT_GE(fd, 0);
    fds.push_back(fd);
  }
  ASSERT_TRUE(testing::WaitFor([&] { return server_->connections() == 2; },
                               absl::Seconds(5)));
  int extra = ConnectFrom("127.0.0.2", server_->port());
  ASSERT_GE(extra, 0);
  EXPECT_EQ(StatusOf(ReadResponses(extra, 1, absl::Seconds(5))), 503);
  EXPECT_TRUE(WaitForPeerClose(extra, absl::Seconds(5)));
  close(extra);
  EXPECT_EQ(Counted("kess_http_connections_refused_total", "per_address"), 1);
  // Another address is served meanwhile.
  auto r = HttpCall(Address(), "GET", "/echo");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  // The capped address gets a slot back when one of its connections closes.
  close(fds[0]);
  ASSERT_TRUE(testing::WaitFor([&] { return server_->connections() == 1; },
                               absl::Seconds(5)));
  int again = ConnectFrom("127.0.0.2", server_->port());
  ASSERT_GE(again, 0);
  ASSERT_TRUE(WriteAll(again, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(StatusOf(ReadResponses(again, 1, absl::Seconds(5))), 200);
  close(again);
  close(fds[1]);
}

TEST_F(EventHttpServerTest, AdmitAnswersBeforeTheBodyAndLimitsByPath) {
  EventHttpServer::Options opts;
  opts.max_body_bytes_by_path["/echo"] = 8;
  std::atomic<int> admitted{0};
  opts.admit = [&admitted](const HttpRequest& r)
      -> std::optional<HttpResponse> {
    ++admitted;
    if (r.Header("x-token") == "good") return std::nullopt;
    HttpResponse refused = HttpResponse::Text(401, "who are you");
    refused.headers.emplace_back("Set-Cookie", "a=b");
    return refused;
  };
  StartServer(opts);
  // Refused on its headers: the 100 declared body bytes are never sent.
  int fd = ConnectRaw(server_->port());
  ASSERT_TRUE(WriteAll(
      fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"));
  std::string answer = ReadResponses(fd, 1, absl::Seconds(5));
  EXPECT_EQ(StatusOf(answer), 401) << answer;
  EXPECT_TRUE(absl::StrContains(answer, "Set-Cookie: a=b\r\n")) << answer;
  EXPECT_TRUE(WaitForPeerClose(fd, absl::Seconds(2)));
  close(fd);
  // Admitted, with its body.
  auto r = HttpCall(Address(), "POST", "/echo", "1234", absl::Seconds(5),
                    {{"X-Token", "good"}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "posted 1234");
  // Over the path's limit: 413 on the Content-Length.
  r = HttpCall(Address(), "POST", "/echo", "123456789", absl::Seconds(5),
               {{"X-Token", "good"}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 413);
  // Unknown paths are not admitted: 404 as usual.
  const int before = admitted.load();
  r = HttpCall(Address(), "GET", "/nothing");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(admitted.load(), before);
}

TEST_F(EventHttpServerTest, HealthzAnswersWhileEveryWorkerBlocks) {
  EventHttpServer::Options opts;
  opts.worker_threads = 2;
  StartServer(opts);
  std::vector<std::thread> blocked;
  for (int i = 0; i < 3; ++i) {
    blocked.emplace_back([this] {
      HttpCall(Address(), "GET", "/block", "", absl::Seconds(30)).IgnoreError();
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto start = std::chrono::steady_clock::now();
  auto health = HttpCall(Address(), "GET", "/healthz", "", absl::Seconds(5));
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(health->status, 200);
  auto metrics = HttpCall(Address(), "GET", "/metrics", "", absl::Seconds(5));
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(metrics->status, 200);
  EXPECT_LT(SecondsSince(start), 2.0);
  // Another blocking route waits for a worker.
  auto echo = HttpCall(Address(), "GET", "/echo", "", absl::Milliseconds(500));
  EXPECT_FALSE(echo.ok());
  release_.Notify();
  for (std::thread& t : blocked) t.join();
}

// Out of descriptors (EMFILE), a pending connection stays in the backlog
// and the listener stays readable: the server must pause accepting instead
// of spinning its loop, and serve the connection once descriptors are back.
TEST_F(EventHttpServerTest, AcceptOutOfDescriptorsDoesNotSpin) {
  StartServer({});
  rlimit saved;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  // Every descriptor but one taken; the client's socket takes the last.
  std::vector<int> filler;
  int probe = dup(0);
  ASSERT_GE(probe, 0);
  close(probe);
  rlimit low = saved;
  low.rlim_cur = static_cast<rlim_t>(probe) + 64;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  for (int i = 0; i < 200; ++i) {
    int fd = dup(0);
    if (fd < 0) break;
    filler.push_back(fd);
  }
  ASSERT_FALSE(filler.empty());
  close(filler.back());
  filler.pop_back();
  int client = ConnectRaw(server_->port());
  ASSERT_GE(client, 0);
  ASSERT_TRUE(WriteAll(client, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n"));

  auto cpu_ms = [] {
    rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000.0 +
           (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1000.0;
  };
  const double before = cpu_ms();
  usleep(500 * 1000);
  const double used = cpu_ms() - before;

  for (int fd : filler) close(fd);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  // A spinning loop burns ~500 ms of CPU in 500 ms; paused it is idle.
  EXPECT_LT(used, 250.0);
  EXPECT_GE(registry_.GetCounter("kess_http_accept_pauses_total", "")
                ->Value(),
            1);
  // Descriptors are back: the connection is served.
  std::string in = ReadResponses(client, 1, absl::Seconds(10));
  EXPECT_EQ(StatusOf(in), 200) << in;
  close(client);
}

}  // namespace
}  // namespace http
}  // namespace kess
