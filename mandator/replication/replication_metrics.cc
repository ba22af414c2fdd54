#include "mandator/replication/replication_metrics.h"

namespace kess {
namespace mandator {
namespace replication {
namespace {

metrics::Labels With(metrics::Labels labels, const std::string& name,
                     const std::string& value) {
  labels[name] = value;
  return labels;
}

}  // namespace

ReplicationMetrics::ReplicationMetrics(metrics::Registry* r,
                                       const std::string& dc)
    : registry(r),
      labels({{"dc", dc}}),
      local_revision(r->GetGauge("kess_replication_local_revision",
                                 "Revision of this DC's ZooKeeper.", labels)),
      main_revision(r->GetGauge("kess_replication_main_revision",
                                "Revision of the main DC, as last read.",
                                labels)),
      lag_revisions(r->GetGauge("kess_replication_lag_revisions",
                                "Main revision minus local revision.", labels)),
      lag_seconds(r->GetGauge(
          "kess_replication_lag_seconds",
          "Seconds since replication first saw main ahead; 0 if caught up.",
          labels)),
      applied(r->GetCounter("kess_replication_applied_total",
                            "Change records applied from the main DC.",
                            labels)),
      full_resyncs(r->GetCounter("kess_replication_full_resyncs_total",
                                 "Full resyncs completed.", labels)),
      resync_written(
          r->GetCounter("kess_replication_resync_writes_total",
                        "Nodes a full resync created, changed or deleted.",
                        With(labels, "op", "put"))),
      resync_deleted(
          r->GetCounter("kess_replication_resync_writes_total",
                        "Nodes a full resync created, changed or deleted.",
                        With(labels, "op", "delete"))),
      route_deltas(r->GetCounter(
          "kess_replication_route_deltas_total",
          "Chunked route tables built from the change records' route deltas "
          "and the local table instead of copied from main.",
          labels)) {
  // Every kind at 0 from the start: a rate() or an alert over them then
  // works before the first error of a kind.
  for (const char* kind :
       {"main_unavailable", "main_refused", "main_data", "conflict", "local"}) {
    Errors(kind);
  }
}

metrics::Counter* ReplicationMetrics::Errors(const std::string& kind) {
  return registry->GetCounter(
      "kess_replication_errors_total",
      "Failed replication rounds and lost CAS, by kind.",
      With(labels, "kind", kind));
}

}  // namespace replication
}  // namespace mandator
}  // namespace kess
