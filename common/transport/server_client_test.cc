// Request/response, push, heartbeat and disconnect behaviour of Server and
// Client over real loopback sockets.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
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
using testing::Disconnects;

// "Did not hang", never a speed claim.
constexpr absl::Duration kLong = absl::Seconds(30);

// Records a client's on_disconnect.
struct DisconnectWatch {
  ClientCallbacks Callbacks() {
    ClientCallbacks callbacks;
    callbacks.on_disconnect = [this](const char* r, const absl::Status&) {
      reason = r;
      disconnected.Notify();
    };
    return callbacks;
  }
  absl::Notification disconnected;
  std::string reason;
};

class ServerClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loop = EventLoop::Create("client-loop");
    ASSERT_TRUE(loop.ok()) << loop.status();
    client_loop_ = std::move(loop).value();
  }

  void TearDown() override {
    clients_.clear();
    {
      absl::MutexLock lock(&mu_);
      held_.clear();
    }
    server_.reset();
    client_loop_.reset();
  }

  void StartServer(ServerOptions options = {}) {
    options.registry = &registry_;
    HandlerMap handlers;
    handlers["echo"] = [](Request request, Responder responder) {
      responder.Respond(std::move(request.payload));
    };
    handlers["whoami"] = [](Request request, Responder responder) {
      responder.Respond(std::to_string(request.connection_id));
    };
    handlers["fail"] = [](Request request, Responder responder) {
      responder.Respond(absl::NotFoundError("no " + request.payload));
    };
    // Kept until the test answers (or drops) it, from the test thread.
    handlers["hold"] = [this](Request request, Responder responder) {
      absl::MutexLock lock(&mu_);
      held_.emplace_back(std::move(request.payload), std::move(responder));
    };
    ServerCallbacks callbacks;
    callbacks.on_disconnect = [this](uint64_t id, const char* reason) {
      absl::MutexLock lock(&mu_);
      server_disconnects_.push_back(reason);
    };
    auto server = Server::Create(options, std::move(handlers), callbacks);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(server).value();
    ASSERT_GT(server_->port(), 0);
  }

  ClientOptions DefaultClientOptions() {
    ClientOptions options;
    options.port = server_->port();
    options.registry = &registry_;
    return options;
  }

  Client* NewClient(ClientOptions options, ClientCallbacks callbacks = {}) {
    auto client = Client::Create(client_loop_.get(), options, callbacks);
    EXPECT_TRUE(client.ok()) << client.status();
    if (!client.ok()) return nullptr;
    absl::Status connected = (*client)->WaitConnected(kLong);
    EXPECT_TRUE(connected.ok()) << connected;
    clients_.push_back(std::move(client).value());
    return clients_.back().get();
  }
  Client* NewClient() { return NewClient(DefaultClientOptions()); }

  // A server closing silent peers after `server_timeout`, and one client
  // heartbeating every `client_interval`.
  Client* StartWithHeartbeats(absl::Duration server_timeout,
                              absl::Duration client_interval) {
    ServerOptions options;
    options.heartbeat_timeout = server_timeout;
    StartServer(options);
    ClientOptions client_options = DefaultClientOptions();
    client_options.heartbeat_interval = client_interval;
    return NewClient(client_options);
  }

  // Outcome of an asynchronous call, filled on the client loop.
  struct AsyncResult {
    std::atomic<bool> done{false};
    absl::Status status;
  };
  // Calls "hold" and waits until the server holds the request.
  std::shared_ptr<AsyncResult> CallHeld(Client* client) {
    auto result = std::make_shared<AsyncResult>();
    const size_t before = HeldCount();
    client->Call("hold", "x", kLong,
                 [result](absl::StatusOr<std::string> reply) {
                   result->status = reply.status();
                   result->done = true;
                 });
    EXPECT_TRUE(WaitFor([&] { return HeldCount() == before + 1; }, kLong));
    return result;
  }

  size_t HeldCount() {
    absl::MutexLock lock(&mu_);
    return held_.size();
  }

  metrics::Registry registry_;
  std::unique_ptr<EventLoop> client_loop_;
  std::unique_ptr<Server> server_;
  std::vector<std::unique_ptr<Client>> clients_;
  absl::Mutex mu_;
  std::vector<std::pair<std::string, Responder>> held_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> server_disconnects_ ABSL_GUARDED_BY(mu_);
};

TEST_F(ServerClientTest, EchoRoundTrip) {
  StartServer();
  Client* client = NewClient();
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->state(), ClientState::kConnected);
  absl::StatusOr<std::string> reply = client->CallSync("echo", "hello", kLong);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply, "hello");
  EXPECT_EQ(server_->connection_count(), 1u);
}

TEST_F(ServerClientTest, HandlerErrorAndUnknownMethodReachTheCaller) {
  StartServer();
  Client* client = NewClient();
  absl::StatusOr<std::string> reply = client->CallSync("fail", "x", kLong);
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(reply.status().message(), "no x");
  reply = client->CallSync("nope", "", kLong);
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnimplemented);
}

TEST_F(ServerClientTest, ConcurrentCallsFromManyThreadsGetTheirOwnAnswers) {
  StartServer();
  Client* client = NewClient();
  std::atomic<int> wrong{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const std::string payload = std::to_string(t) + "/" + std::to_string(i);
        absl::StatusOr<std::string> reply =
            client->CallSync("echo", payload, kLong);
        if (!reply.ok()) {
          failed++;
        } else if (*reply != payload) {
          wrong++;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
}

TEST_F(ServerClientTest, ManyAsyncCallsInFlightAreCorrelated) {
  StartServer();
  Client* client = NewClient();
  constexpr int kCalls = 2000;
  std::atomic<int> done{0};
  std::atomic<int> wrong{0};
  for (int i = 0; i < kCalls; ++i) {
    const std::string payload = "call-" + std::to_string(i);
    client->Call("echo", payload, kLong,
                 [&, payload](absl::StatusOr<std::string> reply) {
                   if (!reply.ok() || *reply != payload) wrong++;
                   done++;
                 });
  }
  ASSERT_TRUE(WaitFor([&] { return done.load() == kCalls; }, kLong));
  EXPECT_EQ(wrong.load(), 0);
}

TEST_F(ServerClientTest, OutOfOrderAsyncResponsesReachTheRightCalls) {
  StartServer();
  Client* client = NewClient();
  absl::Mutex mu;
  std::vector<std::pair<std::string, std::string>> completed;  // sent, got
  for (const char* payload : {"a", "b", "c", "d"}) {
    std::string sent = payload;
    client->Call("hold", sent, kLong,
                 [&, sent](absl::StatusOr<std::string> reply) {
                   absl::MutexLock lock(&mu);
                   completed.emplace_back(sent, reply.ok() ? *reply : "error");
                 });
  }
  ASSERT_TRUE(WaitFor([&] { return HeldCount() == 4; }, kLong));
  // Answer from this thread, in reverse order of arrival.
  std::vector<std::pair<std::string, Responder>> held;
  {
    absl::MutexLock lock(&mu_);
    held.swap(held_);
  }
  for (int i = 3; i >= 0; --i) {
    held[i].second.Respond("answer-" + held[i].first);
  }
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::MutexLock lock(&mu);
        return completed.size() == 4;
      },
      kLong));
  absl::MutexLock lock(&mu);
  for (const auto& [sent, got] : completed) EXPECT_EQ(got, "answer-" + sent);
  // The wire order of the answers was reversed, and so was completion.
  EXPECT_EQ(completed.front().first, held[3].first);
  EXPECT_EQ(completed.back().first, held[0].first);
}

TEST_F(ServerClientTest, CallTimesOutAndLateAnswerIsIgnored) {
  StartServer();
  Client* client = NewClient();
  absl::StatusOr<std::string> reply =
      client->CallSync("hold", "slow", absl::Milliseconds(100));
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kDeadlineExceeded);
  ASSERT_TRUE(WaitFor([&] { return HeldCount() == 1; }, kLong));
  {
    absl::MutexLock lock(&mu_);
    held_[0].second.Respond("too late");
  }
  reply = client->CallSync("echo", "still fine", kLong);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply, "still fine");
}

TEST_F(ServerClientTest, DroppedResponderAnswersInternal) {
  StartServer();
  Client* client = NewClient();
  std::shared_ptr<AsyncResult> result = CallHeld(client);
  {
    absl::MutexLock lock(&mu_);
    held_.clear();
  }
  ASSERT_TRUE(WaitFor([&] { return result->done.load(); }, kLong));
  EXPECT_EQ(result->status.code(), absl::StatusCode::kInternal);
}

TEST_F(ServerClientTest, PushReachesOnlyTheAddressedClient) {
  StartServer();
  constexpr int kClients = 3;
  std::vector<std::unique_ptr<std::atomic<int>>> targeted;
  std::vector<std::unique_ptr<std::atomic<int>>> markers;
  std::vector<uint64_t> ids;
  for (int i = 0; i < kClients; ++i) {
    targeted.push_back(std::make_unique<std::atomic<int>>(0));
    markers.push_back(std::make_unique<std::atomic<int>>(0));
    std::atomic<int>* t = targeted.back().get();
    std::atomic<int>* m = markers.back().get();
    ClientCallbacks callbacks;
    callbacks.on_push = [t, m](const std::string& method, std::string payload) {
      if (method == "update" && payload == "for-you") (*t)++;
      if (method == "marker") (*m)++;
    };
    Client* client = NewClient(DefaultClientOptions(), callbacks);
    absl::StatusOr<std::string> id = client->CallSync("whoami", "", kLong);
    ASSERT_TRUE(id.ok()) << id.status();
    ids.push_back(std::stoull(*id));
  }
  ASSERT_TRUE(server_->Push(ids[1], "update", "for-you").ok());
  // Per-connection order: a misrouted push would arrive before the marker.
  for (uint64_t id : ids) ASSERT_TRUE(server_->Push(id, "marker", "").ok());
  ASSERT_TRUE(WaitFor(
      [&] {
        for (auto& m : markers) {
          if (m->load() != 1) return false;
        }
        return true;
      },
      kLong));
  EXPECT_EQ(targeted[0]->load(), 0);
  EXPECT_EQ(targeted[1]->load(), 1);
  EXPECT_EQ(targeted[2]->load(), 0);
}

TEST_F(ServerClientTest, PushManyReachesExactlyTheListedClients) {
  StartServer();
  constexpr int kClients = 4;
  std::vector<std::unique_ptr<std::atomic<int>>> targeted;
  std::vector<std::unique_ptr<std::atomic<int>>> markers;
  std::vector<uint64_t> ids;
  for (int i = 0; i < kClients; ++i) {
    targeted.push_back(std::make_unique<std::atomic<int>>(0));
    markers.push_back(std::make_unique<std::atomic<int>>(0));
    std::atomic<int>* t = targeted.back().get();
    std::atomic<int>* m = markers.back().get();
    ClientCallbacks callbacks;
    callbacks.on_push = [t, m](const std::string& method, std::string payload) {
      if (method == "update" && payload == "some") (*t)++;
      if (method == "marker") (*m)++;
    };
    Client* client = NewClient(DefaultClientOptions(), callbacks);
    absl::StatusOr<std::string> id = client->CallSync("whoami", "", kLong);
    ASSERT_TRUE(id.ok()) << id.status();
    ids.push_back(std::stoull(*id));
  }
  // Two ids on different loops (ids are consecutive), one unknown id.
  ASSERT_TRUE(
      server_->PushMany({ids[1], ids[2], 999999}, "update", "some").ok());
  for (uint64_t id : ids) ASSERT_TRUE(server_->Push(id, "marker", "").ok());
  ASSERT_TRUE(WaitFor(
      [&] {
        for (auto& m : markers) {
          if (m->load() != 1) return false;
        }
        return true;
      },
      kLong));
  EXPECT_EQ(targeted[0]->load(), 0);
  EXPECT_EQ(targeted[1]->load(), 1);
  EXPECT_EQ(targeted[2]->load(), 1);
  EXPECT_EQ(targeted[3]->load(), 0);
}

TEST_F(ServerClientTest, BroadcastReachesEveryClient) {
  StartServer();
  std::atomic<int> received{0};
  ClientCallbacks callbacks;
  callbacks.on_push = [&](const std::string& method, std::string payload) {
    if (method == "all" && payload == "news") received++;
  };
  for (int i = 0; i < 5; ++i) NewClient(DefaultClientOptions(), callbacks);
  // A client is connected once the kernel accepted it; the server's loop
  // registers it a moment later, and a broadcast reaches only registered
  // connections.
  ASSERT_TRUE(WaitFor([&] { return server_->connection_count() == 5; }, kLong));
  ASSERT_TRUE(server_->Broadcast("all", "news").ok());
  ASSERT_TRUE(WaitFor([&] { return received.load() == 5; }, kLong));
}

TEST_F(ServerClientTest, PushOverFrameLimitIsRejected) {
  ServerOptions options;
  options.connection.max_frame_bytes = 1024;
  options.connection.max_send_queue_bytes = 4096;
  StartServer(options);
  EXPECT_EQ(server_->Push(1, "m", std::string(2000, 'x')).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ServerClientTest, SixteenMegabytePayloadRoundTrips) {
  StartServer();
  Client* client = NewClient();
  const std::string big(16 << 20, 'b');
  absl::StatusOr<std::string> reply = client->CallSync("echo", big, kLong);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->size(), big.size());
  EXPECT_TRUE(*reply == big);
}

TEST_F(ServerClientTest, HeartbeatsKeepAnIdleConnectionAlive) {
  Client* client =
      StartWithHeartbeats(/*server_timeout=*/absl::Milliseconds(300),
                          /*client_interval=*/absl::Milliseconds(30));
  // Idle for several server timeouts; only heartbeats flow.
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  EXPECT_EQ(client->state(), ClientState::kConnected);
  EXPECT_EQ(server_->connection_count(), 1u);
  EXPECT_EQ(Disconnects(registry_, "server", "heartbeat_timeout"), 0);
  absl::StatusOr<std::string> reply = client->CallSync("echo", "x", kLong);
  EXPECT_TRUE(reply.ok()) << reply.status();
}

TEST_F(ServerClientTest, SilentPeerIsClosedOnHeartbeatTimeout) {
  Client* healthy =
      StartWithHeartbeats(/*server_timeout=*/absl::Milliseconds(200),
                          /*client_interval=*/absl::Milliseconds(20));

  int silent = testing::ConnectRaw(server_->port());
  ASSERT_GE(silent, 0);
  EXPECT_TRUE(testing::WaitForPeerClose(silent, kLong));
  close(silent);
  EXPECT_EQ(Disconnects(registry_, "server", "heartbeat_timeout"), 1);
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::MutexLock lock(&mu_);
        return !server_disconnects_.empty();
      },
      kLong));
  {
    absl::MutexLock lock(&mu_);
    ASSERT_EQ(server_disconnects_.size(), 1u);
    EXPECT_EQ(server_disconnects_[0], "heartbeat_timeout");
  }
  EXPECT_EQ(healthy->state(), ClientState::kConnected);
  EXPECT_TRUE(healthy->CallSync("echo", "x", kLong).ok());
}

TEST_F(ServerClientTest, ClientNoticesStoppedServer) {
  StartServer();
  DisconnectWatch watch;
  ClientCallbacks callbacks = watch.Callbacks();
  Client* client = NewClient(DefaultClientOptions(), callbacks);
  server_.reset();
  ASSERT_TRUE(watch.disconnected.WaitForNotificationWithTimeout(kLong));
  EXPECT_EQ(watch.reason, "peer_closed");
  EXPECT_EQ(client->state(), ClientState::kClosed);
  EXPECT_EQ(client->CallSync("echo", "x", kLong).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(ServerClientTest, PendingCallFailsWhenServerGoesAway) {
  StartServer();
  Client* client = NewClient();
  std::shared_ptr<AsyncResult> result = CallHeld(client);
  server_.reset();  // the held Responder outlives the server: a no-op
  ASSERT_TRUE(WaitFor([&] { return result->done.load(); }, kLong));
  EXPECT_EQ(result->status.code(), absl::StatusCode::kUnavailable);
  {
    absl::MutexLock lock(&mu_);
    held_[0].second.Respond("after shutdown");  // must not crash
  }
}

TEST_F(ServerClientTest, ClientDetectsServerThatStopsAnswering) {
  // A "server" that accepts and then never says anything.
  int port = 0;
  int listener = testing::ListenRaw(&port);
  ASSERT_GE(listener, 0);

  ClientOptions options;
  options.port = port;
  options.registry = &registry_;
  options.heartbeat_interval = absl::Milliseconds(20);
  options.heartbeat_timeout = absl::Milliseconds(150);
  DisconnectWatch watch;
  ClientCallbacks callbacks = watch.Callbacks();
  auto client = Client::Create(client_loop_.get(), options, callbacks);
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE((*client)->WaitConnected(kLong).ok());
  ASSERT_TRUE(watch.disconnected.WaitForNotificationWithTimeout(kLong));
  EXPECT_EQ(watch.reason, "heartbeat_timeout");
  EXPECT_EQ(Disconnects(registry_, "client", "heartbeat_timeout"), 1);
  client->reset();
  close(listener);
}

TEST_F(ServerClientTest, ConnectRefusedIsReported) {
  ClientOptions options;
  options.port = testing::UnusedPort();
  options.registry = &registry_;
  absl::Notification reported;
  absl::Status connect_status;
  ClientCallbacks callbacks;
  callbacks.on_connect = [&](const absl::Status& status) {
    connect_status = status;
    reported.Notify();
  };
  auto client = Client::Create(client_loop_.get(), options, callbacks);
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(reported.WaitForNotificationWithTimeout(kLong));
  EXPECT_EQ(connect_status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ((*client)->WaitConnected(kLong).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ((*client)->CallSync("echo", "", kLong).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(ServerClientTest, DestroyingClientCancelsItsCalls) {
  StartServer();
  auto client = Client::Create(client_loop_.get(), DefaultClientOptions());
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE((*client)->WaitConnected(kLong).ok());
  std::shared_ptr<AsyncResult> result = CallHeld(client->get());
  client->reset();
  EXPECT_TRUE(result->done.load());  // before the destructor returned
  EXPECT_EQ(result->status.code(), absl::StatusCode::kCancelled);
  ASSERT_TRUE(WaitFor([&] { return server_->connection_count() == 0; }, kLong));
}

}  // namespace
}  // namespace transport
}  // namespace kess
