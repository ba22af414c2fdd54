#include "mandator/core/gray_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "mandator/core/record_commit.h"
#include "model/names.h"
#include "zk_schema/codec.h"
#include "zk_schema/gray.h"

namespace kess {
namespace mandator {
namespace core {
namespace {

std::string Name(const std::string& ns, const std::string& key) {
  return absl::StrCat(ns, "/", key);
}

}  // namespace

GrayStore::GrayStore(zk::ZkApi* zk, ConfigStore* configs)
    : zk_(zk),
      configs_(configs),
      chunks_(zk, configs->layout(), configs->options_.acl) {}

absl::StatusOr<CommitResult> GrayStore::Start(const GrayRequest& request,
                                              const std::string& fence) {
  KESS_RETURN_IF_ERROR(configs_->ValidateWrite(
      request.ns, request.key, request.expected_revision, request.author,
      request.comment));
  KESS_RETURN_IF_ERROR(ConfigStore::ValidateValue("gray value", request.ns,
                                                  request.key, request.value,
                                                  request.content_type));
  if (request.percentage > 100) {
    return absl::InvalidArgumentError(
        absl::StrCat("percentage must be 0..100, not ", request.percentage));
  }
  if (request.hosts.size() > kMaxGrayHosts) {
    return absl::InvalidArgumentError(
        absl::StrCat("a gray release names at most ", kMaxGrayHosts,
                     " hosts, not ", request.hosts.size()));
  }
  for (const std::string& host : request.hosts) {
    KESS_RETURN_IF_ERROR(ValidateName(NameKind::kHost, host));
  }
  if (request.hosts.empty() && request.percentage == 0) {
    return absl::InvalidArgumentError(
        "a gray release needs hosts or a percentage above 0");
  }
  const zk::Layout& layout = configs_->layout();
  KESS_ASSIGN_OR_RETURN(std::string config_path,
                        layout.ConfigPath(request.ns, request.key));
  KESS_ASSIGN_OR_RETURN(std::string gray_path,
                        layout.GrayPath(request.ns, request.key));
  KESS_ASSIGN_OR_RETURN(std::string gray_dir,
                        layout.GrayNamespaceDir(request.ns));
  std::vector<std::string> hosts = request.hosts;
  std::sort(hosts.begin(), hosts.end());
  hosts.erase(std::unique(hosts.begin(), hosts.end()), hosts.end());
  // Checks that need no commit come first (no chunks are written for a
  // refused start).
  auto check = [&]() -> absl::StatusOr<zk::ConfigRecord> {
    KESS_ASSIGN_OR_RETURN(auto current, configs_->ReadRecord(config_path));
    if (!current.has_value()) {
      return absl::NotFoundError(absl::StrCat(
          "config ", Name(request.ns, request.key),
          " does not exist; a gray release needs a config to start from"));
    }
    KESS_RETURN_IF_ERROR(ConfigStore::CheckExpected(
        request.expected_revision, current->first, request.ns, request.key));
    KESS_RETURN_IF_ERROR(configs_->RefuseDuringGray(request.ns, request.key,
                                                    current->first.revision()));
    return current->first;
  };
  KESS_ASSIGN_OR_RETURN(zk::ConfigRecord base, check());
  // Without a content type the gray value takes the config's; it is
  // checked in that format and against the namespace's settings.
  KESS_ASSIGN_OR_RETURN(
      NamespaceSettingsStore::CheckedValue checked,
      configs_->CheckValue("gray value", request.ns, request.key,
                           request.value,
                           request.content_type.empty()
                               ? base.content_type()
                               : request.content_type));
  const std::string& content_type = checked.content_type;
  const zk::Meta meta =
      zk::MakeMeta(request.author, configs_->options_.writer_id, absl::Now(),
                   request.comment);
  KESS_ASSIGN_OR_RETURN(
      zk::StoredValue stored,
      chunks_.Prepare(checked.value, gray_path, meta, kRecordInlineLimit));
  std::optional<zk::GrayRecord> replaced;
  CommitBuilder build = [&](const CommitAttempt& attempt, zk::MultiOps* ops,
                            zk::ChangeRecord* change) -> absl::Status {
    KESS_ASSIGN_OR_RETURN(zk::ConfigRecord config, check());
    KESS_ASSIGN_OR_RETURN(auto old,
                          configs_->ReadGray(request.ns, request.key));
    replaced.reset();
    zk::GrayRecord record;
    record.set_namespace_name(request.ns);
    record.set_key(request.key);
    record.set_revision(attempt.revision);
    record.set_base_revision(config.revision());
    *record.mutable_value() = stored;
    record.set_content_type(content_type);
    for (const std::string& host : hosts) record.add_hosts(host);
    record.set_percentage(request.percentage);
    *record.mutable_meta() = meta;
    const std::string data = zk::Encode(record);
    KESS_ASSIGN_OR_RETURN(std::optional<zk::Stat> dir, zk_->Exists(gray_dir));
    if (!dir.has_value()) {
      ops->Create(gray_dir, "", zk::CreateMode::kPersistent,
                  configs_->options_.acl);
    }
    if (old.has_value()) {  // an inactive left-over is replaced
      replaced = old->first;
      ops->Set(gray_path, data, old->second);
    } else {
      ops->Create(gray_path, data, zk::CreateMode::kPersistent,
                  configs_->options_.acl);
    }
    change->set_kind(zk::GRAY_PUT);
    change->set_namespace_name(request.ns);
    change->set_key(request.key);
    change->set_path(gray_path);
    change->set_value_size(stored.size());
    change->set_value_crc32(stored.crc32());
    *change->mutable_meta() = meta;
    return absl::OkStatus();
  };
  CommitOutcome outcome = CommitOutcome::kNotApplied;
  absl::StatusOr<Committed> committed = CommitRecord(
      *zk_, layout,
      configs_->CommitOptionsFor(
          fence,
          absl::StrCat("gray release of ", Name(request.ns, request.key))),
      build, &outcome);
  if (!committed.ok()) {
    if (outcome == CommitOutcome::kNotApplied) {
      absl::Status discarded = chunks_.Discard(stored);
      LOG_IF(WARNING, !discarded.ok())
          << "orphan chunks for " << gray_path << ": " << discarded;
    }
    return committed.status();
  }
  if (replaced.has_value()) {
    absl::Status discarded = chunks_.Discard(replaced->value());
    LOG_IF(WARNING, !discarded.ok()) << "chunks of the replaced " << gray_path
                                     << " not collected: " << discarded;
  }
  return CommitResult{committed->revision, 0};
}

absl::StatusOr<CommitResult> GrayStore::DeleteRecord(const std::string& ns,
                                                     const std::string& key,
                                                     const zk::Meta& meta,
                                                     const std::string& fence) {
  KESS_ASSIGN_OR_RETURN(std::string gray_path,
                        configs_->layout().GrayPath(ns, key));
  std::optional<zk::GrayRecord> deleted;
  CommitBuilder build = [&](const CommitAttempt&, zk::MultiOps* ops,
                            zk::ChangeRecord* change) -> absl::Status {
    KESS_ASSIGN_OR_RETURN(auto gray, configs_->ReadGray(ns, key));
    if (!gray.has_value()) {
      return absl::NotFoundError(
          absl::StrCat("no gray release of ", Name(ns, key)));
    }
    deleted = gray->first;
    ops->Delete(gray_path, gray->second);
    change->set_kind(zk::GRAY_DELETE);
    change->set_namespace_name(ns);
    change->set_key(key);
    change->set_path(gray_path);
    *change->mutable_meta() = meta;
    return absl::OkStatus();
  };
  CommitOutcome outcome;
  KESS_ASSIGN_OR_RETURN(Committed committed,
                        CommitRecord(*zk_, configs_->layout(),
                                     configs_->CommitOptionsFor(
                                         fence, absl::StrCat("end of the gray "
                                                             "release of ",
                                                             Name(ns, key))),
                                     build, &outcome));
  if (deleted.has_value()) {
    absl::Status discarded = chunks_.Discard(deleted->value());
    LOG_IF(WARNING, !discarded.ok())
        << "chunks of the gray release of " << Name(ns, key)
        << " not collected: " << discarded;
  }
  return CommitResult{committed.revision, 0};
}

absl::StatusOr<GrayInfo> GrayStore::Get(const std::string& ns,
                                        const std::string& key) {
  KESS_ASSIGN_OR_RETURN(std::string path, configs_->layout().GrayPath(ns, key));
  absl::StatusOr<zk::ChunkedValueStore::ReadResult> read = chunks_.ReadRecord(
      path,
      [&path](absl::string_view record) -> absl::StatusOr<zk::StoredValue> {
        KESS_ASSIGN_OR_RETURN(zk::GrayRecord r,
                              zk::DecodeAs<zk::GrayRecord>(record, path));
        return r.value();
      });
  if (absl::IsNotFound(read.status())) {
    return absl::NotFoundError(
        absl::StrCat("no gray release of ", Name(ns, key)));
  }
  KESS_RETURN_IF_ERROR(read.status());
  GrayInfo info;
  KESS_RETURN_IF_ERROR(zk::Decode(read->record, path, &info.record));
  info.value = std::move(read->value);
  KESS_ASSIGN_OR_RETURN(std::string config_path,
                        configs_->layout().ConfigPath(ns, key));
  KESS_ASSIGN_OR_RETURN(auto config, configs_->ReadRecord(config_path));
  info.config_revision = config.has_value() ? config->first.revision() : 0;
  info.active = zk::GrayActive(info.record, info.config_revision);
  return info;
}

absl::StatusOr<CommitResult> GrayStore::Promote(const GrayEndRequest& request,
                                                const std::string& fence) {
  return End(request, fence, /*promote=*/true);
}

absl::StatusOr<CommitResult> GrayStore::Abort(const GrayEndRequest& request,
                                              const std::string& fence) {
  return End(request, fence, /*promote=*/false);
}

absl::StatusOr<CommitResult> GrayStore::End(const GrayEndRequest& request,
                                            const std::string& fence,
                                            bool promote) {
  KESS_RETURN_IF_ERROR(configs_->ValidateWrite(
      request.ns, request.key, std::nullopt, request.author, request.comment));
  const char* verb = promote ? "promote" : "abort";
  const zk::Meta meta =
      zk::MakeMeta(request.author, configs_->options_.writer_id, absl::Now(),
                   request.comment);
  absl::StatusOr<GrayInfo> gray = Get(request.ns, request.key);
  if (absl::IsNotFound(gray.status())) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot ", verb, ": no gray release of ",
                     Name(request.ns, request.key), " is in progress"));
  }
  KESS_RETURN_IF_ERROR(gray.status());
  if (!gray->active) {
    // Left over from an end that stopped between its two commits.
    KESS_RETURN_IF_ERROR(
        DeleteRecord(request.ns, request.key, meta, fence).status());
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot ", verb, ": no gray release of ", Name(request.ns, request.key),
        " is in progress (a finished one was cleaned up)"));
  }
  PutRequest put;
  put.ns = request.ns;
  put.key = request.key;
  put.expected_revision = gray->config_revision;
  put.author = request.author;
  if (promote) {
    put.value = std::move(gray->value);
    put.content_type = gray->record.content_type();
  } else {
    KESS_ASSIGN_OR_RETURN(Config base, configs_->Get(request.ns, request.key));
    put.value = std::move(base.value);
    put.content_type = base.record.content_type();
  }
  put.comment =
      absl::StrCat(verb, " gray release ", gray->record.revision(),
                   request.comment.empty() ? "" : ": ", request.comment);
  if (put.comment.size() > kMaxCommentBytes) {
    put.comment.resize(kMaxCommentBytes);
  }
  KESS_ASSIGN_OR_RETURN(CommitResult result,
                        configs_->PutImpl(put, fence, /*ending_gray=*/true));
  // The record is inert now (the config is newer); deleting it is clean-up.
  absl::StatusOr<CommitResult> deleted =
      DeleteRecord(request.ns, request.key, meta, fence);
  LOG_IF(WARNING, !deleted.ok())
      << "gray record of " << Name(request.ns, request.key)
      << " left behind (inert; deleted by the next gray operation): "
      << deleted.status();
  return result;
}

}  // namespace core
}  // namespace mandator
}  // namespace kess
