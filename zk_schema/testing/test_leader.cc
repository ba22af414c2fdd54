#include "zk_schema/testing/test_leader.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "zk_schema/codec.h"
#include "zk_schema/revision_log.h"

namespace kess {
namespace zk {
namespace testing {
namespace {

// The StoredValue of a record of type T.
template <typename T>
absl::StatusOr<StoredValue> StoredValueOf(absl::string_view record,
                                          absl::string_view where) {
  KESS_ASSIGN_OR_RETURN(T r, DecodeAs<T>(record, where));
  return r.value();
}

}  // namespace

TestLeader::TestLeader(ZkApi* zk, Layout layout, AclList acl,
                       std::string writer)
    : zk_(zk),
      layout_(std::move(layout)),
      acl_(std::move(acl)),
      writer_(std::move(writer)),
      store_(zk, layout_, acl_) {}

absl::StatusOr<int64_t> TestLeader::PutRoute(kess::RouteTable table) {
  ChangeRecord change;
  change.set_kind(ROUTE_PUT);
  change.set_service(table.service);
  KESS_ASSIGN_OR_RETURN(*change.mutable_path(),
                        layout_.RoutePath(table.service));
  // The value holds the table's own revision, so it is serialized per
  // attempt: Prepare happens inside Commit, after the revision is known.
  std::string serialized;
  absl::string_view value_view;
  RecordMaker make =
      [&](int64_t revision, absl::string_view,
          const StoredValue& stored) -> absl::StatusOr<std::string> {
    RouteRecord record;
    record.set_service(table.service);
    record.set_revision(revision);
    *record.mutable_value() = stored;
    record.set_instance_count(static_cast<uint32_t>(table.instances.size()));
    *record.mutable_meta() = MakeMeta("test", writer_);
    return Encode(record);
  };
  // The revision inside the table is informational; use the next one as
  // read now (a lost race re-commits with a newer record revision).
  KESS_ASSIGN_OR_RETURN(auto current, ReadRevision(*zk_, layout_));
  table.revision = current.first.revision() + 1;
  serialized = kess::RouteTableToJson(table);
  value_view = serialized;
  return Commit(std::move(change), &value_view, make,
                StoredValueOf<RouteRecord>);
}

absl::StatusOr<int64_t> TestLeader::DeleteRoute(absl::string_view service) {
  ChangeRecord change;
  change.set_kind(ROUTE_DELETE);
  change.set_service(std::string(service));
  KESS_ASSIGN_OR_RETURN(*change.mutable_path(), layout_.RoutePath(service));
  return Commit(std::move(change), nullptr, nullptr,
                StoredValueOf<RouteRecord>);
}

absl::StatusOr<int64_t> TestLeader::PutConfig(absl::string_view ns,
                                              absl::string_view key,
                                              absl::string_view value,
                                              absl::string_view content_type) {
  KESS_ASSIGN_OR_RETURN(std::string ns_path, layout_.NamespacePath(ns));
  NamespaceInfo info;
  info.set_namespace_name(std::string(ns));
  *info.mutable_meta() = MakeMeta("test", writer_);
  absl::StatusOr<std::string> created =
      zk_->Create(ns_path, Encode(info), CreateMode::kPersistent, acl_);
  if (!created.ok() && !absl::IsAlreadyExists(created.status())) {
    return created.status();
  }
  ChangeRecord change;
  change.set_kind(CONFIG_PUT);
  change.set_namespace_name(std::string(ns));
  change.set_key(std::string(key));
  KESS_ASSIGN_OR_RETURN(*change.mutable_path(), layout_.ConfigPath(ns, key));
  RecordMaker make =
      [&](int64_t revision, absl::string_view old_record,
          const StoredValue& stored) -> absl::StatusOr<std::string> {
    ConfigRecord record;
    int64_t version = 1;
    if (!old_record.empty()) {
      KESS_ASSIGN_OR_RETURN(ConfigRecord old,
                            DecodeAs<ConfigRecord>(old_record, ns_path));
      version = old.version() + 1;
    }
    record.set_namespace_name(std::string(ns));
    record.set_key(std::string(key));
    record.set_revision(revision);
    record.set_version(version);
    *record.mutable_value() = stored;
    record.set_content_type(std::string(content_type));
    *record.mutable_meta() = MakeMeta("test", writer_);
    return Encode(record);
  };
  return Commit(std::move(change), &value, make, StoredValueOf<ConfigRecord>);
}

absl::StatusOr<int64_t> TestLeader::DeleteConfig(absl::string_view ns,
                                                 absl::string_view key) {
  ChangeRecord change;
  change.set_kind(CONFIG_DELETE);
  change.set_namespace_name(std::string(ns));
  change.set_key(std::string(key));
  KESS_ASSIGN_OR_RETURN(*change.mutable_path(), layout_.ConfigPath(ns, key));
  return Commit(std::move(change), nullptr, nullptr,
                StoredValueOf<ConfigRecord>);
}

absl::StatusOr<int> TestLeader::Trim() {
  KESS_ASSIGN_OR_RETURN(auto current, ReadRevision(*zk_, layout_));
  return TrimChangelog(*zk_, layout_, current.first, kMaxChangelogRetention);
}

absl::StatusOr<int64_t> TestLeader::Commit(ChangeRecord change,
                                           const absl::string_view* value,
                                           const RecordMaker& make_record,
                                           const ValueOf& value_of) {
  const std::string path = change.path();
  *change.mutable_meta() = MakeMeta("test", writer_);
  absl::Status last;
  for (int attempt = 0; attempt < kCommitAttempts; ++attempt) {
    KESS_ASSIGN_OR_RETURN(auto current, ReadRevision(*zk_, layout_));
    const int64_t revision = current.first.revision() + 1;
    absl::StatusOr<GetResult> old = zk_->Get(path);
    if (!old.ok() && !absl::IsNotFound(old.status())) return old.status();
    MultiOps ops;
    StoredValue prepared;
    if (value == nullptr) {
      if (!old.ok()) return old.status();  // deleting what is not there
      ops.Delete(path, old->stat.version);
    } else {
      KESS_ASSIGN_OR_RETURN(prepared,
                            store_.Prepare(*value, path, change.meta()));
      absl::StatusOr<std::string> record =
          make_record(revision, old.ok() ? old->data : "", prepared);
      if (!record.ok()) {
        store_.Discard(prepared).IgnoreError();
        return record.status();
      }
      if (old.ok()) {
        ops.Set(path, *record, old->stat.version);
      } else {
        ops.Create(path, *record, CreateMode::kPersistent, acl_);
      }
      change.set_value_size(prepared.size());
      change.set_value_crc32(prepared.crc32());
    }
    change.set_revision(0);
    EmbedRecord(ops, &change);
    KESS_ASSIGN_OR_RETURN(
        RevisionSummary next,
        AddCommitOps(layout_, current.first, current.second, change, &ops));
    last = zk_->Multi(ops).status();
    if (last.ok()) {
      if (old.ok()) {
        absl::StatusOr<StoredValue> replaced = value_of(old->data, path);
        if (replaced.ok()) store_.Discard(*replaced).IgnoreError();
      }
      return next.revision();
    }
    store_.Discard(prepared).IgnoreError();
    if (!absl::IsAborted(last) && !absl::IsAlreadyExists(last) &&
        !absl::IsNotFound(last)) {
      return last;
    }
  }
  return last;
}

}  // namespace testing
}  // namespace zk
}  // namespace kess
