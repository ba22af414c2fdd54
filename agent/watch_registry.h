// WatchRegistry: the agent's change index and the waiting blocking
// watches (GET /v1/watch, docs/agent-api.md "Blocking watch").
//
// Every version the agent writes to the file cache is Publish()ed here once
// it is durable (AgentOptions::on_written), and gets the next value of a
// change index counted from the agent process's start: 1 is the cache as
// the process found it, the first version written gets 2, and so on. The
// index is not persisted; instead every process start draws a new random
// epoch, and an answer carries (epoch, index). A client that comes back
// with another epoch (the agent restarted), with index 0, or with an index
// this process has not reached gets a full answer at once: "forget what
// you had, here is everything" (the caller reads the selection's current
// files; the registry only says so).
//
// Watch(request) answers at once when the selection holds a change newer
// than request.index (the newest version of each such key, nothing older),
// else waits until a Publish matches the selection (answer: that version)
// or until the request's timeout plus up to timeout/16 at random, so that
// clients that started together do not come back together (answer: the
// request's own index, no changes). Of a key's newest version only the
// key, revision and index are kept in memory, not its value: an answer
// that catches up on missed changes says without_values, and the caller
// reads those files.
//
// Callbacks run without the registry's lock: an immediate answer inside
// Watch(), a woken or timed-out one on the registry's own thread (Publish()
// only hands the woken waiters over, so that the cache writer calling it
// is not held up by thousands of answers). Every answer woken by one Publish shares one
// WatchRenderMemo, so that a renderer formats the body once for thousands
// of waiters.
//
// Thread-safety: thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "common/status.h"
#include "model/file_cache/format.h"

namespace kess {
namespace agent {

// What a watch looks at: single configs, whole namespaces (every config
// key of it), services (route tables). A key matches if any part names it.
struct WatchSelection {
  std::set<std::pair<std::string, std::string>> configs;  // (ns, key)
  std::set<std::string> namespaces;
  std::set<std::string> services;

  bool Matches(const file_cache::CacheKey& key) const;
  bool empty() const {
    return configs.empty() && namespaces.empty() && services.empty();
  }
  size_t size() const {
    return configs.size() + namespaces.size() + services.size();
  }
};

struct WatchRequest {
  WatchSelection selection;
  std::string epoch;   // from the client's last answer; "" = none
  uint64_t index = 0;  // from the client's last answer; 0 = none
  absl::Duration timeout = absl::Seconds(60);
};

// Per-Publish scratch space for renderers (see the file comment): each
// rendering of the answer (e.g. with and without values) is made once and
// the same immutable buffer is sent to every waiter
// (HttpResponse::shared_body: not copied per connection).
struct WatchRenderMemo {
  absl::Mutex mu;
  std::map<int, std::shared_ptr<const std::string>> bodies ABSL_GUARDED_BY(mu);
};

struct WatchAnswer {
  std::string epoch;
  // The client's next `index`: the current index for an answer with
  // changes or a full one; the request's own index at a timeout.
  uint64_t index = 0;
  // The complete current state of the selection is due (new epoch, index 0
  // or unknown): `changes` is empty, the caller reads the files.
  bool full = false;
  bool timed_out = false;
  // Newest version of each changed key of the selection, in index order.
  std::vector<std::shared_ptr<const file_cache::CacheEntry>> changes;
  // A catch-up answer (changes the client missed): `changes` carry no
  // values (the registry keeps none); the caller reads the files.
  bool without_values = false;
  std::shared_ptr<WatchRenderMemo> memo;  // set for woken answers
};

class WatchRegistry {
 public:
  struct Options {
    absl::Duration max_timeout = absl::Minutes(10);
    size_t max_waiters = 20000;
    // Tests: a fixed epoch instead of a random one.
    std::string epoch;
    // If set: kess_agent_watch_waiters and kess_agent_watch_index (callback
    // gauges, removed by the destructor).
    metrics::Registry* registry = nullptr;
  };
  using Callback = std::function<void(WatchAnswer)>;

  explicit WatchRegistry(Options options);
  // Stops the timer thread; waiters are dropped without an answer (stop
  // the HTTP server first: it cancels them).
  ~WatchRegistry();

  // A durable version (CacheUpdater's on_written): next index, wakes every
  // waiter whose selection matches (answered on the registry's thread).
  // Versions not newer than one already published for the key are ignored.
  void Publish(const file_cache::CacheEntry& entry);

  // Answers `request` through `callback`, now or later (see above).
  // Returns the waiter's id (for Cancel), or 0 if it was answered before
  // returning. InvalidArgument for an empty selection or a non-positive
  // timeout (timeouts above max_timeout are cut to it); ResourceExhausted
  // with max_waiters waiting (the callback is then not called).
  absl::StatusOr<uint64_t> Watch(WatchRequest request, Callback callback);

  // Forgets a waiter (its client left); its callback is not called. An id
  // already answered or cancelled is a no-op.
  void Cancel(uint64_t id);

  const std::string& epoch() const { return epoch_; }
  uint64_t index() const;
  size_t waiters() const;

 private:
  struct Latest {
    uint64_t index = 0;
    std::shared_ptr<const file_cache::CacheEntry> entry;
  };
  struct Waiter {
    WatchSelection selection;
    uint64_t index = 0;
    int64_t deadline_ms = 0;  // monotonic
    Callback callback;
  };

  void TimerLoop();

  const Options options_;
  const std::string epoch_;

  mutable absl::Mutex mu_;
  // 1 is the file cache as this process found it; each version adds one.
  uint64_t index_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<file_cache::CacheKey, Latest> latest_ ABSL_GUARDED_BY(mu_);
  uint64_t next_waiter_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, Waiter> waiters_ ABSL_GUARDED_BY(mu_);
  std::set<std::pair<int64_t, uint64_t>> deadlines_ ABSL_GUARDED_BY(mu_);
  // Woken by Publish, to be answered on the timer thread.
  std::deque<std::pair<std::vector<Callback>, WatchAnswer>> woken_
      ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_){std::random_device{}()};
  std::thread timer_;
};

}  // namespace agent
}  // namespace kess
