// Many simulated agents in one benchmark process: one transport Client per
// agent, all on one EventLoop thread, connected and then subscribed in
// batches (a batch of calls in flight at a time, so a distributor is not
// hit by 10,000 connects at once). What an agent does with a push is the
// caller's: `on_push(index, payload)` runs on the loop thread.
// Used by bench/distributor_bench_client, bench/propagation_bench and the
// fault suite (tests/faults).
//
// Thread-safety: Connect/Subscribe from one driver thread (not the loop).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/metrics.h"
#include "common/transport/client.h"
#include "common/transport/event_loop.h"
#include "glog/logging.h"
#include "tests/load/load_util.h"

namespace kess {
namespace load {

class SimulatedAgents {
 public:
  struct Options {
    int connections = 0;
    int connect_batch = 500;
    std::function<int(int index)> port;  // the distributor of agent `index`
    absl::Duration heartbeat_interval = absl::Seconds(10);
    absl::Duration heartbeat_timeout = absl::Seconds(120);
    absl::Duration call_timeout = absl::Seconds(60);
    // TLS to the distributors (a client context); nullptr: plain TCP.
    std::shared_ptr<tls::TlsContext> tls;
  };
  using PushHandler =
      std::function<void(int index, const std::string& payload)>;

  // `loop` must outlive this object.
  SimulatedAgents(transport::EventLoop* loop, Options options,
                  PushHandler on_push);
  ~SimulatedAgents();  // closes every connection

  // Creates every client, waiting for each batch's connects (60 s at most).
  // Returns how many connected; the rest failed.
  int Connect();
  // Sends kess.Subscribe with `request(index)` (a serialized
  // SubscribeRequest) on every connection, a batch in flight at a time, and
  // waits for the answers. Returns how many succeeded; their payload bytes
  // are added to `*answer_bytes`.
  int Subscribe(const std::function<std::string(int index)>& request,
                int64_t* answer_bytes);

  int size() const { return static_cast<int>(clients_.size()); }

 private:
  const Options options_;
  transport::EventLoop* const loop_;
  const PushHandler on_push_;
  metrics::Registry registry_;
  std::vector<std::unique_ptr<transport::Client>> clients_;
  std::atomic<int> connected_{0};
  std::atomic<int> failed_{0};
};

// The child side of a benchmark process of simulated agents: raises the fd
// limit, makes an EventLoop named `loop_name`, builds `Agents(options,
// loop)` and answers the driver's line commands (ServeLineCommands) until
// stdin closes: "connect", "wait <seq>" and "dump" go to the Agents'
// Connect(), Wait(seq) and Dump(); any other to `extra(agents, command)`
// ("" = unknown). Returns the exit code.
template <typename Agents, typename AgentsOptions>
int ServeSimulatedAgents(
    const char* loop_name, const AgentsOptions& options,
    const std::function<std::string(Agents&, const std::string&)>& extra) {
  RaiseFdLimit();
  auto loop = transport::EventLoop::Create(loop_name);
  if (!loop.ok()) {
    LOG(ERROR) << loop.status();
    return 1;
  }
  auto agents = std::make_unique<Agents>(options, loop->get());
  ServeLineCommands([&](const std::string& command, std::istream& in) {
    if (command == "connect") return agents->Connect();
    if (command == "wait") {
      uint32_t seq = 0;
      in >> seq;
      return agents->Wait(seq);
    }
    if (command == "dump") return agents->Dump();
    return extra(*agents, command);
  });
  agents.reset();  // before the loop it runs on
  return 0;
}

}  // namespace load
}  // namespace kess
