#include "mandator/routes/route_store.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "mandator/core/record_commit.h"
#include "model/route_delta.h"
#include "zk_schema/codec.h"

namespace kess {
namespace mandator {
namespace routes {
namespace {

constexpr int kCommitAttempts = 3;

absl::StatusOr<zk::StoredValue> ValueOf(absl::string_view record,
                                        absl::string_view where) {
  KESS_ASSIGN_OR_RETURN(zk::RouteRecord r,
                        zk::DecodeAs<zk::RouteRecord>(record, where));
  return r.value();
}

}  // namespace

RouteStore::RouteStore(zk::ZkApi* zk, Options options)
    : zk_(zk),
      options_(std::move(options)),
      chunks_(zk, options_.layout, options_.acl) {}

absl::StatusOr<int64_t> RouteStore::Put(const RouteTable& table,
                                        const std::string& fence,
                                        const RouteTable* previous) {
  KESS_ASSIGN_OR_RETURN(std::string path,
                        options_.layout.RoutePath(table.service));
  const zk::Meta meta = zk::MakeMeta("kess", options_.writer_id, absl::Now());
  std::optional<zk::StoredValue> prepared;  // of the latest attempt
  std::optional<zk::StoredValue> replaced;
  bool with_delta = false;
  core::CommitBuilder build = [&](const core::CommitAttempt& attempt,
                                  zk::MultiOps* ops,
                                  zk::ChangeRecord* change) -> absl::Status {
    if (prepared.has_value()) {  // the previous attempt did not apply
      chunks_.Discard(*prepared).IgnoreError();
      prepared.reset();
    }
    absl::StatusOr<zk::GetResult> old = zk_->Get(path);
    if (!old.ok() && !absl::IsNotFound(old.status())) return old.status();
    replaced.reset();
    int64_t old_revision = -1;
    if (old.ok()) {
      absl::StatusOr<zk::RouteRecord> record =
          zk::DecodeAs<zk::RouteRecord>(old->data, path);
      if (record.ok()) {
        replaced = record->value();
        old_revision = record->revision();
      }
    }
    RouteTable versioned = table;
    versioned.revision = attempt.revision;
    KESS_ASSIGN_OR_RETURN(
        prepared, chunks_.Prepare(RouteTableToJson(versioned), path, meta));
    with_delta = false;
    if (previous != nullptr && previous->revision == old_revision &&
        previous->revision > 0 && previous->revision < attempt.revision) {
      std::string delta =
          RouteDeltaToJson(ComputeRouteDelta(*previous, versioned));
      if (delta.size() <= kMaxStoredRouteDeltaBytes &&
          delta.size() < prepared->size() / 2) {
        change->set_route_delta(std::move(delta));
        with_delta = true;
      }
    }
    zk::RouteRecord record;
    record.set_service(table.service);
    record.set_revision(attempt.revision);
    *record.mutable_value() = *prepared;
    record.set_instance_count(static_cast<uint32_t>(table.instances.size()));
    *record.mutable_meta() = meta;
    if (old.ok()) {
      ops->Set(path, zk::Encode(record), old->stat.version);
    } else {
      ops->Create(path, zk::Encode(record), zk::CreateMode::kPersistent,
                  options_.acl);
    }
    change->set_kind(zk::ROUTE_PUT);
    change->set_service(table.service);
    change->set_path(path);
    change->set_value_size(prepared->size());
    change->set_value_crc32(prepared->crc32());
    *change->mutable_meta() = meta;
    return absl::OkStatus();
  };
  core::CommitOptions commit;
  commit.fence = fence;
  commit.attempts = kCommitAttempts;
  commit.changelog_trim_batch = options_.changelog_trim_batch;
  commit.min_revision = min_revision_;
  commit.what = absl::StrCat("route table of ", table.service);
  core::CommitOutcome outcome = core::CommitOutcome::kNotApplied;
  absl::StatusOr<core::Committed> committed =
      core::CommitRecord(*zk_, options_.layout, commit, build, &outcome);
  if (!committed.ok()) {
    if (prepared.has_value() && outcome == core::CommitOutcome::kNotApplied) {
      chunks_.Discard(*prepared).IgnoreError();
    }
    return committed.status();
  }
  (with_delta ? deltas_written_ : deltas_skipped_).fetch_add(1);
  if (replaced.has_value()) {
    absl::Status discarded = chunks_.Discard(*replaced);
    LOG_IF(WARNING, !discarded.ok())
        << "chunks of " << path << " not collected: " << discarded;
  }
  return committed->revision;
}

void RouteStore::RaiseMinRevision(int64_t revision) {
  int64_t current = min_revision_.load();
  while (revision > current &&
         !min_revision_.compare_exchange_weak(current, revision)) {
  }
}

absl::StatusOr<int64_t> RouteStore::Delete(const std::string& service,
                                           const std::string& fence) {
  KESS_ASSIGN_OR_RETURN(std::string path, options_.layout.RoutePath(service));
  const zk::Meta meta = zk::MakeMeta("kess", options_.writer_id, absl::Now());
  std::optional<zk::StoredValue> replaced;
  core::CommitBuilder build = [&](const core::CommitAttempt&, zk::MultiOps* ops,
                                  zk::ChangeRecord* change) -> absl::Status {
    absl::StatusOr<zk::GetResult> old = zk_->Get(path);
    if (absl::IsNotFound(old.status())) {
      return absl::NotFoundError(
          absl::StrCat("service ", service, " has no route table"));
    }
    KESS_RETURN_IF_ERROR(old.status());
    replaced.reset();
    absl::StatusOr<zk::StoredValue> value = ValueOf(old->data, path);
    if (value.ok()) replaced = *value;
    ops->Delete(path, old->stat.version);
    change->set_kind(zk::ROUTE_DELETE);
    change->set_service(service);
    change->set_path(path);
    *change->mutable_meta() = meta;
    return absl::OkStatus();
  };
  core::CommitOptions commit;
  commit.fence = fence;
  commit.attempts = kCommitAttempts;
  commit.changelog_trim_batch = options_.changelog_trim_batch;
  commit.min_revision = min_revision_;
  commit.what = absl::StrCat("delete of the route table of ", service);
  core::CommitOutcome outcome;
  KESS_ASSIGN_OR_RETURN(
      core::Committed committed,
      core::CommitRecord(*zk_, options_.layout, commit, build, &outcome));
  if (replaced.has_value()) chunks_.Discard(*replaced).IgnoreError();
  return committed.revision;
}

absl::StatusOr<std::optional<RouteTable>> RouteStore::Get(
    const std::string& service) {
  KESS_ASSIGN_OR_RETURN(std::string path, options_.layout.RoutePath(service));
  absl::StatusOr<zk::ChunkedValueStore::ReadResult> read = chunks_.ReadRecord(
      path, [&path](absl::string_view data) { return ValueOf(data, path); });
  if (absl::IsNotFound(read.status())) {
    KESS_ASSIGN_OR_RETURN(std::optional<zk::Stat> exists, zk_->Exists(path));
    if (!exists.has_value()) return std::optional<RouteTable>();
    return read.status();
  }
  KESS_RETURN_IF_ERROR(read.status());
  KESS_ASSIGN_OR_RETURN(zk::RouteRecord record,
                        zk::DecodeAs<zk::RouteRecord>(read->record, path));
  absl::StatusOr<RouteTable> table = RouteTableFromJson(read->value);
  if (!table.ok()) {
    return absl::DataLossError(
        absl::StrCat("route table at ", path, ": ", table.status().message()));
  }
  table->revision = record.revision();
  return std::make_optional(*std::move(table));
}

absl::StatusOr<RouteTables> RouteStore::LoadAll() {
  KESS_ASSIGN_OR_RETURN(zk::ChildrenResult children,
                        zk_->GetChildren(options_.layout.RoutesDir()));
  // Every record in one pipelined batch (a new leader loads thousands of
  // services; one round trip each would take seconds). Chunked values, and
  // records that changed under the read, go through Get() one by one.
  std::vector<zk::GetRequest> requests;
  std::vector<std::string> services;
  for (const std::string& service : children.children) {
    absl::StatusOr<std::string> path = options_.layout.RoutePath(service);
    if (!path.ok()) {
      LOG(WARNING) << "skipping route table " << service << ": "
                   << path.status();
      continue;
    }
    requests.push_back({*path, nullptr});
    services.push_back(service);
  }
  std::vector<absl::StatusOr<zk::GetResult>> nodes =
      zk_->GetMany(std::move(requests));
  RouteTables tables;
  for (size_t i = 0; i < services.size(); ++i) {
    const std::string& service = services[i];
    if (absl::IsNotFound(nodes[i].status())) continue;  // deleted meanwhile
    KESS_RETURN_IF_ERROR(nodes[i].status());
    absl::StatusOr<std::optional<RouteTable>> table =
        FromInlineRecord(nodes[i]->data, service);
    if (absl::IsUnimplemented(table.status())) table = Get(service);
    if (absl::IsDataLoss(table.status()) ||
        absl::IsInvalidArgument(table.status())) {
      LOG(WARNING) << "skipping route table " << service << ": "
                   << table.status();
      continue;
    }
    KESS_RETURN_IF_ERROR(table.status());
    if (table->has_value()) tables[service] = **std::move(table);
  }
  return tables;
}

absl::StatusOr<std::optional<RouteTable>> RouteStore::FromInlineRecord(
    const std::string& data, const std::string& service) {
  KESS_ASSIGN_OR_RETURN(std::string path, options_.layout.RoutePath(service));
  KESS_ASSIGN_OR_RETURN(zk::RouteRecord record,
                        zk::DecodeAs<zk::RouteRecord>(data, path));
  if (record.value().body_case() == zk::StoredValue::kChunked) {
    return absl::UnimplementedError("chunked: read through the store");
  }
  // Verifies size and CRC-32; reads nothing for an inline value.
  KESS_ASSIGN_OR_RETURN(std::string value, chunks_.Load(record.value(), path));
  absl::StatusOr<RouteTable> table = RouteTableFromJson(value);
  if (!table.ok()) {
    return absl::DataLossError(
        absl::StrCat("route table at ", path, ": ", table.status().message()));
  }
  table->revision = record.revision();
  return std::make_optional(*std::move(table));
}

}  // namespace routes
}  // namespace mandator
}  // namespace kess
