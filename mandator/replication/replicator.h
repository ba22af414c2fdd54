// Replicator: how a slave DC's leader keeps its own ZooKeeper equal to the
// main DC's.
//
// Invariants 4, 5 and 6 of docs/design.md (never backwards; converge to
// main exactly, in revision order; no lost change).
//
// Push plus pull (invariant 6): a data watch on the main DC's
// /kess/revision wakes it at once; a poll every Options::poll_interval makes
// it correct when a watch was lost (session expiry, reconnect). Each round
// reads the main summary and asks zk::PlanCatchUp(local revision, summary):
//   kIncremental: apply /kess/changelog/<local+1 .. main> in revision order,
//     each as ONE multi into the local ZK (record + revision bump with the
//     main DC's revision number, compare-and-set on the local /kess/revision
//     version, so a second replicator — a deposed leader that has not yet
//     noticed — loses instead of applying twice);
//   kFullResync: compare every record of both DCs and write only what
//     differs, then set the local revision to the main one.
// When the main ZK is unreachable it keeps the local data untouched and
// retries with jittered exponential backoff; it never deletes local data
// because the main side looks empty or broken (invariant 11).
//
// Lifetime: the mandator creates a Replicator when it becomes the slave DC's
// leader and destroys it (Stop()) the moment it loses leadership; after
// Stop() returns no further write is issued.
//
// Thread-safety: Start/Stop from one thread; progress() from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "common/metrics.h"
#include "common/status.h"
#include "zk_schema/layout.h"
#include "zk_schema/zk_acl.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace mandator {
namespace replication {

class Replicator {
 public:
  struct Options {
    std::string datacenter;  // this (slave) DC, for logs and metrics labels
    zk::Layout layout;       // the same layout in both DCs
    zk::AclList acl;         // ACL of nodes created in the local ZK
    absl::Duration poll_interval = absl::Seconds(1);
    absl::Duration min_backoff = absl::Milliseconds(100);
    absl::Duration max_backoff = absl::Seconds(10);
    int max_changes_per_round = 1000;
    metrics::Registry* registry = &metrics::Registry::Default();
  };

  struct Progress {
    int64_t local_revision = 0;
    int64_t main_revision = 0;  // as last read from the main DC
    // When main last answered a read (MonotonicNow(), common/clock.h).
    absl::Time last_main_read;
    // Completed exchanges with main's ZooKeeper: answered reads and
    // (re)connection handshakes. Only ever grows; a reader that sees it move
    // knows main was reached since it last looked, however short the window
    // (a flapping link).
    int64_t main_contacts = 0;
    // Main's ZooKeeper client holds a live connection. The C client drops a
    // connection on which no complete answer arrived for 2/3 of the session
    // timeout (its pings are answered too), so "connected" means main
    // answers, even while one long transfer (a chunked value over a narrow
    // link) keeps the replicator from finishing a read.
    bool main_connected = false;
    // When local_revision last moved (MonotonicNow()).
    absl::Time last_applied;
    bool main_reachable = false;
    int64_t full_resyncs = 0;
    std::string last_error;  // empty when the last round succeeded
  };

  // `main` and `local` must outlive the Replicator. Does not start work.
  static absl::StatusOr<std::unique_ptr<Replicator>> Create(zk::ZkApi* main,
                                                            zk::ZkApi* local,
                                                            Options options);
  virtual ~Replicator() = default;

  // Starts the background thread. REQUIRES: called at most once.
  virtual void Start() = 0;
  // Stops and joins it; no write is issued after this returns. Idempotent.
  virtual void Stop() = 0;
  virtual Progress progress() const = 0;
};

}  // namespace replication
}  // namespace mandator
}  // namespace kess
