// Telling errors of the main DC's ZooKeeper apart from errors of the local
// one: every call into the main DC goes through FromMain(), which marks a
// failed Status with a payload. The replicator uses the mark to decide
// whether the main DC is unreachable (its own local ZK failing is not that)
// and to label kess_replication_errors_total.
//
// Thread-safe: pure functions.
#pragma once

#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/string_view.h"
#include "common/status.h"

namespace kess {
namespace mandator {
namespace replication {

inline constexpr absl::string_view kMainSidePayload =
    "type.kess/mandator.replication.main_side";

inline absl::Status FromMain(absl::Status status) {
  if (!status.ok()) status.SetPayload(kMainSidePayload, absl::Cord("1"));
  return status;
}

template <typename T>
absl::StatusOr<T> FromMain(absl::StatusOr<T> result) {
  if (result.ok()) return result;
  return FromMain(result.status());
}

// True iff `status` failed on the main DC's side.
inline bool IsMainSide(const absl::Status& status) {
  return status.GetPayload(kMainSidePayload).has_value();
}

}  // namespace replication
}  // namespace mandator
}  // namespace kess
