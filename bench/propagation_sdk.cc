// Commands (one line each) and answers:
//   ready            -> ready <seq> <inotify>: the client is watching
//                       (the key's file may not exist yet: the simulated
//                       agent writes it on the first change it is pushed);
//                       <seq> of the newest callback so far (0: none),
//                       <inotify> 1 if the client holds an inotify instance
//                       (0: it fell back to polling alone, e.g. at the
//                       per-user instance limit)
//   wait <seq> <ms>  -> got <seq> <0|1>: 1 once a callback carried a value
//                       of <seq> or later (waits at most <ms>)
//   dump             -> file <path>: int64 quads (seq, revision,
//                       monotonic_ns, realtime_ns) of every callback, the
//                       times taken first thing in the callback
//   quit
// Hot values start with "<seq> " (bench/propagation_bench.cc); a value that
// does not (or a tombstone) is recorded with seq 0. Monotonic times are
// CLOCK_MONOTONIC (load::NowNs), comparable between processes on one host.
#include "bench/propagation_sdk.h"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <istream>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "glog/logging.h"
#include "sdk/config_client.h"
#include "tests/load/load_util.h"

namespace kess {
namespace bench {

using load::NowNs;

namespace {

constexpr int64_t kDefaultWaitMs = 30000;
constexpr int64_t kMaxWaitMs = 600000;

int64_t RealtimeNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// Whether this process holds an inotify instance (the ConfigClient's
// DirWatcher): its fd links to "anon_inode:inotify".
bool HoldsInotify() {
  std::error_code ec;
  for (const auto& fd :
       std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    char target[64];
    const ssize_t n = readlink(fd.path().c_str(), target, sizeof(target) - 1);
    if (n <= 0) continue;
    target[n] = '\0';
    if (std::string(target) == "anon_inode:inotify") return true;
  }
  return false;
}

int64_t ReadMs(std::istream& in) {
  int64_t ms = kDefaultWaitMs;
  if (!(in >> ms) || ms < 0) ms = kDefaultWaitMs;
  return std::min(ms, kMaxWaitMs);
}

class Recorder {
 public:
  void OnCallback(const sdk::ConfigValue& value) {
    const int64_t mono = NowNs();
    const int64_t real = RealtimeNs();
    uint32_t seq = 0;
    if (value.deleted || sscanf(value.value.c_str(), "%u", &seq) != 1) {
      seq = 0;
    }
    absl::MutexLock lock(&mu_);
    records_.insert(records_.end(), {int64_t{seq}, value.revision, mono, real});
    newest_seq_ = std::max(newest_seq_, seq);
  }

  uint32_t Newest() {
    absl::MutexLock lock(&mu_);
    return newest_seq_;
  }

  // The newest seq once one >= `seq` came, or what there is after `ms`.
  uint32_t Await(uint32_t seq, int64_t ms) {
    absl::MutexLock lock(&mu_);
    auto done = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return newest_seq_ >= seq;
    };
    mu_.AwaitWithTimeout(absl::Condition(&done), absl::Milliseconds(ms));
    return newest_seq_;
  }

  std::string Dump(const std::string& file) {
    absl::MutexLock lock(&mu_);
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(records_.data()),
              records_.size() * sizeof(int64_t));
    out.close();
    if (!out) return "error cannot write " + file;
    return "file " + file;
  }

 private:
  absl::Mutex mu_;
  std::vector<int64_t> records_ ABSL_GUARDED_BY(mu_);
  uint32_t newest_seq_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

int RunPropagationSdk(const PropagationSdkOptions& options) {
  sdk::ConfigClient::Options client_options;
  client_options.cache_dir = options.cache_dir;
  client_options.agent_http_address = "";  // the agent subscribed it
  client_options.owner = absl::StrCat("propagation-sdk-", options.name);
  auto client = sdk::ConfigClient::Create(client_options);
  if (!client.ok()) {
    LOG(ERROR) << client.status();
    return 1;
  }
  Recorder recorder;
  auto watch = (*client)->Watch(
      "bench", "hot",
      [&recorder](const sdk::ConfigValue& v) { recorder.OnCallback(v); });
  if (!watch.ok()) {
    LOG(ERROR) << watch.status();
    return 1;
  }
  const bool inotify = HoldsInotify();
  load::ServeLineCommands([&](const std::string& command, std::istream& in) {
    if (command == "ready") {
      return absl::StrCat("ready ", recorder.Newest(), " ", inotify ? 1 : 0);
    }
    if (command == "wait") {
      uint32_t seq = 0;
      in >> seq;
      const bool got = recorder.Await(seq, ReadMs(in)) >= seq;
      return absl::StrCat("got ", seq, " ", got ? 1 : 0);
    }
    if (command == "dump") {
      return recorder.Dump(
          absl::StrCat(options.out_dir, "/sdk_callbacks_", options.name));
    }
    return std::string();
  });
  watch->reset();  // before the client, and no callback after this
  return 0;
}

}  // namespace bench
}  // namespace kess
