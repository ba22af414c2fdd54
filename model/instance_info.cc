#include "model/instance_info.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "model/names.h"

namespace kess {

RouteInstance ToRouteInstance(const protocol::InstanceInfo& info) {
  RouteInstance r;
  r.id = info.id();
  r.host = info.host();
  r.address = info.address();
  r.datacenter = info.datacenter();
  r.weight = info.weight();
  if (!info.health().empty()) r.health = info.health();
  r.metadata.insert(info.metadata().begin(), info.metadata().end());
  r.check_status = info.check_status();
  r.check_output = info.check_output();
  return r;
}

protocol::InstanceInfo ToInstanceInfo(absl::string_view service,
                                      const RouteInstance& instance) {
  protocol::InstanceInfo info;
  info.set_service(std::string(service));
  info.set_id(instance.id);
  info.set_host(instance.host);
  info.set_address(instance.address);
  info.set_datacenter(instance.datacenter);
  info.set_weight(instance.weight);
  info.set_health(instance.health);
  info.mutable_metadata()->insert(instance.metadata.begin(),
                                  instance.metadata.end());
  info.set_check_status(instance.check_status);
  info.set_check_output(instance.check_output);
  return info;
}

absl::Status ValidateInstanceInfo(const protocol::InstanceInfo& info) {
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kService, info.service()));
  absl::Status s = ValidateRouteInstance(ToRouteInstance(info));
  if (!s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("service \"", info.service(), "\": ", s.message()));
  }
  return absl::OkStatus();
}

absl::Status ValidateInstanceRef(const protocol::InstanceRef& ref) {
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kService, ref.service()));
  return ValidateName(NameKind::kKey, ref.id());
}

}  // namespace kess
