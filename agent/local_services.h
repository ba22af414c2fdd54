// LocalServices: the service instances local applications registered
// through the agent (docs/agent-api.md), so that a process in any language
// (or nginx, a database) becomes discoverable without linking the SDK.
//
//  - Each instance is registered with two mandators of the agent's DC and
//    heartbeated by an sdk::Registration, as a C++ provider would do it;
//    all of them share one EventLoop thread. Its host is the agent's
//    --host_id, its DC the agent's --dc.
//  - Its health checks run in one CheckRunner (one thread; check_runner.h)
//    with flap damping (check_state.h). The worst check is the instance's
//    check_status; every change of it is sent at once (with the output of
//    the result that changed it, cut to kMaxCheckOutputBytes), and the
//    route-table leader turns a critical instance suspect, within the
//    protection threshold (mandator/routes/merger.h). Only changes are
//    sent, so the route tables do not churn with every check's output.
//  - TTL checks are renewed by the application (UpdateTtl).
//  - The set is persisted in `state_path` (WriteFileAtomically) before a
//    change is applied, and registered again at start-up; an unreadable
//    file is logged, kept aside as <state_path>.corrupt and the agent
//    starts without it, an invalid entry is logged and skipped.
//  - Bad input changes nothing: names (names.h), the address (host:port),
//    the weight (1..10000), metadata, checks (check_spec.h), an instance
//    held by another owner, a check id another instance uses.
//
// Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "Poco/JSON/Object.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/check_runner.h"
#include "agent/check_spec.h"
#include "agent/check_state.h"
#include "common/metrics.h"
#include "common/status.h"
#include "model/file_cache/env.h"
#include "sdk/registration.h"

namespace kess {
namespace transport {
class EventLoop;
}  // namespace transport
namespace agent {

struct LocalServicesOptions {
  std::string host_id;     // the agent's
  std::string datacenter;  // the agent's
  std::vector<std::string> mandators;  // empty: registrations are refused
  std::string state_path;              // e.g. <cache_dir>/services.json
  absl::Duration heartbeat_interval = absl::Seconds(5);
  absl::Duration call_timeout = absl::Seconds(3);
  absl::Duration connect_timeout = absl::Seconds(3);
  CheckLimits checks;
  size_t max_instances = 10000;
  size_t max_checks_per_instance = 16;
  file_cache::Env* env = file_cache::Env::Default();
  metrics::Registry* registry = &metrics::Registry::Default();
};

// One registration as the API takes it (PUT body) and the state file holds.
struct LocalInstanceSpec {
  std::string service;
  std::string id;
  std::string owner;  // who registered it ("" allowed); see Put
  std::string address;
  int weight = 100;
  std::map<std::string, std::string> metadata;
  std::vector<CheckSpec> checks;
};

// Parses a PUT body for `service`/`id` (names checked here too).
// InvalidArgument naming the field; PermissionDenied for an exec check
// while they are disabled.
absl::StatusOr<LocalInstanceSpec> ParseLocalInstance(
    const std::string& service, const std::string& id,
    const Poco::JSON::Object::Ptr& body, const LocalServicesOptions& options);
// The body shape above plus "service" and "id".
std::string LocalInstanceToJson(const LocalInstanceSpec& spec);

class LocalServices {
 public:
  // Loads the state file and registers what it holds. Fails only if the
  // loop or the check runner cannot start.
  static absl::StatusOr<std::unique_ptr<LocalServices>> Create(
      LocalServicesOptions options);
  // Stops checks and heartbeats WITHOUT deregistering: the instances stay
  // registered (persisted) across an agent restart; the mandators forget
  // them after 10 heartbeat intervals if the agent does not come back.
  ~LocalServices();

  // Registers or updates `service`/`id` with the JSON `body`. Errors
  // (nothing changes): InvalidArgument / PermissionDenied (see
  // ParseLocalInstance); FailedPrecondition if another owner holds it or
  // the agent has no mandators; AlreadyExists if a check id is used by
  // another instance; ResourceExhausted beyond max_instances; the state
  // file's write error.
  absl::Status Put(const std::string& service, const std::string& id,
                   const std::string& body);
  // Deregisters it. NotFound; FailedPrecondition if `owner` is not its
  // owner. The mandators are told at once (bounded by 3 s).
  absl::Status Delete(const std::string& service, const std::string& id,
                      const std::string& owner);
  // A TTL check's update by the application: `status` at once, its TTL
  // clock restarted. NotFound; FailedPrecondition for a check of another
  // kind.
  absl::Status UpdateTtl(const std::string& check_id, CheckStatus status,
                         const std::string& output);

  // {"instances":[...]} with each one's checks and their states.
  std::string ListJson() const;
  // One instance; NotFound.
  absl::StatusOr<std::string> InstanceJson(const std::string& service,
                                           const std::string& id) const;
  size_t size() const;

 private:
  struct Entry {
    LocalInstanceSpec spec;
    std::map<std::string, CheckState> checks;  // by check id; under mu_
    absl::Mutex push_mu;
    std::unique_ptr<sdk::Registration> registration
        ABSL_GUARDED_BY(push_mu);
    std::string sent_status ABSL_GUARDED_BY(push_mu);
  };

  explicit LocalServices(LocalServicesOptions options);
  absl::Status Start();
  void Load();
  std::string StateJson(
      const std::map<std::string, std::shared_ptr<Entry>>& entries) const;
  // Registers a new entry (already in entries_) and starts its checks.
  void Activate(const std::shared_ptr<Entry>& entry);
  void OnResult(const std::string& check_id, CheckStatus result,
                std::string output);
  // Sends the entry's check status if it changed since last sent.
  void Push(const std::shared_ptr<Entry>& entry);
  // Worst check status ("" without checks) and the output that set it.
  void Aggregate(const Entry& entry, std::string* status,
                 std::string* output) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  sdk::Instance ToSdkInstance(const LocalInstanceSpec& spec,
                              const std::string& status,
                              const std::string& output) const;
  std::string EntryJson(const Entry& entry) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void UpdateGauges() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const LocalServicesOptions options_;
  std::unique_ptr<transport::EventLoop> loop_;  // every Registration's
  std::unique_ptr<CheckRunner> runner_;

  absl::Mutex api_mu_;  // one Put/Delete at a time (before push_mu, mu_)
  mutable absl::Mutex mu_;
  // "<service>/<id>" -> entry.
  std::map<std::string, std::shared_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
  // check id -> "<service>/<id>".
  std::map<std::string, std::string> check_owner_ ABSL_GUARDED_BY(mu_);

  metrics::Gauge* instances_gauge_;
  metrics::Counter* state_changes_;
};

}  // namespace agent
}  // namespace kess
