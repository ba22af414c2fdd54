#include "bench/revision_observer.h"

#include <utility>

#include "bench/transport_bench_util.h"
#include "glog/logging.h"
#include "tests/load/load_util.h"
#include "zk_schema/revision_log.h"

namespace kess {
namespace bench {

using load::NowNs;

RevisionObserver::RevisionObserver(std::unique_ptr<zk::ZkApi> zk,
                                   zk::Layout layout)
    : zk_(std::move(zk)), layout_(std::move(layout)) {
  thread_ = std::thread([this] { Run(); });
}

RevisionObserver::~RevisionObserver() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

int64_t RevisionObserver::SeenNs(int64_t revision) const {
  absl::MutexLock lock(&mu_);
  auto it = seen_.find(revision);
  return it == seen_.end() ? 0 : it->second;
}

void RevisionObserver::Run() {
  // Reads the node and arms the next watch; the callback only notes the
  // time (no ZooKeeper call may be made from the client's own thread).
  auto arm = [this]() -> int64_t {
    auto read = zk::ReadRevision(*zk_, layout_, [this](const zk::WatchEvent&) {
      const int64_t now = NowNs();
      absl::MutexLock lock(&mu_);
      if (fired_ns_ == 0) fired_ns_ = now;
    });
    if (!read.ok()) {
      LOG(WARNING) << "revision observer: " << read.status();
      return -1;
    }
    return read->first.revision();
  };
  int64_t fired = 0;
  while (true) {
    const int64_t revision = arm();
    absl::MutexLock lock(&mu_);
    if (fired != 0 && revision > 0) seen_.emplace(revision, fired);
    auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stop_ || fired_ns_ != 0;
    };
    // A failed read re-arms after a pause; a fire re-arms at once.
    mu_.AwaitWithTimeout(absl::Condition(&woken),
                         revision < 0 ? absl::Milliseconds(100)
                                      : absl::InfiniteDuration());
    if (stop_) return;
    fired = fired_ns_;
    fired_ns_ = 0;
  }
}

}  // namespace bench
}  // namespace kess
