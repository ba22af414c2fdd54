// ConfigStore: the configs in a DC's ZooKeeper, read by any mandator and
// written by the main DC's leader.
//
// Every accepted write is ONE zoo_multi, committed by CommitRecord
// (record_commit.h, shared with the route tables):
//   [check the fence node]  the leader's election node still exists, so a
//                           leader that lost its session cannot commit;
//   [create the namespace node and history directories if missing]
//   create/set the record   /kess/configs/<ns>/<key>, with a version check;
//   create the history node /kess/configs_history/<ns>/<key>/<rev19>;
//   set /kess/revision      compare-and-set on the version read;
//   create the change record /kess/changelog/<rev19>.
// Either all of it appears or none. After the multi, history beyond
// `history_limit` versions and change records beyond the retention are
// deleted (best effort; failures are logged, never returned).
//
// History: every put (rollbacks included) leaves a history node holding
// the same ConfigRecord as the record, so the newest history entry is the
// current value. A delete removes the record and keeps its history, so a
// deleted key can be rolled back. A value above kRecordInlineLimit is
// chunked (zk_schema/chunked_value.h); its chunk set is shared by the record
// and its history node and is deleted when that history node is trimmed.
//
// Validation happens before anything is written: names (model/names.h),
// value size (zk::kMaxValueBytes), field lengths, expected_revision >= 0.
// Compare-and-set: with expected_revision set, the write applies only if the
// key's current revision equals it (0 = the key must not exist); otherwise
// Aborted with the current revision in the message, and nothing changes.
//
// Errors: InvalidArgument (bad input), NotFound, Aborted (CAS lost),
// Unavailable (ZooKeeper unreachable, or the fence is gone: "no longer the
// leader"; a write that may or may not have applied says "outcome unknown").
// A write that returns OK is committed in ZooKeeper.
//
// Gray releases of a config are GrayStore's (gray_store.h); while one is
// active, Put, Delete and Rollback of the key are refused with
// FailedPrecondition.
//
// Thread-safety: thread-safe, but writes are meant to come from one thread
// (the leader's WriteQueue): concurrent writers of the same ZooKeeper are
// serialized by the revision compare-and-set and retried (bounded).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "mandator/core/namespace_settings.h"
#include "mandator/core/record_commit.h"
#include "zk_schema/chunked_value.h"
#include "zk_schema/layout.h"
#include "zk_schema/schema.pb.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace mandator {
namespace core {

// Values above this are chunked, so that the record and its history copy fit
// into one multi request together, and every node crosses a slow WAN link
// in time (zk::kInlineValueLimit).
inline constexpr size_t kRecordInlineLimit = zk::kInlineValueLimit;
inline constexpr size_t kMaxContentTypeBytes = 256;
inline constexpr size_t kMaxAuthorBytes = 256;
inline constexpr size_t kMaxCommentBytes = 4096;

struct PutRequest {
  std::string ns;
  std::string key;
  std::string value;
  std::string content_type;
  std::optional<int64_t> expected_revision;  // CAS; 0 = must not exist
  std::string author;
  std::string comment;
};

struct DeleteRequest {
  std::string ns;
  std::string key;
  std::optional<int64_t> expected_revision;
  std::string author;
  std::string comment;
};

struct RollbackRequest {
  std::string ns;
  std::string key;
  int64_t to_revision = 0;  // a revision in the key's history
  std::optional<int64_t> expected_revision;
  std::string author;
  std::string comment;
};

struct CommitResult {
  int64_t revision = 0;  // the global revision of the change
  int64_t version = 0;   // the key's version after it (0 for a delete)
};

// A config as read: the record (its `value` is the StoredValue, inline or
// a manifest) and the complete value.
struct Config {
  zk::ConfigRecord record;
  std::string value;
};

struct KeyInfo {
  std::string key;
  int64_t revision = 0;
  int64_t version = 0;
  uint64_t size = 0;
};

class ConfigStore {
 public:
  struct Options {
    zk::Layout layout;
    zk::AclList acl;         // of every node the store creates; empty = default
    int history_limit = 20;  // versions kept per key, >= 1
    std::string writer_id;   // Meta.writer of every write (mandator id)
    int changelog_trim_batch = 1000;  // max change records deleted per commit
    // The key rings of secret namespaces (<dir>/<ns>.key,
    // namespace_settings.h); "" = none.
    std::string secret_keys_dir;
  };

  // `zk` must outlive the store. InvalidArgument for a bad history_limit.
  static absl::StatusOr<std::unique_ptr<ConfigStore>> Create(zk::ZkApi* zk,
                                                             Options options);

  // Writes. `fence`: a node that must exist for the commit to apply (the
  // leader's election node); empty = no fence (tools and tests).
  absl::StatusOr<CommitResult> Put(const PutRequest& request,
                                   const std::string& fence = "");
  absl::StatusOr<CommitResult> Delete(const DeleteRequest& request,
                                      const std::string& fence = "");
  // Writes the value (and content type) of `to_revision` as a new revision.
  absl::StatusOr<CommitResult> Rollback(const RollbackRequest& request,
                                        const std::string& fence = "");

  // Reads.
  absl::StatusOr<Config> Get(const std::string& ns, const std::string& key);
  absl::StatusOr<std::vector<std::string>> ListNamespaces();
  absl::StatusOr<std::vector<KeyInfo>> ListKeys(const std::string& ns);
  // The namespace's key names only (one ZooKeeper read, sorted), and the
  // KeyInfo of the named keys (one read each; keys deleted meanwhile left
  // out): a page of keys costs its own reads, not the namespace's.
  absl::StatusOr<std::vector<std::string>> ListKeyNames(const std::string& ns);
  absl::StatusOr<std::vector<KeyInfo>> KeyInfos(
      const std::string& ns, const std::vector<std::string>& keys);
  // Newest first, at most `limit` (>= 1) versions.
  absl::StatusOr<std::vector<Config>> History(const std::string& ns,
                                              const std::string& key,
                                              int limit);
  // The global revision (/kess/revision).
  absl::StatusOr<int64_t> Revision();

  // Every later write of this store (and of the GrayStore on it) commits
  // at `revision` or above: a revision jump (CommitOptions.min_revision),
  // as a restore needs to stay above every revision a host may hold
  // (../snapshot.h). Only ever raised.
  void RaiseMinRevision(int64_t revision);
  int64_t min_revision() const { return min_revision_.load(); }

  const zk::Layout& layout() const { return options_.layout; }
  // Each namespace's format and JSON Schema, checked by every write.
  NamespaceSettingsStore& namespace_settings() { return settings_; }

 private:
  // The gray-release lifecycle (gray_store.h) commits through this store's
  // write path and honours its validation.
  friend class GrayStore;

  ConfigStore(zk::ZkApi* zk, Options options);

  absl::StatusOr<CommitResult> PutImpl(const PutRequest& request,
                                       const std::string& fence,
                                       bool ending_gray);
  absl::StatusOr<CommitResult> CommitPut(
      const PutRequest& request, const std::string& content_type,
      const std::string& path,
      const zk::StoredValue& stored, const zk::Meta& meta,
      const std::string& fence, bool ending_gray, CommitOutcome* outcome);
  // FailedPrecondition if a gray release of the key is active
  // (gray_store.h).
  absl::Status RefuseDuringGray(const std::string& ns, const std::string& key,
                                int64_t config_revision);
  // The gray record and its node version; nullopt if absent.
  absl::StatusOr<std::optional<std::pair<zk::GrayRecord, int>>> ReadGray(
      const std::string& ns, const std::string& key);
  CommitOptions CommitOptionsFor(const std::string& fence,
                                 const std::string& what) const;
  // Best-effort clean-up after a commit: the replaced value's chunks (when
  // no history node holds them) and history beyond the limit.
  void AfterCommit(const std::string& ns, const std::string& key,
                   const std::optional<zk::ConfigRecord>& replaced);
  void TrimHistory(const std::string& ns, const std::string& key);
  absl::Status ValidateWrite(const std::string& ns, const std::string& key,
                             const std::optional<int64_t>& expected_revision,
                             const std::string& author,
                             const std::string& comment) const;
  // InvalidArgument for a value above zk::kMaxValueBytes or a content type
  // above kMaxContentTypeBytes; `what` names the value in the message.
  static absl::Status ValidateValue(const char* what, const std::string& ns,
                                    const std::string& key,
                                    const std::string& value,
                                    const std::string& content_type);
  // ValidateValue, then the namespace's settings and the value's format
  // (namespace_settings.h): a value whose content type or namespace names
  // JSON, YAML or Java properties must be well-formed in it (the error
  // names the line and column), and satisfy the namespace's JSON Schema.
  // Returns the content type and the value to store (the value sealed in a
  // secret namespace).
  absl::StatusOr<NamespaceSettingsStore::CheckedValue> CheckValue(
      const char* what,
                                         const std::string& ns,
                                         const std::string& key,
                                         const std::string& value,
                                         const std::string& content_type);
  // Aborted unless `expected` matches the current record (nullopt = absent).
  static absl::Status CheckExpected(
      const std::optional<int64_t>& expected,
      const std::optional<zk::ConfigRecord>& current, const std::string& ns,
      const std::string& key);
  // The record at `path` and its node version; nullopt if absent.
  absl::StatusOr<std::optional<std::pair<zk::ConfigRecord, int>>> ReadRecord(
      const std::string& path);
  absl::StatusOr<Config> LoadConfig(const std::string& path);
  // What every commit attempt reads: the record (nullopt if absent, else
  // with its node version). Aborted if `expected` does not match.
  struct CommitBase {
    std::optional<std::pair<zk::ConfigRecord, int>> current;
    std::optional<zk::ConfigRecord> replaced;  // current's record
  };
  absl::StatusOr<CommitBase> ReadForCommit(
      const std::string& path, const std::optional<int64_t>& expected,
      const std::string& ns, const std::string& key);
  // Adds creates of the namespace node and history directories that are
  // missing.
  absl::Status AddParentCreates(const std::string& ns, const std::string& key,
                                const zk::Meta& meta, zk::MultiOps* ops);

  zk::ZkApi* const zk_;
  const Options options_;
  zk::ChunkedValueStore chunks_;
  NamespaceSettingsStore settings_;
  std::atomic<int64_t> min_revision_{0};
};

}  // namespace core
}  // namespace mandator
}  // namespace kess
