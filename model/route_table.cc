#include "model/route_table.h"

#include <algorithm>
#include <set>
#include <tuple>

#include "Poco/Dynamic/Var.h"
#include "Poco/Exception.h"
#include "Poco/JSON/Array.h"
#include "Poco/JSON/Object.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/json_util.h"
#include "model/names.h"
#include "model/route_table_json.h"

namespace kess {
namespace {

bool ParseState(const std::string& name, InstanceState* state) {
  for (InstanceState s : {InstanceState::kHealthy, InstanceState::kSuspect,
                          InstanceState::kDisabled}) {
    if (name == InstanceStateName(s)) {
      *state = s;
      return true;
    }
  }
  return false;
}

}  // namespace

namespace route_json {

std::string InstanceToJson(const RouteInstance& in) {
  std::vector<std::string> meta;
  for (const auto& [k, v] : in.metadata) {
    meta.push_back(absl::StrCat(JsonQuote(k), ":", JsonQuote(v)));
  }
  return absl::StrCat(
      "{\"id\":", JsonQuote(in.id), ",\"host\":", JsonQuote(in.host),
      ",\"address\":", JsonQuote(in.address),
      ",\"datacenter\":", JsonQuote(in.datacenter), ",\"weight\":", in.weight,
      ",\"state\":\"", InstanceStateName(in.state),
      "\",\"health\":", JsonQuote(in.health), ",\"metadata\":{",
      absl::StrJoin(meta, ","), "},\"registered_ms\":", in.registered_ms,
      in.check_status.empty()
          ? ""
          : absl::StrCat(",\"check_status\":", JsonQuote(in.check_status)),
      in.check_output.empty()
          ? ""
          : absl::StrCat(",\"check_output\":", JsonQuote(in.check_output)),
      "}");
}

}  // namespace route_json

namespace {

// Field access with a message naming the field; Poco throws on type errors.
template <typename T>
absl::Status Field(const Poco::JSON::Object::Ptr& o, const std::string& name,
                   const std::string& where, bool required, T* out) {
  if (!o->has(name) || o->isNull(name)) {
    if (!required) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": field \"", name, "\" is missing"));
  }
  try {
    *out = o->getValue<T>(name);
  } catch (const Poco::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": field \"", name, "\" has the wrong type: ", e.displayText()));
  }
  return absl::OkStatus();
}

}  // namespace

namespace route_json {

absl::StatusOr<RouteInstance> InstanceFromJson(const Poco::JSON::Object::Ptr& o,
                                               const std::string& where) {
  RouteInstance in;
  KESS_RETURN_IF_ERROR(Field(o, "id", where, true, &in.id));
  KESS_RETURN_IF_ERROR(Field(o, "host", where, true, &in.host));
  KESS_RETURN_IF_ERROR(Field(o, "address", where, true, &in.address));
  KESS_RETURN_IF_ERROR(Field(o, "datacenter", where, true, &in.datacenter));
  KESS_RETURN_IF_ERROR(Field(o, "weight", where, true, &in.weight));
  std::string state = "healthy";
  KESS_RETURN_IF_ERROR(Field(o, "state", where, false, &state));
  if (!ParseState(state, &in.state)) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": unknown state \"", state, "\""));
  }
  KESS_RETURN_IF_ERROR(Field(o, "health", where, false, &in.health));
  KESS_RETURN_IF_ERROR(
      Field(o, "registered_ms", where, false, &in.registered_ms));
  KESS_RETURN_IF_ERROR(
      Field(o, "check_status", where, false, &in.check_status));
  KESS_RETURN_IF_ERROR(
      Field(o, "check_output", where, false, &in.check_output));
  if (o->has("metadata") && !o->isNull("metadata")) {
    Poco::JSON::Object::Ptr meta = o->getObject("metadata");
    if (meta.isNull()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": field \"metadata\" must be an object"));
    }
    for (const auto& [k, v] : *meta) {
      if (!v.isString()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": metadata \"", k, "\" must be a string"));
      }
      in.metadata[k] = v.extract<std::string>();
    }
  }
  return in;
}

}  // namespace route_json

const char* InstanceStateName(InstanceState state) {
  switch (state) {
    case InstanceState::kHealthy:
      return "healthy";
    case InstanceState::kSuspect:
      return "suspect";
    case InstanceState::kDisabled:
      return "disabled";
  }
  return "healthy";
}

bool RouteInstance::operator==(const RouteInstance& o) const {
  return std::tie(id, host, address, datacenter, weight, state, health,
                  metadata, registered_ms, check_status, check_output) ==
         std::tie(o.id, o.host, o.address, o.datacenter, o.weight, o.state,
                  o.health, o.metadata, o.registered_ms, o.check_status,
                  o.check_output);
}

bool RouteTable::operator==(const RouteTable& o) const {
  return service == o.service && revision == o.revision &&
         instances == o.instances;
}

bool ValidHealthWord(absl::string_view health) {
  if (health.empty() || health.size() > 32) return false;
  for (char c : health) {
    if (!((c >= 'a' && c <= 'z') || c == '_')) return false;
  }
  return true;
}

bool ValidCheckStatus(absl::string_view status) {
  return status.empty() || status == "passing" || status == "warning" ||
         status == "critical";
}

bool ValidCheckOutput(absl::string_view output) {
  if (output.size() > kMaxCheckOutputBytes) return false;
  for (char c : output) {
    if (!((c >= 0x20 && c < 0x7f) || c == '\t' || c == '\n')) return false;
  }
  return true;
}

absl::Status ValidateRouteInstance(const RouteInstance& in) {
  const std::string where =
      absl::StrCat("instance \"", in.id.substr(0, 64), "\"");
  absl::Status s = ValidateName(NameKind::kKey, in.id);
  if (!s.ok())
    return absl::InvalidArgumentError(absl::StrCat("id: ", s.message()));
  s = ValidateName(NameKind::kHost, in.host);
  if (!s.ok())
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", s.message()));
  s = ValidateName(NameKind::kDatacenter, in.datacenter);
  if (!s.ok())
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", s.message()));
  if (in.weight < 1 || in.weight > kMaxInstanceWeight) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": weight ", in.weight, " is outside 1..", kMaxInstanceWeight));
  }
  // "host:port" with a non-empty host part and a port in 1..65535.
  size_t colon = in.address.rfind(':');
  int port = 0;
  bool port_ok = colon != std::string::npos && colon > 0 &&
                 colon + 1 < in.address.size() && in.address.size() <= 256;
  for (size_t i = colon + 1; port_ok && i < in.address.size(); ++i) {
    char c = in.address[i];
    port_ok = c >= '0' && c <= '9' && port < 100000;
    port = port * 10 + (c - '0');
  }
  if (!port_ok || port < 1 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(where,
                     ": address must be host:port with a port in "
                     "1..65535"));
  }
  if (!ValidHealthWord(in.health)) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": health must be a lower-case word of a-z and _ (at most 32)"));
  }
  if (!ValidCheckStatus(in.check_status)) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": check_status \"", in.check_status.substr(0, 32),
                     "\" is not one of passing, warning, critical"));
  }
  if (!ValidCheckOutput(in.check_output)) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": check_output must be at most ", kMaxCheckOutputBytes,
        " bytes of printable ASCII, tab and newline"));
  }
  if (in.metadata.size() > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": at most 64 metadata entries"));
  }
  for (const auto& [k, v] : in.metadata) {
    s = ValidateName(NameKind::kKey, k);
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": metadata ", s.message()));
    }
    if (v.size() > 1024) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": metadata \"", k, "\" is longer than 1024 bytes"));
    }
  }
  return absl::OkStatus();
}

std::string RouteTableToJson(const RouteTable& table) {
  std::vector<const RouteInstance*> sorted;
  for (const RouteInstance& in : table.instances) sorted.push_back(&in);
  std::sort(sorted.begin(), sorted.end(),
            [](const RouteInstance* a, const RouteInstance* b) {
              return a->id < b->id;
            });
  std::vector<std::string> items;
  for (const RouteInstance* in : sorted) items.push_back(route_json::InstanceToJson(*in));
  return absl::StrCat("{\"format\":", kRouteTableFormat,
                      ",\"service\":", JsonQuote(table.service),
                      ",\"revision\":", table.revision, ",\"instances\":[",
                      absl::StrJoin(items, ","), "]}");
}

absl::StatusOr<RouteTable> RouteTableFromJson(absl::string_view json) {
  KESS_ASSIGN_OR_RETURN(Poco::JSON::Object::Ptr o,
                        ParseJsonObject(std::string(json)));
  const std::string where = "route table";
  int format = 0;
  KESS_RETURN_IF_ERROR(Field(o, "format", where, true, &format));
  if (format != kRouteTableFormat) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": format ", format, " is not supported (expected ",
                     kRouteTableFormat, ")"));
  }
  RouteTable table;
  KESS_RETURN_IF_ERROR(Field(o, "service", where, true, &table.service));
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kService, table.service));
  KESS_RETURN_IF_ERROR(Field(o, "revision", where, false, &table.revision));
  Poco::JSON::Array::Ptr list = o->getArray("instances");
  if (list.isNull()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": field \"instances\" must be an array"));
  }
  std::set<std::string> ids;
  for (size_t i = 0; i < list->size(); ++i) {
    Poco::JSON::Object::Ptr item = list->getObject(static_cast<unsigned>(i));
    std::string at = absl::StrCat(where, ": instances[", i, "]");
    if (item.isNull()) {
      return absl::InvalidArgumentError(absl::StrCat(at, " is not an object"));
    }
    KESS_ASSIGN_OR_RETURN(RouteInstance in,
                          route_json::InstanceFromJson(item, at));
    KESS_RETURN_IF_ERROR(ValidateRouteInstance(in));
    if (!ids.insert(in.id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(at, ": duplicate instance id \"", in.id, "\""));
    }
    table.instances.push_back(std::move(in));
  }
  std::sort(table.instances.begin(), table.instances.end(),
            [](const RouteInstance& a, const RouteInstance& b) {
              return a.id < b.id;
            });
  return table;
}

}  // namespace kess
