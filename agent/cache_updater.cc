#include "agent/cache_updater.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/strings/str_cat.h"
#include "model/file_cache/env.h"
#include "model/file_cache/reader.h"
#include "common/steady_await.h"
#include "glog/logging.h"

namespace kess {
namespace agent {

using file_cache::CacheEntry;
using file_cache::CacheKey;
using file_cache::FileCacheWriter;

namespace {

int64_t MonotonicMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Whole milliseconds, rounded up: a positive delay never becomes "now".
int64_t CeilMs(absl::Duration d) {
  return absl::ToInt64Milliseconds(absl::Ceil(d, absl::Milliseconds(1)));
}

constexpr char kWriteErrorsHelp[] =
    "Failed cache file writes (the old file stays intact).";
constexpr char kDeltaFailuresHelp[] =
    "Route deltas not applied (the whole table is fetched instead), by "
    "reason: crc_mismatch, no_base (the base version is not held), "
    "does_not_fit.";

}  // namespace

CacheUpdater::CacheUpdater(FileCacheWriter* writer, Options options)
    : writer_(writer), options_(options), registry_(options.registry) {
  updates_applied_ =
      registry_->GetCounter("kess_agent_updates_applied_total",
                            "Versions written to the file cache.");
  deltas_applied_ = registry_->GetCounter(
      "kess_agent_route_deltas_applied_total",
      "Route tables built from a delta and the version held.");
  registry_->GetCounter("kess_agent_route_delta_failures_total",
                        kDeltaFailuresHelp, {{"reason", "crc_mismatch"}});
  // Exposed at 0 from the start, so that the cache-write-errors alert and a
  // dashboard find the family on a healthy agent; a failure adds a series
  // per errno (ENOSPC, EIO, ...).
  registry_->GetCounter("kess_agent_cache_write_errors_total",
                        kWriteErrorsHelp, {{"errno", "other"}});
  for (const auto& [key, revision] : writer_->Revisions()) {
    max_revision_ = std::max(max_revision_, revision);
  }
  thread_ = std::thread([this] { Run(); });
}

CacheUpdater::~CacheUpdater() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

bool CacheUpdater::Submit(CacheEntry entry) {
  absl::MutexLock lock(&mu_);
  const CacheKey key = entry.key;
  if (entry.revision <= writer_->Revision(key)) return false;
  auto in_flight = in_flight_.find(key);
  if (in_flight != in_flight_.end() && entry.revision <= in_flight->second) {
    return false;
  }
  auto it = pending_.find(key);
  if (it != pending_.end()) {
    if (entry.revision <= it->second.entry.revision) return false;
    // A newer version replaces the queued one; a key in backoff keeps its
    // retry time so a failing disk is not hammered.
    it->second.entry = std::move(entry);
    return true;
  }
  pending_[key].entry = std::move(entry);
  return true;
}

bool CacheUpdater::SubmitDelta(CacheEntry entry, uint32_t crc32,
                               std::shared_ptr<const RouteDelta> delta) {
  const CacheKey key = entry.key;
  {
    absl::MutexLock lock(&mu_);
    const int64_t disk = writer_->Revision(key);
    if (entry.revision <= disk) return false;
    auto in_flight = in_flight_.find(key);
    if (in_flight != in_flight_.end() && entry.revision <= in_flight->second) {
      return false;
    }
    auto it = pending_.find(key);
    if (it != pending_.end()) {
      Pending& p = it->second;
      if (entry.revision <= p.entry.revision) return false;
      if (p.entry.revision == delta->base_revision && !p.entry.absent) {
        // Applied after what is pending (its value stays the base).
        p.steps.push_back(DeltaStep{std::move(delta), crc32});
        p.entry.revision = entry.revision;
        p.entry.content_type = std::move(entry.content_type);
        p.entry.mtime_ms = entry.mtime_ms;
        return true;
      }
    } else {
      const int64_t held =
          in_flight != in_flight_.end() ? in_flight->second : disk;
      if (held == delta->base_revision) {
        Pending& p = pending_[key];
        p.entry = std::move(entry);
        p.entry.value.clear();
        p.entry.absent = false;
        p.from_disk = true;
        p.base_revision = delta->base_revision;
        p.steps.push_back(DeltaStep{std::move(delta), crc32});
        return true;
      }
    }
  }
  DeltaFailed(key, "no_base",
              absl::FailedPreconditionError("the base version is not held"));
  return false;
}

void CacheUpdater::DeltaFailed(const CacheKey& key, const char* reason,
                               const absl::Status& status) {
  registry_
      ->GetCounter("kess_agent_route_delta_failures_total", kDeltaFailuresHelp,
                   {{"reason", reason}})
      ->Increment();
  LOG_EVERY_N(WARNING, 20) << "route delta of " << key.ToString()
                           << " not applied (" << reason
                           << "; fetching the whole table): " << status;
  if (options_.on_delta_failed) options_.on_delta_failed(key);
}

absl::StatusOr<CacheEntry> CacheUpdater::Resolve(Pending job,
                                                 const char** reason) const {
  std::string text;
  std::shared_ptr<const std::string> kept;
  if (job.from_disk) {
    absl::MutexLock lock(&mu_);
    auto it = routes_.find(job.entry.key);
    if (it != routes_.end() && it->second.revision == job.base_revision) {
      kept = it->second.value;
    }
  }
  if (kept != nullptr) {
    text = *kept;
  } else if (job.from_disk) {
    file_cache::FileCacheReader reader(writer_->cache_dir());
    absl::StatusOr<CacheEntry> held = reader.Read(job.entry.key);
    if (!held.ok() || held->absent || held->revision != job.base_revision) {
      *reason = "no_base";
      return absl::FailedPreconditionError(absl::StrCat(
          "the file does not hold revision ", job.base_revision,
          held.ok() ? "" : absl::StrCat(": ", held.status().message())));
    }
    text = std::move(held->value);
  } else {
    text = std::move(job.entry.value);
  }
  for (const DeltaStep& step : job.steps) {
    absl::StatusOr<std::string> next =
        ApplyRouteDeltaToJson(text, *step.delta, step.crc32);
    if (!next.ok()) {
      *reason = absl::IsDataLoss(next.status()) ? "crc_mismatch"
                                                : "does_not_fit";
      return next.status();
    }
    text = *std::move(next);
  }
  CacheEntry out = std::move(job.entry);
  out.value = std::move(text);
  out.absent = false;
  return out;
}

void CacheUpdater::KeepRoute(CacheEntry& entry) {
  if (entry.key.type != CacheKey::Type::kRoute) return;
  auto it = routes_.find(entry.key);
  if (it != routes_.end()) {
    route_bytes_ -= it->second.value->size();
    routes_.erase(it);
  }
  if (entry.absent ||
      route_bytes_ + entry.value.size() > options_.route_memory_bytes) {
    return;
  }
  route_bytes_ += entry.value.size();
  routes_[entry.key] = HeldRoute{
      entry.revision,
      std::make_shared<const std::string>(std::move(entry.value))};
}

int64_t CacheUpdater::deltas_applied() const {
  return static_cast<int64_t>(deltas_applied_->Value());
}

int64_t CacheUpdater::delta_failures() const {
  int64_t n = 0;
  for (const char* reason : {"crc_mismatch", "no_base", "does_not_fit"}) {
    n += static_cast<int64_t>(
        registry_
            ->GetCounter("kess_agent_route_delta_failures_total",
                         kDeltaFailuresHelp, {{"reason", reason}})
            ->Value());
  }
  return n;
}

int64_t CacheUpdater::OnDisk(const CacheKey& key) const {
  return writer_->Revision(key);
}

int64_t CacheUpdater::Known(const CacheKey& key) const {
  absl::MutexLock lock(&mu_);
  int64_t known = writer_->Revision(key);
  auto it = pending_.find(key);
  if (it != pending_.end()) known = std::max(known, it->second.entry.revision);
  auto f = in_flight_.find(key);
  if (f != in_flight_.end()) known = std::max(known, f->second);
  return known;
}

size_t CacheUpdater::pending() const {
  absl::MutexLock lock(&mu_);
  return pending_.size() + in_flight_.size();
}

size_t CacheUpdater::failing() const {
  absl::MutexLock lock(&mu_);
  size_t n = 0;
  for (const auto& [key, p] : pending_) n += p.failures > 0;
  return n;
}

int64_t CacheUpdater::max_revision() const {
  absl::MutexLock lock(&mu_);
  return max_revision_;
}

bool CacheUpdater::WaitIdle(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return pending_.empty() && in_flight_.empty();
  };
  return AwaitWithSteadyTimeout(&mu_, absl::Condition(&idle), timeout);
}

void CacheUpdater::Run() {
  absl::MutexLock lock(&mu_);
  while (true) {
    // Pick the next key that is due; wait for one if there is none.
    const int64_t now = MonotonicMs();
    int64_t next_due = -1;
    auto due = pending_.end();
    for (auto it = pending_.begin(); it != pending_.end(); ++it) {
      if (it->second.not_before_ms <= now) {
        due = it;
        break;
      }
      if (next_due < 0 || it->second.not_before_ms < next_due) {
        next_due = it->second.not_before_ms;
      }
    }
    if (stop_) return;
    if (due == pending_.end()) {
      auto wake = [this, n = pending_.size()]() ABSL_SHARED_LOCKS_REQUIRED(
                      mu_) { return stop_ || pending_.size() != n; };
      // Also wake when a pending entry is replaced: poll at most every
      // 50 ms while something waits for a retry.
      int64_t wait_ms =
          next_due < 0 ? 1000 : std::min<int64_t>(next_due - now, 50);
      AwaitWithSteadyTimeout(&mu_, absl::Condition(&wake),
                             absl::Milliseconds(std::max<int64_t>(1, wait_ms)));
      continue;
    }

    Pending job = std::move(due->second);
    pending_.erase(due);
    const CacheKey key = job.entry.key;
    const int64_t revision = job.entry.revision;
    in_flight_[key] = revision;
    mu_.Unlock();
    if (!job.steps.empty()) {
      const char* reason = "does_not_fit";
      absl::StatusOr<CacheEntry> whole = Resolve(std::move(job), &reason);
      if (!whole.ok()) {
        DeltaFailed(key, reason, whole.status());
        mu_.Lock();
        in_flight_.erase(key);
        continue;
      }
      deltas_applied_->Increment();
      job = Pending();
      job.entry = *std::move(whole);
      if (options_.on_delta_applied) options_.on_delta_applied(job.entry);
    }
    int64_t written_ms = 0;
    absl::StatusOr<FileCacheWriter::Result> result =
        writer_->Write(job.entry, &written_ms);
    if (result.ok() && *result == FileCacheWriter::Result::kWritten &&
        options_.on_written) {
      // What the file says (docs/file-cache.md), not a later clock reading.
      job.entry.written_ms = written_ms;
      options_.on_written(job.entry);
    }
    mu_.Lock();
    in_flight_.erase(key);

    if (result.ok()) {
      if (*result == FileCacheWriter::Result::kWritten) {
        updates_applied_->Increment();
        max_revision_ = std::max(max_revision_, revision);
        KeepRoute(job.entry);
      }
      continue;
    }
    std::string err = file_cache::ErrnoName(result.status());
    registry_
        ->GetCounter("kess_agent_cache_write_errors_total", kWriteErrorsHelp,
                     {{"errno", err.empty() ? "other" : err}})
        ->Increment();
    const int64_t now_ms = MonotonicMs();
    if (now_ms - last_error_log_ms_ >= 10000) {
      last_error_log_ms_ = now_ms;
      LOG(ERROR) << "cache write of " << key.ToString() << " revision "
                 << revision
                 << " failed (old file kept, will retry): " << result.status();
    }
    if (absl::IsInvalidArgument(result.status())) continue;  // never retried
    // Retry this key later, unless a newer version arrived meanwhile (it
    // inherits the backoff).
    ++job.failures;
    absl::Duration delay = options_.retry_initial;
    for (int i = 1; i < job.failures && delay < options_.retry_max; ++i) {
      delay *= 2;
    }
    job.not_before_ms = now_ms + CeilMs(std::min(delay, options_.retry_max));
    auto it = pending_.find(key);
    if (it == pending_.end()) {
      pending_[key] = std::move(job);
    } else {
      it->second.failures = job.failures;
      it->second.not_before_ms = job.not_before_ms;
    }
  }
}

}  // namespace agent
}  // namespace kess
