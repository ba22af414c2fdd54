// Commands (one line each) and answers:
//   connect                   -> connected <ok> <failed> <ms>
//   rpc <seconds> <bytes>     -> rpc <calls> <errors> <elapsed_ms> <file>
//       closed loop: every connection keeps one "echo" call in flight
//   serial <calls> <bytes>    -> serial <calls> <errors> <file>
//       one call at a time, round robin over the connections (unloaded RTT)
//   push <seq>                -> push <seq> <received>
//       waits (at most 30 s) until every connection got PUSH number <seq>
//   push_dump                 -> push_file <file>
//   quit
// Latency files are raw little-endian uint32 microseconds; the push file
// holds (seq, microseconds) pairs.
#include "tests/load/transport_load_client.h"

#include <atomic>
#include <cstdio>
#include <fstream>
#include <istream>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/metrics.h"
#include "common/testing/wait_for.h"
#include "common/transport/client.h"
#include "common/transport/event_loop.h"
#include "glog/logging.h"
#include "tests/load/load_util.h"

namespace kess {
namespace load {
namespace {

using ::kess::testing::WaitFor;
using transport::Client;
using transport::ClientCallbacks;
using transport::ClientOptions;
using transport::EventLoop;

constexpr absl::Duration kCallTimeout = absl::Seconds(30);
constexpr absl::Duration kWait = absl::Seconds(60);

template <typename T>
bool WriteRaw(const std::string& path, const std::vector<T>& values) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(values.data()),
            values.size() * sizeof(T));
  return static_cast<bool>(out);
}

class BenchClients {
 public:
  BenchClients(const TransportLoadClientOptions& options, EventLoop* loop)
      : options_(options), loop_(loop) {}

  ~BenchClients() { clients_.clear(); }

  std::string Connect() {
    ClientOptions client_options;
    client_options.port = options_.port;
    client_options.registry = &registry_;
    ClientCallbacks callbacks;
    callbacks.on_connect = [this](const absl::Status& status) {
      (status.ok() ? connected_ : failed_)++;
      if (!status.ok()) {
        LOG_EVERY_N(WARNING, 100) << status;
      }
    };
    callbacks.on_push = [this](const std::string&, std::string payload) {
      OnPush(payload);
    };
    const int64_t start = NowNs();
    for (int i = 0; i < options_.connections; ++i) {
      auto client = Client::Create(loop_, client_options, callbacks);
      if (!client.ok()) {
        LOG(WARNING) << client.status();
        failed_++;
        continue;
      }
      clients_.push_back(std::move(client).value());
      const bool batch_end = (i + 1) % options_.connect_batch == 0 ||
                             i + 1 == options_.connections;
      if (batch_end &&
          !WaitFor([&] { return connected_ + failed_ >= i + 1; }, kWait)) {
        break;
      }
    }
    const int64_t ms = (NowNs() - start) / 1000000;
    std::ostringstream line;
    line << "connected " << connected_.load() << " " << failed_.load() << " "
         << ms;
    return line.str();
  }

  std::string ClosedLoop(double seconds, int bytes) {
    const std::string payload(bytes, 'r');
    latencies_.clear();
    calls_ = errors_ = 0;
    in_flight_ = 0;
    stop_ns_ = NowNs() + static_cast<int64_t>(seconds * 1e9);
    const int64_t start = NowNs();
    for (auto& client : clients_) {
      in_flight_++;
      Client* raw = client.get();
      loop_->Post([this, raw, payload] { Issue(raw, payload); });
    }
    WaitFor([&] { return in_flight_.load() == 0; },
            absl::Seconds(seconds) + kWait);
    const int64_t elapsed_ms = (NowNs() - start) / 1000000;
    const std::string file = options_.out_dir + "/rpc_" + options_.name;
    std::vector<uint32_t> copy;
    RunOnLoop([&] { copy = latencies_; });
    WriteRaw(file, copy);
    std::ostringstream line;
    line << "rpc " << calls_.load() << " " << errors_.load() << " "
         << elapsed_ms << " " << file;
    return line.str();
  }

  std::string Serial(int calls, int bytes) {
    const std::string payload(bytes, 's');
    std::vector<uint32_t> latencies;
    int errors = 0;
    for (int i = 0; i < calls && !clients_.empty(); ++i) {
      Client* client = clients_[i % clients_.size()].get();
      const int64_t start = NowNs();
      absl::StatusOr<std::string> reply =
          client->CallSync("echo", payload, kCallTimeout);
      if (!reply.ok()) {
        errors++;
        continue;
      }
      latencies.push_back(static_cast<uint32_t>((NowNs() - start) / 1000));
    }
    const std::string file = options_.out_dir + "/serial_" + options_.name;
    WriteRaw(file, latencies);
    std::ostringstream line;
    line << "serial " << latencies.size() << " " << errors << " " << file;
    return line.str();
  }

  std::string WaitPush(uint32_t seq) {
    const size_t want = clients_.size();
    WaitFor(
        [&] {
          absl::MutexLock lock(&push_mu_);
          return push_counts_.size() > seq && push_counts_[seq] >= want;
        },
        kWait / 2);
    absl::MutexLock lock(&push_mu_);
    std::ostringstream line;
    line << "push " << seq << " "
         << (push_counts_.size() > seq ? push_counts_[seq] : 0);
    return line.str();
  }

  std::string DumpPushes() {
    const std::string file = options_.out_dir + "/push_" + options_.name;
    absl::MutexLock lock(&push_mu_);
    WriteRaw(file, push_records_);
    return "push_file " + file;
  }

 private:
  void RunOnLoop(const std::function<void()>& fn) {
    absl::Notification done;
    loop_->Post([&] {
      fn();
      done.Notify();
    });
    done.WaitForNotification();
  }

  // Loop thread: one call; its completion issues the next until stop_ns_.
  void Issue(Client* client, const std::string& payload) {
    const int64_t start = NowNs();
    client->Call(
        "echo", payload, kCallTimeout,
        [this, client, payload, start](absl::StatusOr<std::string> r) {
          const int64_t now = NowNs();
          if (r.ok()) {
            latencies_.push_back(static_cast<uint32_t>((now - start) / 1000));
            calls_++;
          } else {
            errors_++;
          }
          if (r.ok() && now < stop_ns_) {
            Issue(client, payload);
          } else {
            in_flight_--;
          }
        });
  }

  // Loop thread. Payload: "<seq> <send_ns>".
  void OnPush(const std::string& payload) {
    const int64_t now = NowNs();
    uint32_t seq = 0;
    long long send_ns = 0;
    if (sscanf(payload.c_str(), "%u %lld", &seq, &send_ns) != 2) return;
    absl::MutexLock lock(&push_mu_);
    if (push_counts_.size() <= seq) push_counts_.resize(seq + 1, 0);
    push_counts_[seq]++;
    push_records_.push_back(seq);
    push_records_.push_back(static_cast<uint32_t>((now - send_ns) / 1000));
  }

  const TransportLoadClientOptions options_;
  EventLoop* const loop_;
  metrics::Registry registry_;
  std::vector<std::unique_ptr<Client>> clients_;
  std::atomic<int> connected_{0};
  std::atomic<int> failed_{0};

  // Closed loop; latencies_ on the loop thread only.
  std::vector<uint32_t> latencies_;
  std::atomic<int64_t> calls_{0};
  std::atomic<int64_t> errors_{0};
  std::atomic<int> in_flight_{0};
  std::atomic<int64_t> stop_ns_{0};

  absl::Mutex push_mu_;
  std::vector<size_t> push_counts_ ABSL_GUARDED_BY(push_mu_);
  std::vector<uint32_t> push_records_ ABSL_GUARDED_BY(push_mu_);
};

}  // namespace

int RunTransportLoadClient(const TransportLoadClientOptions& options) {
  RaiseFdLimit();
  auto loop = EventLoop::Create("bench-clients");
  if (!loop.ok()) {
    LOG(ERROR) << loop.status();
    return 1;
  }
  auto clients = std::make_unique<BenchClients>(options, loop->get());
  ServeLineCommands([&](const std::string& command, std::istream& in) {
    if (command == "connect") return clients->Connect();
    if (command == "rpc") {
      double seconds = 1;
      int bytes = 64;
      in >> seconds >> bytes;
      return clients->ClosedLoop(seconds, bytes);
    }
    if (command == "serial") {
      int calls = 1000;
      int bytes = 64;
      in >> calls >> bytes;
      return clients->Serial(calls, bytes);
    }
    if (command == "push") {
      uint32_t seq = 0;
      in >> seq;
      return clients->WaitPush(seq);
    }
    if (command == "push_dump") return clients->DumpPushes();
    return std::string();  // "error unknown command"
  });
  clients.reset();
  return 0;
}

}  // namespace load
}  // namespace kess
