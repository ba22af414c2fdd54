// Commands (one line each) and answers:
//   connect                         -> connected <ok> <failed>
//   register <batch> [<spread_ms>]  -> registered <instances> <errors> <ms>
//                                      <last_ack_ns>
//       kess.Register of every owned instance, <batch> per request, one
//       request in flight per connection; with <spread_ms> > 0 the requests
//       are paced instead: request k is sent at start + k * spread_ms /
//       requests (round robin over the connections, however many are in
//       flight). <ms>: start -> last answer; <last_ack_ns>: when the last
//       successful answer arrived, CLOCK_MONOTONIC ns (0 if none)
//   beat <seconds> <batch> <window> [<period_ms>]
//                                   -> beat <calls> <refs> <errors>
//                                      <unknown> <ms>
//       closed loop: every connection keeps <window> kess.Heartbeat calls
//       of <batch> instances in flight, cycling over the owned instances;
//       with <period_ms> > 0 paced instead: every batch once per period,
//       spread evenly (as providers heartbeat), <window> ignored
//   quit
#include "bench/heartbeat_bench_client.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <istream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "bench/transport_bench_util.h"
#include "common/metrics.h"
#include "model/protocol/discovery.pb.h"
#include "model/protocol/discovery_methods.h"
#include "common/transport/client.h"
#include "common/transport/event_loop.h"
#include "glog/logging.h"
#include "tests/load/load_util.h"

namespace kess {
namespace bench {

using load::NowNs;
using load::ServeLineCommands;

std::string BenchService(int64_t i, int services) {
  return absl::StrCat("svc", i % services);
}
std::string BenchInstanceId(int64_t i) { return absl::StrCat("inst-", i); }

namespace {

constexpr absl::Duration kCallTimeout = absl::Seconds(30);

class HeartbeatClients {
 public:
  HeartbeatClients(const HeartbeatBenchClientOptions& options,
                   transport::EventLoop* loop)
      : options_(options), loop_(loop) {}
  ~HeartbeatClients() {
    absl::Notification done;
    loop_->Post([&] {
      clients_.clear();
      done.Notify();
    });
    done.WaitForNotification();
  }

  std::string Connect() {
    int ok = 0, failed = 0;
    for (int i = 0; i < options_.connections; ++i) {
      transport::ClientOptions o;
      o.host = options_.host;
      o.port = options_.port;
      o.registry = &registry_;
      o.credential = options_.credential;
      auto client = transport::Client::Create(loop_, o);
      if (client.ok() && (*client)->WaitConnected(kCallTimeout).ok()) {
        clients_.push_back(std::move(client).value());
        ++ok;
      } else {
        ++failed;
      }
    }
    return absl::StrCat("connected ", ok, " ", failed);
  }

  std::string Register(int batch, int64_t spread_ms) {
    std::vector<std::string> payloads;
    protocol::RegisterRequest request;
    for (int64_t k = 0; k < options_.instances; ++k) {
      const int64_t i = options_.first_instance + k;
      protocol::InstanceInfo* info = request.add_instances();
      info->set_service(BenchService(i, options_.services));
      info->set_id(BenchInstanceId(i));
      info->set_host(options_.instance_host.empty()
                         ? absl::StrCat("host-", i / 4)
                         : options_.instance_host);
      info->set_address(
          absl::StrCat(options_.address_host, ":", 10000 + i % 50000));
      info->set_datacenter(options_.datacenter);
      info->set_weight(100);
      info->set_health("up");
      (*info->mutable_metadata())["version"] = "1.4.2";
      if (request.instances_size() == batch || k + 1 == options_.instances) {
        payloads.push_back(request.SerializeAsString());
        request.Clear();
      }
    }
    const int64_t start = NowNs();
    if (spread_ms > 0 && !payloads.empty()) {
      RunPaced(protocol::kRegisterMethod, payloads, payloads.size(), 0,
               spread_ms * 1000000 / static_cast<int64_t>(payloads.size()));
    } else {
      Run(protocol::kRegisterMethod, payloads, 1, payloads.size(), 0);
    }
    const int64_t ms = (NowNs() - start) / 1000000;
    return absl::StrCat("registered ", calls_.load() * batch, " ",
                        errors_.load(), " ", ms, " ", last_ack_ns_.load());
  }

  std::string Beat(double seconds, int batch, int window, int64_t period_ms) {
    std::vector<std::string> payloads;
    protocol::HeartbeatRequest request;
    for (int64_t k = 0; k < options_.instances; ++k) {
      const int64_t i = options_.first_instance + k;
      protocol::InstanceRef* ref = request.add_instances();
      ref->set_service(BenchService(i, options_.services));
      ref->set_id(BenchInstanceId(i));
      if (request.instances_size() == batch) {
        payloads.push_back(request.SerializeAsString());
        request.Clear();
      }
    }
    const int64_t start = NowNs();
    if (period_ms > 0 && !payloads.empty()) {
      RunPaced(protocol::kHeartbeatMethod, payloads, -1,
               start + static_cast<int64_t>(seconds * 1e9),
               period_ms * 1000000 / static_cast<int64_t>(payloads.size()));
    } else {
      Run(protocol::kHeartbeatMethod, payloads, window, -1,
          start + static_cast<int64_t>(seconds * 1e9));
    }
    const int64_t ms = (NowNs() - start) / 1000000;
    return absl::StrCat("beat ", calls_.load(), " ", calls_.load() * batch, " ",
                        errors_.load(), " ", unknown_.load(), " ", ms);
  }

 private:
  // Closed loop over all connections until `total` calls were made (>= 0)
  // or until stop_ns (total < 0). Returns when every call completed.
  void Run(const char* method, const std::vector<std::string>& payloads,
           int window, int64_t total, int64_t stop_ns) {
    Reset(method, payloads, total, stop_ns);
    paced_ = false;
    absl::Notification started;
    loop_->Post([&] {
      for (auto& c : clients_) {
        for (int w = 0; w < window; ++w) Issue(c.get());
      }
      started.Notify();
    });
    started.WaitForNotification();
    while (in_flight_.load() > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }

  // Paced: call k (payload k % size, connection k % connections) is issued
  // at start + k * step_ns, until `total` calls were issued (>= 0) or the
  // next one would be due after stop_ns (total < 0). Returns when every
  // call completed.
  void RunPaced(const char* method, const std::vector<std::string>& payloads,
                int64_t total, int64_t stop_ns, int64_t step_ns) {
    Reset(method, payloads, total, stop_ns);
    paced_ = true;
    pace_done_ = false;
    pace_start_ns_ = NowNs();
    pace_step_ns_ = std::max<int64_t>(step_ns, 0);
    loop_->Post([this] { PaceTick(); });
    while (!pace_done_.load() || in_flight_.load() > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  void Reset(const char* method, const std::vector<std::string>& payloads,
             int64_t total, int64_t stop_ns) {
    calls_ = errors_ = unknown_ = 0;
    last_ack_ns_ = 0;
    method_ = method;
    payloads_ = &payloads;
    next_ = 0;
    total_ = total;
    stop_ns_ = stop_ns;
    in_flight_ = 0;
  }

  // Loop thread: issues every call that is due, then sleeps until the next.
  void PaceTick() {
    const int64_t now = NowNs();
    while (true) {
      const int64_t due = pace_start_ns_ + next_ * pace_step_ns_;
      if (clients_.empty() ||
          (total_ >= 0 ? next_ >= total_ : due > stop_ns_)) {
        pace_done_ = true;
        return;
      }
      if (due > now) {
        loop_->RunAfter(absl::Nanoseconds(due - now), [this] { PaceTick(); });
        return;
      }
      Issue(clients_[next_ % clients_.size()].get());
    }
  }

  // Loop thread.
  void Issue(transport::Client* client) {
    if (!paced_ && (total_ >= 0 ? next_ >= total_ : NowNs() >= stop_ns_)) {
      return;
    }
    const std::string& payload = (*payloads_)[next_++ % payloads_->size()];
    ++in_flight_;
    client->Call(method_, payload, kCallTimeout,
                 [this, client](absl::StatusOr<std::string> r) {
                   if (r.ok()) {
                     ++calls_;
                     last_ack_ns_ = NowNs();
                     if (method_ == protocol::kHeartbeatMethod) {
                       protocol::HeartbeatResponse response;
                       if (response.ParseFromString(*r)) {
                         unknown_ += response.unknown_size();
                       }
                     }
                     if (!paced_) Issue(client);
                   } else {
                     LOG_EVERY_N(WARNING, 1000) << r.status();
                     ++errors_;
                   }
                   --in_flight_;
                 });
  }

  const HeartbeatBenchClientOptions options_;
  transport::EventLoop* const loop_;
  metrics::Registry registry_;
  std::vector<std::unique_ptr<transport::Client>> clients_;
  // Loop thread while a phase runs.
  const char* method_ = "";
  const std::vector<std::string>* payloads_ = nullptr;
  int64_t next_ = 0;
  int64_t total_ = 0;
  int64_t stop_ns_ = 0;
  bool paced_ = false;
  int64_t pace_start_ns_ = 0;
  int64_t pace_step_ns_ = 0;
  std::atomic<bool> pace_done_{true};
  std::atomic<int64_t> in_flight_{0};
  std::atomic<int64_t> calls_{0}, errors_{0}, unknown_{0};
  std::atomic<int64_t> last_ack_ns_{0};
};

void AvoidCpu(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  const int n = static_cast<int>(std::thread::hardware_concurrency());
  for (int c = 0; c < n; ++c) {
    if (c != cpu) CPU_SET(c, &set);
  }
  if (n > 1 && sched_setaffinity(0, sizeof(set), &set) != 0) {
    PLOG(WARNING) << "sched_setaffinity";
  }
}

}  // namespace

int RunHeartbeatBenchClient(const HeartbeatBenchClientOptions& options) {
  AvoidCpu(options.avoid_cpu);  // before the loop thread starts
  auto loop = transport::EventLoop::Create("hb-client");
  if (!loop.ok()) {
    LOG(ERROR) << loop.status();
    return 1;
  }
  {
    HeartbeatClients clients(options, loop->get());
    ServeLineCommands([&](const std::string& command, std::istream& in) {
      if (command == "connect") return clients.Connect();
      if (command == "register") {
        int batch = 1000;
        int64_t spread_ms = 0;
        in >> batch;
        if (!(in >> spread_ms)) spread_ms = 0;
        return batch > 0 ? clients.Register(batch, spread_ms)
                         : std::string("error bad batch");
      }
      if (command == "beat") {
        double seconds = 5;
        int batch = 100, window = 1;
        int64_t period_ms = 0;
        in >> seconds >> batch >> window;
        if (!(in >> period_ms)) period_ms = 0;
        return batch > 0 ? clients.Beat(seconds, batch, window, period_ms)
                         : std::string("error bad batch");
      }
      return std::string();  // "error unknown command"
    });
  }
  return 0;
}

}  // namespace bench
}  // namespace kess
