#include "mandator/replication/route_delta_sync.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "model/route_delta.h"
#include "zk_schema/chunked_value.h"
#include "zk_schema/codec.h"

namespace kess {
namespace mandator {
namespace replication {

absl::StatusOr<RecordSync::Plan> PlanRouteFromDeltas(
    zk::ZkApi* local, const zk::Layout& layout, const zk::AclList& acl,
    const std::string& path,
    const std::vector<const zk::ChangeRecord*>& changes) {
  if (changes.empty()) return absl::FailedPreconditionError("no changes");
  for (const zk::ChangeRecord* change : changes) {
    if (change->kind() != zk::ROUTE_PUT || !change->has_route_delta() ||
        change->path() != path) {
      return absl::FailedPreconditionError(
          absl::StrCat("change ", change->revision(), " carries no delta"));
    }
  }
  absl::StatusOr<zk::GetResult> node = local->Get(path);
  if (absl::IsNotFound(node.status())) {
    return absl::FailedPreconditionError("no local record");
  }
  KESS_RETURN_IF_ERROR(node.status());
  KESS_ASSIGN_OR_RETURN(zk::RouteRecord record,
                        zk::DecodeAs<zk::RouteRecord>(node->data, path));
  RecordSync::Plan plan;
  plan.kind = RecordKind::kRoute;
  plan.path = path;
  int64_t at = record.revision();
  std::vector<const zk::ChangeRecord*> newer;
  for (const zk::ChangeRecord* change : changes) {
    if (change->revision() > at) newer.push_back(change);
  }
  if (newer.empty()) return plan;  // already there (changed = false)
  zk::ChunkedValueStore store(local, layout, acl);
  absl::StatusOr<std::string> value = store.Load(record.value(), path);
  if (!value.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the local table does not load: ", value.status().message()));
  }
  int64_t count = record.instance_count();
  for (const zk::ChangeRecord* change : newer) {
    KESS_ASSIGN_OR_RETURN(RouteDelta delta,
                          RouteDeltaFromJson(change->route_delta()));
    if (delta.base_revision != at || delta.revision != change->revision()) {
      return absl::FailedPreconditionError(
          absl::StrCat("delta ", delta.base_revision, " -> ", delta.revision,
                       " does not follow the local revision ", at));
    }
    KESS_ASSIGN_OR_RETURN(
        value, ApplyRouteDeltaToJson(*value, delta, change->value_crc32()));
    count += static_cast<int64_t>(delta.added.size()) -
             static_cast<int64_t>(delta.removed.size());
    at = change->revision();
  }
  const zk::ChangeRecord& last = *newer.back();
  KESS_ASSIGN_OR_RETURN(plan.prepared,
                        store.Prepare(*value, path, last.meta()));
  zk::RouteRecord next;
  next.set_service(record.service());
  next.set_revision(at);
  *next.mutable_value() = plan.prepared;
  next.set_instance_count(static_cast<uint32_t>(count));
  *next.mutable_meta() = last.meta();
  plan.ops.Set(path, zk::Encode(next), node->stat.version);
  plan.replaced = record.value();
  plan.changed = true;
  return plan;
}

}  // namespace replication
}  // namespace mandator
}  // namespace kess
