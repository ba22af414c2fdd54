// PartitionDetector: when a slave DC's leader enters and leaves partition
// mode, with hysteresis both ways (../routes/README.md, "Partition mode").
//
// Fed one observation at a time ("could the main DC's ZooKeeper be read
// just now?"), it switches to kPartitioned only after main has been
// unreachable for `partition_after` without a single reachable observation,
// and back to kConnected only after main has been reachable for
// `heal_after` without a single unreachable one. A link that toggles faster
// than either changes nothing: no flapping.
//
// Pure (the caller passes the time); thread-compatible.
#pragma once

#include <optional>

#include "absl/time/time.h"

namespace kess {
namespace mandator {
namespace partition {

class PartitionDetector {
 public:
  enum class Mode { kConnected, kPartitioned };

  struct Options {
    absl::Duration partition_after = absl::Seconds(30);
    absl::Duration heal_after = absl::Seconds(60);
  };

  // `initial`: kPartitioned for a new leader that finds an active overlay.
  PartitionDetector(Options options, Mode initial);

  // Records one observation at `now` (non-decreasing) and returns the mode,
  // which changes at most once per call.
  Mode Observe(absl::Time now, bool main_reachable);

  Mode mode() const { return mode_; }
  // Forces a mode (the caller could not act on a change and retries);
  // restarts the hysteresis.
  void Reset(Mode mode);

 private:
  const Options options_;
  Mode mode_;
  // Since when the observations have all disagreed with mode_.
  std::optional<absl::Time> contrary_since_;
};

}  // namespace partition
}  // namespace mandator
}  // namespace kess
