// FakeZkClient: every call is one FakeZkServer::Call(), whose `apply` runs
// on the tree under the server's lock; the rest is the callback thread and
// the session listeners.
#include <zookeeper/zookeeper.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "zk_schema/testing/fake_zk.h"
#include "zk_schema/zk_errors.h"

namespace kess {
namespace zk {
namespace testing {

namespace {

bool IsSequential(CreateMode mode) {
  return mode == CreateMode::kPersistentSequential ||
         mode == CreateMode::kEphemeralSequential;
}

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
      [&](FakeZkServer::Conn& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(server_->mu_) {
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
      [&](FakeZkServer::Conn& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(server_->mu_) {
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
      [&](FakeZkServer::Conn& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(server_->mu_) {
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
      [&](FakeZkServer::Conn& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(server_->mu_) {
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
      [&](FakeZkServer::Conn& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(server_->mu_) {
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
      [&](FakeZkServer::Conn& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(server_->mu_) {
        std::vector<OpResult> results;
        std::vector<int> op_rcs;
        return ZkStatus(
            server_->ApplyLocked(c, ops, default_acl_, &results, &op_rcs),
            context);
      });
}

absl::StatusOr<AclList> FakeZkClient::GetAcl(const std::string& path) {
  const std::string context = absl::StrCat("get ACL of ", path);
  AclList result;
  KESS_RETURN_IF_ERROR(server_->Call(
      this, FaultSpec::kGetAcl, {{path}}, context,
      [&](FakeZkServer::Conn& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(server_->mu_) {
        return ZkStatus(server_->tree_.GetAclOf(path, c.caller, &result),
                        context);
      }));
  return result;
}

absl::Status FakeZkClient::SetAcl(const std::string& path, const AclList& acl) {
  const std::string context = absl::StrCat("set ACL of ", path);
  return server_->Call(
      this, FaultSpec::kSetAcl, {{path}}, context,
      [&](FakeZkServer::Conn& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(server_->mu_) {
        return ZkStatus(server_->tree_.SetAcl(path, acl, c.caller), context);
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
      [&](FakeZkServer::Conn& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(server_->mu_) {
        std::vector<int> op_rcs;
        const int rc =
            server_->ApplyLocked(c, ops, default_acl_, &results, &op_rcs);
        return MultiStatus(rc, op_rcs, ops, context);
      }));
  return results;
}

int64_t FakeZkClient::AddSessionListener(SessionListener listener) {
  return listeners_.Add(std::move(listener));
}

void FakeZkClient::RemoveSessionListener(int64_t id) {
  listeners_.Remove(id);
  callbacks_.WaitForRunningTask();  // it may be running right now
}

void FakeZkClient::DeliverSessionEvent(const SessionEvent& event) {
  listeners_.Deliver(event);
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
