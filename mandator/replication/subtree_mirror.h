// SubtreeMirror: copies the main DC's users, API tokens and audit records
// into a slave DC's ZooKeeper, beside the Replicator (which carries the
// revisioned data: configs, routes, gray releases). Neither subtree has a
// global revision (auth/auth_store.h, auth/audit_log.h), so they are
// compared, not replayed:
//
//  - `auth_dir` (<root>/auth: a generation number, users/, tokens/) is made
//    equal to main's whenever main's generation differs from the local
//    one: children created, changed and deleted, then the local
//    generation set last, so a slave mandator that sees the new generation
//    reloads the whole new set. A token revoked in the main DC is refused
//    in a slave DC one mirror round (interval) plus one mandator refresh
//    (1 s) after the revocation.
//  - `audit_dir` (<root>/audit): main's records that the slave DC lacks are
//    copied (record nodes never change); the slave DC's own records (what
//    was refused there) stay. Each DC trims its own copy by the same
//    retention; a record older than the local oldest is not copied again
//    once the local copy is full. Listed only when main's audit directory
//    has changed (its pzxid).
//
// Start() runs rounds on a thread every `interval` until Stop(); RunOnce()
// is one round (tests). Errors are logged and counted; the next round
// starts over.
//
// Thread-safety: Start/Stop from one thread; RunOnce not concurrently with
// the thread.
#pragma once

#include <cstdint>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "common/status.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace mandator {
namespace replication {

class SubtreeMirror {
 public:
  struct Options {
    std::string auth_dir;   // "" = not mirrored
    std::string audit_dir;  // "" = not mirrored
    // Local audit records kept at most (the local retention): when the
    // local copy holds this many, older records of main are not copied.
    size_t audit_max_records = 10000;
    absl::Duration interval = absl::Seconds(1);
    metrics::Registry* registry = &metrics::Registry::Default();
  };

  // Both clients must outlive the mirror; `main` reads (user reader),
  // `local` writes (user mandator; nodes get its default ACL).
  SubtreeMirror(zk::ZkApi* main, zk::ZkApi* local, Options options);
  ~SubtreeMirror();  // Stop()

  void Start();
  void Stop();  // idempotent; no write after it returns

  absl::Status RunOnce();

 private:
  absl::Status MirrorAuth();
  absl::Status MirrorAudit();
  void Loop();

  zk::ZkApi* const main_;
  zk::ZkApi* const local_;
  const Options options_;
  int64_t audit_pzxid_ = -1;  // main's audit dir when last listed
  metrics::Counter* const rounds_failed_;
  absl::Mutex mu_;
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace replication
}  // namespace mandator
}  // namespace kess
