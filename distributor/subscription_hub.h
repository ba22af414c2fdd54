// SubscriptionHub: which agent connection wants which keys, the answers to
// kess.Subscribe / kess.Pull / kess.Unsubscribe, and the fan-out of every
// applied change to exactly the subscribers of its key.
//
// Answers carry only what is newer than the agent's revision of each key
// (model/protocol/README.md; invariant 4 of docs/design.md). A key the distributor does not know is
// answered absent at revision 0 (or, if the agent holds a revision of it,
// absent at the data revision: it does not exist there); it stays
// subscribed and is pushed if it appears later. Invalid names are listed
// in `rejected` with the reason; the other keys of the request stand.
//
// Namespaces: a NAMESPACE key subscribes every config key of the namespace,
// also keys created later. Its answer carries every key of the namespace
// newer than the revision the agent lists for it in Known.held (not listed:
// 0), and a tombstone at the data revision for a listed live key the
// distributor does not hold (deleted while it was not watching); a key the
// agent does not hold gets no tombstone. Every later change of a config key
// of the namespace is pushed, once per connection even when the key is also
// subscribed on its own. A namespace counts as one key towards
// max_keys_per_connection.
//
// Fan-out cost: a change is serialized once per key and group of
// connections that get the same changes (one encoded frame shared by all of
// them, transport::Server::PushMany), never per subscriber; the common case
// of one change builds one list of connections and no per-connection state,
// and a gray release's selector is looked up once per change, not per
// connection.
//
// Paging: an answer (response + follow-up pushes) and one fan-out batch per
// connection stay within budget_bytes; what is left out is counted and
// announced in the last frame (SubscribeResponse.deferred, or
// UpdatePush.deferred on the batch's last push) so the agent pulls the next
// page at once instead of waiting for its periodic pull.
//
// Auth: with a non-empty auth_token, a connection gets nothing before a
// kess.Subscribe carrying that token (PERMISSION_DENIED, counted as
// rejected{reason="auth"}); with an empty one every connection is trusted
// (development mode; the daemon warns loudly). Until then the token is
// checked before a request's keys are parsed (a kess.Subscribe's top-level
// fields are walked, its keys skipped; a kess.Pull is refused unparsed), so
// a frame of tens of thousands of empty keys without the token costs a
// walk over its bytes, not an allocation per key.
//
// Route deltas: a connection whose kess.Subscribe set route_deltas gets a
// route table as a delta when its Item has one from the revision the agent
// holds (answers: the agent's Known revision; pushes: the version before,
// which a subscriber that got every push holds), else whole
// (route_deltas.h). Others always get tables whole.
//
// Race-free with the follower: a subscribe registers its keys first and
// reads the DataSet after; the follower updates the DataSet first and looks
// subscribers up after. Either the subscribe sees the new version or the
// fan-out sees the subscriber (or both: the agent drops the older copy by
// revision), so no change is lost between them (invariant 6).
//
// Thread-safety: all methods are thread-safe. Subscribe/Pull/Unsubscribe
// run on transport loop threads and only take a short lock (index updates,
// no I/O); OnChanges runs on the follower thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "model/protocol/distribution.pb.h"
#include "common/status.h"
#include "distributor/data_set.h"
#include "distributor/distributor_metrics.h"
#include "distributor/zk_follower.h"

namespace kess {
namespace distributor {

inline constexpr char kSubscribeMethod[] = "kess.Subscribe";
inline constexpr char kPullMethod[] = "kess.Pull";
inline constexpr char kUnsubscribeMethod[] = "kess.Unsubscribe";
inline constexpr char kUpdateMethod[] = "kess.Update";

// Where kess.Update pushes go (the transport server in the daemon).
class Pusher {
 public:
  virtual ~Pusher() = default;
  // One kess.Update frame with `payload` to each of `connections`.
  // `on_written`, if set, runs once (on any thread) when every one of them
  // was handed to its connection (transport::Server::PushMany).
  virtual void Push(const std::vector<uint64_t>& connections,
                    const std::string& payload,
                    std::function<void()> on_written) = 0;
};

// One fan-out (one OnChanges call that pushed something): what it sent and
// when. Times are CLOCK_MONOTONIC nanoseconds (std::chrono::steady_clock),
// comparable with other processes on the host (bench/fanout_bench).
struct FanoutRecord {
  int64_t revision = 0;
  size_t changes = 0;      // items applied in the batch
  size_t deliveries = 0;   // frames pushed (connections x payloads)
  size_t bytes = 0;        // their payload bytes
  int64_t started_ns = 0;  // OnChanges was called (data already applied)
  // The last frame was handed to its connection (0: not yet).
  int64_t written_ns = 0;
};

struct HubOptions {
  std::string auth_token;  // empty: everyone is trusted
  // Largest payload of one frame (the transport's max frame minus room for
  // the envelope).
  size_t max_payload_bytes = 16 * 1024 * 1024;
  // Bytes of one answer (response + follow-up pushes), and of one fan-out
  // batch per connection; the rest waits for the agent's next pull.
  size_t budget_bytes = 16 * 1024 * 1024;
  size_t max_keys_per_connection = 100000;
  // Send route deltas to connections that ask for them (route_deltas.h);
  // false: every table whole.
  bool route_deltas = true;
};

// The answer to one request: the RESPONSE payload (or an error status),
// then kess.Update payloads to push to the same connection right after it.
struct Answer {
  absl::StatusOr<std::string> response;
  std::vector<std::string> followups;
};

class SubscriptionHub : public ChangeListener {
 public:
  // `data`, `pusher` and `metrics` must outlive the hub. `stale` says
  // whether the data may be old (the follower's flag).
  SubscriptionHub(const DataSet* data, std::function<bool()> stale,
                  Pusher* pusher, HubOptions options,
                  DistributorMetrics* metrics);

  Answer Subscribe(uint64_t connection, const std::string& payload);
  Answer Pull(uint64_t connection, const std::string& payload);
  // The same for a request already parsed (read_guard.h parses each one to
  // decide on its keys; this saves the second parse). Subscribe's token
  // is checked here as in Subscribe; the caller must have checked it
  // before parsing a request of a connection that has not authenticated.
  Answer SubscribeParsed(uint64_t connection,
                         const protocol::SubscribeRequest& request);
  Answer PullParsed(uint64_t connection, const protocol::PullRequest& request);
  absl::StatusOr<std::string> Unsubscribe(uint64_t connection,
                                          const std::string& payload);
  // Forgets the connection.
  // True once `connection` subscribed with the right token (always, when
  // no token is configured). Thread-safe.
  bool Authenticated(uint64_t connection) const;
  void Disconnected(uint64_t connection);

  void OnChanges(const std::vector<ItemPtr>& changes,
                 int64_t revision) override;

  // The most recent fan-out whose frames were all handed to their
  // connections (zeros before the first).
  FanoutRecord last_fanout() const;

  size_t subscribed_connections() const;
  size_t subscribers(const std::string& key) const;
  // Connections subscribed to namespace `ns` as a whole.
  size_t namespace_subscribers(const std::string& ns) const;

 private:
  struct Wanted {
    std::string key;
    int64_t have = 0;
  };
  struct Held {
    int64_t revision = 0;
    bool absent = false;
  };
  struct WantedNamespace {
    std::string ns;
    // Config key ("c/<ns>/<k>") -> what the agent holds.
    absl::flat_hash_map<std::string, Held> held;
  };
  struct Connection {
    bool authenticated = false;
    std::string host_id;  // from kess.Subscribe; selects gray versions
    bool route_deltas = false;  // from kess.Subscribe (route_deltas.h)
    absl::flat_hash_set<std::string> keys;
    absl::flat_hash_set<std::string> namespaces;  // names, not "n/" keys
    size_t size() const { return keys.size() + namespaces.size(); }
  };

  // Appends to `updates` what the answer for `wanted` carries (see the
  // header), skipping keys in `answered` and adding the ones it covers.
  void AnswerNamespace(const WantedNamespace& wanted, const std::string& host,
                       int64_t revision,
                       absl::flat_hash_set<std::string>* answered,
                       std::vector<ItemPtr>* updates) const;

  // Validates `known`, subscribes the valid keys (up to the per-connection
  // limit) and answers them. REQUIRES: the connection may subscribe.
  Answer SubscribeAndAnswer(
      uint64_t connection,
      const google::protobuf::RepeatedPtrField<protocol::Known>& known,
      bool authenticate, const std::string* host_id = nullptr);
  Answer Reject(const char* reason, absl::Status status);
  // Subscribe / Pull after parsing (and, for Pull, the auth check).
  Answer SubscribeChecked(uint64_t connection,
                          const protocol::SubscribeRequest& request);
  Answer PullChecked(uint64_t connection, const protocol::PullRequest& request);
  // PERMISSION_DENIED, counted as "auth", logged (every 20th).
  Answer RejectWrongToken(uint64_t connection, const std::string& host_id);
  // What `host` gets for config key `key` whose held item is `base`: the
  // gray item if a gray release is active for it (newer than `base`) and
  // selects the host, else `base`.
  ItemPtr Choose(const std::string& key, const ItemPtr& base,
                 const std::string& host) const;

  const DataSet* const data_;
  const std::function<bool()> stale_;
  Pusher* const pusher_;
  const HubOptions options_;
  DistributorMetrics* const metrics_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, Connection> connections_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, absl::flat_hash_set<uint64_t>> index_
      ABSL_GUARDED_BY(mu_);
  // Namespace -> connections subscribed to it as a whole.
  absl::flat_hash_map<std::string, absl::flat_hash_set<uint64_t>> ns_index_
      ABSL_GUARDED_BY(mu_);
  size_t subscribed_ ABSL_GUARDED_BY(mu_) = 0;

  mutable absl::Mutex fanout_mu_;
  FanoutRecord last_fanout_ ABSL_GUARDED_BY(fanout_mu_);
};

}  // namespace distributor
}  // namespace kess
