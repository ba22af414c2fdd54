// The abuse suites' witness that the cluster keeps working during an
// attack: a thread that puts one config after the other and, after each
// acknowledged write, polls every agent's cache until it holds that
// revision. One latency sample per agent and write, from the
// acknowledgement; a write not in some agent's cache within `bound` is a
// miss.
//
// Thread-safe: the getters may be called while the writer runs.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tests/cluster/cache_tier_cluster.h"

namespace kess {
namespace testing {

class PropagationWriter {
 public:
  struct Options {
    std::string ns;                               // the configs' namespace
    std::function<std::string(int)> key_name;     // the i-th write's key
    // Puts the i-th write's value at ns/key; the committed revision.
    std::function<absl::StatusOr<int64_t>(const std::string& key, int i)> put;
    std::vector<AgentHost*> agents;               // whose caches to poll
    absl::Duration bound = absl::Seconds(20);     // later is a miss
  };

  // Starts writing at once (at most 100,000 writes).
  explicit PropagationWriter(Options options);
  ~PropagationWriter() { Stop(); }
  PropagationWriter(const PropagationWriter&) = delete;
  PropagationWriter& operator=(const PropagationWriter&) = delete;

  // Ends the writes (the one under way completes). Idempotent.
  void Stop();

  int writes() const { return writes_; }            // acknowledged writes
  int misses() const { return misses_; }            // not everywhere in time
  int failed_puts() const { return failed_puts_; }  // put refused or failed
  double p50() const;                               // ms; 0 without samples
  double p99() const;
  // "ns/key revision R missing at N agents" of the first miss, or "".
  std::string first_miss() const;

 private:
  std::vector<double> Samples() const;
  void Run();

  const Options options_;
  std::atomic<bool> stop_{false};
  std::atomic<int> writes_{0}, misses_{0}, failed_puts_{0};
  mutable absl::Mutex mu_;
  std::vector<double> samples_ ABSL_GUARDED_BY(mu_);
  std::string first_miss_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;  // last: starts after the members above exist
};

}  // namespace testing
}  // namespace kess
