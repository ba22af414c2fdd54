// From the agent's file write to the application's callback, on one host:
// how long after FileCacheWriter::Write returned (the new version renamed
// into place and fsynced, the moment the propagation benchmark stops its
// clock) the C++ SDK's watch callback sees it, with the SDK's inotify
// watch and with polling alone, in the same run.
//
//   bench/run_sdk_notify_bench.sh [--keys=200 --changes=300 ...]
//
// One process: a FileCacheWriter on a temp cache dir (the agent's writer)
// and one ConfigClient per mode watching --keys keys (no agent: the keys
// are "subscribed" already). Each change writes the next revision of one
// key (round robin) and waits for its callback, so every figure is one
// change alone, made at a random moment of the SDK's poll period. The floor is the write itself (write + fsync + rename +
// directory fsync), measured around the same calls.
//
// Prints a Markdown table; exit 2 if a callback never came (30 s).
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/init.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "model/file_cache/writer.h"
#include "sdk/config_client.h"

DEFINE_int32(keys, 200, "keys watched by each client");
DEFINE_int32(changes, 300, "changes measured with inotify");
DEFINE_int32(poll_changes, 20,
             "changes measured with polling alone (each waits up to the "
             "poll interval)");
DEFINE_int32(poll_interval_ms, 1000,
             "the SDK's poll interval (its default: 1000)");

namespace kess {
namespace {

struct Figures {
  std::string mode;
  std::vector<double> ms;  // per change
  int lost = 0;
};

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))];
}

class Bench {
 public:
  explicit Bench(std::string dir) : dir_(std::move(dir)) {}

  bool Init() {
    auto writer = file_cache::FileCacheWriter::Open({dir_});
    if (!writer.ok()) {
      LOG(ERROR) << writer.status();
      return false;
    }
    writer_ = *std::move(writer);
    for (int k = 0; k < FLAGS_keys; ++k) {
      if (!Write(k, 1).ok()) return false;
    }
    return true;
  }

  absl::Status Write(int k, int64_t revision) {
    file_cache::CacheEntry e;
    e.key = file_cache::CacheKey::Config("bench", absl::StrCat("key-", k));
    e.revision = revision;
    e.value = absl::StrCat("value of key-", k, " at ", revision);
    return writer_->Write(e).status();
  }

  // `changes` changes with a client in this mode; also records the floor
  // (the write calls) into `floor`.
  Figures Run(const std::string& mode, bool inotify, int changes,
              Figures* floor) {
    Figures f;
    f.mode = mode;
    sdk::ConfigClient::Options o;
    o.cache_dir = dir_;
    o.agent_http_address = "";
    o.poll_interval = absl::Milliseconds(FLAGS_poll_interval_ms);
    o.watch_directories = inotify;
    auto client = sdk::ConfigClient::Create(o);
    if (!client.ok()) {
      LOG(ERROR) << client.status();
      f.lost = changes;
      return f;
    }
    std::vector<std::unique_ptr<sdk::ConfigClient::WatchHandle>> watches;
    for (int k = 0; k < FLAGS_keys; ++k) {
      auto w = (*client)->Watch(
          "bench", absl::StrCat("key-", k),
          [this, k](const sdk::ConfigValue& v) { Seen(k, v.revision); });
      if (w.ok()) watches.push_back(*std::move(w));
    }
    // Let the first deliveries (the current versions) pass.
    absl::SleepFor(absl::Milliseconds(200));
    // Changes come at random moments relative to the SDK's poll timer (a
    // change right after a callback would always wait a whole interval).
    std::mt19937 random(42);
    const absl::Duration spread =
        inotify ? absl::Milliseconds(10) : o.poll_interval;
    for (int i = 0; i < changes; ++i) {
      absl::SleepFor(std::uniform_real_distribution<double>(0, 1)(random) *
                     spread);
      const int k = i % FLAGS_keys;
      const int64_t revision = ++revisions_[k] + 1;
      const absl::Time start = MonotonicNow();
      absl::Status written = Write(k, revision);
      const absl::Time done = MonotonicNow();
      if (!written.ok()) {
        LOG(ERROR) << written;
        ++f.lost;
        continue;
      }
      floor->ms.push_back(absl::ToDoubleMilliseconds(done - start));
      absl::MutexLock lock(&mu_);
      auto arrived = [this, k, revision]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        auto it = seen_.find(k);
        return it != seen_.end() && it->second.first >= revision;
      };
      if (!mu_.AwaitWithTimeout(absl::Condition(&arrived),
                                absl::Seconds(30))) {
        ++f.lost;
        continue;
      }
      f.ms.push_back(absl::ToDoubleMilliseconds(seen_[k].second - done));
    }
    watches.clear();
    return f;
  }

 private:
  void Seen(int k, int64_t revision) {
    const absl::Time now = MonotonicNow();
    absl::MutexLock lock(&mu_);
    auto& s = seen_[k];
    if (revision > s.first) s = {revision, now};
  }

  const std::string dir_;
  std::unique_ptr<file_cache::FileCacheWriter> writer_;
  std::map<int, int64_t> revisions_;  // changes made per key
  absl::Mutex mu_;
  std::map<int, std::pair<int64_t, absl::Time>> seen_ ABSL_GUARDED_BY(mu_);
};

int Main() {
  const char* tmp = getenv("TMPDIR");
  std::string pattern =
      absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/kess-notify.XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    perror("mkdtemp");
    return 1;
  }
  Bench bench(pattern);
  if (!bench.Init()) return 1;
  Figures floor;
  floor.mode = "floor: the agent's write (write, fsync, rename, dir fsync)";
  Figures inotify = bench.Run("SDK callback, inotify (default)", true,
                              FLAGS_changes, &floor);
  Figures polling =
      bench.Run(absl::StrCat("SDK callback, polling alone every ",
                             FLAGS_poll_interval_ms, " ms"),
                false, FLAGS_poll_changes, &floor);
  const double floor_p99 = Quantile(floor.ms, 0.99);

  std::printf("| setup | |\n|---|---|\n");
  std::printf("| host | %ld cores; one process: the agent's FileCacheWriter "
              "and the SDK's ConfigClient on a temp dir (%s) |\n",
              sysconf(_SC_NPROCESSORS_ONLN), pattern.c_str());
  std::printf("| keys | %d watched per client; one change at a time, round "
              "robin |\n",
              FLAGS_keys);
  std::printf("| clock | from Write() returning (file durable: where the "
              "propagation benchmark stops) to the callback |\n\n");
  std::printf("| what | changes | p50 ms | p99 ms | max ms | p99 / floor "
              "p99 | lost |\n|---|---:|---:|---:|---:|---:|---:|\n");
  for (const Figures* f : {&floor, &inotify, &polling}) {
    const double p99 = Quantile(f->ms, 0.99);
    const double max =
        f->ms.empty() ? 0 : *std::max_element(f->ms.begin(), f->ms.end());
    std::printf("| %s | %zu | %.3f | %.3f | %.3f | %s | %d |\n",
                f->mode.c_str(), f->ms.size(), Quantile(f->ms, 0.5), p99, max,
                f == &floor ? "1" : absl::StrFormat("%.1f", p99 / floor_p99)
                                        .c_str(),
                f->lost);
  }
  std::string rm = absl::StrCat("rm -rf '", pattern, "'");
  if (std::system(rm.c_str()) != 0) LOG(WARNING) << "not removed: " << pattern;
  return inotify.lost + polling.lost > 0 ? 2 : 0;
}

}  // namespace
}  // namespace kess

int main(int argc, char** argv) {
  kess::InitProcess(&argc, &argv, "bench/sdk_notify_bench [flags]: file write to SDK callback");
  return kess::Main();
}
