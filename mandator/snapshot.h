// Snapshots: the main DC's kess data at one revision, as one JSON document,
// and its restore into an empty tree (docs/operations.md, "Backup and
// restore"; GET /api/v1/admin/snapshot and POST /api/v1/admin/restore of
// docs/http-api.md; `kessctl snapshot save|restore`).
//
// What a snapshot holds: every config with its history (each version's
// value, content type, author and comment, oldest first; the newest is the
// current value), every active gray release, every route table and the
// operators' overrides. Not the change log, the members, the election or
// the chunk nodes (values are whole in the document), nor the history of
// deleted keys.
//
// Consistency: Take() reads /kess/revision, then everything, then
// /kess/revision again, and keeps the read only if both are the same
// revision. Every change of a config, gray record or route table commits
// /kess/revision in the same multi as its record (invariants 1 and 2 of
// docs/design.md), so an unchanged revision means nothing was committed
// while the tree was read: the document is the tree at that revision.
// Overrides are not revisioned; they are written only by this leader
// (fenced), through the OverrideStore whose copy is read. A read that raced
// a commit is retried, up to `attempts` times (Unavailable after).
//
// Restore: only into a tree without configs, gray releases or overrides
// (FailedPrecondition otherwise); route tables rebuilt since the leader
// started may be there. Every item is committed through the normal write
// path, so replication, distributors and agents take it like any change,
// at new revisions above max(the snapshot's revision, `min_revision`, the
// tree's revision): a host may hold a revision newer than the snapshot
// (written after it was taken), and invariant 4 keeps it from taking
// anything older, so the floor must be above every revision a host holds
// (`min_revision`: e.g. the highest kess_agent_revision Prometheus saw).
// Every host then converges to the snapshot's values without any file's
// revision going backwards. Route tables the tree already holds are
// re-committed as they are (they are newer than the snapshot's), the others
// as the snapshot has them. History is restored as the same sequence of
// versions (values, authors, comments), at new revisions.
//
// Thread-safe: the stores' contracts; meant for the main DC's leader.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/status.h"
#include "mandator/core/config_store.h"
#include "mandator/core/gray_store.h"
#include "mandator/routes/override_store.h"
#include "mandator/routes/route_store.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace mandator {

inline constexpr int kSnapshotFormat = 1;

struct RestoreResult {
  int64_t first_revision = 0;  // of the first restored commit (0: none)
  int64_t revision = 0;        // the tree's revision after the restore
  int configs = 0;             // keys
  int versions = 0;            // config versions committed
  int gray = 0;
  int routes = 0;
  int overrides = 0;           // instance overrides
};

// {"restored": {"first_revision", "revision", "configs", "versions",
//  "gray", "routes", "overrides"}}
std::string RestoreResultToJson(const RestoreResult& result);

class Snapshots {
 public:
  struct Options {
    zk::ZkApi* zk = nullptr;
    core::ConfigStore* configs = nullptr;
    core::GrayStore* gray = nullptr;
    routes::OverrideStore* overrides = nullptr;
    routes::RouteStore::Options routes;  // a store of its own is made
    std::string datacenter;
    // The leader's election node (the fence of every restored commit).
    std::function<std::string()> fence;
    int attempts = 10;  // consistent-read attempts of Take()
    int history_limit = 1000;  // versions read per key, at most
  };

  explicit Snapshots(Options options);

  // The snapshot document:
  // {"kess_snapshot": 1, "revision": R, "datacenter", "taken_ms",
  //  "configs": [{"namespace", "key", "versions": [<config>, ...]}],
  //  "gray": [<gray release>, ...],
  //  "routes": [{"service", "table": "<route table JSON>"}],
  //  "overrides": [{"service", "overrides": "<overrides JSON>"}]}
  // where <config> and <gray release> are the objects of GET
  // /api/v1/configs/{ns}/{key} and .../gray (mandator/config_json.h).
  absl::StatusOr<std::string> Take();

  // Restores `document` (a Take() result); see above. InvalidArgument for
  // a document that does not parse; FailedPrecondition for a tree that is
  // not empty. An error part way leaves what was committed so far
  // (restore again into a new empty tree).
  absl::StatusOr<RestoreResult> Restore(const std::string& document,
                                        int64_t min_revision);

  // Restore, answered as POST /api/v1/admin/restore answers:
  // RestoreResultToJson of the result (HttpApi::Options::restore).
  absl::StatusOr<std::string> RestoreToJson(const std::string& document,
                                            int64_t min_revision);

 private:
  Options options_;
};

}  // namespace mandator
}  // namespace kess
