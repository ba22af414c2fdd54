#include "zk_schema/revision_log.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "zk_schema/codec.h"

namespace kess {
namespace zk {

namespace {

// True iff `record` (the data of a record of `kind`) decodes and its value
// is stored inline.
bool ValueInline(ChangeKind kind, absl::string_view record) {
  const StoredValue* value = nullptr;
  ConfigRecord config;
  RouteRecord route;
  GrayRecord gray;
  switch (kind) {
    case CONFIG_PUT:
      if (!config.ParseFromArray(record.data(), record.size())) return false;
      value = &config.value();
      break;
    case ROUTE_PUT:
      if (!route.ParseFromArray(record.data(), record.size())) return false;
      value = &route.value();
      break;
    case GRAY_PUT:
      if (!gray.ParseFromArray(record.data(), record.size())) return false;
      value = &gray.value();
      break;
    case ACL_PUT: {  // no value: always inline
      ReadAclRecord acl;
      return acl.ParseFromArray(record.data(), record.size());
    }
    default:
      return false;
  }
  return value->body_case() != StoredValue::kChunked;
}

}  // namespace

void EmbedRecord(const MultiOps& ops, ChangeRecord* change) {
  change->clear_record();
  for (const MultiOps::Op& op : ops.ops()) {
    if (op.path != change->path()) continue;
    if (op.type != MultiOps::Type::kCreate && op.type != MultiOps::Type::kSet) {
      continue;
    }
    if (op.data.size() <= kMaxEmbeddedRecordBytes &&
        ValueInline(change->kind(), op.data)) {
      change->set_record(op.data);
    }
    return;
  }
}

absl::StatusOr<RevisionSummary> AddCommitOps(const Layout& layout,
                                             const RevisionSummary& current,
                                             int current_version,
                                             ChangeRecord change,
                                             MultiOps* ops) {
  if (change.kind() == CHANGE_KIND_UNSPECIFIED || change.path().empty()) {
    return absl::InvalidArgumentError(
        "a change record needs a kind and the path of the record it changes");
  }
  if (current.revision() < 0 || current_version < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad current revision ", current.revision(),
                     " / node version ", current_version));
  }
  const int retention =
      current.retention() > 0
          ? std::min(current.retention(), kMaxChangelogRetention)
          : kDefaultChangelogRetention;
  const int64_t revision =
      change.revision() != 0 ? change.revision() : current.revision() + 1;
  if (revision <= current.revision()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "revision ", revision, " does not move past ", current.revision()));
  }
  change.set_revision(revision);

  RevisionSummary next = current;
  next.set_revision(revision);
  next.set_retention(retention);
  next.set_last_kind(change.kind());
  next.set_last_target(change.path());
  *next.mutable_meta() = change.meta();
  // Records [oldest_retained, revision] exist. After a jump only `revision`
  // does; otherwise keep the last `retention` ones.
  int64_t oldest = std::max<int64_t>(current.oldest_retained(), 1);
  if (revision > current.revision() + 1) oldest = revision;
  oldest = std::max<int64_t>(oldest, revision - retention + 1);
  next.set_oldest_retained(oldest);

  ops->Set(layout.RevisionPath(), Encode(next), current_version);
  ops->Create(layout.ChangelogPath(revision), Encode(change));
  return next;
}

absl::StatusOr<int> TrimChangelog(ZkApi& zk, const Layout& layout,
                                  const RevisionSummary& summary,
                                  int max_deletes) {
  KESS_ASSIGN_OR_RETURN(ChildrenResult children,
                        zk.GetChildren(layout.ChangelogDir()));
  int deleted = 0;
  for (const std::string& name : children.children) {  // sorted = numeric
    if (deleted >= max_deletes) break;
    absl::StatusOr<int64_t> revision = ParseRevision(name);
    if (!revision.ok()) continue;  // not ours; leave it
    if (*revision >= summary.oldest_retained()) break;
    absl::Status status = zk.Delete(layout.ChangelogPath(*revision));
    if (!status.ok() && !absl::IsNotFound(status)) return status;
    ++deleted;
  }
  return deleted;
}

absl::StatusOr<std::pair<RevisionSummary, int>> ReadRevision(
    ZkApi& zk, const Layout& layout, WatchCallback watch) {
  KESS_ASSIGN_OR_RETURN(GetResult node,
                        zk.Get(layout.RevisionPath(), std::move(watch)));
  KESS_ASSIGN_OR_RETURN(
      RevisionSummary summary,
      DecodeAs<RevisionSummary>(node.data, layout.RevisionPath()));
  return std::make_pair(std::move(summary), node.stat.version);
}

CatchUp PlanCatchUp(int64_t have, const RevisionSummary& summary) {
  if (have == summary.revision()) return CatchUp::kUpToDate;
  if (have > summary.revision()) return CatchUp::kFullResync;
  if (have + 1 >= std::max<int64_t>(summary.oldest_retained(), 1)) {
    return CatchUp::kIncremental;
  }
  return CatchUp::kFullResync;
}

}  // namespace zk
}  // namespace kess
