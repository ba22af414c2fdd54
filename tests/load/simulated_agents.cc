#include "tests/load/simulated_agents.h"

#include "common/testing/wait_for.h"

namespace kess {
namespace load {
namespace {

using ::kess::testing::WaitFor;

constexpr absl::Duration kWait = absl::Seconds(60);

}  // namespace

SimulatedAgents::SimulatedAgents(transport::EventLoop* loop, Options options,
                                 PushHandler on_push)
    : options_(std::move(options)), loop_(loop), on_push_(std::move(on_push)) {}

SimulatedAgents::~SimulatedAgents() { clients_.clear(); }

int SimulatedAgents::Connect() {
  for (int i = 0; i < options_.connections; ++i) {
    transport::ClientOptions client_options;
    client_options.port = options_.port(i);
    client_options.registry = &registry_;
    client_options.tls = options_.tls;
    client_options.heartbeat_interval = options_.heartbeat_interval;
    client_options.heartbeat_timeout = options_.heartbeat_timeout;
    transport::ClientCallbacks callbacks;
    callbacks.on_connect = [this](const absl::Status& status) {
      (status.ok() ? connected_ : failed_)++;
    };
    callbacks.on_push = [this, i](const std::string&, std::string payload) {
      on_push_(i, payload);
    };
    auto client = transport::Client::Create(loop_, client_options, callbacks);
    if (!client.ok()) {
      failed_++;
      continue;
    }
    clients_.push_back(std::move(client).value());
    const bool batch_end =
        (i + 1) % options_.connect_batch == 0 || i + 1 == options_.connections;
    if (batch_end) {
      WaitFor([&] { return connected_ + failed_ >= i + 1; }, kWait);
    }
  }
  return connected_.load();
}

int SimulatedAgents::Subscribe(
    const std::function<std::string(int index)>& request,
    int64_t* answer_bytes) {
  std::atomic<int> done{0};
  std::atomic<int> ok{0};
  std::atomic<int64_t> bytes{0};
  for (size_t i = 0; i < clients_.size(); ++i) {
    clients_[i]->Call("kess.Subscribe", request(static_cast<int>(i)),
                      options_.call_timeout,
                      [&](absl::StatusOr<std::string> reply) {
                        if (reply.ok()) {
                          ok++;
                          bytes += reply->size();
                        }
                        done++;
                      });
    if ((i + 1) % options_.connect_batch == 0) {
      WaitFor([&] { return done.load() >= static_cast<int>(i + 1); }, kWait);
    }
  }
  // The callbacks refer to this frame: wait for every one of them.
  WaitFor([&] { return done.load() == static_cast<int>(clients_.size()); },
          options_.call_timeout + kWait);
  *answer_bytes += bytes.load();
  return ok.load();
}

}  // namespace load
}  // namespace kess
