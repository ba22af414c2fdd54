#include "mandator/replication/record_sync.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "mandator/replication/main_side.h"
#include "zk_schema/codec.h"
#include "zk_schema/revision_log.h"
#include "zk_schema/zk_errors.h"

namespace kess {
namespace mandator {
namespace replication {
using zk::StoredValue;

namespace {

// The fields every record kind has. A namespace has neither (empty).
struct RecordFields {
  StoredValue value;
  int64_t revision = 0;
};

absl::StatusOr<RecordFields> DecodeFields(RecordKind kind,
                                          absl::string_view record,
                                          absl::string_view where) {
  switch (kind) {
    case RecordKind::kConfig: {
      KESS_ASSIGN_OR_RETURN(auto r,
                            zk::DecodeAs<zk::ConfigRecord>(record, where));
      return RecordFields{r.value(), r.revision()};
    }
    case RecordKind::kRoute: {
      KESS_ASSIGN_OR_RETURN(auto r,
                            zk::DecodeAs<zk::RouteRecord>(record, where));
      return RecordFields{r.value(), r.revision()};
    }
    case RecordKind::kGray: {
      KESS_ASSIGN_OR_RETURN(auto r,
                            zk::DecodeAs<zk::GrayRecord>(record, where));
      return RecordFields{r.value(), r.revision()};
    }
    case RecordKind::kAcl: {
      KESS_ASSIGN_OR_RETURN(auto r,
                            zk::DecodeAs<zk::ReadAclRecord>(record, where));
      return RecordFields{StoredValue(), r.revision()};
    }
    case RecordKind::kNamespace:
      break;
  }
  return RecordFields();  // inline and empty: nothing to copy or collect
}

}  // namespace

absl::StatusOr<StoredValue> RecordValue(RecordKind kind,
                                        absl::string_view record,
                                        absl::string_view where) {
  KESS_ASSIGN_OR_RETURN(RecordFields fields, DecodeFields(kind, record, where));
  return std::move(fields.value);
}

absl::StatusOr<int64_t> RecordRevision(RecordKind kind,
                                       absl::string_view record,
                                       absl::string_view where) {
  KESS_ASSIGN_OR_RETURN(RecordFields fields, DecodeFields(kind, record, where));
  return fields.revision;
}

namespace {

// `record` with its StoredValue replaced by `value`.
absl::StatusOr<std::string> WithValue(RecordKind kind, absl::string_view record,
                                      const StoredValue& value,
                                      absl::string_view where) {
  if (kind == RecordKind::kConfig) {
    KESS_ASSIGN_OR_RETURN(auto r,
                          zk::DecodeAs<zk::ConfigRecord>(record, where));
    *r.mutable_value() = value;
    return zk::Encode(r);
  }
  if (kind == RecordKind::kGray) {
    KESS_ASSIGN_OR_RETURN(auto r, zk::DecodeAs<zk::GrayRecord>(record, where));
    *r.mutable_value() = value;
    return zk::Encode(r);
  }
  KESS_ASSIGN_OR_RETURN(auto r, zk::DecodeAs<zk::RouteRecord>(record, where));
  *r.mutable_value() = value;
  return zk::Encode(r);
}

std::string ParentPath(const std::string& path) {
  return path.substr(0, path.rfind('/'));
}

// The node's data and version, or nullopt if it does not exist.
absl::StatusOr<std::optional<zk::GetResult>> GetIfExists(
    zk::ZkApi& zk, const std::string& path) {
  absl::StatusOr<zk::GetResult> node = zk.Get(path);
  if (absl::IsNotFound(node.status())) return std::nullopt;
  if (!node.ok()) return node.status();
  return std::optional<zk::GetResult>(*std::move(node));
}

}  // namespace

absl::StatusOr<LocalHead> ReadLocalHead(zk::ZkApi& local,
                                        const zk::Layout& layout) {
  KESS_ASSIGN_OR_RETURN(auto read, zk::ReadRevision(local, layout));
  return LocalHead{std::move(read.first), read.second};
}

absl::StatusOr<std::string> NormalizedRecord(RecordKind kind,
                                             absl::string_view record,
                                             absl::string_view where) {
  if (kind == RecordKind::kNamespace) return std::string(record);
  if (kind == RecordKind::kAcl) {  // no value; checked to decode
    KESS_RETURN_IF_ERROR(RecordRevision(kind, record, where).status());
    return std::string(record);
  }
  KESS_ASSIGN_OR_RETURN(StoredValue value, RecordValue(kind, record, where));
  // Inline here and chunked there (or chunked under another name) is the
  // same value: compare size and CRC-32 only.
  value.clear_body();
  return WithValue(kind, record, value, where);
}

RecordSync::RecordSync(zk::ZkApi* main, zk::ZkApi* local, zk::Layout layout,
                       zk::AclList acl)
    : main_(main),
      local_(local),
      layout_(std::move(layout)),
      acl_(std::move(acl)),
      main_store_(main, layout_),
      local_store_(local, layout_, acl_) {}

absl::StatusOr<RecordSync::Plan> RecordSync::PlanCopy(RecordKind kind,
                                                      const std::string& path) {
  Plan plan;
  plan.kind = kind;
  plan.path = path;
  KESS_ASSIGN_OR_RETURN(std::optional<zk::GetResult> in_main,
                        FromMain(GetIfExists(*main_, path)));
  KESS_ASSIGN_OR_RETURN(std::optional<zk::GetResult> in_local,
                        GetIfExists(*local_, path));
  if (in_main.has_value() && in_local.has_value()) {
    KESS_ASSIGN_OR_RETURN(
        std::string main_norm,
        FromMain(NormalizedRecord(kind, in_main->data, path)));
    absl::StatusOr<std::string> local_norm =
        NormalizedRecord(kind, in_local->data, path);
    if (local_norm.ok() && *local_norm == main_norm) return plan;
  }
  std::string data;
  if (in_main.has_value()) {
    data = in_main->data;
    KESS_ASSIGN_OR_RETURN(StoredValue value,
                          FromMain(RecordValue(kind, data, path)));
    if (value.body_case() == StoredValue::kChunked) {
      // Load with the store's retry: main may flip the record meanwhile.
      absl::StatusOr<zk::ChunkedValueStore::ReadResult> read =
          FromMain(main_store_.ReadRecord(path, [&](absl::string_view r) {
            return RecordValue(kind, r, path);
          }));
      if (absl::IsNotFound(read.status())) {
        in_main.reset();  // deleted meanwhile: delete locally too
      } else {
        KESS_RETURN_IF_ERROR(read.status());
        zk::Meta meta;
        meta.set_writer("replication");
        KESS_ASSIGN_OR_RETURN(plan.prepared,
                              local_store_.Prepare(read->value, path, meta));
        absl::StatusOr<std::string> copy =
            WithValue(kind, read->record, plan.prepared, path);
        if (!copy.ok()) {
          Abandon(plan);
          return FromMain(copy.status());
        }
        data = *std::move(copy);
      }
    }
  }
  if (!in_main.has_value()) {
    if (!in_local.has_value()) return plan;
    plan.ops.Delete(path, in_local->stat.version);
  } else if (in_local.has_value()) {
    plan.ops.Set(path, data, in_local->stat.version);
  } else {
    if (kind == RecordKind::kConfig) {
      const std::string ns_path = ParentPath(path);
      absl::Status added = AddNamespaceCreate(ns_path, &plan.ops);
      if (!added.ok()) {
        Abandon(plan);
        return added;
      }
    } else if (kind == RecordKind::kGray) {
      const std::string dir = ParentPath(path);
      absl::StatusOr<std::optional<zk::Stat>> exists = local_->Exists(dir);
      if (!exists.ok()) {
        Abandon(plan);
        return exists.status();
      }
      if (!exists->has_value()) {
        plan.ops.Create(dir, "", zk::CreateMode::kPersistent, acl_);
      }
    }
    plan.ops.Create(path, data, zk::CreateMode::kPersistent, acl_);
  }
  if (in_local.has_value()) {
    absl::StatusOr<StoredValue> old = RecordValue(kind, in_local->data, path);
    // A corrupt local record is simply overwritten; its chunks (if any)
    // cannot be known and are left to the sweeper.
    if (old.ok()) plan.replaced = *std::move(old);
  }
  plan.changed = true;
  return plan;
}

absl::Status RecordSync::Commit(Plan plan, const zk::ChangeRecord* change,
                                LocalHead* head) {
  zk::MultiOps ops = plan.ops;
  const size_t revision_op = ops.size();
  zk::RevisionSummary next = head->summary;
  if (change != nullptr) {
    absl::StatusOr<zk::RevisionSummary> committed =
        zk::AddCommitOps(layout_, head->summary, head->version, *change, &ops);
    if (!committed.ok()) {
      Abandon(plan);
      return committed.status();
    }
    next = *std::move(committed);
  } else {
    ops.Set(layout_.RevisionPath(), zk::Encode(head->summary), head->version);
  }
  absl::StatusOr<std::vector<zk::OpResult>> results = local_->Multi(ops);
  if (results.ok()) {
    head->summary = std::move(next);
    head->version = (*results)[revision_op].stat.version;
    absl::Status collected = local_store_.Discard(plan.replaced);
    LOG_IF(WARNING, !collected.ok()) << "chunks replaced at " << plan.path
                                     << " not collected: " << collected;
    return absl::OkStatus();
  }
  if (zk::IsConnectionLoss(results.status())) {
    SettleUnknownOutcome(plan.kind, plan.path, plan.prepared, plan.replaced);
  } else {
    Abandon(plan);
  }
  return results.status();
}

absl::Status RecordSync::AddNamespaceCreate(const std::string& ns_path,
                                            zk::MultiOps* ops) {
  KESS_ASSIGN_OR_RETURN(std::optional<zk::Stat> exists,
                        local_->Exists(ns_path));
  if (exists.has_value()) return absl::OkStatus();
  KESS_ASSIGN_OR_RETURN(zk::GetResult info, FromMain(main_->Get(ns_path)));
  ops->Create(ns_path, info.data, zk::CreateMode::kPersistent, acl_);
  return absl::OkStatus();
}

absl::Status RecordSync::DiscardLocal(const StoredValue& value) {
  return local_store_.Discard(value);
}

void RecordSync::Abandon(const Plan& plan) {
  absl::Status discarded = local_store_.Discard(plan.prepared);
  LOG_IF(WARNING, !discarded.ok())
      << "orphan local chunk set for " << plan.path << ": " << discarded;
}

void RecordSync::SettleUnknownOutcome(RecordKind kind, const std::string& path,
                                      const StoredValue& prepared,
                                      const StoredValue& replaced) {
  const bool has_prepared = prepared.body_case() == StoredValue::kChunked;
  const bool has_replaced = replaced.body_case() == StoredValue::kChunked;
  if (!has_prepared && !has_replaced) return;  // no chunk set at stake
  // A chunk set the record does not reference now is garbage either way:
  // chunk sets are never shared and never referenced again once replaced.
  absl::StatusOr<std::optional<zk::GetResult>> now = GetIfExists(*local_, path);
  std::string referenced;
  if (now.ok() && now->has_value()) {
    absl::StatusOr<StoredValue> value = RecordValue(kind, (*now)->data, path);
    if (!value.ok()) now = value.status();
    if (value.ok() && value->body_case() == StoredValue::kChunked) {
      referenced = value->chunked().chunk_set();
    }
  }
  if (!now.ok()) {
    LOG(WARNING) << "outcome of the write of " << path
                 << " unknown; its chunk sets are left to the sweeper: "
                 << now.status();
    return;
  }
  for (const StoredValue* value : {&prepared, &replaced}) {
    if (value->body_case() == StoredValue::kChunked &&
        value->chunked().chunk_set() != referenced) {
      local_store_.Discard(*value).IgnoreError();
    }
  }
}

}  // namespace replication
}  // namespace mandator
}  // namespace kess
