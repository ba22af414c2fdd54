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
#include "common/protocol/distribution.pb.h"
#include "common/transport/client.h"
#include "common/transport/event_loop.h"
#include "glog/logging.h"

namespace kess {
namespace bench {
namespace {

constexpr int64_t kWaitMs = 60000;

bool WaitUntil(const std::function<bool()>& done, int64_t timeout_ms) {
  const int64_t deadline = NowNs() + timeout_ms * 1000000;
  while (!done()) {
    if (NowNs() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

class Agents {
 public:
  Agents(const DistributorBenchClientOptions& options,
         transport::EventLoop* loop)
      : options_(options),
        loop_(loop),
        hot_seq_(
            std::make_unique<std::atomic<uint32_t>[]>(options.connections)) {}
  ~Agents() { clients_.clear(); }

  std::string Connect() {
    const int64_t start = NowNs();
    std::mt19937 random(std::hash<std::string>()(options_.name));
    for (int i = 0; i < options_.connections; ++i) {
      hot_seq_[i] = 0;
      transport::ClientOptions client_options;
      client_options.port = options_.port;
      client_options.registry = &registry_;
      client_options.heartbeat_interval_ms = 10000;
      client_options.heartbeat_timeout_ms = 120000;
      transport::ClientCallbacks callbacks;
      callbacks.on_connect = [this](const absl::Status& status) {
        (status.ok() ? connected_ : failed_)++;
      };
      callbacks.on_push = [this, i](const std::string& method,
                                    std::string payload) {
        OnPush(i, payload);
      };
      auto client = transport::Client::Create(loop_, client_options, callbacks);
      if (!client.ok()) {
        failed_++;
        continue;
      }
      clients_.push_back(std::move(client).value());
      const bool batch_end = (i + 1) % options_.connect_batch == 0 ||
                             i + 1 == options_.connections;
      if (batch_end) {
        WaitUntil([&] { return connected_ + failed_ >= i + 1; }, kWaitMs);
      }
    }
    // Subscribe, a batch of calls in flight at a time.
    std::atomic<int> done{0};
    for (size_t i = 0; i < clients_.size(); ++i) {
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
        key->set_key(absl::StrCat("k", random() % options_.keys_per_namespace));
      }
      clients_[i]->Call("kess.Subscribe", request.SerializeAsString(), kWaitMs,
                        [this, &done](absl::StatusOr<std::string> reply) {
                          if (reply.ok()) {
                            subscribed_++;
                            answer_bytes_ += reply->size();
                          } else {
                            subscribe_failed_++;
                          }
                          done++;
                        });
      if ((i + 1) % options_.connect_batch == 0) {
        WaitUntil([&] { return done.load() >= static_cast<int>(i + 1); },
                  kWaitMs);
      }
    }
    WaitUntil([&] { return done.load() == static_cast<int>(clients_.size()); },
              kWaitMs);
    return absl::StrCat("ready ", subscribed_.load(), " ",
                        failed_.load() + subscribe_failed_.load(), " ",
                        (NowNs() - start) / 1000000, " ", answer_bytes_.load());
  }

  std::string Wait(uint32_t seq) {
    auto count = [&] {
      int n = 0;
      for (int i = 0; i < options_.connections; ++i) n += hot_seq_[i] >= seq;
      return n;
    };
    WaitUntil([&] { return count() >= static_cast<int>(clients_.size()); },
              kWaitMs);
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
  transport::EventLoop* const loop_;
  metrics::Registry registry_;
  std::vector<std::unique_ptr<transport::Client>> clients_;
  std::unique_ptr<std::atomic<uint32_t>[]> hot_seq_;
  std::atomic<int> connected_{0};
  std::atomic<int> failed_{0};
  std::atomic<int> subscribed_{0};
  std::atomic<int> subscribe_failed_{0};
  std::atomic<int64_t> answer_bytes_{0};
  std::atomic<int64_t> frames_{0};
  std::atomic<int64_t> resources_{0};
  absl::Mutex mu_;
  std::vector<uint32_t> records_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

int RunDistributorBenchClient(const DistributorBenchClientOptions& options) {
  RaiseFdLimit();
  auto loop = transport::EventLoop::Create("bench-agents");
  if (!loop.ok()) {
    LOG(ERROR) << loop.status();
    return 1;
  }
  auto agents = std::make_unique<Agents>(options, loop->get());
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string command;
    in >> command;
    std::string answer;
    if (command == "connect") {
      answer = agents->Connect();
    } else if (command == "wait") {
      uint32_t seq = 0;
      in >> seq;
      answer = agents->Wait(seq);
    } else if (command == "count") {
      answer = agents->Count();
    } else if (command == "dump") {
      answer = agents->Dump();
    } else if (command == "quit") {
      break;
    } else {
      answer = "error unknown command";
    }
    std::cout << answer << std::endl;
  }
  agents.reset();
  return 0;
}

}  // namespace bench
}  // namespace kess
