#include "mandator/scheduler/scheduler.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/steady_await.h"
#include "glog/logging.h"
#include "model/protocol/discovery.pb.h"
#include "model/protocol/discovery_methods.h"
#include "model/protocol/distribution.pb.h"

namespace kess {
namespace mandator {
namespace scheduler {

absl::StatusOr<std::unique_ptr<Scheduler>> Scheduler::Create(
    SchedulerOptions options) {
  if (options.heartbeat_interval <= absl::ZeroDuration() ||
      options.expire_heartbeat_intervals < 2 || options.max_batch < 1) {
    return absl::InvalidArgumentError(
        "scheduler: heartbeat_interval must be > 0, "
        "expire_heartbeat_intervals >= 2 and max_batch >= 1");
  }
  if (options.clock == nullptr) options.clock = Clock::Steady();
  if (options.registry == nullptr) {
    options.registry = &metrics::Registry::Default();
  }
  std::unique_ptr<Scheduler> s(new Scheduler(std::move(options)));
  const SchedulerOptions& o = s->options_;

  transport::ServerOptions server;
  server.host = o.host;
  server.port = o.port;
  server.num_loops = o.num_loops;
  server.heartbeat_timeout =
      o.idle_timeout > absl::ZeroDuration()
          ? o.idle_timeout
          : std::max(absl::Seconds(15), 3 * o.heartbeat_interval);
  server.registry = o.registry;
  server.tls = o.tls;
  server.max_connections = o.max_connections;
  server.max_connections_per_peer = o.max_connections_per_peer;
  server.first_frame_timeout = o.first_frame_timeout;
  server.untrusted_max_frame_bytes = o.untrusted_max_frame_bytes;
  server.credentials = o.credentials;
  // The frame bomb: payloads pre-scanned before a handler parses them. An
  // instance is a few elements plus its metadata entries.
  server.request_types[protocol::kRegisterMethod] =
      protocol::RegisterRequest::descriptor();
  server.request_types[protocol::kHeartbeatMethod] =
      protocol::HeartbeatRequest::descriptor();
  server.request_types[protocol::kDeregisterMethod] =
      protocol::DeregisterRequest::descriptor();
  server.request_types[protocol::kHostHeartbeatMethod] =
      protocol::HostHeartbeat::descriptor();
  server.request_types[protocol::kGetPartialTableMethod] =
      protocol::PartialTableRequest::descriptor();
  server.request_budget.max_elements =
      static_cast<size_t>(o.max_batch) * 32 + 1024;
  server.request_budget.max_depth = 4;
  transport::HandlerMap handlers = s->service_->Handlers();
  for (auto& [method, handler] : handlers) {
    handler = [raw = s.get(), inner = std::move(handler)](
                  transport::Request request, transport::Responder responder) {
      transport::Server* target = raw->trust_server_.load();
      if (target != nullptr) target->Trust(request.connection_id);
      inner(std::move(request), std::move(responder));
    };
  }
  KESS_ASSIGN_OR_RETURN(s->server_,
                        transport::Server::Create(server, std::move(handlers)));
  s->trust_server_.store(s->server_.get());
  s->sweeper_ = std::thread([raw = s.get()] { raw->SweepLoop(); });
  LOG(INFO) << "scheduler " << o.mandator_id << " (" << o.datacenter
            << ") takes heartbeats on " << s->address();
  return s;
}

Scheduler::Scheduler(SchedulerOptions options) : options_(std::move(options)) {
  PartialTableOptions table;
  table.expire_after =
      options_.expire_heartbeat_intervals * options_.heartbeat_interval;
  table.tombstone_ttl = table.expire_after;
  table.max_instances = options_.max_instances;
  table.max_hosts = options_.max_hosts;
  table_ = std::make_unique<PartialTable>(options_.clock, table);

  SchedulerServiceOptions service;
  service.mandator_id = options_.mandator_id;
  service.datacenter = options_.datacenter;
  service.heartbeat_interval = options_.heartbeat_interval;
  service.max_batch = options_.max_batch;
  service.registry = options_.registry;
  service.require_identity = options_.require_identity;
  service.published_host = options_.published_host;
  service_ = std::make_unique<SchedulerService>(table_.get(), service);

  const std::string help =
      "Entries the scheduler forgot after long silence (memory bound; not a "
      "route-table removal).";
  expired_instances_ = options_.registry->GetCounter(
      "kess_scheduler_expired_total", help, {{"what", "instance"}});
  expired_tombstones_ = options_.registry->GetCounter(
      "kess_scheduler_expired_total", help, {{"what", "tombstone"}});
  expired_hosts_ = options_.registry->GetCounter("kess_scheduler_expired_total",
                                                 help, {{"what", "host"}});
}

Scheduler::~Scheduler() {
  if (sweeper_.joinable()) {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    sweeper_.join();
  }
  server_.reset();  // no handler runs after this
  service_.reset();
}

std::optional<absl::Duration> Scheduler::SinceCollectedFromAnotherDc() const {
  return service_->SinceCollectedFromAnotherDc();
}

std::string Scheduler::address() const {
  return absl::StrCat(options_.host, ":", port());
}

void Scheduler::SweepLoop() {
  // A tenth of the expiry age: entries live at most 10 % longer than asked.
  const absl::Duration period =
      std::max(absl::Milliseconds(100), options_.expire_heartbeat_intervals *
                                            options_.heartbeat_interval / 10);
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (AwaitWithSteadyTimeout(&mu_, absl::Condition(&stop_), period)) return;
    }
    PartialTable::Expired e = table_->Expire();
    expired_instances_->Increment(static_cast<double>(e.instances));
    expired_tombstones_->Increment(static_cast<double>(e.tombstones));
    expired_hosts_->Increment(static_cast<double>(e.hosts));
  }
}

}  // namespace scheduler
}  // namespace mandator
}  // namespace kess
