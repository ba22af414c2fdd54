// Thousands of connections on one server and one client loop: every client
// gets its answer and a broadcast push, without a thread per connection.
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "common/metrics.h"
#include "common/testing/wait_for.h"
#include "common/transport/client.h"
#include "common/transport/event_loop.h"
#include "common/transport/server.h"
#include "common/transport/testing/test_util.h"
#include "gtest/gtest.h"

namespace kess {
namespace transport {
namespace {

using ::kess::testing::WaitFor;

constexpr int kConnections = 2000;
constexpr int kBatch = 250;  // stays well under the listen backlog
constexpr absl::Duration kLong = absl::Seconds(60);

TEST(ManyConnectionsTest, TwoThousandClientsEachGetAnAnswerAndAPush) {
  metrics::Registry registry;
  ServerOptions server_options;
  server_options.registry = &registry;
  server_options.num_loops = 2;
  // Every client is 127.0.0.1 here; the per-peer cap is for real hosts.
  server_options.max_connections_per_peer = 0;
  HandlerMap handlers;
  handlers["echo"] = [](Request request, Responder responder) {
    responder.Respond(std::move(request.payload));
  };
  auto server = Server::Create(server_options, std::move(handlers));
  ASSERT_TRUE(server.ok()) << server.status();

  auto loop = EventLoop::Create("clients");
  ASSERT_TRUE(loop.ok());
  ClientOptions options;
  options.port = (*server)->port();
  options.registry = &registry;

  std::atomic<int> connected{0};
  std::atomic<int> connect_failed{0};
  std::atomic<int> pushes{0};
  std::vector<std::unique_ptr<Client>> clients;
  ClientCallbacks callbacks;
  callbacks.on_connect = [&](const absl::Status& status) {
    (status.ok() ? connected : connect_failed)++;
  };
  callbacks.on_push = [&](const std::string& method, std::string payload) {
    if (method == "hello" && payload == "everyone") pushes++;
  };
  for (int i = 0; i < kConnections; ++i) {
    auto client = Client::Create(loop->get(), options, callbacks);
    ASSERT_TRUE(client.ok()) << i << ": " << client.status();
    clients.push_back(std::move(client).value());
    if ((i + 1) % kBatch == 0) {
      ASSERT_TRUE(WaitFor(
          [&] { return connected.load() + connect_failed.load() == i + 1; },
          kLong));
    }
  }
  ASSERT_EQ(connect_failed.load(), 0);
  ASSERT_TRUE(WaitFor(
      [&] { return (*server)->connection_count() == kConnections; }, kLong));

  std::atomic<int> answered{0};
  std::atomic<int> wrong{0};
  for (int i = 0; i < kConnections; ++i) {
    const std::string payload = std::to_string(i);
    clients[i]->Call("echo", payload, kLong,
                     [&, payload](absl::StatusOr<std::string> reply) {
                       if (!reply.ok() || *reply != payload) wrong++;
                       answered++;
                     });
  }
  ASSERT_TRUE(WaitFor([&] { return answered.load() == kConnections; }, kLong));
  EXPECT_EQ(wrong.load(), 0);

  ASSERT_TRUE((*server)->Broadcast("hello", "everyone").ok());
  ASSERT_TRUE(WaitFor([&] { return pushes.load() == kConnections; }, kLong));

  EXPECT_EQ(
      registry.GetGauge("kess_transport_connections", "", {{"role", "server"}})
          ->Value(),
      kConnections);
  clients.clear();
  EXPECT_TRUE(
      WaitFor([&] { return (*server)->connection_count() == 0; }, kLong));
}

}  // namespace
}  // namespace transport
}  // namespace kess
