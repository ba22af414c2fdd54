#include "mandator/core/config_store.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "model/names.h"
#include "zk_schema/codec.h"
#include "zk_schema/gray.h"
#include "zk_schema/revision_log.h"
#include "zk_schema/zk_errors.h"

namespace kess {
namespace mandator {
namespace core {
namespace {

// Concurrent changes (another writer of the same ZooKeeper) are retried
// this often before giving up with Aborted.
constexpr int kCommitAttempts = 3;

std::string Name(const std::string& ns, const std::string& key) {
  return absl::StrCat(ns, "/", key);
}

absl::StatusOr<zk::StoredValue> ExtractValue(absl::string_view record,
                                             absl::string_view where) {
  KESS_ASSIGN_OR_RETURN(zk::ConfigRecord r,
                        zk::DecodeAs<zk::ConfigRecord>(record, where));
  return r.value();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ConfigStore>> ConfigStore::Create(
    zk::ZkApi* zk, Options options) {
  if (options.history_limit < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "history limit must be at least 1, not ", options.history_limit));
  }
  if (options.changelog_trim_batch < 1) options.changelog_trim_batch = 1;
  return std::unique_ptr<ConfigStore>(new ConfigStore(zk, std::move(options)));
}

ConfigStore::ConfigStore(zk::ZkApi* zk, Options options)
    : zk_(zk),
      options_(std::move(options)),
      chunks_(zk, options_.layout, options_.acl),
      settings_(zk, options_.layout, options_.acl, options_.writer_id,
                options_.secret_keys_dir) {}

absl::Status ConfigStore::ValidateWrite(
    const std::string& ns, const std::string& key,
    const std::optional<int64_t>& expected_revision, const std::string& author,
    const std::string& comment) const {
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kNamespace, ns));
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kKey, key));
  if (expected_revision.has_value() && *expected_revision < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "expected_revision must be >= 0, not ", *expected_revision));
  }
  if (author.size() > kMaxAuthorBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("author has ", author.size(),
                     " bytes, above the limit of ", kMaxAuthorBytes));
  }
  if (comment.size() > kMaxCommentBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("comment has ", comment.size(),
                     " bytes, above the limit of ", kMaxCommentBytes));
  }
  return absl::OkStatus();
}

absl::Status ConfigStore::ValidateValue(const char* what, const std::string& ns,
                                        const std::string& key,
                                        const std::string& value,
                                        const std::string& content_type) {
  if (value.size() > zk::kMaxValueBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " of ", Name(ns, key), " has ", value.size(),
                     " bytes, above the limit of ", zk::kMaxValueBytes,
                     " bytes (16 MiB); nothing was written"));
  }
  if (content_type.size() > kMaxContentTypeBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("content_type has ", content_type.size(),
                     " bytes, above the limit of ", kMaxContentTypeBytes));
  }
  return absl::OkStatus();
}

absl::StatusOr<NamespaceSettingsStore::CheckedValue> ConfigStore::CheckValue(
    const char* what, const std::string& ns, const std::string& key,
    const std::string& value, const std::string& content_type) {
  KESS_RETURN_IF_ERROR(ValidateValue(what, ns, key, value, content_type));
  return settings_.CheckValue(what, ns, key, value, content_type);
}

absl::Status ConfigStore::CheckExpected(
    const std::optional<int64_t>& expected,
    const std::optional<zk::ConfigRecord>& current, const std::string& ns,
    const std::string& key) {
  if (!expected.has_value()) return absl::OkStatus();
  const int64_t have = current.has_value() ? current->revision() : 0;
  if (have == *expected) return absl::OkStatus();
  return absl::AbortedError(
      absl::StrCat("compare-and-set failed for ", Name(ns, key),
                   ": expected revision ", *expected, ", current revision ",
                   have, current.has_value() ? "" : " (the key does not exist)",
                   "; nothing was changed"));
}

absl::StatusOr<std::optional<std::pair<zk::ConfigRecord, int>>>
ConfigStore::ReadRecord(const std::string& path) {
  absl::StatusOr<zk::GetResult> node = zk_->Get(path);
  if (absl::IsNotFound(node.status())) {
    return std::optional<std::pair<zk::ConfigRecord, int>>();
  }
  KESS_RETURN_IF_ERROR(node.status());
  KESS_ASSIGN_OR_RETURN(zk::ConfigRecord record,
                        zk::DecodeAs<zk::ConfigRecord>(node->data, path));
  return std::make_optional(std::make_pair(record, node->stat.version));
}

absl::StatusOr<ConfigStore::CommitBase> ConfigStore::ReadForCommit(
    const std::string& path, const std::optional<int64_t>& expected,
    const std::string& ns, const std::string& key) {
  CommitBase base;
  KESS_ASSIGN_OR_RETURN(base.current, ReadRecord(path));
  if (base.current.has_value()) base.replaced = base.current->first;
  KESS_RETURN_IF_ERROR(CheckExpected(expected, base.replaced, ns, key));
  return base;
}

CommitOptions ConfigStore::CommitOptionsFor(const std::string& fence,
                                            const std::string& what) const {
  CommitOptions commit;
  commit.fence = fence;
  commit.attempts = kCommitAttempts;
  commit.changelog_trim_batch = options_.changelog_trim_batch;
  commit.what = what;
  commit.min_revision = min_revision_.load();
  return commit;
}

void ConfigStore::RaiseMinRevision(int64_t revision) {
  int64_t current = min_revision_.load();
  while (revision > current &&
         !min_revision_.compare_exchange_weak(current, revision)) {
  }
}

absl::Status ConfigStore::AddParentCreates(const std::string& ns,
                                           const std::string& key,
                                           const zk::Meta& meta,
                                           zk::MultiOps* ops) {
  const zk::Layout& layout = options_.layout;
  KESS_ASSIGN_OR_RETURN(std::string ns_path, layout.NamespacePath(ns));
  KESS_ASSIGN_OR_RETURN(std::string hist_ns, layout.HistoryNamespaceDir(ns));
  KESS_ASSIGN_OR_RETURN(std::string hist_key, layout.HistoryKeyDir(ns, key));
  zk::NamespaceInfo info;
  info.set_namespace_name(ns);
  *info.mutable_meta() = meta;
  const std::pair<std::string, std::string> parents[] = {
      {ns_path, zk::Encode(info)}, {hist_ns, ""}, {hist_key, ""}};
  for (const auto& [path, data] : parents) {
    KESS_ASSIGN_OR_RETURN(std::optional<zk::Stat> stat, zk_->Exists(path));
    if (!stat.has_value()) {
      ops->Create(path, data, zk::CreateMode::kPersistent, options_.acl);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<CommitResult> ConfigStore::Put(const PutRequest& request,
                                              const std::string& fence) {
  return PutImpl(request, fence, /*ending_gray=*/false);
}

absl::StatusOr<CommitResult> ConfigStore::PutImpl(const PutRequest& request,
                                                  const std::string& fence,
                                                  bool ending_gray) {
  KESS_RETURN_IF_ERROR(ValidateWrite(request.ns, request.key,
                                     request.expected_revision, request.author,
                                     request.comment));
  KESS_ASSIGN_OR_RETURN(NamespaceSettingsStore::CheckedValue checked,
                        CheckValue("value", request.ns, request.key,
                                   request.value, request.content_type));
  const std::string& content_type = checked.content_type;
  KESS_ASSIGN_OR_RETURN(std::string path,
                        options_.layout.ConfigPath(request.ns, request.key));
  // A CAS that is already lost is refused before chunks are written.
  if (request.expected_revision.has_value()) {
    KESS_ASSIGN_OR_RETURN(auto current, ReadRecord(path));
    std::optional<zk::ConfigRecord> record;
    if (current.has_value()) record = current->first;
    KESS_RETURN_IF_ERROR(CheckExpected(request.expected_revision, record,
                                       request.ns, request.key));
  }
  const zk::Meta meta = zk::MakeMeta(request.author, options_.writer_id,
                                     absl::Now(), request.comment);
  KESS_ASSIGN_OR_RETURN(
      zk::StoredValue stored,
      chunks_.Prepare(checked.value, path, meta, kRecordInlineLimit));
  CommitOutcome outcome = CommitOutcome::kNotApplied;
  absl::StatusOr<CommitResult> result =
      CommitPut(request, content_type, path, stored, meta, fence, ending_gray,
                &outcome);
  if (!result.ok() && outcome == CommitOutcome::kNotApplied) {
    absl::Status discarded = chunks_.Discard(stored);
    LOG_IF(WARNING, !discarded.ok())
        << "orphan chunks for " << path << ": " << discarded;
  }
  return result;
}

absl::StatusOr<CommitResult> ConfigStore::CommitPut(
    const PutRequest& request, const std::string& content_type,
    const std::string& path,
    const zk::StoredValue& stored, const zk::Meta& meta,
    const std::string& fence, bool ending_gray, CommitOutcome* outcome) {
  const zk::Layout& layout = options_.layout;
  std::optional<zk::ConfigRecord> replaced;
  int64_t version = 0;
  CommitBuilder build = [&](const CommitAttempt& attempt, zk::MultiOps* ops,
                            zk::ChangeRecord* change) -> absl::Status {
    KESS_ASSIGN_OR_RETURN(CommitBase base,
                          ReadForCommit(path, request.expected_revision,
                                        request.ns, request.key));
    replaced = base.replaced;
    if (!ending_gray) {
      KESS_RETURN_IF_ERROR(RefuseDuringGray(
          request.ns, request.key, replaced ? replaced->revision() : 0));
    }
    zk::ConfigRecord record;
    record.set_namespace_name(request.ns);
    record.set_key(request.key);
    record.set_revision(attempt.revision);
    record.set_version(replaced.has_value() ? replaced->version() + 1 : 1);
    version = record.version();
    *record.mutable_value() = stored;
    record.set_content_type(content_type);
    *record.mutable_meta() = meta;
    const std::string data = zk::Encode(record);
    KESS_RETURN_IF_ERROR(AddParentCreates(request.ns, request.key, meta, ops));
    if (base.current.has_value()) {
      ops->Set(path, data, base.current->second);
    } else {
      ops->Create(path, data, zk::CreateMode::kPersistent, options_.acl);
    }
    KESS_ASSIGN_OR_RETURN(
        std::string history_path,
        layout.HistoryPath(request.ns, request.key, attempt.revision));
    ops->Create(history_path, data, zk::CreateMode::kPersistent, options_.acl);
    change->set_kind(zk::CONFIG_PUT);
    change->set_namespace_name(request.ns);
    change->set_key(request.key);
    change->set_path(path);
    change->set_value_size(stored.size());
    change->set_value_crc32(stored.crc32());
    *change->mutable_meta() = meta;
    return absl::OkStatus();
  };
  KESS_ASSIGN_OR_RETURN(
      Committed committed,
      CommitRecord(
          *zk_, layout,
          CommitOptionsFor(
              fence, absl::StrCat("write of ", Name(request.ns, request.key))),
          build, outcome));
  AfterCommit(request.ns, request.key, replaced);
  return CommitResult{committed.revision, version};
}

absl::StatusOr<CommitResult> ConfigStore::Delete(const DeleteRequest& request,
                                                 const std::string& fence) {
  KESS_RETURN_IF_ERROR(ValidateWrite(request.ns, request.key,
                                     request.expected_revision, request.author,
                                     request.comment));
  KESS_ASSIGN_OR_RETURN(std::string path,
                        options_.layout.ConfigPath(request.ns, request.key));
  const zk::Meta meta = zk::MakeMeta(request.author, options_.writer_id,
                                     absl::Now(), request.comment);
  std::optional<zk::ConfigRecord> replaced;
  CommitBuilder build = [&](const CommitAttempt&, zk::MultiOps* ops,
                            zk::ChangeRecord* change) -> absl::Status {
    KESS_ASSIGN_OR_RETURN(CommitBase base,
                          ReadForCommit(path, request.expected_revision,
                                        request.ns, request.key));
    if (!base.current.has_value()) {
      return absl::NotFoundError(absl::StrCat(
          "config ", Name(request.ns, request.key), " does not exist"));
    }
    replaced = base.replaced;
    KESS_RETURN_IF_ERROR(
        RefuseDuringGray(request.ns, request.key, replaced->revision()));
    ops->Delete(path, base.current->second);
    change->set_kind(zk::CONFIG_DELETE);
    change->set_namespace_name(request.ns);
    change->set_key(request.key);
    change->set_path(path);
    *change->mutable_meta() = meta;
    return absl::OkStatus();
  };
  CommitOutcome outcome;
  KESS_ASSIGN_OR_RETURN(
      Committed committed,
      CommitRecord(
          *zk_, options_.layout,
          CommitOptionsFor(
              fence, absl::StrCat("delete of ", Name(request.ns, request.key))),
          build, &outcome));
  AfterCommit(request.ns, request.key, replaced);
  return CommitResult{committed.revision, 0};
}

absl::StatusOr<CommitResult> ConfigStore::Rollback(
    const RollbackRequest& request, const std::string& fence) {
  KESS_RETURN_IF_ERROR(ValidateWrite(request.ns, request.key,
                                     request.expected_revision, request.author,
                                     request.comment));
  if (request.to_revision < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "to_revision must be a positive revision, not ", request.to_revision));
  }
  KESS_ASSIGN_OR_RETURN(std::string history_path,
                        options_.layout.HistoryPath(request.ns, request.key,
                                                    request.to_revision));
  absl::StatusOr<Config> old = LoadConfig(history_path);
  if (absl::IsNotFound(old.status())) {
    return absl::NotFoundError(absl::StrCat(
        "revision ", request.to_revision, " of ", Name(request.ns, request.key),
        " is not in its history (the last ", options_.history_limit,
        " versions are kept)"));
  }
  KESS_RETURN_IF_ERROR(old.status());
  PutRequest put;
  put.ns = request.ns;
  put.key = request.key;
  put.value = std::move(old->value);
  put.content_type = old->record.content_type();
  put.expected_revision = request.expected_revision;
  put.author = request.author;
  put.comment =
      absl::StrCat("rollback to revision ", request.to_revision,
                   request.comment.empty() ? "" : ": ", request.comment);
  if (put.comment.size() > kMaxCommentBytes)
    put.comment.resize(kMaxCommentBytes);
  return Put(put, fence);
}

absl::StatusOr<std::optional<std::pair<zk::GrayRecord, int>>>
ConfigStore::ReadGray(const std::string& ns, const std::string& key) {
  KESS_ASSIGN_OR_RETURN(std::string path, options_.layout.GrayPath(ns, key));
  absl::StatusOr<zk::GetResult> node = zk_->Get(path);
  if (absl::IsNotFound(node.status())) {
    return std::optional<std::pair<zk::GrayRecord, int>>();
  }
  KESS_RETURN_IF_ERROR(node.status());
  KESS_ASSIGN_OR_RETURN(zk::GrayRecord record,
                        zk::DecodeAs<zk::GrayRecord>(node->data, path));
  return std::make_optional(std::make_pair(record, node->stat.version));
}

absl::Status ConfigStore::RefuseDuringGray(const std::string& ns,
                                           const std::string& key,
                                           int64_t config_revision) {
  KESS_ASSIGN_OR_RETURN(auto gray, ReadGray(ns, key));
  if (!gray.has_value() || !zk::GrayActive(gray->first, config_revision)) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "a gray release of ", Name(ns, key), " is in progress (revision ",
      gray->first.revision(),
      "); promote or abort it before writing the config; nothing was "
      "changed"));
}

void ConfigStore::AfterCommit(const std::string& ns, const std::string& key,
                              const std::optional<zk::ConfigRecord>& replaced) {
  // The replaced value's chunks stay while its history node references
  // them; a record without a history node (written by an older tool or
  // replicated) has nobody else to collect them.
  if (replaced.has_value() &&
      replaced->value().body_case() == zk::StoredValue::kChunked) {
    absl::StatusOr<std::string> hist =
        options_.layout.HistoryPath(ns, key, replaced->revision());
    absl::StatusOr<std::optional<zk::Stat>> exists =
        hist.ok() ? zk_->Exists(*hist)
                  : absl::StatusOr<std::optional<zk::Stat>>(hist.status());
    if (exists.ok() && !exists->has_value()) {
      absl::Status discarded = chunks_.Discard(replaced->value());
      LOG_IF(WARNING, !discarded.ok())
          << "chunks of " << Name(ns, key) << " not collected: " << discarded;
    }
  }
  TrimHistory(ns, key);
}

void ConfigStore::TrimHistory(const std::string& ns, const std::string& key) {
  absl::StatusOr<std::string> dir = options_.layout.HistoryKeyDir(ns, key);
  if (!dir.ok()) return;
  absl::StatusOr<zk::ChildrenResult> children = zk_->GetChildren(*dir);
  if (!children.ok()) {
    LOG(WARNING) << "history of " << Name(ns, key)
                 << " not trimmed: " << children.status();
    return;
  }
  const std::vector<std::string>& names = children->children;  // oldest first
  const int excess = static_cast<int>(names.size()) - options_.history_limit;
  for (int i = 0; i < excess; ++i) {
    const std::string path = absl::StrCat(*dir, "/", names[i]);
    absl::StatusOr<zk::GetResult> node = zk_->Get(path);
    if (!node.ok()) continue;
    absl::StatusOr<zk::ConfigRecord> record =
        zk::DecodeAs<zk::ConfigRecord>(node->data, path);
    absl::Status deleted = zk_->Delete(path, node->stat.version);
    if (!deleted.ok()) {
      LOG(WARNING) << "history node " << path << " not deleted: " << deleted;
      continue;
    }
    if (record.ok()) {
      absl::Status discarded = chunks_.Discard(record->value());
      LOG_IF(WARNING, !discarded.ok())
          << "chunks of " << path << " not collected: " << discarded;
    }
  }
}

absl::StatusOr<Config> ConfigStore::LoadConfig(const std::string& path) {
  KESS_ASSIGN_OR_RETURN(
      zk::ChunkedValueStore::ReadResult read,
      chunks_.ReadRecord(path, [&path](absl::string_view record) {
        return ExtractValue(record, path);
      }));
  Config config;
  KESS_RETURN_IF_ERROR(zk::Decode(read.record, path, &config.record));
  config.value = std::move(read.value);
  return config;
}

absl::StatusOr<Config> ConfigStore::Get(const std::string& ns,
                                        const std::string& key) {
  KESS_ASSIGN_OR_RETURN(std::string path, options_.layout.ConfigPath(ns, key));
  absl::StatusOr<Config> config = LoadConfig(path);
  if (absl::IsNotFound(config.status())) {
    return absl::NotFoundError(
        absl::StrCat("config ", Name(ns, key), " does not exist"));
  }
  return config;
}

absl::StatusOr<std::vector<std::string>> ConfigStore::ListNamespaces() {
  KESS_ASSIGN_OR_RETURN(zk::ChildrenResult children,
                        zk_->GetChildren(options_.layout.ConfigsDir()));
  return std::move(children.children);
}

absl::StatusOr<std::vector<KeyInfo>> ConfigStore::ListKeys(
    const std::string& ns) {
  KESS_ASSIGN_OR_RETURN(std::vector<std::string> names, ListKeyNames(ns));
  return KeyInfos(ns, names);
}

absl::StatusOr<std::vector<std::string>> ConfigStore::ListKeyNames(
    const std::string& ns) {
  KESS_ASSIGN_OR_RETURN(std::string ns_path, options_.layout.NamespacePath(ns));
  absl::StatusOr<zk::ChildrenResult> children = zk_->GetChildren(ns_path);
  if (absl::IsNotFound(children.status())) {
    return absl::NotFoundError(
        absl::StrCat("namespace ", ns, " does not exist"));
  }
  KESS_RETURN_IF_ERROR(children.status());
  std::vector<std::string> names = std::move(children->children);
  std::sort(names.begin(), names.end());
  return names;
}

absl::StatusOr<std::vector<KeyInfo>> ConfigStore::KeyInfos(
    const std::string& ns, const std::vector<std::string>& names) {
  std::vector<KeyInfo> keys;
  for (const std::string& key : names) {
    KESS_ASSIGN_OR_RETURN(std::string path,
                          options_.layout.ConfigPath(ns, key));
    KESS_ASSIGN_OR_RETURN(auto record, ReadRecord(path));
    if (!record.has_value()) continue;  // deleted meanwhile
    keys.push_back(KeyInfo{key, record->first.revision(),
                           record->first.version(),
                           record->first.value().size()});
  }
  return keys;
}

absl::StatusOr<std::vector<Config>> ConfigStore::History(const std::string& ns,
                                                         const std::string& key,
                                                         int limit) {
  if (limit < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("history limit must be at least 1, not ", limit));
  }
  KESS_ASSIGN_OR_RETURN(std::string dir,
                        options_.layout.HistoryKeyDir(ns, key));
  absl::StatusOr<zk::ChildrenResult> children = zk_->GetChildren(dir);
  if (absl::IsNotFound(children.status())) {
    return absl::NotFoundError(
        absl::StrCat("config ", Name(ns, key), " has no history"));
  }
  KESS_RETURN_IF_ERROR(children.status());
  std::vector<Config> versions;
  const std::vector<std::string>& names = children->children;
  for (auto it = names.rbegin();
       it != names.rend() && static_cast<int>(versions.size()) < limit; ++it) {
    absl::StatusOr<Config> config = LoadConfig(absl::StrCat(dir, "/", *it));
    if (absl::IsNotFound(config.status())) continue;  // trimmed meanwhile
    KESS_RETURN_IF_ERROR(config.status());
    versions.push_back(*std::move(config));
  }
  return versions;
}

absl::StatusOr<int64_t> ConfigStore::Revision() {
  KESS_ASSIGN_OR_RETURN(auto summary, zk::ReadRevision(*zk_, options_.layout));
  return summary.first.revision();
}

}  // namespace core
}  // namespace mandator
}  // namespace kess
