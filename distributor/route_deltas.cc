#include "distributor/route_deltas.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "model/route_delta.h"

namespace kess {
namespace distributor {
namespace {

// Route tables are JSON (docs/route-table.md); as zk_source.cc.
constexpr char kRouteContentType[] = "application/json";

// The delta version of `resource` (a whole route table at its revision).
std::shared_ptr<const Item> DeltaItem(const protocol::Resource& resource,
                                      const std::string& key,
                                      const RouteDelta& delta,
                                      std::string delta_json) {
  protocol::Resource out;
  *out.mutable_key() = resource.key();
  out.set_revision(resource.revision());
  out.set_crc32(resource.crc32());
  out.set_content_type(resource.content_type());
  out.set_mtime_ms(resource.mtime_ms());
  out.set_route_delta(std::move(delta_json));
  out.set_delta_base_revision(delta.base_revision);
  auto item = std::make_shared<Item>();
  item->key = key;
  item->revision = resource.revision();
  item->crc32 = resource.crc32();
  item->wire = out.SerializeAsString();
  return item;
}

}  // namespace

absl::StatusOr<ItemPtr> ApplyRouteChanges(
    const ItemPtr& held, const std::vector<zk::ChangeRecord>& changes) {
  if (held == nullptr || held->absent) {
    return absl::FailedPreconditionError("no table held");
  }
  std::vector<const zk::ChangeRecord*> newer;
  for (const zk::ChangeRecord& change : changes) {
    if (change.revision() > held->revision) newer.push_back(&change);
  }
  if (newer.empty()) return held;
  // The chain, composed into one delta from held's revision.
  RouteDelta composed;
  int64_t at = held->revision;
  for (const zk::ChangeRecord* change : newer) {
    if (change->kind() != zk::ROUTE_PUT || !change->has_route_delta()) {
      return absl::FailedPreconditionError(
          absl::StrCat("change ", change->revision(), " carries no delta"));
    }
    KESS_ASSIGN_OR_RETURN(RouteDelta delta,
                          RouteDeltaFromJson(change->route_delta()));
    if (delta.base_revision != at || delta.revision != change->revision()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "delta ", delta.base_revision, " -> ", delta.revision, " of change ",
          change->revision(), " does not follow ", at));
    }
    if (at == held->revision) {
      composed = std::move(delta);
    } else {
      KESS_ASSIGN_OR_RETURN(composed, ComposeRouteDeltas(composed, delta));
    }
    at = change->revision();
  }
  const zk::ChangeRecord& last = *newer.back();
  protocol::Resource whole;
  if (!whole.ParseFromString(held->wire)) {
    return absl::InternalError("held item does not parse");
  }
  KESS_ASSIGN_OR_RETURN(
      std::string value,
      ApplyRouteDeltaToJson(whole.value(), composed, last.value_crc32()));
  whole.set_revision(last.revision());
  whole.set_crc32(last.value_crc32());
  whole.set_content_type(kRouteContentType);
  whole.set_mtime_ms(last.meta().mtime_ms());
  whole.set_value(std::move(value));
  whole.clear_route_delta();
  whole.clear_delta_base_revision();
  KESS_ASSIGN_OR_RETURN(ItemPtr made, MakeItem(whole));
  auto item = std::make_shared<Item>(*made);
  // Deltas from held and from held's bases, while together they stay below
  // half the table (beyond that the table itself is the better answer).
  const size_t budget = item->value_size / 2;
  size_t used = 0;
  auto add = [&](const RouteDelta& delta) {
    std::string json = RouteDeltaToJson(delta);
    if (used + json.size() > budget || item->deltas.size() >= kMaxDeltaBases) {
      return false;
    }
    used += json.size();
    Item::Delta d;
    d.base_revision = delta.base_revision;
    d.delta = std::make_shared<const RouteDelta>(delta);
    d.item = DeltaItem(whole, item->key, delta, std::move(json));
    item->deltas.push_back(std::move(d));
    return true;
  };
  if (add(composed)) {
    for (const Item::Delta& older : held->deltas) {
      if (older.delta == nullptr) continue;
      absl::StatusOr<RouteDelta> longer =
          ComposeRouteDeltas(*older.delta, composed);
      if (!longer.ok() || !add(*longer)) break;
    }
  }
  return ItemPtr(std::move(item));
}

ItemPtr DeltaOrWhole(const ItemPtr& item, int64_t have) {
  if (item == nullptr || have <= 0) return item;
  for (const Item::Delta& d : item->deltas) {
    // A version served at another revision (a copy with a new revision)
    // has deltas that do not end at it.
    if (d.base_revision == have && d.item != nullptr &&
        d.item->revision == item->revision) {
      return d.item;
    }
  }
  return item;
}

ItemPtr NewestDelta(const Item& item) {
  if (item.deltas.empty()) return nullptr;
  const Item::Delta& d = item.deltas.front();
  if (d.item == nullptr || d.item->revision != item.revision) return nullptr;
  return d.item;
}

}  // namespace distributor
}  // namespace kess
