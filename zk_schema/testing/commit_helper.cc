#include "zk_schema/testing/commit_helper.h"

#include <functional>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "zk_schema/chunked_value.h"
#include "zk_schema/codec.h"
#include "zk_schema/revision_log.h"

namespace kess {
namespace zk {
namespace testing {
namespace {

// Attempts of one commit when the revision compare-and-set (or a record
// version check) loses against another writer.
constexpr int kCommitAttempts = 10;

Meta HelperMeta() { return MakeMeta("test", "commit_helper"); }

// The record node's current data and version, nullopt if absent.
absl::StatusOr<std::optional<GetResult>> ReadOptional(ZkApi& zk,
                                                      const std::string& path) {
  absl::StatusOr<GetResult> node = zk.Get(path);
  if (absl::IsNotFound(node.status())) return std::nullopt;
  if (!node.ok()) return node.status();
  return std::optional<GetResult>(*std::move(node));
}

bool Retryable(const absl::Status& status) {
  return absl::IsAborted(status) || absl::IsAlreadyExists(status) ||
         absl::IsNotFound(status);
}

// One change: `build` adds the record ops (and returns the ChangeRecord for
// revision `next_revision`); the commit ops follow; on success `after` runs.
// Retries a lost race.
absl::StatusOr<int64_t> Commit(
    ZkApi& zk, const Layout& layout,
    const std::function<absl::StatusOr<ChangeRecord>(int64_t next_revision,
                                                     MultiOps* ops)>& build,
    const std::function<void(bool committed)>& after) {
  absl::Status last;
  for (int attempt = 0; attempt < kCommitAttempts; ++attempt) {
    KESS_ASSIGN_OR_RETURN(auto current, ReadRevision(zk, layout));
    MultiOps ops;
    KESS_ASSIGN_OR_RETURN(ChangeRecord change,
                          build(current.first.revision() + 1, &ops));
    KESS_ASSIGN_OR_RETURN(
        RevisionSummary next,
        AddCommitOps(layout, current.first, current.second, change, &ops));
    absl::Status status = zk.Multi(ops).status();
    after(status.ok());
    if (status.ok()) return next.revision();
    last = status;
    if (!Retryable(status)) return status;
  }
  return last;
}

}  // namespace

absl::StatusOr<int64_t> PutConfig(ZkApi& zk, const Layout& layout,
                                  const std::string& ns, const std::string& key,
                                  const std::string& value,
                                  const std::string& content_type) {
  KESS_ASSIGN_OR_RETURN(std::string path, layout.ConfigPath(ns, key));
  KESS_ASSIGN_OR_RETURN(std::string ns_path, layout.NamespacePath(ns));
  ChunkedValueStore store(&zk, layout);
  StoredValue prepared;
  std::optional<StoredValue> replaced;
  auto build = [&](int64_t revision,
                   MultiOps* ops) -> absl::StatusOr<ChangeRecord> {
    const Meta meta = HelperMeta();
    KESS_ASSIGN_OR_RETURN(std::optional<GetResult> existing,
                          ReadOptional(zk, path));
    ConfigRecord record;
    replaced.reset();
    if (existing.has_value()) {
      KESS_ASSIGN_OR_RETURN(record,
                            DecodeAs<ConfigRecord>(existing->data, path));
      replaced = record.value();
    } else {
      KESS_ASSIGN_OR_RETURN(std::optional<Stat> ns_stat, zk.Exists(ns_path));
      if (!ns_stat.has_value()) {
        NamespaceInfo info;
        info.set_namespace_name(ns);
        *info.mutable_meta() = meta;
        ops->Create(ns_path, Encode(info));
      }
    }
    KESS_ASSIGN_OR_RETURN(prepared, store.Prepare(value, path, meta));
    record.set_namespace_name(ns);
    record.set_key(key);
    record.set_revision(revision);
    record.set_version(record.version() + 1);
    *record.mutable_value() = prepared;
    record.set_content_type(content_type);
    *record.mutable_meta() = meta;
    if (existing.has_value()) {
      ops->Set(path, Encode(record), existing->stat.version);
    } else {
      ops->Create(path, Encode(record));
    }
    ChangeRecord change;
    change.set_kind(CONFIG_PUT);
    change.set_namespace_name(ns);
    change.set_key(key);
    change.set_path(path);
    change.set_value_size(prepared.size());
    change.set_value_crc32(prepared.crc32());
    *change.mutable_meta() = meta;
    return change;
  };
  auto after = [&](bool committed) {
    absl::Status discarded =
        committed ? (replaced ? store.Discard(*replaced) : absl::OkStatus())
                  : store.Discard(prepared);
    LOG_IF(WARNING, !discarded.ok()) << "chunks not collected: " << discarded;
  };
  return Commit(zk, layout, build, after);
}

absl::StatusOr<int64_t> DeleteConfig(ZkApi& zk, const Layout& layout,
                                     const std::string& ns,
                                     const std::string& key) {
  KESS_ASSIGN_OR_RETURN(std::string path, layout.ConfigPath(ns, key));
  ChunkedValueStore store(&zk, layout);
  std::optional<StoredValue> replaced;
  auto build = [&](int64_t, MultiOps* ops) -> absl::StatusOr<ChangeRecord> {
    KESS_ASSIGN_OR_RETURN(GetResult existing, zk.Get(path));
    KESS_ASSIGN_OR_RETURN(ConfigRecord record,
                          DecodeAs<ConfigRecord>(existing.data, path));
    replaced = record.value();
    ops->Delete(path, existing.stat.version);
    ChangeRecord change;
    change.set_kind(CONFIG_DELETE);
    change.set_namespace_name(ns);
    change.set_key(key);
    change.set_path(path);
    *change.mutable_meta() = HelperMeta();
    return change;
  };
  auto after = [&](bool committed) {
    if (committed && replaced) (void)store.Discard(*replaced);
  };
  return Commit(zk, layout, build, after);
}

absl::StatusOr<int64_t> PutRoute(ZkApi& zk, const Layout& layout,
                                 RouteTable table) {
  const std::string service = table.service();
  KESS_ASSIGN_OR_RETURN(std::string path, layout.RoutePath(service));
  ChunkedValueStore store(&zk, layout);
  StoredValue prepared;
  std::optional<StoredValue> replaced;
  auto build = [&](int64_t revision,
                   MultiOps* ops) -> absl::StatusOr<ChangeRecord> {
    const Meta meta = HelperMeta();
    KESS_ASSIGN_OR_RETURN(std::optional<GetResult> existing,
                          ReadOptional(zk, path));
    replaced.reset();
    if (existing.has_value()) {
      KESS_ASSIGN_OR_RETURN(RouteRecord old,
                            DecodeAs<RouteRecord>(existing->data, path));
      replaced = old.value();
    }
    table.set_revision(revision);
    KESS_ASSIGN_OR_RETURN(prepared, store.Prepare(Encode(table), path, meta));
    RouteRecord record;
    record.set_service(service);
    record.set_revision(revision);
    *record.mutable_value() = prepared;
    record.set_instance_count(table.instances_size());
    *record.mutable_meta() = meta;
    if (existing.has_value()) {
      ops->Set(path, Encode(record), existing->stat.version);
    } else {
      ops->Create(path, Encode(record));
    }
    ChangeRecord change;
    change.set_kind(ROUTE_PUT);
    change.set_service(service);
    change.set_path(path);
    change.set_value_size(prepared.size());
    change.set_value_crc32(prepared.crc32());
    *change.mutable_meta() = meta;
    return change;
  };
  auto after = [&](bool committed) {
    absl::Status discarded =
        committed ? (replaced ? store.Discard(*replaced) : absl::OkStatus())
                  : store.Discard(prepared);
    LOG_IF(WARNING, !discarded.ok()) << "chunks not collected: " << discarded;
  };
  return Commit(zk, layout, build, after);
}

absl::StatusOr<int64_t> DeleteRoute(ZkApi& zk, const Layout& layout,
                                    const std::string& service) {
  KESS_ASSIGN_OR_RETURN(std::string path, layout.RoutePath(service));
  ChunkedValueStore store(&zk, layout);
  std::optional<StoredValue> replaced;
  auto build = [&](int64_t, MultiOps* ops) -> absl::StatusOr<ChangeRecord> {
    KESS_ASSIGN_OR_RETURN(GetResult existing, zk.Get(path));
    KESS_ASSIGN_OR_RETURN(RouteRecord record,
                          DecodeAs<RouteRecord>(existing.data, path));
    replaced = record.value();
    ops->Delete(path, existing.stat.version);
    ChangeRecord change;
    change.set_kind(ROUTE_DELETE);
    change.set_service(service);
    change.set_path(path);
    *change.mutable_meta() = HelperMeta();
    return change;
  };
  auto after = [&](bool committed) {
    if (committed && replaced) (void)store.Discard(*replaced);
  };
  return Commit(zk, layout, build, after);
}

absl::StatusOr<int64_t> SeedConfigs(ZkApi& zk, const Layout& layout,
                                    const std::vector<SeedItem>& items) {
  KESS_ASSIGN_OR_RETURN(auto current, ReadRevision(zk, layout));
  const int64_t revision = current.first.revision() + 1;
  const Meta meta = HelperMeta();

  std::set<std::string> namespaces;
  for (const SeedItem& item : items) namespaces.insert(item.ns);
  for (const std::string& ns : namespaces) {
    KESS_ASSIGN_OR_RETURN(std::string ns_path, layout.NamespacePath(ns));
    NamespaceInfo info;
    info.set_namespace_name(ns);
    *info.mutable_meta() = meta;
    absl::Status created = zk.Create(ns_path, Encode(info)).status();
    if (!created.ok() && !absl::IsAlreadyExists(created)) return created;
  }

  MultiOps ops;
  size_t estimate = 0;
  auto flush = [&]() -> absl::Status {
    if (ops.empty()) return absl::OkStatus();
    KESS_RETURN_IF_ERROR(zk.Multi(ops).status());
    ops = MultiOps();
    estimate = 0;
    return absl::OkStatus();
  };
  for (const SeedItem& item : items) {
    if (item.value.size() > kInlineValueLimit) {
      return absl::InvalidArgumentError(
          absl::StrCat("SeedConfigs stores values inline only; ", item.ns, "/",
                       item.key, " has ", item.value.size(), " bytes"));
    }
    KESS_ASSIGN_OR_RETURN(std::string path,
                          layout.ConfigPath(item.ns, item.key));
    ConfigRecord record;
    record.set_namespace_name(item.ns);
    record.set_key(item.key);
    record.set_revision(revision);
    record.set_version(1);
    *record.mutable_value() = MakeInlineValue(item.value);
    record.set_content_type("text/plain");
    *record.mutable_meta() = meta;
    std::string data = Encode(record);
    const size_t bytes = EstimateCreateBytes(path, data.size(), {});
    if (estimate + bytes > kMaxRequestBytes / 2) KESS_RETURN_IF_ERROR(flush());
    estimate += bytes;
    ops.Create(path, std::move(data));
  }
  KESS_RETURN_IF_ERROR(flush());

  // No change records: oldest_retained above the revision sends every
  // follower that held an older revision to a full resync.
  RevisionSummary next = current.first;
  next.set_revision(revision);
  next.set_oldest_retained(revision + 1);
  next.set_last_kind(CONFIG_PUT);
  next.set_last_target(layout.ConfigsDir());
  *next.mutable_meta() = meta;
  KESS_RETURN_IF_ERROR(
      zk.Set(layout.RevisionPath(), Encode(next), current.second).status());
  return revision;
}

}  // namespace testing
}  // namespace zk
}  // namespace kess
