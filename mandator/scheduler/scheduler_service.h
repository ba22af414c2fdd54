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
  absl::StatusOr<std::string> Register(absl::string_view payload);
  absl::StatusOr<std::string> Heartbeat(absl::string_view payload);
  absl::StatusOr<std::string> Deregister(absl::string_view payload);
  absl::StatusOr<std::string> HostHeartbeat(absl::string_view payload);
  absl::StatusOr<std::string> GetPartialTable(absl::string_view payload);

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

 private:
  absl::Status Reject(const char* reason, absl::Status status);
  absl::Status CheckBatch(int size);
  absl::Status CheckInstance(const protocol::InstanceInfo& info);
  absl::Status CheckRefs(const InstanceRefs& refs);
  void Add(
      transport::HandlerMap& handlers, const char* method,
      absl::StatusOr<std::string> (SchedulerService::*fn)(absl::string_view));

  void SnapshotLoop();

  // Steady-clock nanoseconds of the last GetPartialTable from another DC;
  // 0 = none yet.
  std::atomic<int64_t> collected_by_other_dc_ns_{0};
  PartialTable* const table_;
  const SchedulerServiceOptions options_;
  metrics::Registry* const registry_;
  std::map<std::string, metrics::Counter*> rejected_;
  std::map<std::string, metrics::Counter*> requests_;  // by method
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
