// The JSON of one route instance, shared by the route table's codec
// (route_table.h) and the route delta's (route_delta.h) so that an instance
// is the same bytes in both. Internal to model/: other packages use
// RouteTableToJson / RouteTableFromJson and the delta functions.
//
// Thread-safe: pure functions.
#pragma once

#include <string>

#include "Poco/JSON/Object.h"
#include "common/status.h"
#include "model/route_table.h"

namespace kess {
namespace route_json {

// The canonical text of `instance` ({"id":...}), as inside a table.
std::string InstanceToJson(const RouteInstance& instance);

// Reads the fields of one instance (not validated: see
// ValidateRouteInstance); `where` prefixes error messages.
absl::StatusOr<RouteInstance> InstanceFromJson(
    const Poco::JSON::Object::Ptr& object, const std::string& where);

}  // namespace route_json
}  // namespace kess
