#include "mandator/partition/partition_detector.h"

namespace kess {
namespace mandator {
namespace partition {

PartitionDetector::PartitionDetector(Options options, Mode initial)
    : options_(options), mode_(initial) {}

PartitionDetector::Mode PartitionDetector::Observe(absl::Time now,
                                                   bool main_reachable) {
  const bool agrees = (mode_ == Mode::kConnected) == main_reachable;
  if (agrees) {
    contrary_since_.reset();
    return mode_;
  }
  if (!contrary_since_.has_value()) contrary_since_ = now;
  const absl::Duration needed = mode_ == Mode::kConnected
                                    ? options_.partition_after
                                    : options_.heal_after;
  if (now - *contrary_since_ >= needed) {
    mode_ = mode_ == Mode::kConnected ? Mode::kPartitioned : Mode::kConnected;
    contrary_since_.reset();
  }
  return mode_;
}

void PartitionDetector::Reset(Mode mode) {
  mode_ = mode;
  contrary_since_.reset();
}

}  // namespace partition
}  // namespace mandator
}  // namespace kess
