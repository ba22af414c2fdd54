#include "sdk/failure_tracker.h"

#include <algorithm>
#include <utility>

namespace kess {
namespace sdk {
namespace {

// Whole milliseconds of the caller's clock, rounded up.
int64_t CeilMs(absl::Duration d) {
  return absl::ToInt64Milliseconds(absl::Ceil(d, absl::Milliseconds(1)));
}

}  // namespace

Availability::Availability(std::vector<Entry> entries, double recovering_weight)
    : entries_(std::move(entries)), recovering_weight_(recovering_weight) {
  for (const Entry& e : entries_) {
    active_until_ms_ = std::max(active_until_ms_, e.recovered_ms);
  }
}

bool FailureTracker::Forgotten(const Record& record, int64_t now_ms) const {
  return now_ms >= record.entry.recovered_ms + CeilMs(options_.forget_after);
}

bool FailureTracker::ReportFailure(const std::string& instance_id,
                                   int64_t now_ms) {
  Record& record = records_[instance_id];
  // Quiet for forget_after since it recovered: it starts over, whether or
  // not a Build() forgot the record in between.
  if (Forgotten(record, now_ms)) record = Record();
  if (record.failures > 0 && now_ms < record.entry.until_ms) return false;
  ++record.failures;
  record.successes = 0;
  absl::Duration ejection = options_.initial_ejection;
  for (int i = 1; i < record.failures && ejection < options_.max_ejection;
       ++i) {
    ejection *= 2;
  }
  const int64_t duration = CeilMs(std::min(ejection, options_.max_ejection));
  record.entry.ejected_ms = now_ms;
  record.entry.until_ms = now_ms + duration;
  record.entry.recovered_ms = now_ms + 2 * duration;
  return true;
}

bool FailureTracker::ReportSuccess(const std::string& instance_id,
                                   int64_t now_ms) {
  auto it = records_.find(instance_id);
  if (it == records_.end()) return false;
  if (Forgotten(it->second, now_ms)) {  // nothing left to forget
    records_.erase(it);
    return false;
  }
  if (++it->second.successes < options_.successes_to_reset) return false;
  // Back at full weight now, also if it was ejected or still ramping.
  const bool changed = now_ms < it->second.entry.recovered_ms;
  records_.erase(it);
  return changed;
}

std::shared_ptr<const Availability> FailureTracker::Build(
    const RouteSnapshot& snapshot, int64_t now_ms) {
  for (auto it = records_.begin(); it != records_.end();) {
    if (Forgotten(it->second, now_ms)) {
      it = records_.erase(it);
    } else {
      ++it;
    }
  }
  if (records_.empty()) return nullptr;
  std::vector<Availability::Entry> entries(snapshot.size());
  bool any = false;
  for (const auto& [id, record] : records_) {
    std::optional<uint32_t> index = snapshot.IndexOf(id);
    if (!index || now_ms >= record.entry.recovered_ms) continue;
    entries[*index] = record.entry;
    any = true;
  }
  if (!any) return nullptr;
  return std::make_shared<const Availability>(std::move(entries),
                                              options_.recovering_weight);
}

int FailureTracker::failures(const std::string& instance_id) const {
  auto it = records_.find(instance_id);
  return it == records_.end() ? 0 : it->second.failures;
}

}  // namespace sdk
}  // namespace kess
