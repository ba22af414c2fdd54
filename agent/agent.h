// Agent: the per-host daemon's core, without flags or HTTP (main.cc and
// http_api.h wrap it), so tests run it in-process against a fake
// distributor.
//
// What it does, all on one EventLoop thread except disk writes:
//  - ranks the DC's distributors for this host (distributor_order.h), and
//    holds one transport connection to the first that answers; heartbeats
//    are the transport's (ClientOptions::heartbeat_*), so a silent
//    distributor is dropped after heartbeat_timeout;
//  - on each connect calls kess.Subscribe with every subscribed key and the
//    revision it holds (from the file cache after a restart), and every
//    subscribed namespace with the revisions it holds of that namespace's
//    keys, so unchanged keys are not fetched again;
//  - keeps the subscriptions per owner (the application that asked,
//    subscription_set.h) and unsubscribes at the distributor only what no
//    owner holds any more (kess.Unsubscribe); cache files stay;
//  - applies kess.Update pushes and Subscribe/Pull answers: a resource is
//    accepted only if its name is valid, its CRC-32 matches and its
//    revision is newer than what is held; then CacheUpdater writes it;
//  - calls kess.Pull every pull_interval (jittered) with everything held;
//  - on disconnect or failure moves to the next distributor of its order
//    after a jittered exponential backoff; while not on its preferred
//    distributor it probes the preferred one every return_interval
//    (jittered) and moves back when it answers, so load spreads back after
//    a restart;
//  - heartbeats the mandators (host_heartbeater.h).
//
// Thread-safety: public methods are thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/backoff.h"
#include "agent/cache_updater.h"
#include "agent/host_heartbeater.h"
#include "agent/secret_values.h"
#include "agent/subscription_set.h"
#include "model/file_cache/env.h"
#include "model/file_cache/writer.h"
#include "common/identity/credential.h"
#include "common/metrics.h"
#include "model/protocol/distribution.pb.h"
#include "common/status.h"
#include "common/transport/client.h"
#include "common/transport/event_loop.h"
#include "common/transport/frame_codec.h"

namespace kess {
namespace agent {

struct AgentOptions {
  std::string host_id;     // names.h kHost; also seeds the order and jitter
  std::string datacenter;  // names.h kDatacenter
  std::vector<std::string> distributors;  // "host:port", at least one
  std::vector<std::string> mandators;     // "host:port", may be empty
  std::string cache_dir;
  // Key rings of secret namespaces, <dir>/<namespace>.key: their encrypted
  // values are decrypted into 0600 files (secret_values.h); "" = none.
  std::string secret_keys_dir;
  std::string auth_token;  // sent in SubscribeRequest.auth_token
  // The distributors' limit on a frame before the connection authenticated
  // (their --untrusted_max_frame_bytes): the first kess.Subscribe of a
  // connection, which carries the token, is kept within it; the other keys
  // follow in a second one.
  size_t distributor_untrusted_max_frame_bytes =
      transport::kDefaultUntrustedMaxFrameBytes;

  absl::Duration pull_interval = absl::Seconds(30);
  absl::Duration heartbeat_interval = absl::Seconds(5);  // transport heartbeats
  // Silence => switch distributor.
  absl::Duration heartbeat_timeout = absl::Seconds(15);
  absl::Duration connect_timeout = absl::Seconds(5);
  absl::Duration call_timeout = absl::Seconds(10);
  // Backoff between attempts.
  absl::Duration reconnect_initial = absl::Milliseconds(500);
  absl::Duration reconnect_max = absl::Seconds(30);
  // Probe the preferred distributor.
  absl::Duration return_interval = absl::Seconds(60);
  absl::Duration host_heartbeat_interval = absl::Seconds(5);
  absl::Duration write_retry_initial = absl::Milliseconds(100);
  absl::Duration write_retry_max = absl::Seconds(10);

  // TLS to the distributors and mandators (a client context,
  // common/tls/); nullptr: plain TCP (--insecure_plaintext).
  std::shared_ptr<tls::TlsContext> tls;
  // This host's identity toward the mandators when its certificate does
  // not name it (--credential_file; common/identity): a host credential,
  // presented first on every connection to a mandator. nullptr: the
  // certificate of `tls` (kess://host/<host_id>, mutual TLS).
  std::shared_ptr<const identity::CredentialFile> credential;

  file_cache::Env* env = file_cache::Env::Default();
  metrics::Registry* registry = &metrics::Registry::Default();

  // If set, called on the agent's loop thread with every version a
  // distributor sends for a subscribed key that passes the checks (valid
  // name, CRC-32), before it is written: values, tombstones, and "never
  // existed" (absent, revision 0, which gets no file). A version may be
  // older than one already passed. Must be quick and must not call the
  // Agent. The DNS interface keeps its in-memory tables with it
  // (agent/dns/).
  std::function<void(const file_cache::CacheEntry&)> on_accepted;
  // If set, called on the agent's loop thread with the keys no owner holds
  // any more after an Unsubscribe (before kess.Unsubscribe is sent; later
  // versions are not passed to on_accepted until subscribed again). Must be
  // quick and must not call the Agent. The DNS interface drops their
  // tables with it.
  std::function<void(const std::vector<file_cache::CacheKey>&)>
      on_unsubscribed;
  // What the last owner drops stays subscribed at the distributor (and its
  // files updated) this long before kess.Unsubscribe, so that an
  // application that restarts and subscribes again reuses it (the daemon's
  // --unsubscribe_grace_ms, 60 s). Persisted with its deadline: a restarted
  // agent keeps it until then. Zero: unsubscribed at once.
  absl::Duration unsubscribe_grace = absl::ZeroDuration();
  // If set, called on the cache writer's thread with every version once it
  // is durably in the file cache (CacheUpdater::Options::on_written): a
  // reader that opens the file afterwards sees at least that revision.
  // Must be quick and must not call the Agent. The blocking watch
  // (agent/watch_registry.h) learns of changes with it.
  std::function<void(const file_cache::CacheEntry&)> on_written;
  // Ask the distributors for route tables as deltas from the version held
  // (SubscribeRequest.route_deltas; docs/route-table.md, "Deltas"). The
  // agent applies them and writes the whole table; a delta it cannot apply
  // makes it pull that table whole. A version built from a delta reaches
  // on_accepted from the cache writer's thread once applied (before it is
  // written), not from the loop thread.
  bool route_deltas = true;
};

// One subscribed key as the subscription API reports it.
struct KeyState {
  file_cache::CacheKey key;
  // The owners holding the key itself (not through a namespace).
  std::vector<std::string> owners;
  std::string path;       // absolute path of the cache file
  int64_t revision = 0;   // on disk; 0 = no file yet
  bool answered = false;  // a distributor answered for it since start-up
};

// One subscribed namespace as the subscription API reports it.
struct NamespaceState {
  std::string namespace_name;
  std::vector<std::string> owners;
  std::string path;  // absolute path of its directory in the cache
  size_t cached_keys = 0;  // files of the namespace on disk (tombstones too)
  int64_t revision = 0;    // newest revision among them
};

struct AgentStatus {
  std::string distributor;  // in use, "" when not connected
  bool connected = false;
  bool stale = false;  // the distributor says ZK is unreachable
  int64_t distributor_revision = 0;
  int64_t cache_revision = 0;  // newest revision written to the cache
  size_t keys = 0;
  size_t pending_writes = 0;
  size_t failing_writes = 0;
  int64_t switches = 0;
  int64_t reconnect_attempts = 0;
  std::vector<std::string> order;  // this host's distributor order
};

class Agent {
 public:
  // Opens the file cache (resuming from its revisions) and the subscription
  // set, starts the loop, connects. Fails on invalid options or an
  // unusable cache directory.
  static absl::StatusOr<std::unique_ptr<Agent>> Create(AgentOptions options);
  ~Agent();

  // Adds `keys` (already validated) to the persisted subscription set and
  // subscribes the new ones at the distributor. Waits up to `wait` for
  // the distributor's answer and for those versions to be on disk. Errors:
  // the subscription file could not be written. A down distributor is not
  // an error: the keys are fetched when one answers.
  absl::Status Subscribe(const std::vector<file_cache::CacheKey>& keys,
                         absl::Duration wait);
  // The same for `owner` (ValidateOwner) and whole namespaces too: a
  // namespace brings every key of it, also keys created later. Only what
  // no owner held before is subscribed upstream.
  absl::Status Subscribe(const std::string& owner, const Subscription& what,
                         absl::Duration wait);
  // Removes `what` from `owner`'s subscriptions (persisted; what the owner
  // does not hold is ignored) and calls kess.Unsubscribe for what no owner
  // holds any more. Cache files are never deleted: they keep their last
  // version and are no longer updated. Errors: the subscription file could
  // not be written (nothing changed then). Returns what no owner holds any
  // more: unsubscribed upstream at once, or after
  // AgentOptions::unsubscribe_grace unless an owner takes it again.
  absl::StatusOr<Subscription> Unsubscribe(const std::string& owner,
                                           const Subscription& what);

  std::vector<KeyState> Keys() const;
  std::vector<KeyState> Keys(
      const std::vector<file_cache::CacheKey>& keys) const;
  // Each owner's subscriptions, and the owners of one key / namespace.
  std::map<std::string, Subscription> Owners() const {
    return subscriptions_->Owners();
  }
  std::vector<std::string> OwnersOfKey(const file_cache::CacheKey& key) const {
    return subscriptions_->OwnersOf(key);
  }
  std::vector<std::string> OwnersOfNamespace(const std::string& ns) const {
    return subscriptions_->OwnersOfNamespace(ns);
  }
  // Every key the agent keeps up to date and holds a file of (revision on
  // disk > 0): subscribed by itself or through a subscribed namespace, with
  // its revision on disk, in key order. The blocking watch's full answers
  // read these.
  std::vector<std::pair<file_cache::CacheKey, int64_t>> HeldFiles() const;
  std::vector<NamespaceState> Namespaces() const;
  std::vector<NamespaceState> Namespaces(
      const std::set<std::string>& namespaces) const;
  AgentStatus Status() const;
  // /healthz: unhealthy while cache writes fail.
  absl::Status Health() const;
  const std::string& cache_dir() const { return options_.cache_dir; }
  // Does namespace `ns` hold secret values here (secret_values.h)? The
  // API restricts their values (api_acl.h). Thread-safe.
  bool IsSecretNamespace(const std::string& ns) const {
    return secrets_ != nullptr && secrets_->IsSecretNamespace(ns);
  }

 private:
  explicit Agent(AgentOptions options);
  absl::Status Init();

  // Loop thread only.
  void ConnectTo(size_t index);
  void OnConnected(uint64_t generation);
  // Bytes of Known entries that the first kess.Subscribe of a connection
  // may carry (see OnConnected).
  size_t FirstSubscribeKeyBytes() const;
  void OnSessionLost(uint64_t generation, const std::string& why);
  void ScheduleReconnect();
  void SchedulePull();
  // kess.Pull with everything held; `periodic` schedules the next one.
  void SendPull(bool periodic);
  // The distributor left `deferred` resources out of its last answer (its
  // byte budget): pulls them once the cache writer is idle.
  void PullNextPage(int64_t deferred);
  void ScheduleReturnProbe();
  void Probe();
  void SendSubscribe(std::vector<file_cache::CacheKey> keys,
                     std::vector<std::string> namespaces,
                     std::function<void()> done);
  void SendUnsubscribe(const Subscription& removed);
  // Arms expiry_timer_ for the next lingering subscription's deadline.
  void ScheduleExpiry();
  // Unsubscribes upstream what lingered past its grace period.
  void ExpireLingering();
  void OnAnswer(uint64_t generation, const char* what,
                absl::StatusOr<std::string> reply);
  void Apply(const protocol::Resource& resource);
  // A route table sent as a delta (Resource.route_delta).
  void ApplyDelta(const protocol::Resource& resource,
                  const file_cache::CacheKey& key);
  // The next pull asks for `key` whole (Known revision 0), at once.
  void RequestWhole(const file_cache::CacheKey& key);
  std::vector<protocol::Known> KnownFor(
      const std::vector<file_cache::CacheKey>& keys) const;
  // One Known per namespace, with the revisions held of its keys.
  std::vector<protocol::Known> KnownForNamespaces(
      const std::vector<std::string>& namespaces) const;
  void SetConnected(bool connected);
  void RunAfterFirst();  // calls and clears after_first_

  const AgentOptions options_;
  std::vector<std::string> order_;
  std::unique_ptr<file_cache::FileCacheWriter> writer_;
  std::unique_ptr<SubscriptionSet> subscriptions_;
  std::unique_ptr<CacheUpdater> updater_;
  std::unique_ptr<SecretValues> secrets_;
  std::unique_ptr<transport::EventLoop> loop_;
  std::unique_ptr<HostHeartbeater> heartbeater_;

  // Loop thread only.
  std::unique_ptr<transport::Client> client_;
  std::unique_ptr<transport::Client> probe_;
  uint64_t generation_ = 0;       // of client_; callbacks of older ones ignored
  size_t index_ = 0;              // into order_
  bool subscribed_ = false;       // client_ answered its Subscribe
  // OnConnected sent client_'s first Subscribe. Before that an API
  // Subscribe sends nothing (OnConnected names every subscribed key, and
  // the first frame must stay small); its wake-up waits here.
  bool first_sent_ = false;
  std::vector<std::function<void()>> after_first_;
  std::string last_distributor_;  // where the last session was subscribed
  // Keys whose newest accepted version is a tombstone (since start-up), so
  // a namespace's Known says so and no distributor resends one.
  std::set<file_cache::CacheKey> tombstones_;
  // Route tables whose delta could not be applied: pulled with revision 0
  // (whole) until a whole version arrives.
  std::set<file_cache::CacheKey> want_whole_;
  bool whole_pull_posted_ = false;
  absl::Time last_rejected_log_ = absl::InfinitePast();  // rate limit
  Backoff backoff_;
  transport::EventLoop::TimerId reconnect_timer_ = 0;
  transport::EventLoop::TimerId pull_timer_ = 0;
  transport::EventLoop::TimerId return_timer_ = 0;
  transport::EventLoop::TimerId page_timer_ = 0;  // PullNextPage
  transport::EventLoop::TimerId expiry_timer_ = 0;  // ScheduleExpiry

  // Read by Status() from any thread.
  mutable absl::Mutex mu_;
  std::string distributor_ ABSL_GUARDED_BY(mu_);
  std::set<file_cache::CacheKey> answered_ ABSL_GUARDED_BY(mu_);
  bool loop_gone_ ABSL_GUARDED_BY(mu_) = false;  // ~Agent reset loop_
  std::atomic<bool> connected_{false};
  std::atomic<bool> stale_{false};
  std::atomic<int64_t> distributor_revision_{0};

  metrics::Gauge* connected_gauge_;
  metrics::Gauge* stale_gauge_;
  metrics::Gauge* revision_gauge_;
  metrics::Counter* switches_;
  metrics::Counter* reconnect_attempts_;
  metrics::Counter* probes_returned_;
  metrics::Counter* probes_not_back_;
  metrics::Counter* page_pulls_;
  metrics::Registry* registry_;
};

}  // namespace agent
}  // namespace kess
