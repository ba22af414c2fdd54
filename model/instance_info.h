// protocol::InstanceInfo (what a provider registers, discovery.proto) next
// to RouteInstance (what the route table holds, route_table.h): one
// conversion and one validation, shared by the SDK (before sending), the
// mandator's scheduler (on receipt) and the leader building route tables.
//
// Thread-safe: pure functions.
#pragma once

#include "absl/strings/string_view.h"
#include "model/protocol/discovery.pb.h"
#include "model/route_table.h"
#include "common/status.h"

namespace kess {

// The fields both have in common; state stays kHealthy, registered_ms 0,
// an empty health becomes "up".
RouteInstance ToRouteInstance(const protocol::InstanceInfo& info);
protocol::InstanceInfo ToInstanceInfo(absl::string_view service,
                                      const RouteInstance& instance);

// The service name (names.h kService), then ValidateRouteInstance. OK, or
// InvalidArgument saying what is wrong.
absl::Status ValidateInstanceInfo(const protocol::InstanceInfo& info);
// The service and id of a reference (names.h kService, kKey).
absl::Status ValidateInstanceRef(const protocol::InstanceRef& ref);

}  // namespace kess
