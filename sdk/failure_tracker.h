// Caller-side failover: instances a caller reported as failing are ejected
// for a while, then brought back at a lowered weight that ramps up again.
//
//   failure k in a row (k = 1, 2, ...):  ejected for
//       min(initial_ejection * 2^(k-1), max_ejection)   (1 s, 2 s, 4 s,
//       ... 30 s by default), then "recovering" for as long again: its
//       effective weight ramps linearly from recovering_weight (10 %) of
//       its weight up to all of it.
//   failures reported while it is ejected are ignored (calls that were
//       already in flight when it was ejected).
//   successes_to_reset successes in a row forget the failures (the next
//       failure ejects for initial_ejection again); so does a quiet
//       period of forget_after after the recovery ended (checked by every
//       report and by Build, so it does not depend on when Build runs).
//
// FailureTracker keeps that state by instance id (so it survives new
// versions of the route table) and renders it, for one RouteSnapshot, as an
// immutable Availability that Select() reads without locks. Time comes from
// the caller (a Clock, in milliseconds; the durations are rounded up to
// whole milliseconds), so tests need no sleeps.
//
// Thread-safety: Availability is immutable. FailureTracker is not
// thread-safe (Discovery holds a per-service mutex around it).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "sdk/route_snapshot.h"

namespace kess {
namespace sdk {

// How available each instance of one snapshot is, as a function of time.
class Availability {
 public:
  struct Entry {
    int64_t ejected_ms = 0;    // when the current ejection began; 0: none
    int64_t until_ms = 0;      // ejected while now < until_ms
    int64_t recovered_ms = 0;  // full weight from here on
  };

  // REQUIRES: entries.size() == snapshot size.
  Availability(std::vector<Entry> entries, double recovering_weight);

  // Whether any instance is ejected or recovering at `now_ms`; when not,
  // Factor() is 1 for all and callers may skip asking.
  bool ActiveAt(int64_t now_ms) const { return now_ms < active_until_ms_; }

  // The share of its weight instance `index` gets at `now_ms`: 0 while
  // ejected, recovering_weight..1 while recovering, else 1.
  double Factor(uint32_t index, int64_t now_ms) const {
    const Entry& e = entries_[index];
    if (now_ms >= e.recovered_ms) return 1.0;
    if (now_ms < e.until_ms) return 0.0;
    const double ramp = static_cast<double>(now_ms - e.until_ms) /
                        static_cast<double>(e.recovered_ms - e.until_ms);
    return recovering_weight_ + (1.0 - recovering_weight_) * ramp;
  }

  const Entry& entry(uint32_t index) const { return entries_[index]; }

 private:
  std::vector<Entry> entries_;
  double recovering_weight_;
  int64_t active_until_ms_ = 0;
};

class FailureTracker {
 public:
  struct Options {
    absl::Duration initial_ejection = absl::Seconds(1);
    absl::Duration max_ejection = absl::Seconds(30);
    double recovering_weight = 0.1;  // in (0, 1]
    int successes_to_reset = 3;
    absl::Duration forget_after = absl::Seconds(60);
  };

  explicit FailureTracker(Options options) : options_(options) {}

  // Each returns whether the availability changed (so it must be rebuilt).
  bool ReportFailure(const std::string& instance_id, int64_t now_ms);
  bool ReportSuccess(const std::string& instance_id, int64_t now_ms);

  // The availability of `snapshot`'s instances; nullptr when none is
  // ejected or recovering (the common case: Select skips all of it).
  // Forgets records that are due.
  std::shared_ptr<const Availability> Build(const RouteSnapshot& snapshot,
                                            int64_t now_ms);

  // Consecutive failures on record for `instance_id` (0 = none).
  int failures(const std::string& instance_id) const;

 private:
  struct Record {
    int failures = 0;
    int successes = 0;
    Availability::Entry entry;
  };

  // Quiet for forget_after since `record` recovered, at `now_ms`.
  bool Forgotten(const Record& record, int64_t now_ms) const;

  const Options options_;
  std::map<std::string, Record> records_;
};

}  // namespace sdk
}  // namespace kess
