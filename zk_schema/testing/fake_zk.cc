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

struct FakeZkServer::Watch {
  Conn* conn;
  int64_t session_id;
  WatchCallback callback;
};

// A client as the server sees it: its session and connection.
struct FakeZkServer::Conn {
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

struct FakeZkServer::Fault {
  FaultSpec spec;
  const FakeZkClient* owner;  // nullptr: every client
  int seen = 0;               // matching calls so far
  int fired = 0;
};

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

bool IsSequential(CreateMode mode) {
  return mode == CreateMode::kPersistentSequential ||
         mode == CreateMode::kEphemeralSequential;
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

// ---- FakeZkClient ------------------------------------------------------------

namespace {

std::vector<std::string> DigestIds(
    const std::vector<DigestCredential>& credentials) {
  std::vector<std::string> ids;
  for (const DigestCredential& cred : credentials) {
    absl::StatusOr<std::string> id = DigestId(cred.user, cred.password);
    CHECK(id.ok()) << id.status();
    ids.push_back(*std::move(id));
  }
  return ids;
}

}  // namespace

FakeZkClient::FakeZkClient(FakeZkServer* server, FakeZkClientOptions options)
    : server_(server),
      default_acl_(options.default_acl.empty() ? OpenAcl()
                                               : options.default_acl),
      recreate_on_expiry_(options.recreate_on_expiry) {
  server_->Register(this, DigestIds(options.credentials));
}

FakeZkClient::~FakeZkClient() {
  CHECK(!callbacks_.OnThisThread())
      << "FakeZkClient destroyed from its own callback";
  server_->Unregister(this);
  callbacks_.Stop();
}

absl::StatusOr<GetResult> FakeZkClient::Get(const std::string& path,
                                            WatchCallback watch) {
  const std::string context = absl::StrCat("get ", path);
  GetResult result;
  KESS_RETURN_IF_ERROR(server_->Call(
      this, FaultSpec::kGet, {{path}}, context,
      [&](FakeZkServer::Conn& c) {
        const int rc = server_->tree_.Get(path, c.caller, &result);
        if (rc == ZOK && watch) {  // not set on errors
          server_->AddWatchLocked(&server_->data_watches_, c, path,
                                  std::move(watch));
        }
        return ZkStatus(rc, context);
      }));
  return result;
}

std::vector<absl::StatusOr<GetResult>> FakeZkClient::GetMany(
    std::vector<GetRequest> requests) {
  // In order, as ZooKeeper answers a session's requests. A lost connection
  // fails the request it hit and every later one of the pipelined batch.
  std::vector<absl::StatusOr<GetResult>> out;
  out.reserve(requests.size());
  bool lost = false;
  for (GetRequest& request : requests) {
    if (lost) {
      out.push_back(
          ZkStatus(ZCONNECTIONLOSS, absl::StrCat("get ", request.path)));
      continue;
    }
    out.push_back(Get(request.path, std::move(request.watch)));
    lost = ZkErrorCode(out.back().status()) == ZCONNECTIONLOSS;
  }
  return out;
}

absl::StatusOr<std::optional<Stat>> FakeZkClient::Exists(
    const std::string& path, WatchCallback watch) {
  const std::string context = absl::StrCat("exists ", path);
  std::optional<Stat> result;
  KESS_RETURN_IF_ERROR(server_->Call(
      this, FaultSpec::kExists, {{path}}, context,
      [&](FakeZkServer::Conn& c) {
        Stat stat;
        const int rc = server_->tree_.Exists(path, &stat);
        if (rc == ZOK) result = stat;
        if (rc != ZOK && rc != ZNONODE) return ZkStatus(rc, context);
        // Armed whether or not the node exists.
        if (watch) {
          server_->AddWatchLocked(&server_->data_watches_, c, path,
                                  std::move(watch));
        }
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<ChildrenResult> FakeZkClient::GetChildren(
    const std::string& path, WatchCallback watch) {
  const std::string context = absl::StrCat("get children of ", path);
  ChildrenResult result;
  KESS_RETURN_IF_ERROR(server_->Call(
      this, FaultSpec::kGetChildren, {{path}}, context,
      [&](FakeZkServer::Conn& c) {
        const int rc = server_->tree_.GetChildren(path, c.caller, &result);
        if (rc == ZOK && watch) {
          server_->AddWatchLocked(&server_->child_watches_, c, path,
                                  std::move(watch));
        }
        return ZkStatus(rc, context);
      }));
  return result;
}

absl::StatusOr<std::string> FakeZkClient::Create(const std::string& path,
                                                 absl::string_view data,
                                                 CreateMode mode,
                                                 const AclList& acl) {
  const std::string context = absl::StrCat("create ", path);
  KESS_RETURN_IF_ERROR(
      CheckCreateSize(path, data.size(), acl, default_acl_, context));
  MultiOps ops;
  ops.Create(path, std::string(data), mode, acl);
  std::vector<OpResult> results;
  KESS_RETURN_IF_ERROR(server_->Call(
      this, FaultSpec::kCreate, {{path, IsSequential(mode)}}, context,
      [&](FakeZkServer::Conn& c) {
        std::vector<int> op_rcs;
        return ZkStatus(
            server_->ApplyLocked(c, ops, default_acl_, &results, &op_rcs),
            context);
      }));
  return results.at(0).created_path;
}

absl::StatusOr<Stat> FakeZkClient::Set(const std::string& path,
                                       absl::string_view data, int version) {
  const std::string context = absl::StrCat("set ", path);
  KESS_RETURN_IF_ERROR(CheckSetSize(path, data.size(), context));
  MultiOps ops;
  ops.Set(path, std::string(data), version);
  std::vector<OpResult> results;
  KESS_RETURN_IF_ERROR(server_->Call(
      this, FaultSpec::kSet, {{path}}, context,
      [&](FakeZkServer::Conn& c) {
        std::vector<int> op_rcs;
        return ZkStatus(
            server_->ApplyLocked(c, ops, default_acl_, &results, &op_rcs),
            context);
      }));
  return results.at(0).stat;
}

absl::Status FakeZkClient::Delete(const std::string& path, int version) {
  const std::string context = absl::StrCat("delete ", path);
  MultiOps ops;
  ops.Delete(path, version);
  return server_->Call(
      this, FaultSpec::kDelete, {{path}}, context,
      [&](FakeZkServer::Conn& c) {
        std::vector<OpResult> results;
        std::vector<int> op_rcs;
        return ZkStatus(
            server_->ApplyLocked(c, ops, default_acl_, &results, &op_rcs),
            context);
      });
}

absl::StatusOr<std::vector<OpResult>> FakeZkClient::Multi(const MultiOps& ops) {
  const size_t n = ops.size();
  if (n == 0) return std::vector<OpResult>();
  const std::string context = absl::StrCat("multi of ", n, " ops");
  KESS_RETURN_IF_ERROR(CheckMultiSize(ops, default_acl_, context));
  // As ZkClient, before anything else.
  if (std::optional<size_t> bad = FirstInvalidPath(ops)) {
    return MultiOpFailedStatus(ops, *bad, ZBADARGUMENTS, context);
  }
  std::vector<FakeZkServer::PathArg> paths;
  for (const MultiOps::Op& op : ops.ops()) {
    paths.push_back(
        {op.path, op.type == MultiOps::Type::kCreate && IsSequential(op.mode)});
  }
  std::vector<OpResult> results;
  KESS_RETURN_IF_ERROR(server_->Call(
      this, FaultSpec::kMulti, paths, context,
      [&](FakeZkServer::Conn& c) {
        std::vector<int> op_rcs;
        const int rc =
            server_->ApplyLocked(c, ops, default_acl_, &results, &op_rcs);
        return MultiStatus(rc, op_rcs, ops, context);
      }));
  return results;
}

int64_t FakeZkClient::AddSessionListener(SessionListener listener) {
  absl::MutexLock lock(&listener_mu_);
  const int64_t id = next_listener_id_++;
  listeners_.emplace(id, std::move(listener));
  return id;
}

void FakeZkClient::RemoveSessionListener(int64_t id) {
  {
    absl::MutexLock lock(&listener_mu_);
    listeners_.erase(id);
  }
  callbacks_.WaitForRunningTask();  // it may be running right now
}

void FakeZkClient::DeliverSessionEvent(const SessionEvent& event) {
  std::vector<int64_t> ids;
  {
    absl::MutexLock lock(&listener_mu_);
    for (const auto& entry : listeners_) ids.push_back(entry.first);
  }
  for (int64_t id : ids) {
    SessionListener listener;
    {
      absl::MutexLock lock(&listener_mu_);
      auto it = listeners_.find(id);
      if (it == listeners_.end()) continue;  // removed meanwhile
      listener = it->second;
    }
    listener(event);
  }
}

int64_t FakeZkClient::generation() const {
  absl::MutexLock lock(&server_->mu_);
  return server_->ConnOf(this).generation;
}

int64_t FakeZkClient::session_id() const {
  absl::MutexLock lock(&server_->mu_);
  return server_->ConnOf(this).caller.session_id;
}

absl::Status FakeZkClient::Reconnect() { return server_->Reconnect(this); }

void FakeZkClient::ExpireSession() { server_->Expire(this); }

void FakeZkClient::DropConnection() { server_->SetLinkUp(this, false); }

void FakeZkClient::RestoreConnection() { server_->SetLinkUp(this, true); }

bool FakeZkClient::connected() const {
  absl::MutexLock lock(&server_->mu_);
  return server_->ConnectedLocked(server_->ConnOf(this));
}

void FakeZkClient::InjectFault(FaultSpec spec) {
  server_->AddFault(std::move(spec), this);
}

void FakeZkClient::ClearFaults() { server_->ClearFaults(this); }

void FakeZkClient::DrainCallbacks() { callbacks_.Drain(); }

}  // namespace testing
}  // namespace zk
}  // namespace kess
