// ZkClient: ZkApi over libzookeeper_mt's synchronous API.
//
// Sessions. Create() connects and waits until the first session is
// established. Connection loss is handled by the library (it reconnects
// within the session; listeners see kConnectionLost / kReconnected). Session
// expiry is final for a handle: with `recreate_on_expiry` (the default) the
// client closes the dead handle and opens a new session on its callback
// thread, retrying with backoff until it succeeds or the client is
// destroyed, then delivers kNewSession with the next generation. Owners of
// ephemerals and watches re-create them from that event (EphemeralNode does
// it for ephemerals). While there is no live session, calls fail fast with a
// Status for which IsSessionExpired() is true.
//
// Callbacks. Watch callbacks and session listeners run on one callback
// thread owned by the client, in the order the events arrived, never on the
// library's threads; they may call the client's methods. A callback that
// blocks delays every later callback (and session re-creation).
//
// Thread-safety: all methods are thread-safe. The destructor must not run on
// the callback thread (i.e. inside a callback).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "zk_schema/session_listeners.h"
#include "zk_schema/zk_api.h"

typedef struct _zhandle zhandle_t;

namespace kess {
namespace zk {

struct ZkClientOptions {
  // "host:port,host:port[/chroot]"
  std::string connect_string;
  // Requested session timeout; the server clamps it to [2, 20] * tickTime.
  absl::Duration session_timeout = absl::Seconds(10);
  // How long Create()/Reconnect() wait for a session to be established.
  absl::Duration connect_timeout = absl::Seconds(15);
  // Added to every session with zoo_add_auth("digest", ...).
  std::vector<DigestCredential> credentials;
  // ACL of creates that pass none. Empty = OpenAcl().
  AclList default_acl;
  bool recreate_on_expiry = true;
  // Backoff between failed session re-creation attempts (doubles, jitter).
  absl::Duration min_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  // The C client re-resolves the connect string's host names on every wake
  // of its I/O thread by default (getaddrinfo, a netlink round trip each
  // time): that is on the path of every request. Routine re-resolution
  // happens at most this often instead (zoo_set_servers_resolution_delay);
  // a lost connection still re-resolves at once. Zero = the library's
  // default (every wake).
  absl::Duration resolution_delay = absl::Seconds(10);
};

// A session's identity, e.g. to force its expiry in a test by opening and
// closing a second handle with it.
struct SessionCredentials {
  int64_t session_id = 0;
  std::string password;  // 16 bytes
};

class ZkClient : public ZkApi {
 public:
  // Connects and waits up to options.connect_timeout for a session.
  // InvalidArgument for a bad connect string or credential; Unavailable if
  // no session could be established in time.
  static absl::StatusOr<std::unique_ptr<ZkClient>> Create(
      ZkClientOptions options);
  ~ZkClient() override;

  ZkClient(const ZkClient&) = delete;
  ZkClient& operator=(const ZkClient&) = delete;

  absl::StatusOr<GetResult> Get(const std::string& path,
                                WatchCallback watch = nullptr) override;
  // Over zoo_aget/zoo_awget: every request is queued before any answer is
  // awaited.
  std::vector<absl::StatusOr<GetResult>> GetMany(
      std::vector<GetRequest> requests) override;
  absl::StatusOr<std::optional<Stat>> Exists(
      const std::string& path, WatchCallback watch = nullptr) override;
  absl::StatusOr<ChildrenResult> GetChildren(
      const std::string& path, WatchCallback watch = nullptr) override;
  absl::StatusOr<std::string> Create(const std::string& path,
                                     absl::string_view data,
                                     CreateMode mode = CreateMode::kPersistent,
                                     const AclList& acl = {}) override;
  absl::StatusOr<Stat> Set(const std::string& path, absl::string_view data,
                           int version = kAnyVersion) override;
  absl::Status Delete(const std::string& path,
                      int version = kAnyVersion) override;
  absl::StatusOr<AclList> GetAcl(const std::string& path) override;
  absl::Status SetAcl(const std::string& path, const AclList& acl) override;
  absl::StatusOr<std::vector<OpResult>> Multi(const MultiOps& ops) override;

  int64_t AddSessionListener(SessionListener listener) override;
  void RemoveSessionListener(int64_t id) override;
  int64_t generation() const override;
  int64_t session_id() const override;

  // Closes the current session (if any) and establishes a new one now (one
  // attempt, up to connect_timeout); listeners get kNewSession. For owners
  // that run with recreate_on_expiry = false, or to drop a session on
  // purpose. Ephemerals of the old session are deleted by the server.
  absl::Status Reconnect();

  // The current session's credentials; FailedPrecondition without one.
  absl::StatusOr<SessionCredentials> session_credentials() const;

  const ZkClientOptions& options() const { return options_; }

 private:
  struct HandleContext;
  struct WatchEntry {
    WatchCallback callback;
    int64_t generation;
  };

  explicit ZkClient(ZkClientOptions options);

  // Opens a handle for a new session of generation `generation` and waits
  // until it is established and authenticated.
  absl::StatusOr<zhandle_t*> OpenHandle(HandleContext* ctx);
  // Closes the current handle (if any) and opens a new session. With
  // `retry_forever`, retries with backoff until success or shutdown.
  // Does nothing if `only_if_generation` >= 0 and is no longer current
  // (someone else already replaced that session).
  absl::Status RecreateSession(bool retry_forever, int64_t only_if_generation);
  void CloseCurrentHandle();
  // Queues RecreateSession(true, expired_generation) on the callback thread.
  void PostRecreate(int64_t expired_generation);

  // Registers a watch for the current generation; its id is the watcher
  // context handed to the library.
  uint64_t RegisterWatch(WatchCallback callback);
  void DropWatch(uint64_t id);

  void Post(std::function<void()> task);
  void PostSessionEvent(SessionEvent::Type type, int64_t generation);
  void DispatchLoop();

  static void SessionWatcher(zhandle_t* zh, int type, int state,
                             const char* path, void* context);
  static void PathWatcher(zhandle_t* zh, int type, int state, const char* path,
                          void* context);

  const ZkClientOptions options_;
  const AclList default_acl_;

  // Readers use handle_; writers swap it. Lock order: reconnect_mu_ ->
  // handle_mu_ -> state_mu_ -> (watch_mu_ | queue_mu_).
  absl::Mutex reconnect_mu_;
  mutable absl::Mutex handle_mu_;
  zhandle_t* handle_ ABSL_GUARDED_BY(handle_mu_) = nullptr;
  std::unique_ptr<HandleContext> handle_ctx_ ABSL_GUARDED_BY(handle_mu_);

  mutable absl::Mutex state_mu_;
  int64_t generation_ ABSL_GUARDED_BY(state_mu_) = 0;
  int64_t session_id_ ABSL_GUARDED_BY(state_mu_) = 0;
  bool shutting_down_ ABSL_GUARDED_BY(state_mu_) = false;

  absl::Mutex watch_mu_;
  uint64_t next_watch_id_ ABSL_GUARDED_BY(watch_mu_) = 1;
  absl::flat_hash_map<uint64_t, WatchEntry> watches_ ABSL_GUARDED_BY(watch_mu_);

  SessionListenerSet listeners_;

  // Held by the callback thread while it runs a task, so that
  // RemoveSessionListener can wait for a running listener to return.
  absl::Mutex callback_mu_;
  absl::Mutex queue_mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool stop_dispatch_ ABSL_GUARDED_BY(queue_mu_) = false;
  std::thread dispatcher_;
  std::thread::id dispatcher_id_;
};

}  // namespace zk
}  // namespace kess
