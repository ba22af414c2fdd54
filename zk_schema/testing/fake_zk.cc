#include "zk_schema/testing/fake_zk.h"

#include <zookeeper/zookeeper.h>

#include <algorithm>
#include <atomic>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "zk_schema/zk_errors.h"

namespace kess {
namespace zk {
namespace testing {

namespace {

// Session ids unique over every server of the process, shaped like
// ZooKeeper's (server id in the high bits).
int64_t NextSessionIdBase() {
  static std::atomic<int64_t> servers{0};
  return (0x100 + servers.fetch_add(1)) * (int64_t{1} << 40);
}

template <typename T, typename Pred>
void EraseIf(std::vector<T>* v, Pred pred) {
  v->erase(std::remove_if(v->begin(), v->end(), pred), v->end());
}

}  // namespace

// ---- FakeZkServer ----------------------------------------------------------

FakeZkServer::FakeZkServer() : session_id_base_(NextSessionIdBase()) {}

FakeZkServer::~FakeZkServer() {
  absl::MutexLock lock(&mu_);
  CHECK(conns_.empty()) << "destroy every FakeZkClient before its server";
}

void FakeZkServer::Stop() {
  absl::MutexLock lock(&mu_);
  if (!running_) return;
  running_ = false;
  for (auto& [client, c] : conns_) {
    if (c->link_up) LostLocked(*c);
  }
}

void FakeZkServer::Start() {
  absl::MutexLock lock(&mu_);
  if (running_) return;
  running_ = true;
  for (auto& [client, c] : conns_) {
    if (c->link_up) FoundLocked(*c);
  }
}

bool FakeZkServer::running() const {
  absl::MutexLock lock(&mu_);
  return running_;
}

void FakeZkServer::InjectFault(FaultSpec spec) {
  AddFault(std::move(spec), nullptr);
}

void FakeZkServer::ClearFaults() { ClearFaults(nullptr); }

void FakeZkServer::AddFault(FaultSpec spec, const FakeZkClient* owner) {
  absl::MutexLock lock(&mu_);
  faults_.push_back(Fault{std::move(spec), owner});
}

void FakeZkServer::ClearFaults(const FakeZkClient* owner) {
  absl::MutexLock lock(&mu_);
  EraseIf(&faults_, [owner](const Fault& f) { return f.owner == owner; });
}

int FakeZkServer::PendingFaults() const {
  absl::MutexLock lock(&mu_);
  int pending = 0;
  for (const Fault& f : faults_) {
    if (f.spec.count < 0 || f.fired < f.spec.count) ++pending;
  }
  return pending;
}

void FakeZkServer::DrainCallbacks() {
  // Until a pass over every client in which no callback ran: a callback
  // that ran may have queued another, on any client.
  for (;;) {
    std::vector<CallbackThread*> threads;
    {
      absl::MutexLock lock(&mu_);
      for (auto& [client, c] : conns_) threads.push_back(&c->client->callbacks_);
    }
    uint64_t before = 0, after = 0;
    for (CallbackThread* t : threads) before += t->completed();
    for (CallbackThread* t : threads) t->Drain();
    for (CallbackThread* t : threads) after += t->completed();
    if (before == after) return;
  }
}

int64_t FakeZkServer::last_zxid() const {
  absl::MutexLock lock(&mu_);
  return tree_.last_zxid();
}

std::optional<AclList> FakeZkServer::GetAcl(const std::string& path) const {
  absl::MutexLock lock(&mu_);
  return tree_.GetAcl(path);
}

std::string FakeZkServer::Dump() const {
  absl::MutexLock lock(&mu_);
  return tree_.Dump();
}

int FakeZkServer::watch_count() const {
  absl::MutexLock lock(&mu_);
  int count = 0;
  for (const auto* registry : {&data_watches_, &child_watches_}) {
    for (const auto& [path, watches] : *registry) {
      count += static_cast<int>(watches.size());
    }
  }
  return count;
}

// ---- Calls -----------------------------------------------------------------

absl::Status FakeZkServer::Call(
    const FakeZkClient* client, FaultSpec::Op op,
    const std::vector<PathArg>& paths, const std::string& context,
    const std::function<absl::Status(Conn&)>& apply) {
  absl::Duration delay;
  {
    absl::MutexLock lock(&mu_);
    Conn& c = ConnOf(client);
    KESS_RETURN_IF_ERROR(CheckCallLocked(c, paths, context));
    std::optional<FaultSpec> fault = TakeFaultLocked(c, op, paths);
    if (!fault) return apply(c);
    FaultSpec::Kind kind = fault->kind;
    // A read whose answer is lost leaves nothing behind (its watch is not
    // armed): the same as a lost request.
    if (kind == FaultSpec::kConnectionLossAfterApply &&
        (op & FaultSpec::kReads) != 0) {
      kind = FaultSpec::kConnectionLossBeforeApply;
    }
    switch (kind) {
      case FaultSpec::kConnectionLossBeforeApply:
      case FaultSpec::kConnectionLossAfterApply:
        // The connection drops and the library reconnects at once.
        c.link_up = false;
        LostLocked(c);
        if (kind == FaultSpec::kConnectionLossAfterApply) {
          apply(c).IgnoreError();
        }
        c.link_up = true;
        FoundLocked(c);
        return ZkStatus(ZCONNECTIONLOSS, context);
      case FaultSpec::kOperationTimeout:
        return ZkStatus(ZOPERATIONTIMEOUT, context);
      case FaultSpec::kError:
        CHECK_NE(fault->error_code, ZOK) << "FaultSpec::kError needs a code";
        return ZkStatus(fault->error_code, context);
      case FaultSpec::kDelay:
        delay = fault->delay;
        break;
    }
  }
  absl::SleepFor(delay);
  absl::MutexLock lock(&mu_);
  Conn& c = ConnOf(client);
  KESS_RETURN_IF_ERROR(CheckCallLocked(c, paths, context));
  return apply(c);
}

absl::Status FakeZkServer::CheckCallLocked(const Conn& c,
                                           const std::vector<PathArg>& paths,
                                           const std::string& context) const {
  // In ZkClient's order: no handle, then the C client's checks (path,
  // expired handle), then the connection.
  if (c.caller.session_id == 0) return NoSessionStatus(context);
  for (const PathArg& p : paths) {
    if (!IsValidZkPath(p.path, p.sequential)) {
      return ZkStatus(ZBADARGUMENTS, context);
    }
  }
  if (c.told_expired) return ZkStatus(ZINVALIDSTATE, context);
  if (!Reachable(c)) return ZkStatus(ZCONNECTIONLOSS, context);
  return absl::OkStatus();
}

std::optional<FaultSpec> FakeZkServer::TakeFaultLocked(
    const Conn& c, FaultSpec::Op op, const std::vector<PathArg>& paths) {
  auto matches = [&](const Fault& f) {
    if ((f.spec.ops & op) == 0) return false;
    if (f.spec.count >= 0 && f.fired >= f.spec.count) return false;
    if (f.spec.path_prefix.empty()) return true;
    for (const PathArg& p : paths) {
      if (absl::StartsWith(p.path, f.spec.path_prefix)) return true;
    }
    return false;
  };
  // The client's own faults first, then the server-wide ones.
  for (const bool own : {true, false}) {
    for (Fault& f : faults_) {
      if (own ? f.owner != c.client : f.owner != nullptr) continue;
      if (!matches(f)) continue;
      if (f.seen++ < f.spec.skip) continue;
      ++f.fired;
      return f.spec;
    }
  }
  return std::nullopt;
}

int FakeZkServer::ApplyLocked(Conn& c, const MultiOps& ops,
                              const AclList& default_acl,
                              std::vector<OpResult>* results,
                              std::vector<int>* op_rcs) {
  std::vector<TreeEvent> events;
  const int rc =
      tree_.Apply(ops, default_acl, c.caller, results, op_rcs, &events);
  FireLocked(events);
  return rc;
}

// ---- Sessions and connections ------------------------------------------------

void FakeZkServer::Register(FakeZkClient* client,
                            std::vector<std::string> digest_ids) {
  absl::MutexLock lock(&mu_);
  CHECK(running_) << "a FakeZkClient needs a running FakeZkServer";
  auto conn = std::make_unique<Conn>();
  conn->client = client;
  conn->caller.digest_ids = std::move(digest_ids);
  Conn& c = *conn;
  conns_[client] = std::move(conn);
  OpenSessionLocked(c);
}

void FakeZkServer::Unregister(FakeZkClient* client) {
  absl::MutexLock lock(&mu_);
  CloseSessionLocked(ConnOf(client));
  EraseIf(&faults_, [client](const Fault& f) { return f.owner == client; });
  conns_.erase(client);
}

FakeZkServer::Conn& FakeZkServer::ConnOf(const FakeZkClient* client) {
  auto it = conns_.find(client);
  CHECK(it != conns_.end()) << "unknown FakeZkClient";
  return *it->second;
}

const FakeZkServer::Conn& FakeZkServer::ConnOf(
    const FakeZkClient* client) const {
  auto it = conns_.find(client);
  CHECK(it != conns_.end()) << "unknown FakeZkClient";
  return *it->second;
}

bool FakeZkServer::Reachable(const Conn& c) const {
  return running_ && c.link_up;
}

void FakeZkServer::OpenSessionLocked(Conn& c) {
  tree_.OpenSession();
  c.caller.session_id = session_id_base_ + ++next_session_;
  c.generation += 1;
  c.expired = c.told_expired = c.want_session = false;
  c.held.clear();
  // As ZkClient: the first session is announced by the constructor
  // returning, every later one by kNewSession.
  if (c.generation > 1) PostSessionEventLocked(c, SessionEvent::kNewSession);
}

void FakeZkServer::CloseSessionLocked(Conn& c) {
  const int64_t session = c.caller.session_id;
  if (session == 0) return;
  if (!c.expired) {
    // Watches of a closed session never fire; its ephemerals go.
    DropWatchesLocked(session);
    std::vector<TreeEvent> events;
    tree_.CloseSession(session, &events);
    FireLocked(events);
  }
  c.caller.session_id = 0;
  c.expired = c.told_expired = false;
  c.held.clear();
}

void FakeZkServer::ExpireLocked(Conn& c) {
  const int64_t session = c.caller.session_id;
  if (session == 0 || c.expired) return;
  DropWatchesLocked(session);
  c.held.clear();
  c.expired = true;
  std::vector<TreeEvent> events;
  tree_.CloseSession(session, &events);
  FireLocked(events);
  // A disconnected client learns of it when it reconnects.
  if (Reachable(c)) TellExpiredLocked(c);
}

void FakeZkServer::TellExpiredLocked(Conn& c) {
  c.told_expired = true;
  PostSessionEventLocked(c, SessionEvent::kExpired);
  if (c.client->recreate_on_expiry_) {
    // On the callback thread, after the kExpired listeners, as ZkClient.
    FakeZkClient* client = c.client;
    const int64_t generation = c.generation;
    client->callbacks_.Post(
        [this, client, generation] { RecreateSession(client, generation); });
  }
}

void FakeZkServer::RecreateSession(const FakeZkClient* client,
                                   int64_t expired_generation) {
  absl::MutexLock lock(&mu_);
  auto it = conns_.find(client);
  if (it == conns_.end()) return;
  Conn& c = *it->second;
  if (c.generation != expired_generation) return;  // replaced meanwhile
  CloseSessionLocked(c);
  if (!Reachable(c)) {
    c.want_session = true;  // opened on reconnection
    return;
  }
  OpenSessionLocked(c);
}

absl::Status FakeZkServer::Reconnect(const FakeZkClient* client) {
  absl::MutexLock lock(&mu_);
  Conn& c = ConnOf(client);
  CloseSessionLocked(c);
  c.want_session = false;
  if (!Reachable(c)) {
    return absl::UnavailableError(
        "no ZooKeeper session: the fake server is stopped or the client's "
        "connection is dropped");
  }
  OpenSessionLocked(c);
  return absl::OkStatus();
}

void FakeZkServer::Expire(const FakeZkClient* client) {
  absl::MutexLock lock(&mu_);
  ExpireLocked(ConnOf(client));
}

void FakeZkServer::SetLinkUp(const FakeZkClient* client, bool up) {
  absl::MutexLock lock(&mu_);
  Conn& c = ConnOf(client);
  if (c.link_up == up) return;
  const bool was_reachable = Reachable(c);
  c.link_up = up;
  if (was_reachable && !Reachable(c)) LostLocked(c);
  if (!was_reachable && Reachable(c)) FoundLocked(c);
}

void FakeZkServer::LostLocked(Conn& c) {
  if (c.caller.session_id != 0 && !c.told_expired) {
    PostSessionEventLocked(c, SessionEvent::kConnectionLost);
  }
}

void FakeZkServer::FoundLocked(Conn& c) {
  if (c.caller.session_id == 0) {
    if (c.want_session) OpenSessionLocked(c);
    return;
  }
  if (c.told_expired) return;  // re-creation is queued
  if (c.expired) {
    TellExpiredLocked(c);
    return;
  }
  PostSessionEventLocked(c, SessionEvent::kReconnected);
  for (std::function<void()>& task : c.held) {
    c.client->callbacks_.Post(std::move(task));
  }
  c.held.clear();
}

bool FakeZkServer::ConnectedLocked(const Conn& c) const {
  return c.caller.session_id != 0 && !c.expired && Reachable(c);
}

void FakeZkServer::PostSessionEventLocked(Conn& c, SessionEvent::Type type) {
  FakeZkClient* client = c.client;
  const SessionEvent event{type, c.generation};
  client->callbacks_.Post(
      [client, event] { client->DeliverSessionEvent(event); });
}

// ---- Watches -----------------------------------------------------------------

void FakeZkServer::AddWatchLocked(
    std::map<std::string, std::vector<Watch>>* registry, Conn& c,
    const std::string& path, WatchCallback callback) {
  (*registry)[path].push_back(
      Watch{&c, c.caller.session_id, std::move(callback)});
}

void FakeZkServer::FireLocked(const std::vector<TreeEvent>& events) {
  // As DataTree: a node's data watches, then (on delete) its child
  // watches; the parent's child watches get their own event.
  for (const TreeEvent& e : events) {
    const WatchEvent event{e.type, e.path};
    if (e.type == WatchEventType::kChildren) {
      TriggerLocked(&child_watches_, e.path, event);
      continue;
    }
    TriggerLocked(&data_watches_, e.path, event);
    if (e.type == WatchEventType::kDeleted) {
      TriggerLocked(&child_watches_, e.path, event);
    }
  }
}

void FakeZkServer::TriggerLocked(
    std::map<std::string, std::vector<Watch>>* registry,
    const std::string& path, const WatchEvent& event) {
  auto it = registry->find(path);
  if (it == registry->end()) return;
  std::vector<Watch> watches = std::move(it->second);
  registry->erase(it);
  for (Watch& w : watches) {
    std::function<void()> task = [callback = std::move(w.callback), event] {
      callback(event);
    };
    if (Reachable(*w.conn)) {
      w.conn->client->callbacks_.Post(std::move(task));
    } else {
      w.conn->held.push_back(std::move(task));
    }
  }
}

void FakeZkServer::DropWatchesLocked(int64_t session_id) {
  for (auto* registry : {&data_watches_, &child_watches_}) {
    for (auto it = registry->begin(); it != registry->end();) {
      EraseIf(&it->second, [session_id](const Watch& w) {
        return w.session_id == session_id;
      });
      it = it->second.empty() ? registry->erase(it) : std::next(it);
    }
  }
}

}  // namespace testing
}  // namespace zk
}  // namespace kess
