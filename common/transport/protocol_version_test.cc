// The protocol version window of Server and Client (protocol_version.h):
// peers of an older version inside the window (including one from before
// the version field) are served; one below the minimum is refused with a
// clear FAILED_PRECONDITION and counted; a newer peer is served.
#include "common/transport/protocol_version.h"

#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/metrics.h"
#include "common/transport/client.h"
#include "common/transport/event_loop.h"
#include "common/transport/server.h"
#include "common/transport/testing/test_util.h"
#include "gtest/gtest.h"

namespace kess {
namespace transport {
namespace {

using testing::CounterValue;

constexpr absl::Duration kLong = absl::Seconds(30);

class ProtocolVersionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loop = EventLoop::Create("client-loop");
    ASSERT_TRUE(loop.ok()) << loop.status();
    client_loop_ = std::move(loop).value();
  }
  void TearDown() override {
    clients_.clear();
    server_.reset();
    client_loop_.reset();
  }

  void StartServer(int min_protocol_version) {
    ServerOptions options;
    options.registry = &registry_;
    options.min_protocol_version = min_protocol_version;
    HandlerMap handlers;
    handlers["echo"] = [this](Request request, Responder responder) {
      ++handled_;
      responder.Respond(std::move(request.payload));
    };
    auto server = Server::Create(options, std::move(handlers), {});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(server).value();
  }

  // A client speaking `version` (0: from before the field) that accepts
  // servers of `min_version` and newer.
  Client* NewClient(int version, int min_version = kMinProtocolVersion) {
    ClientOptions options;
    options.port = server_->port();
    options.registry = &registry_;
    options.protocol_version = version;
    options.min_protocol_version = min_version;
    auto client = Client::Create(client_loop_.get(), options, {});
    EXPECT_TRUE(client.ok()) << client.status();
    if (!client.ok()) return nullptr;
    EXPECT_TRUE((*client)->WaitConnected(kLong).ok());
    clients_.push_back(std::move(client).value());
    return clients_.back().get();
  }

  double Refused(const std::string& role) {
    return CounterValue(registry_, "kess_transport_protocol_refused_total",
                        {{"role", role}});
  }

  metrics::Registry registry_;
  std::unique_ptr<EventLoop> client_loop_;
  std::unique_ptr<Server> server_;
  std::vector<std::unique_ptr<Client>> clients_;
  std::atomic<int> handled_{0};
};

TEST(PeerProtocolVersion, ZeroIsTheVersionBeforeTheField) {
  EXPECT_EQ(PeerProtocolVersion(0), 1);
  EXPECT_EQ(PeerProtocolVersion(1), 1);
  EXPECT_EQ(PeerProtocolVersion(7), 7);
  // This release serves the previous one (N-1).
  EXPECT_EQ(kMinProtocolVersion, kProtocolVersion - 1);
}

TEST(CheckPeerProtocolVersion, NamesBothVersionsAndWhomToUpgrade) {
  EXPECT_TRUE(CheckPeerProtocolVersion(1, 1, "client").ok());
  EXPECT_TRUE(CheckPeerProtocolVersion(9, 1, "client").ok());
  absl::Status refused = CheckPeerProtocolVersion(1, 2, "client");
  EXPECT_TRUE(absl::IsFailedPrecondition(refused)) << refused;
  EXPECT_NE(refused.message().find("protocol version 1 of the client"),
            absl::string_view::npos)
      << refused;
  EXPECT_NE(refused.message().find("accepts 2 and newer"),
            absl::string_view::npos)
      << refused;
  EXPECT_NE(refused.message().find("upgrade the client"),
            absl::string_view::npos)
      << refused;
}

TEST_F(ProtocolVersionTest, OlderClientsInsideTheWindowAreServed) {
  StartServer(kMinProtocolVersion);
  // A client from before the field (0 on the wire), the previous version
  // and this one.
  for (int version : {0, kMinProtocolVersion, kProtocolVersion}) {
    Client* client = NewClient(version);
    ASSERT_NE(client, nullptr);
    auto answer = client->CallSync("echo", "v" + std::to_string(version), kLong);
    ASSERT_TRUE(answer.ok()) << version << ": " << answer.status();
    EXPECT_EQ(*answer, "v" + std::to_string(version));
  }
  EXPECT_EQ(handled_.load(), 3);
  EXPECT_EQ(Refused("server"), 0);
  EXPECT_EQ(Refused("client"), 0);
}

TEST_F(ProtocolVersionTest, NewerClientIsServed) {
  StartServer(kMinProtocolVersion);
  Client* client = NewClient(kProtocolVersion + 1);
  ASSERT_NE(client, nullptr);
  auto answer = client->CallSync("echo", "x", kLong);
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(Refused("server"), 0);
}

TEST_F(ProtocolVersionTest, ClientBelowTheWindowIsRefusedClearly) {
  // A server whose window starts at this version: a client of the previous
  // one, and one from before the field, are outside it.
  StartServer(kProtocolVersion);
  for (int version : {0, kProtocolVersion - 1}) {
    Client* client = NewClient(version);
    ASSERT_NE(client, nullptr);
    auto answer = client->CallSync("echo", "x", kLong);
    ASSERT_FALSE(answer.ok());
    EXPECT_TRUE(absl::IsFailedPrecondition(answer.status())) << answer.status();
    EXPECT_NE(answer.status().message().find(
                  "protocol version " + std::to_string(kProtocolVersion - 1) +
                  " of the client is no longer supported"),
              absl::string_view::npos)
        << answer.status();
  }
  EXPECT_EQ(handled_.load(), 0);  // never reached a handler
  EXPECT_EQ(Refused("server"), 2);
  // The connection stays usable for nothing else but it is not torn down:
  // the refusal is an answer, not a protocol violation.
  EXPECT_EQ(clients_.back()->state(), ClientState::kConnected);
  // A current client on the same server works.
  Client* current = NewClient(kProtocolVersion);
  ASSERT_NE(current, nullptr);
  EXPECT_TRUE(current->CallSync("echo", "x", kLong).ok());
}

TEST_F(ProtocolVersionTest, ClientRefusesAServerBelowItsWindow) {
  StartServer(kMinProtocolVersion);
  // The server answers with kProtocolVersion; a client whose window starts
  // after it refuses the answer.
  Client* client = NewClient(kProtocolVersion, kProtocolVersion + 1);
  ASSERT_NE(client, nullptr);
  auto answer = client->CallSync("echo", "x", kLong);
  ASSERT_FALSE(answer.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(answer.status())) << answer.status();
  EXPECT_NE(answer.status().message().find("upgrade the server"),
            absl::string_view::npos)
      << answer.status();
  EXPECT_EQ(Refused("client"), 1);
}

}  // namespace
}  // namespace transport
}  // namespace kess
