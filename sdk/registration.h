// Registration: the provider side of service discovery. Registers one
// instance with two mandators of its DC, heartbeats them, fails over when
// one stops answering, and deregisters on clean shutdown.
//
//   RegistrationOptions o;
//   o.mandators = {"mandator-1:7200", "mandator-2:7200", "mandator-3:7200"};
//   o.instance = {.service = "checkout", .id = "checkout-7f3a",
//                 .host = "web-12", .address = "web-12.dc1.example:8080",
//                 .datacenter = "dc1", .health = "warming_up"};
//   KESS_ASSIGN_OR_RETURN(auto registration, Registration::Create(o));
//   ...  // once caches are warm:
//   registration->SetHealth("up");
//   ...  // clean shutdown (the destructor does it too, bounded):
//   registration->Deregister();
//
// Which mandators: the list ranked by rendezvous hashing of
// "<service>/<id>" (common/rendezvous.h); the first `replicas` (2) that
// are not known to be down. So instances spread evenly over the DC's
// mandators and a restarted process picks the same two again. A mandator
// whose call fails (transport error, timeout, disconnect) is marked down
// and the next one in the order takes its place at once; every
// `return_interval` a preferred mandator that is down is probed (a
// Register, without dropping its replacement) and, once it answers, takes
// its place back. A heartbeat answered "unknown" (the mandator restarted or
// forgot) is followed by a Register at once.
//
// Nothing blocks the application: Create() returns before any mandator
// answered, calls run on the Registration's own event-loop thread, and
// failures are counted (kess_sdk_registration_*) and logged at most once
// per mandator per minute.
//
// Many Registrations may share one EventLoop (RegistrationOptions::loop)
// and, on it, one RegistrationPool (RegistrationOptions::pool,
// sdk/registration_pool.h): one connection per mandator for all of them
// and one batched kess.Heartbeat per mandator per interval. The host agent
// registers every local instance it was given that way, on one thread.
//
// Thread-safety: all methods are thread-safe, but must not be called from
// the Registration's loop thread (there is no callback that runs there).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/identity/credential.h"
#include "common/metrics.h"
#include "common/status.h"

namespace kess {
namespace tls {
class TlsContext;
}  // namespace tls
namespace transport {
class EventLoop;
}  // namespace transport
namespace sdk {

class RegistrationPool;

// One provider instance (model/route_table.h rules; checked by Create).
struct Instance {
  std::string service;        // names.h kService
  std::string id;             // unique within the service (names.h kKey)
  std::string host;           // the host id its machine's agent uses
  std::string address;        // "ip:port" consumers call
  std::string datacenter;     // must be the DC of `mandators`
  int weight = 100;           // 1..10000
  std::string health = "up";  // the application's word: "warming_up", ...
  std::map<std::string, std::string> metadata;
  // What health checks say about it (model/route_table.h): "" (none),
  // "passing", "warning" or "critical", and the output of the result that
  // set it (ValidCheckOutput). The host agent sets these for the instances
  // registered through it; a critical instance turns suspect.
  std::string check_status;
  std::string check_output;
};

struct RegistrationOptions {
  std::vector<std::string> mandators;  // "host:port" of its DC's mandators
  Instance instance;
  absl::Duration heartbeat_interval = absl::Seconds(5);
  int replicas = 2;  // mandators heartbeated at once
  absl::Duration call_timeout = absl::Seconds(3);
  absl::Duration connect_timeout = absl::Seconds(3);
  // How long a mandator that failed stays skipped before it is probed.
  absl::Duration return_interval = absl::Seconds(30);
  // Bound on Deregister() and on the destructor's deregistration.
  absl::Duration deregister_timeout = absl::Seconds(3);
  // nullptr: metrics::Registry::Default(). Must outlive the Registration.
  metrics::Registry* registry = nullptr;
  // TLS to the mandators: a client context (common/tls/tls_context.h) made
  // from the cluster's CA bundle (and, for mutual TLS, this process's
  // certificate). nullptr: plain TCP, only for clusters run with
  // --insecure_plaintext.
  std::shared_ptr<tls::TlsContext> tls;
  // The identity the mandators check the registration against: a service
  // credential (or a host one for the host in `instance`), presented
  // first on every connection (kess.Authenticate; common/identity). nullptr:
  // the certificate of `tls` (a host or service certificate, mutual TLS),
  // or none (mandators in --insecure_dev_mode only). With `pool`, the
  // pool's credential is used instead.
  std::shared_ptr<const identity::CredentialFile> credential;
  // nullptr: the Registration runs its own loop thread. Else it runs on
  // this loop, which must outlive it (many Registrations may share one).
  transport::EventLoop* loop = nullptr;
  // nullptr: this Registration's own connections and heartbeat timer. Else
  // the pool's shared connections and its batched heartbeats, on the
  // pool's loop (`loop` must be null or the same); heartbeat_interval is
  // then the pool's. The pool must outlive the Registration.
  std::shared_ptr<RegistrationPool> pool;
  // false: the destructor only stops heartbeating (the mandators forget
  // the instance after 10 silent intervals). The host agent keeps its
  // instances registered across its own restart this way.
  bool deregister_on_destroy = true;
};

// What a Registration is doing (for status pages and tests).
struct RegistrationState {
  std::vector<std::string> order;       // all mandators, preferred first
  std::vector<std::string> targets;     // in use now (probes included)
  std::vector<std::string> registered;  // targets that acknowledged the
                                        // current registration
  int64_t switches = 0;                 // mandators replaced after a failure
  bool deregistered = false;
};

class Registration {
 public:
  // Validates the options and starts registering in the background.
  // InvalidArgument for an invalid instance, no mandators or a malformed
  // address; never fails because a mandator is down.
  static absl::StatusOr<std::unique_ptr<Registration>> Create(
      RegistrationOptions options);
  // Deregister() unless done (bounded by deregister_timeout) and
  // deregister_on_destroy, then stops.
  ~Registration();

  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;

  // Changes the health word (ValidHealthWord rules) or the weight
  // (1..10000) and sends the new registration to the mandators at once.
  // InvalidArgument (nothing changed) if invalid; FailedPrecondition after
  // Deregister().
  absl::Status SetHealth(const std::string& health);
  absl::Status SetWeight(int weight);
  // Changes what the checks say (ValidCheckStatus, ValidCheckOutput) and
  // sends it at once. Same errors as SetHealth.
  absl::Status SetCheckStatus(const std::string& status,
                              const std::string& output);
  // Replaces the whole instance (address, weight, health, metadata,
  // checks) and sends it at once. InvalidArgument if it is invalid or its
  // service, id, host or datacenter differ from the registered one.
  absl::Status SetInstance(const Instance& instance);

  // Stops heartbeating and deregisters from the mandators in use; waits at
  // most deregister_timeout. OK if every one of them acknowledged;
  // Unavailable naming those that did not (they forget the instance after
  // 10 silent heartbeat intervals anyway). Only the first call does
  // anything; later calls return its result.
  absl::Status Deregister();

  RegistrationState state() const;
  // Blocks until at least `n` mandators acknowledged the current
  // registration (OK) or `timeout` passed (DeadlineExceeded).
  absl::Status WaitRegistered(int n, absl::Duration timeout) const;

 private:
  class Core;
  explicit Registration(std::shared_ptr<Core> core);
  std::shared_ptr<Core> core_;
};

}  // namespace sdk
}  // namespace kess
