// ZkSource: everything the distributor reads from its DC's ZooKeeper, turned
// into Items (resource.h). Reads only; it never writes and never watches by
// itself (the follower passes the one watch it keeps, on the revision
// summary).
//
//   /kess/revision                  ReadSummary (with the follower's watch)
//   /kess/changelog/<rev19>         ReadChange
//   /kess/configs/<ns>/<key>        ReadItem / LoadAll (values of any size:
//   /kess/routes/<service>            chunked ones via ChunkedValueStore)
//   /kess/acls/{namespaces,services}/<name>   read ACLs, items "a/n/<ns>"
//                                   and "a/s/<service>" (compiled)
//
// Thread-safe (ZkApi's contract); LoadAll uses several threads of its own
// for the record reads.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "distributor/resource.h"
#include "zk_schema/chunked_value.h"
#include "zk_schema/layout.h"
#include "zk_schema/revision_log.h"
#include "zk_schema/schema.pb.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace distributor {

class ZkSource {
 public:
  // `zk` must outlive the source.
  ZkSource(zk::ZkApi* zk, zk::Layout layout);

  absl::StatusOr<zk::RevisionSummary> ReadSummary(
      zk::WatchCallback watch = nullptr);
  // NotFound when the record was trimmed (or never written).
  absl::StatusOr<zk::ChangeRecord> ReadChange(int64_t revision);

  // The canonical key a change record is about; InvalidArgument for an
  // unknown kind or invalid names.
  static absl::StatusOr<std::string> KeyOfChange(
      const zk::ChangeRecord& change);

  // The current version of `key` (canonical), or nullptr if its record
  // does not exist. Values are loaded whole and verified (CRC-32).
  absl::StatusOr<ItemPtr> ReadItem(const std::string& key);

  // Every config and route record that exists. Fails as a whole on any
  // error other than a record vanishing between listing and reading (a
  // concurrent delete; its change record tells the follower later). A
  // missing configs/ or routes/ directory is an error, never "no data".
  // Children with invalid names are skipped (logged). Reads with `threads`
  // threads.
  absl::StatusOr<std::vector<ItemPtr>> LoadAll(int threads);

  const zk::Layout& layout() const { return layout_; }

 private:
  absl::StatusOr<std::string> PathOf(const std::string& key) const;
  absl::StatusOr<ItemPtr> ReadAclItem(const std::string& key,
                                      const std::string& path);

  zk::ZkApi* const zk_;
  const zk::Layout layout_;
  zk::ChunkedValueStore store_;
};

}  // namespace distributor
}  // namespace kess
