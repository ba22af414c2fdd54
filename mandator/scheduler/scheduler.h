// Scheduler: the heartbeat-server role every mandator plays. A transport
// Server with the SchedulerService handlers over a PartialTable, plus a
// sweeper thread that forgets what was not heard from for
// `expire_heartbeat_intervals` heartbeat intervals (memory bound only; the
// main-DC leader decides what leaves a route table).
//
//   SchedulerOptions o;
//   o.mandator_id = "m1"; o.datacenter = "dc1"; o.port = 7200;
//   KESS_ASSIGN_OR_RETURN(auto scheduler, Scheduler::Create(o));
//   // providers (sdk/registration.h) and agents now talk to o.host:port
//
// Limits come from the transport defaults: frames up to
// kDefaultMaxFrameBytes, a bounded send queue per connection; a silent
// connection is closed after `idle_timeout`.
//
// Thread-safety: the accessors are thread-safe. Destroying the Scheduler
// closes every connection and joins its threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/identity/credential.h"
#include "common/metrics.h"
#include "common/status.h"
#include "common/transport/server.h"
#include "mandator/scheduler/partial_table.h"
#include "mandator/scheduler/scheduler_service.h"

namespace kess {
namespace mandator {
namespace scheduler {

struct SchedulerOptions {
  std::string mandator_id;
  std::string datacenter;  // "" = accept instances of any DC (tests)
  std::string host = "127.0.0.1";
  int port = 0;  // 0: ephemeral, see port()
  int num_loops = 2;
  // The interval providers are told to heartbeat at.
  absl::Duration heartbeat_interval = absl::Seconds(5);
  // Forget instances and hosts silent for this many intervals; tombstones
  // are kept as long.
  int expire_heartbeat_intervals = 10;
  // A connection silent this long is closed; 0 = 3 heartbeat intervals,
  // at least 15 s.
  absl::Duration idle_timeout = absl::ZeroDuration();
  size_t max_instances = 1000000;
  size_t max_hosts = 1000000;
  int max_batch = 10000;
  // Limits that hold before a peer's first request (the scheduler has no
  // token: a first well-formed request of a known method stands for one);
  // see common/transport/README.md "Limits".
  size_t max_connections = 100000;         // 0 = unlimited
  size_t max_connections_per_peer = 64;    // per IP address; 0 = unlimited
  absl::Duration first_frame_timeout = absl::Seconds(10);  // 0 = off
  size_t untrusted_max_frame_bytes = 1 << 20;  // before the first request
  // TLS for providers, agents and other mandators (a server context,
  // common/tls/); nullptr: plain TCP.
  std::shared_ptr<tls::TlsContext> tls;
  // Registration rights (scheduler_service.h): refuse what the
  // connection's principal may not do. false only with --insecure_dev_mode.
  bool require_identity = false;
  // SchedulerServiceOptions::published_host.
  std::function<std::optional<std::string>(const std::string& service,
                                           const std::string& id)>
      published_host;
  // The credentials kess.Authenticate accepts (common/identity); nullptr:
  // certificates only.
  std::shared_ptr<const identity::CredentialRegistry> credentials;
  // nullptr: Clock::Steady(). Must outlive the Scheduler.
  const Clock* clock = nullptr;
  // nullptr: metrics::Registry::Default(). Must outlive the Scheduler.
  metrics::Registry* registry = nullptr;
};

class Scheduler {
 public:
  // Binds host:port and starts serving. Fails if the port is taken or the
  // options are invalid.
  static absl::StatusOr<std::unique_ptr<Scheduler>> Create(
      SchedulerOptions options);
  ~Scheduler();

  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  int port() const { return server_->port(); }
  std::string address() const;  // "host:port"
  PartialTable& table() { return *table_; }
  // SchedulerService::SinceCollectedFromAnotherDc.
  std::optional<absl::Duration> SinceCollectedFromAnotherDc() const;

 private:
  explicit Scheduler(SchedulerOptions options);
  void SweepLoop();

  const SchedulerOptions options_;
  std::unique_ptr<PartialTable> table_;
  std::unique_ptr<SchedulerService> service_;
  std::unique_ptr<transport::Server> server_;
  // server_ once it is set: the handlers trust a connection through it.
  std::atomic<transport::Server*> trust_server_{nullptr};
  metrics::Counter* expired_instances_ = nullptr;
  metrics::Counter* expired_tombstones_ = nullptr;
  metrics::Counter* expired_hosts_ = nullptr;

  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread sweeper_;
};

}  // namespace scheduler
}  // namespace mandator
}  // namespace kess
