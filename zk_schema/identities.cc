#include "zk_schema/identities.h"

#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "glog/logging.h"

namespace kess {
namespace zk {
namespace {

std::string NodeName(identity::Kind kind, const std::string& name,
                     const std::string& dc) {
  return absl::StrCat(identity::KindName(kind), ":", dc, ":", name);
}

absl::Status EnsureDir(ZkApi& zk, const std::string& dir, const AclList& acl) {
  absl::StatusOr<std::string> created = zk.Create(dir, "", CreateMode::kPersistent, acl);
  if (created.ok() || absl::IsAlreadyExists(created.status())) {
    return absl::OkStatus();
  }
  return created.status();
}

}  // namespace

std::string IdentitiesDir(const Layout& layout) {
  return layout.root() + "/identities";
}

std::string IdentityPath(const Layout& layout, identity::Kind kind,
                         const std::string& name, const std::string& dc) {
  return absl::StrCat(IdentitiesDir(layout), "/", NodeName(kind, name, dc));
}

absl::StatusOr<IdentitySnapshot> ReadIdentities(ZkApi& zk,
                                                const Layout& layout) {
  IdentitySnapshot snapshot;
  const std::string dir = IdentitiesDir(layout);
  absl::StatusOr<ChildrenResult> children = zk.GetChildren(dir);
  if (absl::IsNotFound(children.status())) return snapshot;
  if (!children.ok()) return children.status();
  snapshot.cversion = children->stat.cversion;
  std::vector<GetRequest> requests;
  for (const std::string& child : children->children) {
    GetRequest r;
    r.path = absl::StrCat(dir, "/", child);
    requests.push_back(std::move(r));
  }
  std::vector<absl::StatusOr<GetResult>> got = zk.GetMany(std::move(requests));
  for (size_t i = 0; i < got.size(); ++i) {
    if (absl::IsNotFound(got[i].status())) continue;  // revoked meanwhile
    if (!got[i].ok()) return got[i].status();
    absl::StatusOr<identity::CredentialRecord> record =
        identity::CredentialRecord::FromJson(got[i]->data);
    if (!record.ok()) {
      LOG(WARNING) << "identities: skipping " << children->children[i]
                   << ": " << record.status();
      continue;
    }
    snapshot.records.push_back(std::move(*record));
  }
  return snapshot;
}

absl::Status PutIdentity(ZkApi& zk, const Layout& layout,
                         const identity::CredentialRecord& record,
                         const AclList& acl) {
  KESS_RETURN_IF_ERROR(EnsureDir(zk, IdentitiesDir(layout), acl));
  const std::string path =
      IdentityPath(layout, record.kind, record.name, record.dc);
  const std::string data = record.ToJson();
  absl::StatusOr<std::optional<Stat>> exists = zk.Exists(path);
  if (!exists.ok()) return exists.status();
  MultiOps ops;
  if (exists->has_value()) ops.Delete(path, (*exists)->version);
  ops.Create(path, data, CreateMode::kPersistent, acl);
  return zk.Multi(ops).status();
}

absl::Status DeleteIdentity(ZkApi& zk, const Layout& layout,
                            identity::Kind kind, const std::string& name,
                            const std::string& dc) {
  absl::Status s = zk.Delete(IdentityPath(layout, kind, name, dc));
  if (absl::IsNotFound(s)) {
    return absl::NotFoundError(absl::StrCat(
        "no credential for ", identity::PrincipalUri(kind, name, dc)));
  }
  return s;
}

absl::StatusOr<int> MirrorIdentities(ZkApi& from, ZkApi& to,
                                     const Layout& layout,
                                     const AclList& acl) {
  KESS_ASSIGN_OR_RETURN(IdentitySnapshot want, ReadIdentities(from, layout));
  KESS_ASSIGN_OR_RETURN(IdentitySnapshot have, ReadIdentities(to, layout));
  std::map<std::string, const identity::CredentialRecord*> wanted, held;
  for (const auto& r : want.records) {
    wanted[NodeName(r.kind, r.name, r.dc)] = &r;
  }
  for (const auto& r : have.records) held[NodeName(r.kind, r.name, r.dc)] = &r;
  int changed = 0;
  for (const auto& [node, record] : wanted) {
    auto it = held.find(node);
    if (it != held.end() && it->second->id == record->id &&
        it->second->sha256_hex == record->sha256_hex) {
      continue;
    }
    KESS_RETURN_IF_ERROR(PutIdentity(to, layout, *record, acl));
    ++changed;
  }
  for (const auto& [node, record] : held) {
    if (wanted.count(node) > 0) continue;
    absl::Status s = to.Delete(absl::StrCat(IdentitiesDir(layout), "/", node));
    if (!s.ok() && !absl::IsNotFound(s)) return s;
    ++changed;
  }
  return changed;
}

IdentityWatcher::IdentityWatcher(
    ZkApi* zk, std::shared_ptr<identity::CredentialRegistry> registry,
    Options options)
    : zk_(zk), registry_(std::move(registry)), options_(std::move(options)) {
  PollOnce();
  thread_ = std::thread([this] { Loop(); });
}

IdentityWatcher::~IdentityWatcher() {
  stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

void IdentityWatcher::Loop() {
  while (!stop_.WaitForNotificationWithTimeout(options_.interval)) {
    PollOnce();
    if (options_.after_poll) options_.after_poll();
  }
}

void IdentityWatcher::PollOnce() {
  absl::MutexLock lock(&mu_);
  auto log_error = [this](const absl::Status& s)
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const int64_t now = absl::ToUnixMillis(absl::Now());
    if (now - last_error_log_ms_ < 60000) return;
    last_error_log_ms_ = now;
    LOG(WARNING) << "identities: cannot read "
                 << IdentitiesDir(options_.layout) << " (keeping the "
                 << registry_->size()
                 << " credentials held; logged once a minute): " << s;
  };
  absl::StatusOr<std::optional<Stat>> stat =
      zk_->Exists(IdentitiesDir(options_.layout));
  if (!stat.ok()) {
    log_error(stat.status());
    return;
  }
  const int32_t cversion = stat->has_value() ? (*stat)->cversion : -1;
  if (cversion == seen_cversion_) return;
  absl::StatusOr<IdentitySnapshot> snapshot =
      ReadIdentities(*zk_, options_.layout);
  if (!snapshot.ok()) {
    log_error(snapshot.status());
    return;
  }
  registry_->Replace(snapshot->records);
  seen_cversion_ = snapshot->cversion;
}

}  // namespace zk
}  // namespace kess
