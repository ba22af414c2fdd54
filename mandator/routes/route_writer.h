// RouteWriter: what the leader has published (the route tables in
// ZooKeeper) and what it still has to write, with coalescing.
//
// The merger's result goes into Submit(); a service whose newest state
// equals what is published is dropped, a newer state for a service already
// waiting replaces it (one write carries both). Flush() commits a service
// at most once per `window`: a burst of registrations for one service
// becomes one write per window, so ZooKeeper sees at most
// services x (duration / window + 1) route writes however many instances
// register (invariant 8 of docs/design.md). desired() (published + waiting) is the merger's baseline, so a
// change is never submitted twice.
//
// A failed write stays waiting and is retried at the next Flush(); a lost
// fence (this mandator is no longer the leader) ends the Flush at once.
//
// Metrics: kess_routes_writes_total{result="ok"|"error"},
// kess_routes_coalesced_total, kess_routes_pending.
//
// Thread-compatible: one thread (the leader's route loop) drives it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/metrics.h"
#include "common/status.h"
#include "mandator/routes/merger.h"
#include "mandator/routes/route_store.h"

namespace kess {
namespace mandator {
namespace routes {

class RouteWriter {
 public:
  struct Options {
    absl::Duration window = absl::Seconds(1);
    metrics::Registry* registry = &metrics::Registry::Default();
  };

  // `store` must outlive the writer.
  RouteWriter(RouteStore* store, Options options);

  // Reads every published table from ZooKeeper (the baseline of a new
  // leader) and forgets anything waiting.
  absl::Status Load();
  bool loaded() const { return loaded_; }

  const RouteTables& published() const { return published_; }
  const RouteTables& desired() const { return desired_; }
  size_t pending() const { return pending_.size(); }

  void Submit(std::vector<ServiceChange> changes);
  // Writes `service`'s desired table again even if it equals the published
  // one (a new revision, same content: partition mode's heal). False when
  // there is no desired table to write.
  bool Rewrite(const std::string& service);
  // The services waiting to be written.
  std::vector<std::string> PendingServices() const;

  struct FlushResult {
    int written = 0;
    int failed = 0;
    int waiting = 0;  // inside their window
    absl::Status last_error;
  };
  // Commits every waiting service whose last write is at least `window`
  // before `now`. `now` comes from a monotonic clock (MonotonicNow() in
  // common/clock.h): with wall time, a step back would hold every service
  // that was written before it for the size of the step.
  FlushResult Flush(absl::Time now, const std::string& fence);

  int64_t writes_total() const { return writes_total_; }

 private:
  absl::Status Write(const std::string& service, const ServiceChange& change,
                     const std::string& fence);

  RouteStore* const store_;
  const Options options_;
  bool loaded_ = false;
  RouteTables published_;
  RouteTables desired_;
  std::map<std::string, ServiceChange> pending_;
  std::map<std::string, absl::Time> last_write_;
  int64_t writes_total_ = 0;
  metrics::Counter* writes_ok_;
  metrics::Counter* writes_error_;
  metrics::Counter* coalesced_;
  metrics::Gauge* pending_gauge_;
};

}  // namespace routes
}  // namespace mandator
}  // namespace kess
