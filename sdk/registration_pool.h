// RegistrationPool: one connection per mandator and batched heartbeats for
// many Registrations that share one EventLoop (the host agent registers
// every local instance this way).
//
//   RegistrationPoolOptions po;
//   po.loop = loop.get();
//   po.heartbeat_interval = absl::Seconds(5);
//   KESS_ASSIGN_OR_RETURN(auto pool, RegistrationPool::Create(po));
//   RegistrationOptions o;  // ... o.loop = loop.get(); o.pool = pool;
//
// Without a pool each Registration holds its own connection to each of its
// mandators and heartbeats on its own timer. With one, the pool ticks every
// member once per heartbeat_interval (+-10 %) and then sends, per mandator,
// ONE kess.Heartbeat carrying every member's InstanceRef queued for it
// (the request's repeated `instances`, which every mandator in the
// protocol window accepts), over the pool's one connection to that
// mandator; the answer's `unknown` goes back to the members it names, which
// re-register at once. Registers and Deregisters go over the same shared
// connection, unbatched. Everything else (which mandators, failover,
// probes, re-registration) stays each Registration's own.
//
// Batch bounds: at most max_batch_instances references and
// max_batch_bytes serialized per request (far below the scheduler's
// max_batch, 10,000, and its untrusted frame limit, 1 MiB); more are split
// into several requests. A batch the mandator refuses as INVALID_ARGUMENT
// (one configured with a smaller max_batch) is split in halves and sent
// again, down to single references, so liveness never depends on the
// mandator's limit. A connection that fails is dropped and made again at
// the next call; the calls on it fail UNAVAILABLE to their members (who
// fail over, as without a pool). So is one on which any call (a batch, a
// Register, a Deregister) times out: a half-open connection (a peer or a
// middlebox that drops packets without a RST) is replaced after one call
// timeout, not after TCP's own retransmission limit; and so is one from
// which nothing at all (not even the answers to the transport heartbeats
// it sends every heartbeat_interval) arrived for three intervals.
//
// Thread-safety: Create and the destructor on any thread but the loop's;
// the rest (used by Registration) only on the loop thread. The pool must
// outlive its members and must be destroyed before its loop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

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
class Client;
struct ClientOptions;
}  // namespace transport
namespace sdk {

// The transport options of a connection to the scheduler at `address`
// ("host:port") that carries registrations, pooled or not: no transport
// heartbeats (the registrations' own heartbeats are the traffic; the pool
// adds them to its shared connections, see below).
transport::ClientOptions SchedulerClientOptions(
    const std::string& address, absl::Duration connect_timeout,
    metrics::Registry* registry, std::shared_ptr<tls::TlsContext> tls,
    std::shared_ptr<const identity::CredentialFile> credential = nullptr);

struct RegistrationPoolOptions {
  transport::EventLoop* loop = nullptr;  // required; outlives the pool
  absl::Duration heartbeat_interval = absl::Seconds(5);
  absl::Duration call_timeout = absl::Seconds(3);  // of a batch
  absl::Duration connect_timeout = absl::Seconds(3);
  size_t max_batch_instances = 1000;
  size_t max_batch_bytes = 256 * 1024;
  // nullptr: metrics::Registry::Default(). Must outlive the pool.
  metrics::Registry* registry = nullptr;
  // TLS to the mandators (a client context); nullptr: plain TCP.
  std::shared_ptr<tls::TlsContext> tls;
  // The identity the mandators check registrations against
  // (docs/security.md "Identities and registration rights"): a host or
  // service credential, presented first on every connection
  // (kess.Authenticate). nullptr: the certificate of `tls` (mutual TLS), or
  // none (mandators in --insecure_dev_mode only).
  std::shared_ptr<const identity::CredentialFile> credential;
};

class RegistrationPool {
 public:
  // InvalidArgument without a loop or with non-positive durations/bounds.
  static absl::StatusOr<std::shared_ptr<RegistrationPool>> Create(
      RegistrationPoolOptions options);
  ~RegistrationPool();

  RegistrationPool(const RegistrationPool&) = delete;
  RegistrationPool& operator=(const RegistrationPool&) = delete;

  transport::EventLoop* loop() const { return options_.loop; }

  // ---- For Registration, on the loop thread only. ----

  // `tick` runs once every heartbeat_interval until Leave(id).
  uint64_t Join(std::function<void()> tick);
  void Leave(uint64_t member);
  // One call over the shared connection to `address` (made if needed).
  // `done` runs exactly once on the loop, possibly before Call returns.
  void Call(const std::string& address, const char* method,
            std::string payload, absl::Duration timeout,
            std::function<void(absl::StatusOr<std::string>)> done);
  // Queues `service`/`id` for the next batched heartbeat to `address`
  // (sent after the current tick, or at the loop's next turn outside one).
  // `done` gets whether the mandator answered it unknown, or the error.
  void Heartbeat(const std::string& address, const std::string& service,
                 const std::string& id,
                 std::function<void(absl::StatusOr<bool> unknown)> done);

  // For tests: heartbeat requests sent (batches), references they carried.
  int64_t batches_sent() const;
  int64_t refs_sent() const;

 private:
  struct Queued {
    std::string service;
    std::string id;
    std::function<void(absl::StatusOr<bool>)> done;
  };
  struct Channel {
    std::unique_ptr<transport::Client> client;
    uint64_t gen = 0;
    bool dead = false;  // failed: replaced at the next call
  };

  explicit RegistrationPool(RegistrationPoolOptions options);
  void Start();
  void Tick();
  void FlushSoon();
  void Flush();
  // Splits `refs` into requests within the bounds and sends them.
  void SendBatches(const std::string& address, std::vector<Queued> refs);
  void SendBatch(const std::string& address,
                 std::shared_ptr<std::vector<Queued>> batch);
  transport::Client* ChannelFor(const std::string& address);
  // Marks channel generation `gen` to `address` dead and closes its client
  // (if it is still the current one).
  void DropChannel(const std::string& address, uint64_t gen);

  const RegistrationPoolOptions options_;
  metrics::Counter* batches_;
  metrics::Counter* refs_;
  metrics::Counter* splits_;

  // loop
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::map<uint64_t, std::function<void()>> members_;
  uint64_t next_member_ = 1;
  uint64_t next_gen_ = 1;
  std::map<std::string, Channel> channels_;
  std::map<std::string, std::vector<Queued>> queued_;
  bool in_tick_ = false;
  bool flush_posted_ = false;
  uint64_t timer_ = 0;
  uint32_t random_ = 0;
};

}  // namespace sdk
}  // namespace kess
