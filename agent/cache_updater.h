// CacheUpdater: the agent's disk writer. Updates from the distributor are
// submitted here (from the event loop, which must never wait for fsync) and
// written by one thread of its own through FileCacheWriter.
//
// Per key only the newest submitted version is kept (a burst of changes
// costs one write). A failed write (disk full, EIO) leaves the old file,
// is logged (rate-limited) and counted in
// kess_agent_cache_write_errors_total{errno}, and that key is retried with
// exponential backoff while the other keys keep being written (invariant 7
// of docs/design.md: the old file stays whole).
//
// Route deltas: SubmitDelta queues a route table's change from the version
// held (on disk, being written, or pending) instead of a whole table. The
// writer thread applies it to that version (model/route_delta.h), checks
// the CRC-32 of the result and writes the whole table as usual, so the file
// format does not change. A delta that does not fit, or whose result has
// another CRC-32, is dropped and counted in
// kess_agent_route_delta_failures_total{reason}, and on_delta_failed asks
// for the whole table.
//
// Revisions: OnDisk(key) is what the file holds; Known(key) also counts a
// pending version, so a pull does not fetch again what is waiting for the
// disk. Restart safety: a pending version is not on disk, so a restarted
// agent reports only OnDisk revisions and the distributor resends the rest.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "model/file_cache/format.h"
#include "model/file_cache/writer.h"
#include "model/route_delta.h"
#include "common/metrics.h"

namespace kess {
namespace agent {

class CacheUpdater {
 public:
  struct Options {
    absl::Duration retry_initial = absl::Milliseconds(100);
    absl::Duration retry_max = absl::Seconds(10);
    metrics::Registry* registry = &metrics::Registry::Default();
    // If set, called on the writer thread with every version right after
    // it is durably in its file (written, fsynced, renamed, directory
    // fsynced), in write order; not for versions the writer skipped as not
    // newer. A reader that opens the file afterwards sees at least this
    // revision. Must be quick and must not call the updater.
    std::function<void(const file_cache::CacheEntry&)> on_written;
    // The route tables last written are kept in memory up to this many
    // bytes in all, so that a delta is applied without reading the file
    // back (a 20,000-instance table's file takes ~35 ms to read and
    // verify); a table not kept is read from its file. 0: none kept.
    size_t route_memory_bytes = 32 * 1024 * 1024;
    // If set, called on the writer thread with the whole version a route
    // delta gave, before it is written.
    std::function<void(const file_cache::CacheEntry&)> on_delta_applied;
    // If set, called on the writer thread (or in SubmitDelta, on the
    // caller's) with the key of a route delta that could not be applied:
    // the caller fetches the whole table.
    std::function<void(const file_cache::CacheKey&)> on_delta_failed;
  };

  // `writer` must outlive the updater. Starts the writer thread.
  CacheUpdater(file_cache::FileCacheWriter* writer, Options options);
  // Stops the thread; pending versions that are not written are dropped
  // (the distributor resends them after a restart).
  ~CacheUpdater();

  // Queues `entry` unless a version at least as new is on disk or pending.
  // Returns true if it was queued.
  bool Submit(file_cache::CacheEntry entry);

  // A route delta: the version at `entry.revision` (value empty; crc32,
  // content type and mtime of the whole table) is `delta` applied to the
  // version at `delta.base_revision`. Queued when that base is on disk, being
  // written or pending (then the delta is applied after it); false when the
  // version is not newer than what is held. A base that is not held counts as
  // a failure (reason "no_base", on_delta_failed) and is not queued.
  bool SubmitDelta(file_cache::CacheEntry entry, uint32_t crc32,
                   std::shared_ptr<const RouteDelta> delta);

  // Route deltas applied / not applied since the start.
  int64_t deltas_applied() const;
  int64_t delta_failures() const;

  int64_t OnDisk(const file_cache::CacheKey& key) const;
  int64_t Known(const file_cache::CacheKey& key) const;
  // Versions waiting to be written (including ones being retried).
  size_t pending() const;
  // Keys whose last write attempt failed and wait for a retry.
  size_t failing() const;
  // The newest revision on disk over all keys.
  int64_t max_revision() const;

  // Blocks until nothing is pending or `timeout` passed; true if idle.
  bool WaitIdle(absl::Duration timeout) const;

 private:
  // One route delta to apply, and the CRC-32 of what it must give.
  struct DeltaStep {
    std::shared_ptr<const RouteDelta> delta;
    uint32_t crc32 = 0;
  };
  struct Pending {
    // Without steps: the version to write. With steps: entry.value is the
    // base they apply to (from_disk: the file, read when written) and
    // entry.revision the version they give.
    file_cache::CacheEntry entry;
    std::vector<DeltaStep> steps;
    bool from_disk = false;
    int64_t base_revision = 0;  // of the file, when from_disk
    int64_t not_before_ms = 0;  // retry time after a failure
    int failures = 0;
  };

  void Run();
  // The whole version `job` describes (steps applied), or the failure's
  // reason ("crc_mismatch", "no_base", "malformed").
  absl::StatusOr<file_cache::CacheEntry> Resolve(Pending job,
                                                 const char** reason) const;
  void DeltaFailed(const file_cache::CacheKey& key, const char* reason,
                   const absl::Status& status);
  // Keeps the value of `entry` (just written) in routes_ if it is a route
  // table and fits the budget; moves the value out.
  void KeepRoute(file_cache::CacheEntry& entry)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  file_cache::FileCacheWriter* const writer_;
  const Options options_;
  metrics::Counter* updates_applied_;
  metrics::Counter* deltas_applied_;
  metrics::Registry* registry_;

  mutable absl::Mutex mu_;
  std::map<file_cache::CacheKey, Pending> pending_ ABSL_GUARDED_BY(mu_);
  // The key being written right now, and its revision (still "known").
  std::map<file_cache::CacheKey, int64_t> in_flight_ ABSL_GUARDED_BY(mu_);
  int64_t max_revision_ ABSL_GUARDED_BY(mu_) = 0;
  // Route tables as last written (Options::route_memory_bytes).
  struct HeldRoute {
    int64_t revision = 0;
    std::shared_ptr<const std::string> value;
  };
  std::map<file_cache::CacheKey, HeldRoute> routes_ ABSL_GUARDED_BY(mu_);
  size_t route_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t last_error_log_ms_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace agent
}  // namespace kess
