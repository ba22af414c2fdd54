// PeerTimeoutPolicy: how long the collector waits for one peer's partial
// table (the production design's rule): normally 5 s; after 3 timeouts in a
// row the peer is "degraded" and gets 100 ms, so a sick peer cannot stall
// the global table; after 10 successes in a row it is back to 5 s.
// Across a WAN a healthy answer can take longer than 100 ms (a far DC's
// round trip, one retransmission), so the short timeout is
// `degraded_rtt_factor` times the slowest of the peer's last answers, at
// least `degraded_timeout` and at most `degraded_max_timeout` (still far
// below the normal 5 s: a sick peer cannot stall the table). With no answer
// seen yet (a peer that was down since it was first asked) it is
// `degraded_timeout`, except every `probe_every`-th call, which gets
// `degraded_max_timeout`: a far peer that is back can answer once, and
// from then on its learned timeout lets it recover.
// Errors that are not timeouts (refused connection, the peer's own error)
// answer fast, so they neither count as timeouts nor as successes; they
// only break a streak of successes.
//
// Thread-compatible value type; pure (no clock).
#pragma once

#include <algorithm>

#include "absl/time/time.h"

namespace kess {
namespace mandator {
namespace routes {

class PeerTimeoutPolicy {
 public:
  struct Options {
    absl::Duration normal_timeout = absl::Seconds(5);
    absl::Duration degraded_timeout = absl::Milliseconds(100);
    int timeouts_to_degrade = 3;    // in a row
    int successes_to_recover = 10;  // in a row, while degraded
    double degraded_rtt_factor = 4;
    absl::Duration degraded_max_timeout = absl::Seconds(1);
    int probe_every = 5;
  };

  PeerTimeoutPolicy() : PeerTimeoutPolicy(Options()) {}
  explicit PeerTimeoutPolicy(Options options) : options_(options) {}

  // The timeout for the next call.
  absl::Duration timeout() const;
  bool degraded() const { return degraded_; }

  // `took`: how long this peer's answer took (connect included).
  void OnSuccess(absl::Duration took);
  void OnTimeout();
  void OnError();

 private:
  Options options_;
  bool degraded_ = false;
  int timeouts_in_a_row_ = 0;
  int successes_in_a_row_ = 0;
  // The slowest answer of the current and the previous window of
  // kLatencyWindow answers (so it forgets old slowness, slowly).
  static constexpr int kLatencyWindow = 16;
  absl::Duration slowest_ = absl::ZeroDuration();
  absl::Duration slowest_previous_ = absl::ZeroDuration();
  int answers_in_window_ = 0;
  bool answered_ = false;    // any answer seen
  int degraded_misses_ = 0;  // timeouts and errors while degraded
};

}  // namespace routes
}  // namespace mandator
}  // namespace kess
