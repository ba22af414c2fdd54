#include "mandator/partition/overlay_heal.h"

#include <algorithm>
#include <utility>

#include "glog/logging.h"
#include "mandator/partition/overlay_store.h"

namespace kess {
namespace mandator {
namespace partition {

OverlayHeal::OverlayHeal(zk::Layout layout, metrics::Registry* registry)
    : layout_(std::move(layout)) {
  rewrites_ = registry->GetCounter(
      "kess_partition_heal_rewrites_total",
      "Route tables the main DC's leader wrote again (new revision) to heal "
      "a slave DC's partition overlay.");
}

bool OverlayHeal::BeforeWrite(const routes::CycleContext& context) {
  for (const auto& [dc, zk] : context.other_dcs) {
    absl::StatusOr<std::optional<zk::OverlayState>> overlay =
        ReadOverlay(*zk, layout_);
    if (!overlay.ok()) {
      LOG_EVERY_N(WARNING, 30)
          << "overlay state of " << dc << " not read: " << overlay.status();
      continue;
    }
    if (!overlay->has_value() || !(*overlay)->active() ||
        !(*overlay)->healing()) {
      announced_.erase(dc);
      continue;
    }
    const zk::OverlayState& state = **overlay;
    if (context.complete_dcs.count(dc) == 0) {
      LOG_EVERY_N(INFO, 30)
          << "healing " << dc << ": waiting until all its mandators answer";
      continue;
    }
    const int64_t newest = state.newest();
    if (announced_[dc] != newest) {
      announced_[dc] = newest;
      LOG(INFO) << "healing " << dc << ": committing above revision "
                << newest + 1 << " and rewriting " << state.services_size()
                << " route tables its overlay touched";
    }
    context.store->RaiseMinRevision(newest + 2);
    const routes::RouteTables& published = context.writer->published();
    for (const std::string& service : state.services()) {
      auto it = published.find(service);
      if (it != published.end() && it->second.revision > newest) continue;
      if (context.writer->Rewrite(service)) rewrites_->Increment();
    }
    int64_t highest = 0;
    for (const auto& [service, table] : published) {
      highest = std::max(highest, table.revision);
    }
    if (highest < newest + 2 && context.writer->pending() == 0 &&
        !context.writer->desired().empty() &&
        context.writer->Rewrite(context.writer->desired().begin()->first)) {
      rewrites_->Increment();
    }
  }
  return true;
}

}  // namespace partition
}  // namespace mandator
}  // namespace kess
