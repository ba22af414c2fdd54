// Timed waits on an absl::Mutex that survive wall-clock steps.
//
// absl 20220623 (Debian 12's libabsl) times Mutex::AwaitWithTimeout and
// AwaitWithDeadline against an absolute CLOCK_REALTIME deadline. A wait
// that is under way when the wall clock steps back (NTP, `date -s`, a VM
// resumed) lasts that much longer — an hour for an hour — and a loop that
// paces itself with such waits (a poll, a backoff, a periodic cycle) stops
// for that long. The fault suite saw it: after the main leader's clock
// jumped, new instances were not published (docs/reliability.md).
//
//   absl::MutexLock lock(&mu_);
//   if (AwaitWithSteadyTimeout(&mu_, absl::Condition(&stop_), period)) return;
//
// AwaitWithSteadyTimeout waits on `mu` (held by the caller, as for
// Mutex::Await) until `cond` holds or `timeout` has passed on the
// monotonic clock, and returns `cond`'s value. It waits with Mutex::Await
// (no kernel deadline at all) on "cond, or the monotonic deadline passed";
// one process-wide ticker thread, sleeping on the monotonic clock until
// the earliest registered deadline, then takes and releases each due mutex
// with TryLock, which makes absl re-evaluate its waiters' conditions. A
// mutex held at that moment is released by its holder soon enough, which
// does the same. The ticker thread starts with the first timed wait and
// sleeps while no wait is due. (A child forked without exec has no ticker:
// kess's children all exec.)
//
// Thread-safety: thread-safe; `mu` must be held by the caller.
#pragma once

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace kess {

bool AwaitWithSteadyTimeout(absl::Mutex* mu, const absl::Condition& cond,
                            absl::Duration timeout)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

// absl::Notification whose timed wait is measured on the monotonic clock
// (absl's WaitForNotificationWithTimeout has the same wall-clock deadline).
class SteadyNotification {
 public:
  void Notify() {
    absl::MutexLock lock(&mu_);
    notified_ = true;
  }
  bool HasBeenNotified() const {
    absl::MutexLock lock(&mu_);
    return notified_;
  }
  // True if notified within `timeout`.
  bool WaitForNotificationWithTimeout(absl::Duration timeout) const {
    absl::MutexLock lock(&mu_);
    return AwaitWithSteadyTimeout(&mu_, absl::Condition(&notified_), timeout);
  }

 private:
  mutable absl::Mutex mu_;
  bool notified_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace kess
