// Commands (one line each) and answers:
//   connect        -> ready <subscribed> <failed> <ms> <answer_bytes>
//   wait <seq>     -> got <seq> <connections that hold hot/h0 at >= seq>
//                     (waits at most 60 s)
//   count          -> count <frames> <resources>   (kess.Update pushes)
//   dump           -> file <path>  raw (seq, microseconds) uint32 pairs of
//                     every hot/h0 delivery
//   quit
// Hot values start with "<seq> <send_ns> " (CLOCK_MONOTONIC, comparable
// between processes on one host).
#include "bench/distributor_bench_client.h"

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "bench/transport_bench_util.h"
#include "common/metrics.h"
#include "model/protocol/distribution.pb.h"
#include "common/testing/wait_for.h"
#include "common/transport/client.h"
#include "common/transport/event_loop.h"
#include "glog/logging.h"
#include "tests/load/load_util.h"
#include "tests/load/simulated_agents.h"

namespace kess {
namespace bench {

using ::kess::testing::WaitFor;
using load::NowNs;
using load::ServeSimulatedAgents;
using load::SimulatedAgents;

namespace {

constexpr absl::Duration kWait = absl::Seconds(60);

class Agents {
 public:
  Agents(const DistributorBenchClientOptions& options,
         transport::EventLoop* loop)
      : options_(options),
        hot_seq_(
            std::make_unique<std::atomic<uint32_t>[]>(options.connections)) {
    for (int i = 0; i < options.connections; ++i) hot_seq_[i] = 0;
    SimulatedAgents::Options agents_options;
    agents_options.connections = options.connections;
    agents_options.connect_batch = options.connect_batch;
    agents_options.port = [port = options.port](int) { return port; };
    agents_options.call_timeout = kWait;
    agents_ = std::make_unique<SimulatedAgents>(
        loop, agents_options,
        [this](int i, const std::string& payload) { OnPush(i, payload); });
  }
  ~Agents() { agents_.reset(); }

  std::string Connect() {
    const int64_t start = NowNs();
    std::mt19937 random(std::hash<std::string>()(options_.name));
    const int connected = agents_->Connect();
    // Subscribe, a batch of calls in flight at a time.
    int64_t answer_bytes = 0;
    const int subscribed = agents_->Subscribe(
        [&](int i) {
          protocol::SubscribeRequest request;
          request.set_host_id(absl::StrCat("bench-", options_.name, "-", i));
          for (int h = 0; h < options_.hot_keys; ++h) {
            protocol::ResourceKey* key = request.add_keys()->mutable_key();
            key->set_namespace_name("hot");
            key->set_key(absl::StrCat("h", h));
          }
          for (int r = 0; r < options_.random_keys; ++r) {
            protocol::ResourceKey* key = request.add_keys()->mutable_key();
            key->set_namespace_name(
                absl::StrCat("ns", random() % options_.namespaces));
            key->set_key(
                absl::StrCat("k", random() % options_.keys_per_namespace));
          }
          return request.SerializeAsString();
        },
        &answer_bytes);
    const int failed =
        (options_.connections - connected) + (agents_->size() - subscribed);
    return absl::StrCat("ready ", subscribed, " ", failed, " ",
                        (NowNs() - start) / 1000000, " ", answer_bytes);
  }

  std::string Wait(uint32_t seq) {
    auto count = [&] {
      int n = 0;
      for (int i = 0; i < options_.connections; ++i) n += hot_seq_[i] >= seq;
      return n;
    };
    WaitFor([&] { return count() >= agents_->size(); }, kWait);
    return absl::StrCat("got ", seq, " ", count());
  }

  std::string Count() {
    return absl::StrCat("count ", frames_.load(), " ", resources_.load());
  }

  std::string Dump() {
    const std::string file = options_.out_dir + "/latency_" + options_.name;
    absl::MutexLock lock(&mu_);
    std::ofstream out(file, std::ios::binary);
    out.write(reinterpret_cast<const char*>(records_.data()),
              records_.size() * sizeof(uint32_t));
    return "file " + file;
  }

 private:
  // Loop thread.
  void OnPush(int connection, const std::string& payload) {
    const int64_t now = NowNs();
    protocol::UpdatePush push;
    if (!push.ParseFromString(payload)) return;
    frames_++;
    resources_ += push.updates_size();
    for (const protocol::Resource& r : push.updates()) {
      if (r.key().namespace_name() != "hot" || r.key().key() != "h0") continue;
      uint32_t seq = 0;
      long long send_ns = 0;
      if (sscanf(r.value().c_str(), "%u %lld", &seq, &send_ns) != 2) continue;
      if (seq <= hot_seq_[connection]) continue;
      hot_seq_[connection] = seq;
      absl::MutexLock lock(&mu_);
      records_.push_back(seq);
      records_.push_back(static_cast<uint32_t>((now - send_ns) / 1000));
    }
  }

  const DistributorBenchClientOptions options_;
  std::unique_ptr<std::atomic<uint32_t>[]> hot_seq_;
  std::unique_ptr<SimulatedAgents> agents_;
  std::atomic<int64_t> frames_{0};
  std::atomic<int64_t> resources_{0};
  absl::Mutex mu_;
  std::vector<uint32_t> records_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

int RunDistributorBenchClient(const DistributorBenchClientOptions& options) {
  return ServeSimulatedAgents<Agents>(
      "bench-agents", options,
      std::function<std::string(Agents&, const std::string&)>(
          [](Agents& agents, const std::string& command) {
            return command == "count" ? agents.Count() : std::string();
          }));
}

}  // namespace bench
}  // namespace kess
