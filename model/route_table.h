// A service's route table: the instances a consumer may call. Built by the
// main DC's mandator leader, stored in ZooKeeper as a route record, carried
// by distributors and agents as opaque bytes, and read from the agent's file
// cache by the SDK — or by any program: the bytes are a JSON document
// (docs/route-table.md), so every language reads it with its standard
// library.
//
//   {"format": 1, "service": "checkout", "revision": 42,
//    "instances": [
//      {"id": "checkout-7f3a", "host": "web-12", "address": "127.0.0.1:8080",
//       "datacenter": "dc1", "weight": 100, "state": "healthy",
//       "health": "up", "metadata": {"version": "1.4.2"},
//       "registered_ms": 1795314842000}]}
//
// Thread-safe: value types and pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/status.h"

namespace kess {

inline constexpr int kRouteTableFormat = 1;
inline constexpr int kMaxInstanceWeight = 10000;
// RouteInstance::check_output is at most this long.
inline constexpr size_t kMaxCheckOutputBytes = 256;

// How kess judges an instance.
enum class InstanceState {
  kHealthy,   // heartbeats arrive
  kSuspect,   // its heartbeats stopped but its host's agent still beats:
              // kept in the table (kess may be the sick one), consumers
              // should prefer healthy instances
  kDisabled,  // an operator took it out of rotation (kept for visibility)
};
const char* InstanceStateName(InstanceState state);  // "healthy", ...

struct RouteInstance {
  std::string id;          // unique within the service (names.h kKey rules)
  std::string host;        // host id (names.h kHost)
  std::string address;     // "ip:port"
  std::string datacenter;  // names.h kDatacenter
  int32_t weight = 100;    // 1..kMaxInstanceWeight
  InstanceState state = InstanceState::kHealthy;
  // What the application reports about itself, e.g. "up", "warming_up",
  // "draining". Free-form lower-case word; "up" when unset.
  std::string health = "up";
  std::map<std::string, std::string> metadata;
  int64_t registered_ms = 0;  // wall clock of first registration
  // What the health checks run by the instance's host agent say: "" (the
  // instance has none), "passing", "warning" or "critical". A critical
  // instance is kSuspect (within the protection threshold, see
  // mandator/routes/merger.h); a warning one stays healthy. Omitted from
  // the JSON when empty.
  std::string check_status;
  // The output of the check result that last changed check_status
  // (ValidCheckOutput); omitted from the JSON when empty.
  std::string check_output;

  bool operator==(const RouteInstance& other) const;
};

struct RouteTable {
  std::string service;
  int64_t revision = 0;  // global revision of the write (0 before it)
  std::vector<RouteInstance> instances;  // sorted by id

  bool operator==(const RouteTable& other) const;
};

// JSON text as above; instances sorted by id so equal tables give equal
// bytes (and equal CRCs).
std::string RouteTableToJson(const RouteTable& table);

// Parses and validates: InvalidArgument naming the field for malformed JSON,
// an unknown format, invalid names, a weight outside 1..kMaxInstanceWeight,
// an unknown state, or duplicate instance ids. Unknown fields are ignored
// (newer writers may add some).
absl::StatusOr<RouteTable> RouteTableFromJson(absl::string_view json);

// Checks one instance as registration entry points do (same rules as the
// parser). `what` prefixes the message, e.g. "instance checkout-7f3a".
absl::Status ValidateRouteInstance(const RouteInstance& instance);

// The rule for RouteInstance::health (also alone, e.g. a heartbeat that
// changes only the health): 1..32 characters of a-z and '_'.
bool ValidHealthWord(absl::string_view health);

// RouteInstance::check_status: "", "passing", "warning" or "critical".
bool ValidCheckStatus(absl::string_view status);
// RouteInstance::check_output: at most kMaxCheckOutputBytes of printable
// ASCII, tab and newline (the agent replaces anything else).
bool ValidCheckOutput(absl::string_view output);

}  // namespace kess
