// Commands (one line each) and answers:
//   connect     -> ready <subscribed> <failed> <ms>
//   wait <seq>  -> got <seq> <agents whose file holds bench/hot at >= seq>
//                  (waits at most 120 s)
//   dump        -> file <path>: int64 quads (seq, dc, written_ns, agent)
//                  of every file write of bench/hot, written_ns when the
//                  writer returned (renamed in place, directory fsynced),
//                  agent the global index g
//   received    -> file <path>: the same quads with received_ns, when the
//                  push reached the agent's callback on the loop (before
//                  any write)
//   errors      -> errors <failed writes> <bad crc>
//   quit
// Hot values start with "<seq> ". Times are CLOCK_MONOTONIC (NowNs),
// comparable between processes on one host.
#include "bench/propagation_client.h"

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "bench/transport_bench_util.h"
#include "model/file_cache/writer.h"
#include "model/protocol/distribution.pb.h"
#include "common/testing/wait_for.h"
#include "common/tls/tls_context.h"
#include "common/transport/event_loop.h"
#include "common/value_encoding.h"
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

constexpr absl::Duration kWait = absl::Seconds(120);

struct Job {
  int agent;
  uint32_t seq;
  file_cache::CacheEntry entry;
};

// One thread writing the cache files of its share of the agents, in
// arrival order.
class Writer {
 public:
  explicit Writer(std::function<void(const Job&)> write)
      : write_(std::move(write)), thread_([this] { Run(); }) {}
  ~Writer() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  void Add(Job job) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      cv_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      Job job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      write_(job);
      lock.lock();
    }
  }

  const std::function<void(const Job&)> write_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  bool stop_ = false;
  std::thread thread_;
};

class Agents {
 public:
  Agents(const PropagationClientOptions& options, transport::EventLoop* loop)
      : options_(options),
        held_(std::make_unique<std::atomic<int64_t>[]>(options.connections)),
        written_seq_(
            std::make_unique<std::atomic<uint32_t>[]>(options.connections)) {
    for (int i = 0; i < options.connections; ++i) {
      held_[i] = 0;
      written_seq_[i] = 0;
    }
    SimulatedAgents::Options agents_options;
    agents_options.connections = options.connections;
    agents_options.connect_batch = options.connect_batch;
    agents_options.port = [this](int i) {
      const int g = options_.first + i;
      if (options_.round_robin_ports) {
        return options_.ports.at(g % options_.ports.size());
      }
      return options_.ports.at((g % 2) * 2 + (g / 2) % 2);
    };
    if (!options.tls_ca.empty()) {
      tls::TlsOptions tls_options;
      tls_options.ca_file = options.tls_ca;
      tls_options.reload_interval = absl::ZeroDuration();
      absl::StatusOr<std::shared_ptr<tls::TlsContext>> tls =
          tls::TlsContext::Create(tls::TlsSide::kClient, tls_options);
      CHECK(tls.ok()) << tls.status();
      agents_options.tls = *tls;
    }
    agents_ = std::make_unique<SimulatedAgents>(
        loop, agents_options,
        [this](int i, const std::string& payload) { OnPush(i, payload); });
  }
  ~Agents() {
    agents_.reset();
    writers_.clear();
  }

  std::string Connect() {
    const int64_t start = NowNs();
    for (int i = 0; i < options_.connections && options_.write_files; ++i) {
      auto writer = file_cache::FileCacheWriter::Open(
          {absl::StrCat(options_.cache_root, "/a", options_.first + i)});
      if (!writer.ok()) {
        LOG(ERROR) << writer.status();
        return "ready 0 " + std::to_string(options_.connections) + " 0";
      }
      caches_.push_back(std::move(writer).value());
    }
    for (int t = 0; t < options_.writer_threads && options_.write_files;
         ++t) {
      writers_.push_back(
          std::make_unique<Writer>([this](const Job& job) { Write(job); }));
    }
    const int connected = agents_->Connect();
    int64_t answer_bytes = 0;
    const int subscribed = agents_->Subscribe(
        [&](int i) {
          protocol::SubscribeRequest request;
          request.set_host_id(absl::StrCat("sim-", options_.first + i));
          request.set_auth_token(options_.token);
          protocol::ResourceKey* key = request.add_keys()->mutable_key();
          key->set_namespace_name("bench");
          key->set_key("hot");
          return request.SerializeAsString();
        },
        &answer_bytes);
    subscribed_ = subscribed;
    const int failed =
        (options_.connections - connected) + (agents_->size() - subscribed);
    return absl::StrCat("ready ", subscribed, " ", failed, " ",
                        (NowNs() - start) / 1000000);
  }

  std::string Wait(uint32_t seq) {
    auto count = [&] {
      int n = 0;
      for (int i = 0; i < options_.connections; ++i) {
        n += written_seq_[i] >= seq;
      }
      return n;
    };
    // Agents that failed to connect or subscribe never get it.
    WaitFor([&] { return count() >= subscribed_; }, kWait);
    return absl::StrCat("got ", seq, " ", count());
  }

  std::string Dump() {
    const std::string file = options_.out_dir + "/written_" + options_.name;
    absl::MutexLock lock(&mu_);
    std::ofstream out(file, std::ios::binary);
    out.write(reinterpret_cast<const char*>(records_.data()),
              records_.size() * sizeof(int64_t));
    return "file " + file;
  }

  std::string DumpReceived() {
    const std::string file = options_.out_dir + "/received_" + options_.name;
    absl::MutexLock lock(&mu_);
    std::ofstream out(file, std::ios::binary);
    out.write(reinterpret_cast<const char*>(received_.data()),
              received_.size() * sizeof(int64_t));
    return "file " + file;
  }

  std::string Errors() {
    return absl::StrCat("errors ", failed_writes_.load(), " ", bad_crc_.load());
  }

 private:
  // Loop thread: what the agent does with a kess.Update (newer revisions
  // with a good CRC-32 go to the writer).
  void OnPush(int i, const std::string& payload) {
    const int64_t received = NowNs();
    protocol::UpdatePush push;
    if (!push.ParseFromString(payload)) return;
    for (const protocol::Resource& r : push.updates()) {
      if (r.key().namespace_name() != "bench" || r.key().key() != "hot") {
        continue;
      }
      if (r.revision() <= held_[i]) continue;
      if (Crc32(r.value()) != r.crc32()) {
        bad_crc_++;
        continue;
      }
      uint32_t seq = 0;
      if (sscanf(r.value().c_str(), "%u", &seq) != 1) continue;
      held_[i] = r.revision();
      {
        absl::MutexLock lock(&mu_);
        received_.insert(received_.end(),
                         {int64_t{seq}, (options_.first + i) % 2, received,
                          int64_t{options_.first + i}});
      }
      if (!options_.write_files) {
        written_seq_[i] = std::max(written_seq_[i].load(), seq);
        continue;
      }
      Job job{i, seq, {}};
      job.entry.key = file_cache::CacheKey::Config("bench", "hot");
      job.entry.revision = r.revision();
      job.entry.absent = r.absent();
      job.entry.value = r.value();
      job.entry.content_type = r.content_type();
      job.entry.mtime_ms = r.mtime_ms();
      writers_[i % writers_.size()]->Add(std::move(job));
    }
  }

  // Writer threads.
  void Write(const Job& job) {
    absl::StatusOr<file_cache::FileCacheWriter::Result> result =
        caches_[job.agent]->Write(job.entry);
    const int64_t now = NowNs();
    if (!result.ok()) {
      if (failed_writes_++ == 0) LOG(ERROR) << result.status();
      return;
    }
    written_seq_[job.agent] = std::max(written_seq_[job.agent].load(), job.seq);
    absl::MutexLock lock(&mu_);
    records_.push_back(job.seq);
    records_.push_back((options_.first + job.agent) % 2);
    records_.push_back(now);
    records_.push_back(options_.first + job.agent);
  }

  const PropagationClientOptions options_;
  std::unique_ptr<std::atomic<int64_t>[]> held_;
  std::unique_ptr<std::atomic<uint32_t>[]> written_seq_;
  std::vector<std::unique_ptr<file_cache::FileCacheWriter>> caches_;
  std::vector<std::unique_ptr<Writer>> writers_;
  int subscribed_ = 0;  // set by Connect (the driver's thread)
  std::atomic<int64_t> failed_writes_{0};
  std::atomic<int64_t> bad_crc_{0};
  absl::Mutex mu_;
  std::vector<int64_t> records_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> received_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<SimulatedAgents> agents_;
};

}  // namespace

int RunPropagationClient(const PropagationClientOptions& options) {
  return ServeSimulatedAgents<Agents>(
      "propagation-agents", options,
      std::function<std::string(Agents&, const std::string&)>(
          [](Agents& agents, const std::string& command) {
            if (command == "errors") return agents.Errors();
            if (command == "received") return agents.DumpReceived();
            return std::string();
          }));
}

}  // namespace bench
}  // namespace kess
