#include "mandator/replication/full_resync.h"

#include <algorithm>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "mandator/replication/main_side.h"

namespace kess {
namespace mandator {
namespace replication {
namespace {

// Children of `path`; empty if it does not exist.
absl::StatusOr<std::vector<std::string>> ChildrenOrEmpty(
    zk::ZkApi& zk, const std::string& path) {
  absl::StatusOr<zk::ChildrenResult> children = zk.GetChildren(path);
  if (absl::IsNotFound(children.status())) return std::vector<std::string>();
  if (!children.ok()) return children.status();
  return std::move(children->children);
}

// Children of a directory main must have; FailedPrecondition if missing.
absl::StatusOr<std::vector<std::string>> MainDir(zk::ZkApi& main,
                                                 const std::string& path) {
  absl::StatusOr<zk::ChildrenResult> children = main.GetChildren(path);
  if (absl::IsNotFound(children.status())) {
    return FromMain(absl::FailedPreconditionError(absl::StrCat(
        "the main DC has no ", path,
        ": refusing a full resync that would empty the local DC")));
  }
  if (!children.ok()) return FromMain(children.status());
  return std::move(children->children);
}

std::set<std::string> Union(const std::vector<std::string>& a,
                            const std::vector<std::string>& b) {
  std::set<std::string> all(a.begin(), a.end());
  all.insert(b.begin(), b.end());
  return all;
}

}  // namespace

FullResync::FullResync(zk::ZkApi* main, zk::ZkApi* local, RecordSync* sync,
                       ChangeApplier* applier, zk::Layout layout)
    : main_(main),
      local_(local),
      sync_(sync),
      applier_(applier),
      layout_(std::move(layout)) {}

absl::Status FullResync::SyncOne(RecordKind kind, const std::string& path,
                                 LocalHead* head, Stats* stats) {
  ++stats->compared;
  KESS_ASSIGN_OR_RETURN(RecordSync::Plan plan, sync_->PlanCopy(kind, path));
  if (!plan.changed) return absl::OkStatus();
  const bool is_delete =
      plan.ops.ops().back().type == zk::MultiOps::Type::kDelete;
  KESS_RETURN_IF_ERROR(sync_->Commit(std::move(plan), nullptr, head));
  ++(is_delete ? stats->deleted : stats->written);
  return absl::OkStatus();
}

absl::Status FullResync::SyncNamespace(const std::string& ns, bool in_main,
                                       LocalHead* head,
                                       const std::function<bool()>& cancelled,
                                       Stats* stats) {
  absl::StatusOr<std::string> ns_path = layout_.NamespacePath(ns);
  if (!ns_path.ok()) {
    LOG(WARNING) << "full resync: skipping namespace node \"" << ns
                 << "\": " << ns_path.status();
    ++stats->skipped;
    return absl::OkStatus();
  }
  std::vector<std::string> main_keys;
  if (in_main) {
    // Namespace first, so that its keys have a parent.
    KESS_RETURN_IF_ERROR(
        SyncOne(RecordKind::kNamespace, *ns_path, head, stats));
    KESS_ASSIGN_OR_RETURN(main_keys,
                          FromMain(ChildrenOrEmpty(*main_, *ns_path)));
  }
  KESS_ASSIGN_OR_RETURN(std::vector<std::string> local_keys,
                        ChildrenOrEmpty(*local_, *ns_path));
  for (const std::string& key : Union(main_keys, local_keys)) {
    if (cancelled()) return absl::CancelledError("replication stopping");
    absl::StatusOr<std::string> path = layout_.ConfigPath(ns, key);
    if (!path.ok()) {
      LOG(WARNING) << "full resync: skipping config node \"" << key << "\" in "
                   << *ns_path << ": " << path.status();
      ++stats->skipped;
      continue;
    }
    KESS_RETURN_IF_ERROR(SyncOne(RecordKind::kConfig, *path, head, stats));
  }
  if (in_main) return absl::OkStatus();
  absl::Status deleted = SyncOne(RecordKind::kNamespace, *ns_path, head, stats);
  if (absl::IsFailedPrecondition(deleted) && !IsMainSide(deleted)) {
    // Not empty: it holds nodes we skipped. Leave it.
    LOG(WARNING) << "full resync: " << *ns_path << " kept: " << deleted;
    ++stats->skipped;
    return absl::OkStatus();
  }
  return deleted;
}

absl::StatusOr<zk::ChangeRecord> FullResync::FinalChange(
    const zk::RevisionSummary& summary) {
  absl::StatusOr<zk::ChangeRecord> change =
      applier_->ReadChange(summary.revision());
  if (!absl::IsNotFound(change.status())) return change;
  zk::ChangeRecord made;
  made.set_revision(summary.revision());
  made.set_kind(summary.last_kind());
  made.set_path(summary.last_target());
  *made.mutable_meta() = summary.meta();
  return made;
}

absl::Status FullResync::Run(const zk::RevisionSummary& main_summary,
                             LocalHead* head,
                             const std::function<bool()>& cancelled,
                             Stats* stats) {
  if (main_summary.revision() <= head->summary.revision()) {
    return absl::FailedPreconditionError(
        absl::StrCat("full resync to revision ", main_summary.revision(),
                     " from local revision ", head->summary.revision()));
  }
  KESS_ASSIGN_OR_RETURN(std::vector<std::string> main_ns,
                        MainDir(*main_, layout_.ConfigsDir()));
  KESS_ASSIGN_OR_RETURN(std::vector<std::string> main_routes,
                        MainDir(*main_, layout_.RoutesDir()));
  KESS_ASSIGN_OR_RETURN(std::vector<std::string> local_ns,
                        ChildrenOrEmpty(*local_, layout_.ConfigsDir()));
  KESS_ASSIGN_OR_RETURN(std::vector<std::string> local_routes,
                        ChildrenOrEmpty(*local_, layout_.RoutesDir()));
  const std::set<std::string> main_ns_set(main_ns.begin(), main_ns.end());
  for (const std::string& ns : Union(main_ns, local_ns)) {
    if (cancelled()) return absl::CancelledError("replication stopping");
    KESS_RETURN_IF_ERROR(
        SyncNamespace(ns, main_ns_set.count(ns) > 0, head, cancelled, stats));
  }
  for (const std::string& service : Union(main_routes, local_routes)) {
    if (cancelled()) return absl::CancelledError("replication stopping");
    absl::StatusOr<std::string> path = layout_.RoutePath(service);
    if (!path.ok()) {
      LOG(WARNING) << "full resync: skipping route node \"" << service
                   << "\": " << path.status();
      ++stats->skipped;
      continue;
    }
    KESS_RETURN_IF_ERROR(SyncOne(RecordKind::kRoute, *path, head, stats));
  }
  // Gray releases (/gray/<ns>/<key>); their empty namespace directories
  // stay.
  KESS_ASSIGN_OR_RETURN(std::vector<std::string> main_gray,
                        FromMain(ChildrenOrEmpty(*main_, layout_.GrayDir())));
  KESS_ASSIGN_OR_RETURN(std::vector<std::string> local_gray,
                        ChildrenOrEmpty(*local_, layout_.GrayDir()));
  for (const std::string& ns : Union(main_gray, local_gray)) {
    absl::StatusOr<std::string> dir = layout_.GrayNamespaceDir(ns);
    if (!dir.ok()) {
      ++stats->skipped;
      continue;
    }
    std::vector<std::string> keys;
    if (std::find(main_gray.begin(), main_gray.end(), ns) != main_gray.end()) {
      KESS_ASSIGN_OR_RETURN(keys, FromMain(ChildrenOrEmpty(*main_, *dir)));
    }
    KESS_ASSIGN_OR_RETURN(std::vector<std::string> local_keys,
                          ChildrenOrEmpty(*local_, *dir));
    for (const std::string& key : Union(keys, local_keys)) {
      if (cancelled()) return absl::CancelledError("replication stopping");
      absl::StatusOr<std::string> path = layout_.GrayPath(ns, key);
      if (!path.ok()) {
        ++stats->skipped;
        continue;
      }
      KESS_RETURN_IF_ERROR(SyncOne(RecordKind::kGray, *path, head, stats));
    }
  }
  // Read ACLs (/acls/namespaces/<ns>, /acls/services/<service>).
  for (const bool namespaces : {true, false}) {
    const std::string dir = namespaces ? layout_.NamespaceAclsDir()
                                       : layout_.ServiceAclsDir();
    KESS_ASSIGN_OR_RETURN(std::vector<std::string> main_acls,
                          FromMain(ChildrenOrEmpty(*main_, dir)));
    KESS_ASSIGN_OR_RETURN(std::vector<std::string> local_acls,
                          ChildrenOrEmpty(*local_, dir));
    for (const std::string& name : Union(main_acls, local_acls)) {
      if (cancelled()) return absl::CancelledError("replication stopping");
      absl::StatusOr<std::string> path = namespaces
                                             ? layout_.NamespaceAclPath(name)
                                             : layout_.ServiceAclPath(name);
      if (!path.ok()) {
        ++stats->skipped;
        continue;
      }
      KESS_RETURN_IF_ERROR(SyncOne(RecordKind::kAcl, *path, head, stats));
    }
  }
  KESS_ASSIGN_OR_RETURN(zk::ChangeRecord change, FinalChange(main_summary));
  RecordSync::Plan nothing;
  return sync_->Commit(std::move(nothing), &change, head);
}

}  // namespace replication
}  // namespace mandator
}  // namespace kess
