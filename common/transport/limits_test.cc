// The limits that hold before a peer authenticates: connection caps at
// accept, the first-frame and trust deadlines, the untrusted frame size,
// and the element budget of request payloads (the "frame bomb").
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "common/metrics.h"
#include "common/testing/wait_for.h"
#include "common/transport/client.h"
#include "common/transport/event_loop.h"
#include "common/transport/server.h"
#include "common/transport/testing/test_util.h"
#include "common/transport/wire_budget.h"
#include "google/protobuf/descriptor.pb.h"
#include "gtest/gtest.h"

namespace kess {
namespace transport {
namespace {

using ::google::protobuf::FileDescriptorProto;
using ::kess::testing::WaitFor;
using testing::ConnectRaw;
using testing::CounterValue;
using testing::Disconnects;
using testing::EncodeForTest;
using testing::WaitForPeerClose;
using testing::WriteAll;

constexpr absl::Duration kLong = absl::Seconds(20);

// `n` empty FileDescriptorProto.message_type sub-messages: 2 bytes each on
// the wire, one heap object each once parsed.
std::string Bomb(size_t n) {
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) out.append("\x22\x00", 2);
  return out;
}

std::string RequestFrame(const std::string& method, const std::string& payload,
                         uint64_t id = 1) {
  Frame frame;
  frame.set_id(id);
  frame.set_kind(Frame::REQUEST);
  frame.set_method(method);
  frame.set_payload(payload);
  return EncodeForTest(frame);
}

double Refused(metrics::Registry& registry, const std::string& reason) {
  return CounterValue(registry, "kess_transport_refused_total",
                      {{"role", "server"}, {"reason", reason}});
}

TEST(WireBudgetTest, CountsNestedElementsAndDepth) {
  FileDescriptorProto file;
  file.set_name("x.proto");
  for (int i = 0; i < 10; ++i) {
    auto* message = file.add_message_type();
    message->set_name("M");
    for (int j = 0; j < 5; ++j) message->add_field()->set_name("f");
  }
  const std::string bytes = file.SerializeAsString();
  WireBudget budget;
  budget.max_elements = 60;  // 10 messages + 50 fields
  EXPECT_TRUE(CheckWireBudget(bytes, *FileDescriptorProto::descriptor(), budget)
                  .ok());
  budget.max_elements = 59;
  EXPECT_EQ(
      CheckWireBudget(bytes, *FileDescriptorProto::descriptor(), budget).code(),
      absl::StatusCode::kResourceExhausted);
  budget.max_elements = 1000;
  budget.max_depth = 0;  // fields are at depth 2
  EXPECT_EQ(
      CheckWireBudget(bytes, *FileDescriptorProto::descriptor(), budget).code(),
      absl::StatusCode::kResourceExhausted);
}

TEST(WireBudgetTest, RefusesTheBombAndMalformedInput) {
  WireBudget budget;
  budget.max_elements = 1000;
  EXPECT_EQ(CheckWireBudget(Bomb(1001), *FileDescriptorProto::descriptor(),
                            budget)
                .code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(
      CheckWireBudget(Bomb(1000), *FileDescriptorProto::descriptor(), budget)
          .ok());
  // Unknown fields count too (the parser keeps each one).
  std::string unknown;
  for (int i = 0; i < 1001; ++i) unknown.append("\xf8\x01\x01", 3);  // 31:1
  EXPECT_EQ(
      CheckWireBudget(unknown, *FileDescriptorProto::descriptor(), budget)
          .code(),
      absl::StatusCode::kResourceExhausted);
  // A length past the end.
  EXPECT_EQ(CheckWireBudget(std::string("\x22\x10\x00", 3),
                            *FileDescriptorProto::descriptor(), budget)
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      CheckWireBudget("", *FileDescriptorProto::descriptor(), budget).ok());
}

class LimitsTest : public ::testing::Test {
 protected:
  void Start(ServerOptions options) {
    options.registry = &registry_;
    HandlerMap handlers;
    handlers["echo"] = [](Request request, Responder responder) {
      responder.Respond(std::move(request.payload));
    };
    handlers["login"] = [this](Request request, Responder responder) {
      if (request.payload == "secret") {
        server_->Trust(request.connection_id);
        responder.Respond(std::string("ok"));
      } else {
        responder.Respond(absl::PermissionDeniedError("bad token"));
      }
    };
    handlers["files"] = [this](Request request, Responder responder) {
      ++parsed_;
      FileDescriptorProto file;
      responder.Respond(file.ParseFromString(request.payload)
                            ? std::string("parsed")
                            : std::string("unparsable"));
    };
    auto server = Server::Create(options, std::move(handlers));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(server).value();
  }

  // Sends `bytes` on a new raw socket and says whether the server closed it.
  bool ClosedAfter(const std::string& bytes) {
    const int fd = ConnectRaw(server_->port());
    EXPECT_GE(fd, 0);
    EXPECT_TRUE(WriteAll(fd, bytes));
    const bool closed = WaitForPeerClose(fd, absl::Seconds(5));
    close(fd);
    return closed;
  }

  metrics::Registry registry_;
  std::unique_ptr<Server> server_;
  std::atomic<int> parsed_{0};
};

TEST_F(LimitsTest, PerPeerCapClosesExcessConnectionsAtAccept) {
  ServerOptions options;
  options.max_connections_per_peer = 4;
  options.first_frame_timeout = absl::ZeroDuration();
  Start(options);
  std::vector<int> fds;
  for (int i = 0; i < 4; ++i) fds.push_back(ConnectRaw(server_->port()));
  ASSERT_TRUE(WaitFor([&] { return server_->connection_count() == 4; }, kLong));
  const int excess = ConnectRaw(server_->port());
  ASSERT_GE(excess, 0);
  EXPECT_TRUE(WaitForPeerClose(excess, absl::Seconds(5)));
  close(excess);
  EXPECT_EQ(Refused(registry_, "peer_connection_limit"), 1);
  EXPECT_EQ(server_->connection_count(), 4u);
  // A slot freed is a slot again.
  close(fds.back());
  fds.pop_back();
  ASSERT_TRUE(WaitFor([&] { return server_->connection_count() == 3; }, kLong));
  fds.push_back(ConnectRaw(server_->port()));
  ASSERT_TRUE(WaitFor([&] { return server_->connection_count() == 4; }, kLong));
  EXPECT_EQ(Refused(registry_, "peer_connection_limit"), 1);
  for (int fd : fds) close(fd);
}

TEST_F(LimitsTest, ServerCapClosesExcessConnectionsAtAccept) {
  ServerOptions options;
  options.max_connections = 3;
  options.max_connections_per_peer = 0;
  options.first_frame_timeout = absl::ZeroDuration();
  Start(options);
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) fds.push_back(ConnectRaw(server_->port()));
  ASSERT_TRUE(WaitFor([&] { return server_->connection_count() == 3; }, kLong));
  const int excess = ConnectRaw(server_->port());
  EXPECT_TRUE(WaitForPeerClose(excess, absl::Seconds(5)));
  close(excess);
  EXPECT_EQ(Refused(registry_, "server_connection_limit"), 1);
  for (int fd : fds) close(fd);
}

TEST_F(LimitsTest, FirstFrameDeadlineClosesSilentAndTricklingPeers) {
  ServerOptions options;
  options.first_frame_timeout = absl::Milliseconds(300);
  options.heartbeat_timeout = absl::Seconds(60);
  Start(options);
  // Silent.
  const int silent = ConnectRaw(server_->port());
  // Trickling: a byte of a frame header now and then, never a frame.
  const int trickle = ConnectRaw(server_->port());
  ASSERT_TRUE(WriteAll(trickle, std::string("\x00", 1)));
  usleep(150 * 1000);
  ASSERT_TRUE(WriteAll(trickle, std::string("\x00", 1)));
  EXPECT_TRUE(WaitForPeerClose(silent, absl::Seconds(5)));
  EXPECT_TRUE(WaitForPeerClose(trickle, absl::Seconds(5)));
  close(silent);
  close(trickle);
  EXPECT_EQ(Disconnects(registry_, "server", "first_frame_timeout"), 2);
  // One complete frame in time: the connection stays.
  const int good = ConnectRaw(server_->port());
  ASSERT_TRUE(WriteAll(good, RequestFrame("echo", "hi")));
  EXPECT_FALSE(WaitForPeerClose(good, absl::Seconds(1)));
  close(good);
}

TEST_F(LimitsTest, UntrustedFramesAreSmallUntilTrusted) {
  ServerOptions options;
  options.untrusted_max_frame_bytes = 1024;
  options.trust_timeout = absl::Seconds(30);
  Start(options);
  // Before trust: a large frame header closes the connection at once.
  EXPECT_TRUE(ClosedAfter(RequestFrame("echo", std::string(2000, 'x'))));
  EXPECT_EQ(Disconnects(registry_, "server", "untrusted_frame_too_large"), 1);
  // A wrong token does not trust.
  EXPECT_TRUE(ClosedAfter(RequestFrame("login", "wrong", 1) +
                          RequestFrame("echo", std::string(2000, 'x'), 2)));
  EXPECT_EQ(Disconnects(registry_, "server", "untrusted_frame_too_large"), 2);

  // Trusted inline by the handler: a large request pipelined right behind
  // the login is accepted.
  auto loop = EventLoop::Create("client");
  ASSERT_TRUE(loop.ok());
  ClientOptions copts;
  copts.port = server_->port();
  copts.registry = &registry_;
  auto client = Client::Create(loop->get(), copts, {});
  ASSERT_TRUE(client.ok());
  std::atomic<int> answers{0};
  std::string big_answer;
  (*client)->Call("login", "secret", kLong,
                  [&](absl::StatusOr<std::string> r) {
                    EXPECT_TRUE(r.ok()) << r.status();
                    ++answers;
                  });
  (*client)->Call("echo", std::string(100000, 'y'), kLong,
                  [&](absl::StatusOr<std::string> r) {
                    EXPECT_TRUE(r.ok()) << r.status();
                    if (r.ok()) big_answer = *r;
                    ++answers;
                  });
  ASSERT_TRUE(WaitFor([&] { return answers.load() == 2; }, kLong));
  EXPECT_EQ(big_answer.size(), 100000u);
  client->reset();
}

TEST_F(LimitsTest, RequestsBeforeTrustAreCountedAndTheOneOverTheLimitCloses) {
  ServerOptions options;
  options.untrusted_max_requests = 3;
  options.request_types["files"] = FileDescriptorProto::descriptor();
  options.request_budget.max_elements = 100000;
  Start(options);
  // Three wrong logins and then parseable bombs pipelined on one
  // connection: the three logins are answered, the fourth request closes
  // the connection, and no bomb behind it reaches the handler.
  std::string pipelined = RequestFrame("login", "wrong", 1) +
                          RequestFrame("login", "wrong", 2) +
                          RequestFrame("login", "wrong", 3);
  for (int i = 0; i < 5; ++i) {
    pipelined += RequestFrame("files", Bomb(10000), 4 + i);
  }
  EXPECT_TRUE(ClosedAfter(pipelined));
  EXPECT_EQ(parsed_.load(), 0);
  EXPECT_EQ(Disconnects(registry_, "server", "untrusted_request_limit"), 1);
  // Trusted by its first request, a connection sends as many as it likes.
  std::string trusted = RequestFrame("login", "secret", 1);
  for (int i = 0; i < 5; ++i) {
    trusted += RequestFrame("files", Bomb(10), 2 + i);
  }
  const int fd = ConnectRaw(server_->port());
  ASSERT_TRUE(WriteAll(fd, trusted));
  EXPECT_TRUE(WaitFor([&] { return parsed_.load() == 5; }, kLong));
  close(fd);
  EXPECT_EQ(Disconnects(registry_, "server", "untrusted_request_limit"), 1);
}

TEST_F(LimitsTest, TrustDeadlineClosesConnectionsThatNeverAuthenticate) {
  ServerOptions options;
  options.untrusted_max_frame_bytes = 1024;
  options.trust_timeout = absl::Milliseconds(300);
  Start(options);
  const int fd = ConnectRaw(server_->port());
  ASSERT_TRUE(WriteAll(fd, RequestFrame("echo", "hello")));  // not a login
  EXPECT_TRUE(WaitForPeerClose(fd, absl::Seconds(5)));
  close(fd);
  EXPECT_EQ(Disconnects(registry_, "server", "trust_timeout"), 1);
}

TEST_F(LimitsTest, PayloadOverBudgetIsRefusedBeforeTheHandlerParses) {
  ServerOptions options;
  options.request_types["files"] = FileDescriptorProto::descriptor();
  options.request_budget.max_elements = 10000;
  Start(options);
  // Within budget: parsed by the handler.
  auto loop = EventLoop::Create("client");
  ASSERT_TRUE(loop.ok());
  ClientOptions copts;
  copts.port = server_->port();
  copts.registry = &registry_;
  auto client = Client::Create(loop->get(), copts, {});
  ASSERT_TRUE(client.ok());
  absl::StatusOr<std::string> ok =
      (*client)->CallSync("files", Bomb(10000), kLong);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(*ok, "parsed");
  EXPECT_EQ(parsed_.load(), 1);
  // A million empty sub-messages (2 MB on the wire): refused, answered
  // RESOURCE_EXHAUSTED, closed, never parsed.
  absl::StatusOr<std::string> bomb =
      (*client)->CallSync("files", Bomb(1000000), kLong);
  EXPECT_EQ(bomb.status().code(), absl::StatusCode::kResourceExhausted)
      << bomb.status();
  EXPECT_EQ(parsed_.load(), 1);
  EXPECT_TRUE(WaitFor(
      [&] {
        return Disconnects(registry_, "server", "payload_over_budget") == 1;
      },
      kLong));
  client->reset();
}

TEST_F(LimitsTest, EnvelopeOfUnknownFieldsIsMalformed) {
  Start(ServerOptions());
  std::string body;
  for (int i = 0; i < 1000; ++i) body.append("\xf8\x01\x01", 3);  // 31:1
  std::string frame = testing::LengthHeader(body.size()) + body;
  EXPECT_TRUE(ClosedAfter(frame));
  EXPECT_EQ(Disconnects(registry_, "server", "malformed_frame"), 1);
}

}  // namespace
}  // namespace transport
}  // namespace kess
