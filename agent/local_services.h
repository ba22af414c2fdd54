// LocalServices: the service instances local applications registered
// through the agent (docs/agent-api.md), so that a process in any language
// (or nginx, a database) becomes discoverable without linking the SDK.
//
//  - Each instance is registered with two mandators of the agent's DC by
//    an sdk::Registration, as a C++ provider would do it; all of them share
//    one EventLoop thread and one sdk::RegistrationPool: one connection per
//    mandator, and every heartbeat interval one batched kess.Heartbeat per
//    mandator for all the instances it holds. Its host is the agent's
//    --host_id, its DC the agent's --dc.
//  - Its health checks run in one CheckRunner (one thread; check_runner.h)
//    with flap damping (check_state.h). The worst check is the instance's
//    check_status; every change of it is sent at once (with the output of
//    the result that changed it, cut to kMaxCheckOutputBytes), and the
//    route-table leader turns a critical instance suspect, within the
//    protection threshold (mandator/routes/merger.h). Only changes are
//    sent, so the route tables do not churn with every check's output.
//  - TTL checks are renewed by the application (UpdateTtl).
//  - The set is persisted in `state_path` (WriteFileAtomically, mode 0600:
//    it holds exec arguments and owners) before a change is applied, with
//    each check's last status (saved at most once a second after checks
//    change), and registered again at start-up with those statuses, so a
//    restart does not turn every instance critical. A file that cannot be
//    read fails Create (an I/O error says nothing about the file); one that
//    does not parse is kept aside as <state_path>.corrupt-<unix seconds>
//    and the agent starts without it; an invalid entry (e.g. an exec check
//    after exec checks were disabled) is logged and kept in the file,
//    inactive, until a PUT or DELETE of the same instance.
//  - Who may do what: a PUT over the API socket records the client's uid
//    (SO_PEERCRED); such an instance is changed (PUT, DELETE, TTL update)
//    only over the socket by that uid, root or the agent's user. Every
//    instance with an owner string needs it for PUT, DELETE and TTL
//    updates. Exec checks are accepted only over the socket from root or
//    the agent's user. GET never shows owner strings.
//  - Locks: one PUT/DELETE at a time (api_mu_), the state file written
//    without mu_ held, so check results are never blocked by the disk; a
//    DELETE tells the mandators after releasing api_mu_. Check results
//    reach the mandators from a thread of their own, never the check
//    runner's.
//  - Bad input changes nothing: names (names.h), the address (host:port),
//    the weight (1..10000), metadata, checks (check_spec.h), an instance
//    held by another owner, a check id another instance uses.
//
// Thread-safe.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "Poco/JSON/Object.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "agent/check_runner.h"
#include "agent/check_spec.h"
#include "agent/check_state.h"
#include "common/identity/credential.h"
#include "common/metrics.h"
#include "common/status.h"
#include "model/file_cache/env.h"
#include "sdk/registration.h"
#include "sdk/registration_pool.h"

namespace kess {
namespace transport {
class EventLoop;
}  // namespace transport
namespace agent {

// Who sent an API request.
struct Caller {
  bool on_socket = false;  // over --api_socket (else TCP)
  int64_t uid = -1;        // the client's uid on the socket (SO_PEERCRED)
};

struct LocalServicesOptions {
  std::string host_id;     // the agent's
  std::string datacenter;  // the agent's
  std::vector<std::string> mandators;  // empty: registrations are refused
  std::string state_path;              // e.g. <cache_dir>/services.json
  absl::Duration heartbeat_interval = absl::Seconds(5);
  absl::Duration call_timeout = absl::Seconds(3);
  absl::Duration connect_timeout = absl::Seconds(3);
  CheckLimits checks;
  // Bounds the state file, the checks and the mandators' table; the
  // connections are one per mandator whatever the count.
  size_t max_instances = 256;
  size_t max_checks_per_instance = 16;
  // TLS to the mandators (a client context); nullptr: plain TCP.
  std::shared_ptr<tls::TlsContext> tls;
  // The host's credential for the registrations (kess.Authenticate);
  // nullptr: the certificate of `tls`.
  std::shared_ptr<const identity::CredentialFile> credential;
  file_cache::Env* env = file_cache::Env::Default();
  metrics::Registry* registry = &metrics::Registry::Default();
};

// One registration as the API takes it (PUT body) and the state file holds.
struct LocalInstanceSpec {
  std::string service;
  std::string id;
  std::string owner;  // who registered it ("" allowed); see Put
  int64_t owner_uid = -1;  // the uid that registered it over the socket
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
  // Loads the state file and registers what it holds. Fails if the loop
  // or the check runner cannot start, or the state file cannot be read.
  static absl::StatusOr<std::unique_ptr<LocalServices>> Create(
      LocalServicesOptions options);
  // Stops checks and heartbeats WITHOUT deregistering: the instances stay
  // registered (persisted) across an agent restart; the mandators forget
  // them after 10 heartbeat intervals if the agent does not come back.
  ~LocalServices();

  // Registers or updates `service`/`id` with the JSON `body`. Errors
  // (nothing changes): InvalidArgument / PermissionDenied (see
  // ParseLocalInstance; also for an exec check from any caller but root or
  // the agent's user over the socket, and for an instance another uid
  // registered over the socket); FailedPrecondition if another owner holds
  // it or the agent has no mandators; AlreadyExists if a check id is used
  // by another instance; ResourceExhausted beyond max_instances;
  // Unavailable if the state file cannot be written, or while a DELETE of
  // the same instance is still telling the mandators (waited for first).
  absl::Status Put(const std::string& service, const std::string& id,
                   const std::string& body, const Caller& caller = {});
  // Deregisters it. NotFound; FailedPrecondition if `owner` is not its
  // owner; PermissionDenied as for Put. The mandators are told at once
  // (bounded by 3 s), without blocking other PUTs and DELETEs.
  absl::Status Delete(const std::string& service, const std::string& id,
                      const std::string& owner, const Caller& caller = {});
  // A TTL check's update by the application: `status` at once, its TTL
  // clock restarted. NotFound; FailedPrecondition for a check of another
  // kind or if `owner` is not the instance's owner; PermissionDenied as
  // for Put.
  absl::Status UpdateTtl(const std::string& check_id, CheckStatus status,
                         const std::string& output,
                         const std::string& owner = "",
                         const Caller& caller = {});

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
  // An entry of the state file that did not load; kept in the file.
  struct Inactive {
    std::string key;  // "<service>/<id>" as far as it could be read
    std::string json;
    std::string error;
  };

  absl::Status Start();
  absl::Status Load();
  // The state file's text for `entries` plus the inactive entries but
  // `dropped_inactive`'s.
  std::string StateJson(
      const std::map<std::string, std::shared_ptr<Entry>>& entries,
      const std::string& dropped_inactive) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Writes it (0600); Unavailable on failure.
  absl::Status WriteState(const std::string& json);
  // Saves the checks' statuses within a second (coalesced).
  void SaveStatesSoon();
  // OK if `caller` with `owner` may change `held`.
  absl::Status MayChange(const LocalInstanceSpec& held,
                         const std::string& owner, const Caller& caller) const;
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
  const uid_t agent_uid_;
  std::unique_ptr<transport::EventLoop> loop_;  // every Registration's
  // Every Registration's connections to the mandators (one per mandator)
  // and their batched heartbeats; on loop_.
  std::shared_ptr<sdk::RegistrationPool> pool_;
  // Sends check results' changes (Push) and saves states: the check
  // runner's thread never waits for loop_.
  std::unique_ptr<transport::EventLoop> push_loop_;
  std::unique_ptr<CheckRunner> runner_;
  std::atomic<bool> save_pending_{false};

  absl::Mutex api_mu_;  // one Put/Delete at a time (before push_mu, mu_)
  mutable absl::Mutex mu_;
  // "<service>/<id>" -> entry.
  std::map<std::string, std::shared_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
  // check id -> "<service>/<id>".
  std::map<std::string, std::string> check_owner_ ABSL_GUARDED_BY(mu_);
  std::vector<Inactive> inactive_ ABSL_GUARDED_BY(mu_);
  // Instances whose DELETE is telling the mandators; notified when done.
  std::map<std::string, std::shared_ptr<absl::Notification>> deregistering_
      ABSL_GUARDED_BY(mu_);

  metrics::Gauge* instances_gauge_;
  metrics::Counter* state_changes_;
};

}  // namespace agent
}  // namespace kess
