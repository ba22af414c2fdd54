// OverlayHeal: the main DC's leader's side of healing a partitioned slave
// DC (invariant 10 of docs/design.md; ../routes/README.md, "Partition
// mode"). Installed as the main
// RoutesRole's `before_write` hook; every cycle it reads /kess/overlay of
// every other DC (the reader clients of --other_dcs). For a DC whose
// overlay is `healing` (its writes have stopped, `newest` is final) and
// whose mandators all answered this cycle (so the merge already holds the
// instances that registered there during the partition):
//  - the route store commits at newest+2 or above from now on (a jump;
//    newest+2 so that the slave's change log, which restarts at main's
//    revision after its full resync, never continues a follower's overlay
//    revision incrementally);
//  - every touched service whose published table is at or below newest is
//    written again (same content, new revision), and if no published table
//    is at newest+2 or above yet, one table is, so the jump happens even
//    when every touched service vanished.
// The slave leader finishes the heal once main's records are above newest.
// Idempotent: a rewritten service is above newest and is left alone.
//
// Metrics: kess_partition_heal_rewrites_total.
//
// Thread-compatible: the RoutesRole's thread calls it.
#pragma once

#include <map>
#include <string>

#include "common/metrics.h"
#include "mandator/routes/routes_role.h"
#include "zk_schema/layout.h"

namespace kess {
namespace mandator {
namespace partition {

class OverlayHeal {
 public:
  OverlayHeal(zk::Layout layout, metrics::Registry* registry);

  // RoutesRole::Options::before_write; always true (writes go on).
  bool BeforeWrite(const routes::CycleContext& context);

 private:
  const zk::Layout layout_;
  std::map<std::string, int64_t> announced_;  // dc -> newest logged
  metrics::Counter* rewrites_;
};

}  // namespace partition
}  // namespace mandator
}  // namespace kess
