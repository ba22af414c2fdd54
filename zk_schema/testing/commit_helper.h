// testonly: commits changes into a kess tree exactly as the main DC's leader
// does (zk_schema/README.md, "Revision and change-log protocol"), for tests
// and benchmarks of the readers (distributor, slave-DC replication) while the
// real writer is elsewhere.
//
// Each Put/Delete is ONE multi: [create the namespace node if missing], the
// record write (create or version-checked set / delete), the revision
// compare-and-set and the change record (AddCommitOps). A lost
// compare-and-set (another writer) is retried, bounded. Values above
// kInlineValueLimit are chunked with ChunkedValueStore::Prepare first, and
// the replaced value's chunk set is discarded after the flip. Not written:
// configs_history copies (the current-state readers never read them) and
// changelog trimming (call zk::TrimChangelog if a test needs it).
//
// SeedConfigs is the bulk path for large data sets: many records per multi,
// all with ONE new revision and no change records; the summary's
// oldest_retained is set above that revision, so every follower that held
// an older revision does a full resync (never an incomplete incremental
// one).
//
// Thread-compatible: one committer per tree at a time (concurrent ones are
// serialized by the revision compare-and-set and retried).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "zk_schema/layout.h"
#include "zk_schema/schema.pb.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace zk {
namespace testing {

// Returns the committed revision.
absl::StatusOr<int64_t> PutConfig(
    ZkApi& zk, const Layout& layout, const std::string& ns,
    const std::string& key, const std::string& value,
    const std::string& content_type = "text/plain");
// NotFound if the key does not exist.
absl::StatusOr<int64_t> DeleteConfig(ZkApi& zk, const Layout& layout,
                                     const std::string& ns,
                                     const std::string& key);
// Stores `table` (its revision field is set to the committed revision).
absl::StatusOr<int64_t> PutRoute(ZkApi& zk, const Layout& layout,
                                 RouteTable table);
absl::StatusOr<int64_t> DeleteRoute(ZkApi& zk, const Layout& layout,
                                    const std::string& service);

struct SeedItem {
  std::string ns;
  std::string key;
  std::string value;  // at most kInlineValueLimit bytes
};
// Creates (or overwrites) every item's record, as many per multi as fit,
// all at one new revision, then bumps the summary to it. Returns it.
absl::StatusOr<int64_t> SeedConfigs(ZkApi& zk, const Layout& layout,
                                    const std::vector<SeedItem>& items);

}  // namespace testing
}  // namespace zk
}  // namespace kess
