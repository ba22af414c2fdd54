// An in-memory ZooKeeper for unit tests, as leveldb's in-memory Env is for
// files. FakeZkServer holds one ensemble's znode tree; FakeZkClient is a
// ZkApi with its own session on it. Clients of one server share the tree
// (two mandators in a leader election, a writer and a reader); several
// servers are several DCs.
//
//   FakeZkServer zk;
//   FakeZkClient writer(&zk), reader(&zk);
//   ASSERT_TRUE(writer.Create("/x", "1").ok());
//   reader.Get("/x", [&](const WatchEvent& e) { fired = true; });
//   ASSERT_TRUE(writer.Set("/x", "2").ok());
//   reader.DrainCallbacks();  // the watch has run: no sleep needed
//   EXPECT_TRUE(fired);
//
// Behaves as ZkClient over a real ZooKeeper 3.8 does (zk_contract_test runs
// the same cases against both):
//  - Nodes, Stat, sequential names, ephemerals, ACLs and multi as in
//    fake_zk_tree.h; errors are the Status ZkClient returns for the same
//    ZooKeeper return code, made by the same functions (zk_errors.h), with
//    the same contexts ("set /a: version mismatch ... (ZK -103)"); a failed
//    multi carries MultiFailedOp().
//  - Writes are size-checked first with ZkClient's checks (zk_api.h), then
//    paths are checked as the C client checks them (IsValidZkPath:
//    InvalidArgument, ZBADARGUMENTS; in a multi, as ZkClient does it, naming
//    the op).
//  - Watches are one-shot and fire with ZooKeeper's events: a data watch
//    (Get, or Exists of an existing node) on set and delete, an exists
//    watch of a missing node on create, a child watch on a child's create
//    or delete and on the node's own delete. Get and GetChildren of a
//    missing node set no watch.
//  - Watch callbacks and session listeners run on the client's callback
//    thread (callback_thread.h), in order, never while the fake holds its
//    lock; they may call the client. The events of a write are queued
//    before the write returns, so DrainCallbacks() after it sees them.
//  - Sessions: generation 1 at construction, session events and re-creation
//    after expiry exactly as ZkClient (zk_client.h): kExpired (calls fail
//    with IsSessionExpired), then, with recreate_on_expiry, a new session
//    (new session_id, generation + 1) and kNewSession. The old session's
//    ephemerals are deleted (firing other clients' watches) and its watches
//    never fire.
//
// Test controls (not in ZkApi): ExpireSession(), DropConnection() /
// RestoreConnection(), faults (FaultSpec), and server-wide Stop() / Start().
// While a client is disconnected its calls fail with connection loss
// (IsConnectionLoss), its session, ephemerals and watches survive, and
// events for its watches wait until it reconnects (after kReconnected), as
// the C client re-arms them then. A session expired while disconnected is
// found expired on reconnection (kExpired, not kReconnected), as in
// ZooKeeper.
//
// Not modeled: session timeouts (a disconnected session lives until
// ExpireSession()), jute.maxbuffer beyond the request size check (large
// responses), ACL schemes other than world/digest/auth (ip ACLs match no
// one; no super user), the ACL version (aversion; SetAcl takes any),
// sync(), containers/TTL nodes,
// persistent watches, chroot; the event type a watch gets after a
// reconnection is that of the first change while disconnected (ZooKeeper
// compares with the state at reconnection); a client destroyed while
// disconnected still closes its session at once. Timing: nothing is ever
// slow unless a fault says so.
//
// Thread-safe: every method of both classes may be called from any thread,
// except that a client must not be destroyed, nor DrainCallbacks() called,
// from its own callbacks. Destroy every client before its server.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "zk_schema/session_listeners.h"
#include "zk_schema/testing/callback_thread.h"
#include "zk_schema/testing/fake_zk_tree.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace zk {
namespace testing {

class FakeZkClient;

// A fault to inject at an exact point: the `skip`+1-th call that matches
// `ops` and `path_prefix` (and the next count-1 matching calls) fail as
// `kind` says. Calls that fail before reaching the server (size check,
// invalid path, no session, disconnected) neither match nor count.
//
//   client.InjectFault({.ops = FaultSpec::kSet,
//                       .path_prefix = "/kess/revision",
//                       .kind = FaultSpec::kConnectionLossAfterApply});
struct FaultSpec {
  // Calls (a bit mask). A Multi matches kMulti when any of its ops'
  // paths has the prefix; each request of a GetMany is a kGet.
  enum Op : uint32_t {
    kGet = 1 << 0,
    kExists = 1 << 1,
    kGetChildren = 1 << 2,
    kCreate = 1 << 3,
    kSet = 1 << 4,
    kDelete = 1 << 5,
    kMulti = 1 << 6,
    // ACL calls, not part of kReads, kWrites or kAnyOp.
    kGetAcl = 1 << 7,
    kSetAcl = 1 << 8,
    kReads = kGet | kExists | kGetChildren,
    kWrites = kCreate | kSet | kDelete | kMulti,
    kAnyOp = kReads | kWrites,
  };
  enum Kind {
    // The request is lost on the way: nothing is applied; the call fails
    // with ZCONNECTIONLOSS. The connection drops and comes back at once
    // (listeners see kConnectionLost, kReconnected; the session lives).
    // In a GetMany, this request and every later one fail.
    kConnectionLossBeforeApply,
    // The answer is lost: the server applies the call (its watches fire)
    // but the caller gets ZCONNECTIONLOSS, the classic ambiguous write.
    // Connection drops and comes back as above; the caller's own watch
    // events arrive after kReconnected. (A read whose answer is lost
    // leaves nothing behind, not even its watch: for reads this is
    // kConnectionLossBeforeApply.)
    kConnectionLossAfterApply,
    // Nothing is applied; the call fails with ZOPERATIONTIMEOUT (also
    // IsConnectionLoss). No session event.
    kOperationTimeout,
    // Nothing is applied; the call fails with `error_code` (a ZOO_ return
    // code, e.g. ZTHROTTLEDOP).
    kError,
    // The call waits `delay` (without holding any lock of the fake), then
    // runs normally.
    kDelay,
  };

  uint32_t ops = kAnyOp;
  std::string path_prefix;  // "" = any path
  Kind kind = kConnectionLossBeforeApply;
  absl::Duration delay = absl::ZeroDuration();  // kDelay
  int error_code = 0;                           // kError
  int skip = 0;   // matching calls to let through first
  int count = 1;  // matching calls to fail; -1 = every one from then on
};

// One ensemble: the tree, the sessions on it, their watches.
class FakeZkServer {
 public:
  FakeZkServer();
  // REQUIRES: every FakeZkClient of this server is destroyed.
  ~FakeZkServer();

  FakeZkServer(const FakeZkServer&) = delete;
  FakeZkServer& operator=(const FakeZkServer&) = delete;

  // The whole ensemble goes down: every client loses its connection
  // (kConnectionLost) and its calls fail with connection loss; sessions
  // live on. Start() brings it back: kReconnected (or, for sessions expired
  // meanwhile, kExpired and a new session). Idempotent.
  void Stop();
  void Start();
  bool running() const;

  // Faults for the calls of every client (FakeZkClient::InjectFault: of
  // one client only). A client's own faults are tried first.
  void InjectFault(FaultSpec spec);
  void ClearFaults();  // server-wide ones
  // Faults (server-wide and of every client) that have not fired in full.
  int PendingFaults() const;

  // DrainCallbacks() of every client, until no callback of any client is
  // left (a callback of one may cause events for another). REQUIRES: no
  // client is created or destroyed meanwhile; not called from a callback.
  void DrainCallbacks();

  // Inspection, bypassing sessions, ACLs and faults.
  int64_t last_zxid() const;
  std::optional<AclList> GetAcl(const std::string& path) const;
  std::string Dump() const;  // FakeZkTree::Dump
  // Watches armed, over all clients (one-shot ones that have not fired).
  int watch_count() const;

 private:
  friend class FakeZkClient;
  struct Conn;
  struct Watch {
    Conn* conn;
    int64_t session_id;
    WatchCallback callback;
  };
  // A client as the server sees it: its session and connection.
  struct Conn {
    FakeZkClient* client;
    Caller caller;  // caller.session_id: 0 while there is no session
    int64_t generation = 0;
    bool link_up = true;        // DropConnection() / RestoreConnection()
    bool expired = false;       // the server expired the session...
    bool told_expired = false;  // ...and the client knows (kExpired queued)
    bool want_session = false;  // a new session is due once connected
    // Watch callbacks triggered while disconnected: queued on reconnection.
    std::vector<std::function<void()>> held;
  };
  struct Fault {
    FaultSpec spec;
    const FakeZkClient* owner;  // nullptr: every client
    int seen = 0;               // matching calls so far
    int fired = 0;
  };

  // One call of `client`: `op` (a FaultSpec::Op) on `paths` (each with
  // whether it is a sequential create), named `context` in errors. Checks
  // the session and the paths, applies faults, and runs `apply` under the
  // lock; returns its Status.
  struct PathArg {
    std::string path;
    bool sequential = false;
  };
  absl::Status Call(const FakeZkClient* client, FaultSpec::Op op,
                    const std::vector<PathArg>& paths,
                    const std::string& context,
                    const std::function<absl::Status(Conn&)>& apply);
  absl::Status CheckCallLocked(const Conn& c, const std::vector<PathArg>& paths,
                               const std::string& context) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::optional<FaultSpec> TakeFaultLocked(const Conn& c, FaultSpec::Op op,
                                           const std::vector<PathArg>& paths)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Applies `ops` to the tree (FakeZkTree::Apply) and fires their watches.
  int ApplyLocked(Conn& c, const MultiOps& ops, const AclList& default_acl,
                  std::vector<OpResult>* results, std::vector<int>* op_rcs)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Client lifecycle and session control (FakeZkClient's methods).
  void Register(FakeZkClient* client, std::vector<std::string> digest_ids);
  void Unregister(FakeZkClient* client);
  Conn& ConnOf(const FakeZkClient* client) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  const Conn& ConnOf(const FakeZkClient* client) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Reachable(const Conn& c) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool ConnectedLocked(const Conn& c) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OpenSessionLocked(Conn& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CloseSessionLocked(Conn& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ExpireLocked(Conn& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TellExpiredLocked(Conn& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Re-creates the session of generation `expired_generation` (on the
  // client's callback thread, as ZkClient does).
  void RecreateSession(const FakeZkClient* client, int64_t expired_generation);
  absl::Status Reconnect(const FakeZkClient* client);
  void Expire(const FakeZkClient* client);
  // The connection of `c` went down / came up.
  void LostLocked(Conn& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FoundLocked(Conn& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetLinkUp(const FakeZkClient* client, bool up);
  void PostSessionEventLocked(Conn& c, SessionEvent::Type type)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Watches.
  void AddWatchLocked(std::map<std::string, std::vector<Watch>>* registry,
                      Conn& c, const std::string& path, WatchCallback callback)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FireLocked(const std::vector<TreeEvent>& events)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TriggerLocked(std::map<std::string, std::vector<Watch>>* registry,
                     const std::string& path, const WatchEvent& event)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DropWatchesLocked(int64_t session_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  void AddFault(FaultSpec spec, const FakeZkClient* owner);
  void ClearFaults(const FakeZkClient* owner);

  const int64_t session_id_base_;
  mutable absl::Mutex mu_;
  FakeZkTree tree_ ABSL_GUARDED_BY(mu_);
  bool running_ ABSL_GUARDED_BY(mu_) = true;
  int64_t next_session_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<const FakeZkClient*, std::unique_ptr<Conn>> conns_
      ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<Watch>> data_watches_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<Watch>> child_watches_ ABSL_GUARDED_BY(mu_);
  std::vector<Fault> faults_ ABSL_GUARDED_BY(mu_);
};

struct FakeZkClientOptions {
  // Digest users the session authenticates as (ZkClientOptions::credentials).
  std::vector<DigestCredential> credentials;
  // ACL of creates that pass none. Empty = OpenAcl().
  AclList default_acl;
  // As ZkClientOptions::recreate_on_expiry.
  bool recreate_on_expiry = true;
};

// A ZkApi with its own session on a FakeZkServer.
class FakeZkClient : public ZkApi {
 public:
  // Connects with a first session (generation 1).
  // REQUIRES: `server` is running and outlives the client; every credential
  // has a non-empty user without ':'.
  explicit FakeZkClient(FakeZkServer* server, FakeZkClientOptions options = {});
  // Closes the session: its ephemerals are deleted. Pending callbacks are
  // dropped. REQUIRES: not on this client's callback thread.
  ~FakeZkClient() override;

  FakeZkClient(const FakeZkClient&) = delete;
  FakeZkClient& operator=(const FakeZkClient&) = delete;

  absl::StatusOr<GetResult> Get(const std::string& path,
                                WatchCallback watch = nullptr) override;
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
  absl::StatusOr<std::vector<OpResult>> Multi(const MultiOps& ops) override;
  absl::StatusOr<AclList> GetAcl(const std::string& path) override;
  absl::Status SetAcl(const std::string& path, const AclList& acl) override;

  int64_t AddSessionListener(SessionListener listener) override;
  void RemoveSessionListener(int64_t id) override;
  int64_t generation() const override;
  int64_t session_id() const override;

  // As ZkClient::Reconnect(): closes the current session (its ephemerals
  // are deleted) and starts a new one now (kNewSession, generation + 1).
  // Unavailable, leaving no session, if the client is disconnected.
  absl::Status Reconnect();

  // ---- Test controls ----

  // The server expires this client's session now (see the file comment).
  // If the client is disconnected it learns of it on reconnection.
  void ExpireSession();
  // The network between this client and the server fails / heals.
  // Idempotent.
  void DropConnection();
  void RestoreConnection();
  // Connected, with a live session.
  bool connected() const;

  // Faults for this client's calls only (see FaultSpec).
  void InjectFault(FaultSpec spec);
  void ClearFaults();

  // Waits until every callback queued for this client so far, and every
  // one those queue, has run. REQUIRES: not called from a callback.
  void DrainCallbacks();

 private:
  friend class FakeZkServer;

  // The session listeners, on the callback thread.
  void DeliverSessionEvent(const SessionEvent& event);

  FakeZkServer* const server_;
  const AclList default_acl_;
  const bool recreate_on_expiry_;
  SessionListenerSet listeners_;
  CallbackThread callbacks_;
};

}  // namespace testing
}  // namespace zk
}  // namespace kess
