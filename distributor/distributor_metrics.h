// The distributor's metrics (Prometheus names below), in one place so that
// every component counts into the same registry.
//
//   kess_distributor_connected_agents          gauge (callback, transport)
//   kess_distributor_subscribed_agents         gauge, connections with >= 1 key
//   kess_distributor_revision                  gauge, revision of the data held
//   kess_distributor_zk_revision               gauge, newest revision seen in
//   ZK kess_distributor_lag_revisions             gauge, zk_revision - revision
//   kess_distributor_stale                     gauge 0/1, ZK
//   unreachable/unhealthy kess_distributor_keys                      gauge,
//   live keys held kess_distributor_pushes_total              counter,
//   kess.Update frames sent kess_distributor_pushed_resources_total    counter,
//   resources in them kess_distributor_push_bytes_total          counter,
//   payload bytes pushed kess_distributor_subscribe_requests_total  counter
//   kess_distributor_pull_requests_total       counter
//   kess_distributor_rejected_total{reason}    counter: invalid_name, auth,
//       not_loaded, malformed_request, too_many_keys, invalid_host
//   kess_distributor_full_reloads_total        counter, applied full reloads
//   kess_distributor_refused_shrink_total      counter, reloads refused
//   kess_distributor_zk_errors_total           counter, failed sync steps
//   kess_distributor_deferred_resources_total  counter, answers/pushes cut
//       at the per-request byte budget (delivered by a later pull)
//   kess_distributor_dropped_agents_total{reason}  counter, connections the
//       transport dropped for send_queue_full or heartbeat_timeout
//   kess_distributor_route_deltas_total{result}  counter: route table
//       changes built from the change records' deltas ("applied"), or whose
//       deltas did not give the leader's table ("failed": read whole)
//   kess_distributor_route_delta_resources_total  counter, route tables
//       sent as deltas (answers and pushes, per connection)
//
// Thread-safety: the metric objects are thread-safe (common/metrics.h).
#pragma once

#include <string>

#include "common/metrics.h"

namespace kess {
namespace distributor {

struct DistributorMetrics {
  // `registry` must outlive this object.
  explicit DistributorMetrics(metrics::Registry* registry);

  metrics::Counter* Rejected(const std::string& reason);
  metrics::Counter* Dropped(const std::string& reason);

  metrics::Registry* const registry;
  metrics::Gauge* const subscribed_agents;
  metrics::Gauge* const revision;
  metrics::Gauge* const zk_revision;
  metrics::Gauge* const lag_revisions;
  metrics::Gauge* const stale;
  metrics::Gauge* const keys;
  metrics::Counter* const pushes;
  metrics::Counter* const pushed_resources;
  metrics::Counter* const push_bytes;
  metrics::Counter* const subscribe_requests;
  metrics::Counter* const pull_requests;
  metrics::Counter* const full_reloads;
  metrics::Counter* const refused_shrink;
  metrics::Counter* const zk_errors;
  metrics::Counter* const deferred_resources;
  metrics::Counter* const route_deltas_applied;
  metrics::Counter* const route_delta_failures;
  metrics::Counter* const route_delta_resources;
};

}  // namespace distributor
}  // namespace kess
