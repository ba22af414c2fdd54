#include "distributor/distributor_metrics.h"

namespace kess {
namespace distributor {

DistributorMetrics::DistributorMetrics(metrics::Registry* r)
    : registry(r),
      subscribed_agents(
          r->GetGauge("kess_distributor_subscribed_agents",
                      "Agent connections subscribed to at least one key")),
      revision(r->GetGauge("kess_distributor_revision",
                           "Global revision of the data set held in memory")),
      zk_revision(r->GetGauge("kess_distributor_zk_revision",
                              "Newest global revision seen in ZooKeeper")),
      lag_revisions(r->GetGauge("kess_distributor_lag_revisions",
                                "zk_revision minus revision")),
      stale(r->GetGauge("kess_distributor_stale",
                        "1 while ZooKeeper is unreachable or unhealthy and "
                        "the distributor serves what it last had")),
      keys(r->GetGauge("kess_distributor_keys",
                       "Configs and route tables held (tombstones excluded)")),
      pushes(r->GetCounter("kess_distributor_pushes_total",
                           "kess.Update frames pushed to agents")),
      pushed_resources(
          r->GetCounter("kess_distributor_pushed_resources_total",
                        "Resources carried by kess.Update frames")),
      push_bytes(r->GetCounter("kess_distributor_push_bytes_total",
                               "Payload bytes of kess.Update frames")),
      subscribe_requests(
          r->GetCounter("kess_distributor_subscribe_requests_total",
                        "kess.Subscribe requests")),
      pull_requests(r->GetCounter("kess_distributor_pull_requests_total",
                                  "kess.Pull requests")),
      full_reloads(r->GetCounter("kess_distributor_full_reloads_total",
                                 "Full reloads from ZooKeeper applied")),
      refused_shrink(r->GetCounter(
          "kess_distributor_refused_shrink_total",
          "Full reloads refused because they would remove too many keys")),
      zk_errors(r->GetCounter("kess_distributor_zk_errors_total",
                              "Sync steps that failed on a ZooKeeper error")),
      deferred_resources(r->GetCounter(
          "kess_distributor_deferred_resources_total",
          "Resources left out of an answer or push at the byte budget")),
      route_deltas_applied(r->GetCounter(
          "kess_distributor_route_deltas_total",
          "Route table changes built from the deltas of the change records "
          "(applied) or read whole because their deltas did not give the "
          "leader's table (failed)",
          {{"result", "applied"}})),
      route_delta_failures(r->GetCounter("kess_distributor_route_deltas_total",
                                         "", {{"result", "failed"}})),
      route_delta_resources(r->GetCounter(
          "kess_distributor_route_delta_resources_total",
          "Route tables sent to agents as deltas instead of whole")) {}

metrics::Counter* DistributorMetrics::Rejected(const std::string& reason) {
  return registry->GetCounter("kess_distributor_rejected_total",
                              "Requests or keys rejected, by reason",
                              {{"reason", reason}});
}

metrics::Counter* DistributorMetrics::Dropped(const std::string& reason) {
  return registry->GetCounter(
      "kess_distributor_dropped_agents_total",
      "Agent connections dropped by the transport, by reason",
      {{"reason", reason}});
}

}  // namespace distributor
}  // namespace kess
