// The replicator's Prometheus metrics, all labelled {dc="<this DC>"}:
//
//   kess_replication_local_revision      gauge   revision of the local ZK
//   kess_replication_main_revision       gauge   main's, as last read
//   kess_replication_lag_revisions       gauge   main - local (>= 0)
//   kess_replication_lag_seconds         gauge   how long local has been
//       behind: since the first round that saw main ahead (so within one
//       poll interval of main's commit); 0 when caught up
//   kess_replication_applied_total       counter change records applied
//   kess_replication_full_resyncs_total  counter full resyncs completed
//   kess_replication_resync_writes_total{op="put"|"delete"} counter nodes a
//       full resync wrote or deleted (it writes only what differs)
//   kess_replication_route_deltas_total  counter chunked route tables
//       built from the change records' route deltas and the local table
//       instead of copied from main (route_delta_sync.h)
//   kess_replication_errors_total{kind}  counter failed rounds and lost
//       compare-and-sets; kind = main_unavailable (main ZK unreachable),
//       main_refused (main looks empty, broken or behind: nothing done),
//       main_data (corrupt data in main), conflict (another writer moved
//       the local revision first), local (the local ZK failed); every
//       kind is exposed at 0 from the start
//
// Thread-safe (metrics::Registry's contract).
#pragma once

#include <string>

#include "common/metrics.h"

namespace kess {
namespace mandator {
namespace replication {

struct ReplicationMetrics {
  ReplicationMetrics(metrics::Registry* registry, const std::string& dc);

  metrics::Counter* Errors(const std::string& kind);

  metrics::Registry* const registry;
  const metrics::Labels labels;
  metrics::Gauge* const local_revision;
  metrics::Gauge* const main_revision;
  metrics::Gauge* const lag_revisions;
  metrics::Gauge* const lag_seconds;
  metrics::Counter* const applied;
  metrics::Counter* const full_resyncs;
  metrics::Counter* const resync_written;
  metrics::Counter* const resync_deleted;
  metrics::Counter* const route_deltas;
};

}  // namespace replication
}  // namespace mandator
}  // namespace kess
