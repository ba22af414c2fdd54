// ReplicationRole: what a slave DC's leader does while it leads — read the
// main DC's ZooKeeper (as user "reader") and run a Replicator into its own.
//
// Start() (on election) returns at once; a background thread connects to
// the main DC's ZooKeeper, retrying with backoff while it is unreachable,
// then creates and starts the Replicator. Stop() (on demotion) stops the
// Replicator first — no replication write is issued after Stop() returns —
// then joins the thread and closes the main-DC client.
//
// Thread-safety: Start/Stop from one thread (the election's callbacks);
// progress() from any thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "mandator/core/zk_options.h"
#include "mandator/replication/replicator.h"
#include "mandator/replication/subtree_mirror.h"
#include "zk_schema/kess_auth.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace mandator {
namespace replication {

class ReplicationRole {
 public:
  struct Options {
    std::string main_zk;  // connect string of the main DC's ensemble
    zk::KessAuth auth;
    absl::Duration session_timeout = absl::Seconds(10);
    absl::Duration connect_timeout = absl::Seconds(5);
    Replicator::Options replicator;
    // Users, tokens and audit records (subtree_mirror.h), run beside the
    // replicator on the same main-DC client; empty dirs = not mirrored.
    SubtreeMirror::Options mirror;
    // Opens the main-DC client; empty = core::ConnectZooKeeper (tests pass
    // in-memory clients).
    core::ZkConnector connect;
  };

  // `local` (this DC's ZooKeeper) must outlive the role.
  ReplicationRole(zk::ZkApi* local, Options options);
  ~ReplicationRole();  // Stop()

  void Start();
  void Stop();  // idempotent

  // The replicator's progress; nullopt while it is not running.
  std::optional<Replicator::Progress> progress() const;

 private:
  void Run();

  zk::ZkApi* const local_;
  const Options options_;
  mutable absl::Mutex mu_;
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<zk::ZkApi> main_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Replicator> replicator_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<SubtreeMirror> mirror_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace replication
}  // namespace mandator
}  // namespace kess
