#include "common/http_client.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace kess {
namespace {

// A listening socket on 127.0.0.1 that never accepts: a connect succeeds
// (the kernel's backlog) and the request is sent, but nothing answers.
class SilentServer {
 public:
  SilentServer() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(fd_, 4), 0);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentServer() { close(fd_); }
  // A port nothing listens on: this one, after the socket is closed.
  int port() const { return port_; }
  void Close() { close(fd_), fd_ = -1; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(HttpCallTest, RefusedIsUnavailableAndNotSent) {
  SilentServer server;
  const int port = server.port();
  server.Close();
  HttpFailure failure;
  failure.sent = true;
  absl::StatusOr<HttpReply> reply =
      HttpCall(absl::StrCat("127.0.0.1:", port), "PUT", "/x", "{}",
               absl::Seconds(2), {}, &failure);
  EXPECT_TRUE(absl::IsUnavailable(reply.status())) << reply.status();
  EXPECT_FALSE(failure.sent);
  EXPECT_EQ(failure.reason, "connection refused");
}

TEST(HttpCallTest, NoAnswerIsDeadlineExceededAfterSending) {
  SilentServer server;
  HttpFailure failure;
  absl::StatusOr<HttpReply> reply =
      HttpCall(absl::StrCat("127.0.0.1:", server.port()), "PUT", "/x", "{}",
               absl::Milliseconds(300), {}, &failure);
  EXPECT_TRUE(absl::IsDeadlineExceeded(reply.status())) << reply.status();
  EXPECT_TRUE(failure.sent) << "the request was written before the wait";
  EXPECT_EQ(failure.reason, "timed out after 300ms");
}

TEST(HttpCallTest, MalformedAddressesAreRefusedUnsent) {
  for (const std::string address :
       {"127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", ":80", "[::1:80",
        "host:port"}) {
    HttpFailure failure;
    absl::StatusOr<HttpReply> reply =
        HttpCall(address, "GET", "/", "", absl::Seconds(1), {}, &failure);
    EXPECT_TRUE(absl::IsInvalidArgument(reply.status()))
        << address << ": " << reply.status();
    EXPECT_FALSE(failure.sent) << address;
  }
}

TEST(HttpCallTest, BracketedIpv6AddressIsParsed) {
  // Nothing listens on port 1 of ::1: refused (or unreachable without
  // IPv6), but never a malformed address.
  absl::StatusOr<HttpReply> reply =
      HttpCall("[::1]:1", "GET", "/", "", absl::Seconds(1));
  EXPECT_FALSE(absl::IsInvalidArgument(reply.status())) << reply.status();
  EXPECT_FALSE(reply.ok());
}

}  // namespace
}  // namespace kess
