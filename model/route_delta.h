// A route delta: what one revision of a service's route table changed
// against an earlier one, by instance. The main DC's leader writes one with
// every route table it commits (in the change record of that revision,
// zk_schema/schema.proto ChangeRecord.route_delta); distributors and agents
// that hold the base revision apply it instead of fetching the whole table
// (docs/route-table.md, "Deltas").
//
//   {"format": 1, "service": "checkout", "base_revision": 41,
//    "revision": 42,
//    "added":   [<instance>, ...],   // not in the base
//    "changed": [<instance>, ...],   // in the base; the new state, whole
//    "removed": ["checkout-7f3a", ...]}
//
// <instance> is exactly an element of the table's "instances"
// (route_table.h). Each list is sorted by id and an id appears in at most
// one of them.
//
// Applying a delta to the table at `base_revision` gives the table at
// `revision`: the same instances, and, serialized with RouteTableToJson,
// the same bytes — so the CRC-32 the leader wrote for the full table checks
// the result. A delta never stands alone: whoever applies it compares that
// CRC-32 and falls back to the full table on any mismatch.
//
// Thread-safe: value types and pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/status.h"
#include "model/route_table.h"

namespace kess {

inline constexpr int kRouteDeltaFormat = 1;
// Larger deltas are refused by the parser (a writer sends the full table
// instead: a delta that large saves little).
inline constexpr size_t kMaxRouteDeltaBytes = 4 * 1024 * 1024;
// Entries (added + changed + removed) of one delta, at most.
inline constexpr size_t kMaxRouteDeltaEntries = 100000;

struct RouteDelta {
  std::string service;
  int64_t base_revision = 0;           // the table this applies to
  int64_t revision = 0;                // the table it gives
  std::vector<RouteInstance> added;    // sorted by id
  std::vector<RouteInstance> changed;  // sorted by id: the new state
  std::vector<std::string> removed;    // sorted ids

  size_t entries() const {
    return added.size() + changed.size() + removed.size();
  }
  bool empty() const { return entries() == 0; }
  bool operator==(const RouteDelta& other) const;
};

// What turns `from` into `to` (the same service; either may be unsorted).
// base_revision = from.revision, revision = to.revision.
RouteDelta ComputeRouteDelta(const RouteTable& from, const RouteTable& to);

// `base` with `delta` applied, at delta.revision. FailedPrecondition when
// the delta is not for this table: another service, base_revision !=
// base.revision, an added id that is already there, a changed or removed
// id that is not. InvalidArgument when the delta itself is malformed
// (ValidateRouteDelta).
absl::StatusOr<RouteTable> ApplyRouteDelta(const RouteTable& base,
                                           const RouteDelta& delta);

// The same on the JSON of the base table (route_table.h), giving the JSON of
// the result, which must have CRC-32 `expected_crc32` (else DataLoss, the
// caller fetches the full table). Canonical input (what RouteTableToJson
// writes) is spliced instance by instance without being parsed; anything
// else is parsed, applied and written again.
absl::StatusOr<std::string> ApplyRouteDeltaToJson(absl::string_view base_json,
                                                  const RouteDelta& delta,
                                                  uint32_t expected_crc32);

// One delta doing what `first` then `second` do (second.base_revision must
// be first.revision: else FailedPrecondition; also for a second that
// cannot follow first, e.g. adds an id first added).
absl::StatusOr<RouteDelta> ComposeRouteDeltas(const RouteDelta& first,
                                              const RouteDelta& second);

// The structural rules above (sorted lists, no id twice, valid instances
// and names, base_revision < revision, at most kMaxRouteDeltaEntries).
absl::Status ValidateRouteDelta(const RouteDelta& delta);

// JSON text as above (lists sorted, so equal deltas give equal bytes).
std::string RouteDeltaToJson(const RouteDelta& delta);
// Parses and validates (ValidateRouteDelta); InvalidArgument naming the
// problem, also above kMaxRouteDeltaBytes. Unknown fields are ignored.
absl::StatusOr<RouteDelta> RouteDeltaFromJson(absl::string_view json);

}  // namespace kess
