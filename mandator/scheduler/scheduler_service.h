// SchedulerService: the request handlers of the scheduler role, over a
// PartialTable:
//
//   kess.Register        RegisterRequest  -> RegisterResponse
//   kess.Heartbeat       HeartbeatRequest -> HeartbeatResponse (`unknown`:
//                        re-register these)
//   kess.Deregister      DeregisterRequest -> DeregisterResponse (tombstone)
//   kess.HostHeartbeat   HostHeartbeat -> HostHeartbeatResponse (agents)
//   kess.GetPartialTable PartialTableRequest -> PartialTable (the leader)
//
// Every request is validated before anything changes: an unparsable
// payload, an invalid name, a weight outside 1..10000, a bad address,
// health word or metadata, an instance of another datacenter, or an
// oversized batch is answered INVALID_ARGUMENT (FAILED_PRECONDITION for the
// datacenter) naming the problem, counted in
// kess_scheduler_rejected_total{reason}, and changes nothing; the
// connection stays open (a malformed *frame* is the transport's business:
// it closes that one connection).
//
// Registration rights (with `require_identity`, the mandator's default;
// docs/security.md "Identities and registration rights"): each request is
// checked against the connection's principal (transport::Request::
// principal) before anything changes:
//
//   kess.Register        a host principal for instances whose `host` is
//                        that host, or a service principal for instances of
//                        that service; an instance already held is bound to
//                        the principal that registered it, and one the
//                        published route tables place on another host
//                        (`published_host`) may be registered only by that
//                        host or its service
//   kess.Heartbeat,      only the principal an instance is bound to; refs of
//   kess.Deregister      others are neither refreshed nor removed
//   kess.HostHeartbeat   the host principal of `host_id`
//   kess.GetPartialTable mandator principals only
//
// An anonymous peer is refused (reason `anonymous`) before its payload of
// kess.Register, kess.Heartbeat, kess.Deregister or kess.HostHeartbeat is
// parsed, as kess.GetPartialTable already was: it costs no parsing.
// A refusal is PERMISSION_DENIED naming the rule, counted in
// kess_registration_refused_total{method,reason}, logged at most once a
// second, and changes nothing (heartbeat refs of the caller's own
// instances in the same request are still refreshed).
//
// Thread-safety: the handlers may run on several event-loop threads at
// once; they take only the table's short locks and never block.
// kess.GetPartialTable is answered from the service's own thread: a
// snapshot of 100,000 instances takes a quarter of a second, which must not
// stall the heartbeats of the connections on that loop. At most
// kMaxQueuedSnapshots wait; more are answered RESOURCE_EXHAUSTED.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/identity/principal.h"
#include "common/metrics.h"
#include "common/status.h"
#include "common/transport/server.h"
#include "mandator/scheduler/partial_table.h"

namespace kess {
namespace mandator {
namespace scheduler {

struct SchedulerServiceOptions {
  std::string mandator_id;
  // Instances must register with the mandators of their own DC; "" =
  // accept any (tests).
  std::string datacenter;
  // Told to providers in RegisterResponse.
  absl::Duration heartbeat_interval = absl::Seconds(5);
  // Instances (or refs) per request, at most.
  int max_batch = 10000;
  // nullptr: metrics::Registry::Default(). Must outlive the service.
  metrics::Registry* registry = nullptr;
  // Registration rights (above). false: every principal, the anonymous
  // one included, may do everything (--insecure_dev_mode, unit tests).
  bool require_identity = false;
  // The host the published route table places service/id on, nullopt if
  // it is in none; lets the binding of an instance outlive the mandator
  // that held it (a failover: the next mandator has not heard of it yet).
  // Called on event-loop threads: must be cheap and must not block.
  // Unset: no such check.
  std::function<std::optional<std::string>(const std::string& service,
                                           const std::string& id)>
      published_host;
};

class SchedulerService {
 public:
  // `table` must outlive the service.
  SchedulerService(PartialTable* table, SchedulerServiceOptions options);
  // Joins the snapshot thread (waiting snapshot requests are answered
  // INTERNAL) and removes the callback gauges.
  ~SchedulerService();

  SchedulerService(const SchedulerService&) = delete;
  SchedulerService& operator=(const SchedulerService&) = delete;

  // The five methods above, for transport::Server::Create.
  transport::HandlerMap Handlers();

  // The same without a transport: serialized request in, serialized answer
  // (or the error the client gets) out.
  // `who` is the caller's principal; the overloads without it call as the
  // anonymous principal.
  absl::StatusOr<std::string> Register(const identity::Principal& who,
                                       absl::string_view payload);
  absl::StatusOr<std::string> Heartbeat(const identity::Principal& who,
                                        absl::string_view payload);
  absl::StatusOr<std::string> Deregister(const identity::Principal& who,
                                         absl::string_view payload);
  absl::StatusOr<std::string> HostHeartbeat(const identity::Principal& who,
                                            absl::string_view payload);
  absl::StatusOr<std::string> GetPartialTable(const identity::Principal& who,
                                              absl::string_view payload);
  absl::StatusOr<std::string> Register(absl::string_view payload) {
    return Register(*identity::Anonymous(), payload);
  }
  absl::StatusOr<std::string> Heartbeat(absl::string_view payload) {
    return Heartbeat(*identity::Anonymous(), payload);
  }
  absl::StatusOr<std::string> Deregister(absl::string_view payload) {
    return Deregister(*identity::Anonymous(), payload);
  }
  absl::StatusOr<std::string> HostHeartbeat(absl::string_view payload) {
    return HostHeartbeat(*identity::Anonymous(), payload);
  }
  absl::StatusOr<std::string> GetPartialTable(absl::string_view payload) {
    return GetPartialTable(*identity::Anonymous(), payload);
  }

  // How long ago a leader of ANOTHER datacenter last asked for this
  // mandator's partial table (the main DC collecting); nullopt if none has
  // since this service started.
  std::optional<absl::Duration> SinceCollectedFromAnotherDc() const;

  // Reasons of kess_scheduler_rejected_total.
  static constexpr const char* kReasons[] = {
      "malformed",        "invalid_name",   "invalid_weight",
      "invalid_instance", "invalid_health", "wrong_datacenter",
      "too_many",         "table_full"};
  static constexpr size_t kMaxQueuedSnapshots = 8;
  // Reasons of kess_registration_refused_total.
  static constexpr const char* kRefusedReasons[] = {
      "anonymous",      "wrong_kind",     "foreign_host", "foreign_service",
      "owned_by_other", "published_elsewhere", "not_mandator"};

 private:
  absl::Status Reject(const char* reason, absl::Status status);
  absl::Status CheckBatch(int size);
  absl::Status CheckInstance(const protocol::InstanceInfo& info);
  absl::Status CheckRefs(const InstanceRefs& refs);
  // PERMISSION_DENIED, counted and logged (at most once a second).
  absl::Status Refuse(const char* method, const char* reason,
                      const identity::Principal& who,
                      const std::string& message);
  // Whether `who` may register `info` by the kind and name rules (not
  // the binding: PartialTable::CheckOwner).
  absl::Status MayRegister(const identity::Principal& who,
                           const protocol::InstanceInfo& info);
  // Whether a host principal may register `info` where the route tables
  // publish it (published_host).
  absl::Status MayTakePublished(const identity::Principal& who,
                                const protocol::InstanceInfo& info);
  void Add(transport::HandlerMap& handlers, const char* method,
           absl::StatusOr<std::string> (SchedulerService::*fn)(
               const identity::Principal&, absl::string_view));

  void SnapshotLoop();

  // Steady-clock nanoseconds of the last GetPartialTable from another DC;
  // 0 = none yet.
  std::atomic<int64_t> collected_by_other_dc_ns_{0};
  PartialTable* const table_;
  const SchedulerServiceOptions options_;
  metrics::Registry* const registry_;
  std::map<std::string, metrics::Counter*> rejected_;
  std::map<std::string, metrics::Counter*> requests_;  // by method
  // kess_registration_refused_total, by method then reason.
  std::map<std::string, std::map<std::string, metrics::Counter*>> refused_;
  std::atomic<int64_t> last_refusal_log_ms_{0};
  metrics::Counter* heartbeats_;
  metrics::Counter* unknown_;
  metrics::Counter* registrations_;
  metrics::Counter* deregistrations_;
  metrics::Counter* host_heartbeats_;

  absl::Mutex snapshot_mu_;
  std::deque<std::function<void()>> snapshot_jobs_
      ABSL_GUARDED_BY(snapshot_mu_);
  bool stop_ ABSL_GUARDED_BY(snapshot_mu_) = false;
  std::thread snapshot_thread_;
};

}  // namespace scheduler
}  // namespace mandator
}  // namespace kess
