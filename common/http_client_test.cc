#include "common/http_client.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/transport/testing/test_util.h"
#include "gtest/gtest.h"

namespace kess {
namespace {

using transport::testing::SilentServer;

TEST(HttpCallTest, RefusedIsUnavailableAndNotSent) {
  SilentServer server;
  ASSERT_TRUE(server.ok());
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
  ASSERT_TRUE(server.ok());
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
        "host:port", "https://127.0.0.1", "http://host:port"}) {
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
