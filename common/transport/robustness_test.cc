// Bad and slow peers: each one loses only its own connection, with a
// counted reason, and everyone else keeps being served.
#include <unistd.h>

#include <atomic>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/metrics.h"
#include "common/testing/wait_for.h"
#include "common/transport/client.h"
#include "common/transport/event_loop.h"
#include "common/transport/frame_codec.h"
#include "common/transport/server.h"
#include "common/transport/testing/test_util.h"
#include "gtest/gtest.h"

namespace kess {
namespace transport {
namespace {

using ::kess::testing::WaitFor;
using testing::ConnectRaw;
using testing::Disconnects;
using testing::EncodeForTest;
using testing::LengthHeader;
using testing::WaitForPeerClose;
using testing::WriteAll;

constexpr absl::Duration kLong = absl::Seconds(30);
constexpr size_t kMaxFrame = 64 << 10;

class RobustnessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.registry = &registry_;
    options.connection.max_frame_bytes = kMaxFrame;
    options.connection.max_send_queue_bytes = 4 * kMaxFrame;
    HandlerMap handlers;
    handlers["echo"] = [](Request request, Responder responder) {
      responder.Respond(std::move(request.payload));
    };
    ServerCallbacks callbacks;
    callbacks.on_connect = [this](uint64_t id, const std::string&) {
      absl::MutexLock lock(&mu_);
      connected_.push_back(id);
    };
    callbacks.on_disconnect = [this](uint64_t id, const char* reason) {
      absl::MutexLock lock(&mu_);
      closed_.emplace_back(id, reason);
    };
    auto server = Server::Create(options, std::move(handlers), callbacks);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(server).value();

    auto loop = EventLoop::Create("client-loop");
    ASSERT_TRUE(loop.ok());
    client_loop_ = std::move(loop).value();
    ClientOptions client_options;
    client_options.port = server_->port();
    client_options.registry = &registry_;
    ClientCallbacks client_callbacks;
    client_callbacks.on_push = [this](const std::string&, std::string) {
      good_pushes_++;
    };
    auto client =
        Client::Create(client_loop_.get(), client_options, client_callbacks);
    ASSERT_TRUE(client.ok());
    good_ = std::move(client).value();
    ASSERT_TRUE(good_->WaitConnected(kLong).ok());
    ASSERT_TRUE(WaitFor([&] { return ConnectedCount() == 1; }, kLong));
  }

  void TearDown() override {
    good_.reset();
    server_.reset();
    client_loop_.reset();
  }

  size_t ConnectedCount() {
    absl::MutexLock lock(&mu_);
    return connected_.size();
  }
  uint64_t LastConnected() {
    absl::MutexLock lock(&mu_);
    return connected_.back();
  }

  // The well-behaved client still gets answers and pushes.
  void ExpectGoodClientServed() {
    EXPECT_EQ(good_->state(), ClientState::kConnected);
    absl::StatusOr<std::string> reply = good_->CallSync("echo", "ok", kLong);
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(*reply, "ok");
    const int before = good_pushes_.load();
    uint64_t good_id;
    {
      absl::MutexLock lock(&mu_);
      good_id = connected_.front();
    }
    ASSERT_TRUE(server_->Push(good_id, "still", "here").ok());
    EXPECT_TRUE(WaitFor([&] { return good_pushes_.load() > before; }, kLong));
  }

  // Sends `bytes` on a fresh raw connection and expects the server to close
  // it with `reason`.
  void ExpectClosedWithReason(const std::string& bytes,
                              const std::string& reason) {
    const double before = Disconnects(registry_, "server", reason);
    int fd = ConnectRaw(server_->port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(WriteAll(fd, bytes));
    EXPECT_TRUE(WaitForPeerClose(fd, kLong));
    close(fd);
    EXPECT_TRUE(WaitFor(
        [&] { return Disconnects(registry_, "server", reason) == before + 1; },
        kLong));
    ExpectGoodClientServed();
  }

  metrics::Registry registry_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<EventLoop> client_loop_;
  std::unique_ptr<Client> good_;
  std::atomic<int> good_pushes_{0};
  absl::Mutex mu_;
  std::vector<uint64_t> connected_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<uint64_t, std::string>> closed_ ABSL_GUARDED_BY(mu_);
};

TEST_F(RobustnessTest, MalformedFrameClosesOnlyThatConnection) {
  ExpectClosedWithReason(LengthHeader(16) + std::string(16, '\xff'),
                         "malformed_frame");
}

TEST_F(RobustnessTest, OverLimitLengthHeaderAloneClosesTheConnection) {
  ExpectClosedWithReason(LengthHeader(kMaxFrame + 1), "frame_too_large");
  ExpectClosedWithReason(LengthHeader(0xffffffffu), "frame_too_large");
}

TEST_F(RobustnessTest, ZeroLengthFrameClosesTheConnection) {
  ExpectClosedWithReason(LengthHeader(0), "zero_length_frame");
}

TEST_F(RobustnessTest, FrameKindAClientMayNotSendClosesTheConnection) {
  Frame frame;
  frame.set_kind(Frame::PUSH);
  frame.set_method("x");
  ExpectClosedWithReason(EncodeForTest(frame), "unexpected_frame");
  Frame unknown;
  unknown.set_kind(static_cast<Frame::Kind>(99));
  ExpectClosedWithReason(EncodeForTest(unknown), "unexpected_frame");
}

TEST_F(RobustnessTest, ConnectionThatWorkedIsClosedByLaterGarbage) {
  int fd = ConnectRaw(server_->port());
  ASSERT_GE(fd, 0);
  Frame request;
  request.set_id(5);
  request.set_kind(Frame::REQUEST);
  request.set_method("echo");
  request.set_payload("first");
  ASSERT_TRUE(WriteAll(fd, EncodeForTest(request)));
  FrameDecoder decoder(kMaxFrame);
  Frame response;
  bool got_response = false;
  char buffer[4096];
  for (int i = 0; i < 100 && !got_response; ++i) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n <= 0) break;
    decoder.Feed(absl::string_view(buffer, n));
    absl::StatusOr<bool> got = decoder.Next(&response);
    ASSERT_TRUE(got.ok()) << got.status();
    got_response = *got;
  }
  ASSERT_TRUE(got_response);
  EXPECT_EQ(response.id(), 5u);
  EXPECT_EQ(response.kind(), Frame::RESPONSE);
  EXPECT_EQ(response.payload(), "first");

  ASSERT_TRUE(WriteAll(fd, LengthHeader(0)));
  EXPECT_TRUE(WaitForPeerClose(fd, kLong));
  close(fd);
  EXPECT_TRUE(WaitFor(
      [&] {
        return Disconnects(registry_, "server", "zero_length_frame") == 1;
      },
      kLong));
  ExpectGoodClientServed();
}

TEST_F(RobustnessTest, RandomGarbageNeverTakesTheServerDown) {
  std::mt19937 rng(12345);  // fixed seed: a failure is reproducible
  for (int round = 0; round < 200; ++round) {
    std::string bytes(1 + rng() % 300, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    if (round % 2 == 0) {
      // A plausible length so the garbage reaches the protobuf parser.
      bytes = LengthHeader(bytes.size()) + bytes;
    }
    int fd = ConnectRaw(server_->port());
    ASSERT_GE(fd, 0);
    WriteAll(fd, bytes);  // the server may already have closed
    close(fd);
  }
  ExpectGoodClientServed();
  EXPECT_TRUE(WaitFor([&] { return server_->connection_count() == 1; }, kLong));
}

TEST_F(RobustnessTest, PeerThatStopsReadingIsDisconnectedWhenItsQueueFills) {
  // A tiny receive buffer so the kernel absorbs little; it never reads.
  int fd = ConnectRaw(server_->port(), /*receive_buffer_bytes=*/4096);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(WaitFor([&] { return ConnectedCount() == 2; }, kLong));
  const uint64_t slow_id = LastConnected();

  const std::string payload(kMaxFrame - 1024, 's');
  bool overflowed = false;
  // At most 4,000 pushes (about 250 MiB) before we call it a failure.
  for (int i = 0; i < 4000 && !overflowed; ++i) {
    ASSERT_TRUE(server_->Push(slow_id, "flood", payload).ok());
    if (i % 16 == 15) {
      WaitFor(
          [&] {
            return Disconnects(registry_, "server", "send_queue_full") == 1;
          },
          absl::Milliseconds(20));
      overflowed = Disconnects(registry_, "server", "send_queue_full") == 1;
    }
  }
  EXPECT_TRUE(overflowed || WaitFor(
                                [&] {
                                  return Disconnects(registry_, "server",
                                                     "send_queue_full") == 1;
                                },
                                kLong));
  close(fd);
  // The counter moves just before on_disconnect runs.
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::MutexLock lock(&mu_);
        return !closed_.empty();
      },
      kLong));
  {
    absl::MutexLock lock(&mu_);
    ASSERT_GE(closed_.size(), 1u);
    EXPECT_EQ(closed_[0].first, slow_id);
    EXPECT_EQ(closed_[0].second, "send_queue_full");
  }
  ExpectGoodClientServed();
}

}  // namespace
}  // namespace transport
}  // namespace kess
