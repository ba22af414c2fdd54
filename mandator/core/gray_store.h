// GrayStore: the gray-release lifecycle of a config, over the ConfigStore
// of the same ZooKeeper.
//
// A gray record /kess/gray/<ns>/<key> (GrayRecord) makes the distributors
// serve its value at the gray commit's revision r_g to the selected hosts
// (zk_schema/gray.h) and the config (r_b < r_g) to the others; one GRAY_PUT
// commit (record_commit.h).
//  - Start: the config must exist (NotFound); FailedPrecondition if a gray
//    release of the key is active (promote or abort it first).
//  - Promote: commits the gray value as the config (CONFIG_PUT, r_p > r_g:
//    every host moves forward to it), then deletes the gray record
//    (GRAY_DELETE). Returns r_p.
//  - Abort: re-commits the config's current value as a new revision
//    (r_a > r_g: gray hosts move forward to the base content; the others get
//    the same content at r_a), then deletes the gray record. Returns r_a.
//  Both: FailedPrecondition when no gray release is active (a left-over
//  inactive record, e.g. after a crash between the two commits, is deleted
//  then).
// While a gray release is active, ConfigStore refuses Put, Delete and
// Rollback of the key with FailedPrecondition (HTTP 409), so the revision
// of the config a gray release started from stays its base.
//
// Errors as ConfigStore's (config_store.h).
//
// Thread-safety: as ConfigStore: thread-safe, writes meant to come from one
// thread (the leader's WriteQueue).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "mandator/core/config_store.h"
#include "zk_schema/chunked_value.h"
#include "zk_schema/schema.pb.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace mandator {
namespace core {

inline constexpr size_t kMaxGrayHosts = 10000;

struct GrayRequest {
  std::string ns;
  std::string key;
  std::string value;
  std::string content_type;  // empty = the config's
  std::vector<std::string> hosts;
  uint32_t percentage = 0;                   // 0..100
  std::optional<int64_t> expected_revision;  // CAS on the config's revision
  std::string author;
  std::string comment;
};

// Promote or abort.
struct GrayEndRequest {
  std::string ns;
  std::string key;
  std::string author;
  std::string comment;
};

// A gray release as read.
struct GrayInfo {
  zk::GrayRecord record;
  std::string value;
  int64_t config_revision = 0;  // the config's current revision
  bool active = false;          // record.revision() > config_revision
};

class GrayStore {
 public:
  // `zk` and `configs` must outlive the store; `configs` stores the configs
  // of the same ZooKeeper.
  GrayStore(zk::ZkApi* zk, ConfigStore* configs);

  // `fence`: as ConfigStore's writes.
  absl::StatusOr<CommitResult> Start(const GrayRequest& request,
                                     const std::string& fence = "");
  absl::StatusOr<CommitResult> Promote(const GrayEndRequest& request,
                                       const std::string& fence = "");
  absl::StatusOr<CommitResult> Abort(const GrayEndRequest& request,
                                     const std::string& fence = "");
  // NotFound when there is no gray record.
  absl::StatusOr<GrayInfo> Get(const std::string& ns, const std::string& key);

 private:
  // Commits the GRAY_DELETE of the gray record and collects its chunks.
  absl::StatusOr<CommitResult> DeleteRecord(const std::string& ns,
                                            const std::string& key,
                                            const zk::Meta& meta,
                                            const std::string& fence);
  absl::StatusOr<CommitResult> End(const GrayEndRequest& request,
                                   const std::string& fence, bool promote);

  zk::ZkApi* const zk_;
  ConfigStore* const configs_;
  zk::ChunkedValueStore chunks_;
};

}  // namespace core
}  // namespace mandator
}  // namespace kess
