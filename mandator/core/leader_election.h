// LeaderElection: one leader among the mandators of a DC, through ZooKeeper.
//
// Each candidate creates an ephemeral sequential node
// <root>/election/mandators/n_<seq10> holding its MemberInfo. The candidate
// with the lowest sequence number leads. Every other candidate watches only
// its predecessor (the next lower node), so a departure wakes one candidate,
// not all of them (no herd).
//
// A leader must stop writing the moment it can no longer be sure it leads:
//  - kExpired: its node is gone; it is demoted at once;
//  - kConnectionLost: IsLeader() turns false at once (writes pause; they
//    would fail anyway). If the connection is not back within
//    `connection_grace` (the session timeout: by then the server has
//    expired the session and another candidate may lead), it is demoted;
//  - kReconnected / kNewSession: it runs the election again (with a new
//    node after a new session) and may be elected again.
// The write path adds a second, server-side guard: every commit multi checks
// that fence_path() (this candidate's node) still exists, so a candidate
// whose session has ended cannot commit even if it has not noticed yet.
//
// Callbacks: on_elected / on_demoted run on the election's own thread, one
// at a time, alternating (elected, demoted, elected, ...). They may call
// this object's accessors but must not destroy it.
//
// Thread-safety: all public methods are thread-safe. Destroy before the
// ZkApi. The destructor withdraws (deletes the node) and, if this candidate
// led, calls on_demoted.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/status.h"
#include "zk_schema/layout.h"
#include "zk_schema/schema.pb.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace mandator {
namespace core {

class LeaderElection {
 public:
  struct Options {
    zk::Layout layout;
    zk::MemberInfo self;  // the data of this candidate's node
    zk::AclList acl;      // of the node; empty = the client's default
    // How long a leader that lost its connection stays (paused) leader
    // before it steps down. Use the ZooKeeper session timeout.
    absl::Duration connection_grace = absl::Seconds(10);
    // Pause between failed election rounds (ZooKeeper errors).
    absl::Duration retry_interval = absl::Milliseconds(500);
    std::function<void()> on_elected;
    std::function<void()> on_demoted;
  };

  // Starts campaigning in the background; returns at once.
  // InvalidArgument if `self` has no id. `zk` must outlive the election.
  static absl::StatusOr<std::unique_ptr<LeaderElection>> Create(
      zk::ZkApi* zk, Options options);
  ~LeaderElection();

  LeaderElection(const LeaderElection&) = delete;
  LeaderElection& operator=(const LeaderElection&) = delete;

  // Elected and connected to ZooKeeper: may write now.
  bool IsLeader() const;
  // Elected, possibly paused by a connection loss within the grace period.
  bool IsElected() const;
  // This candidate's election node ("" while it has none). While elected,
  // the fence for commits.
  std::string node_path() const;
  // The predecessor node this candidate watches ("" while leading or
  // without a node).
  std::string watched_path() const;
  // Why the last demotion happened ("" if never demoted), for status/logs.
  std::string last_demotion_reason() const;

  // ReadLeader() of this election.
  absl::StatusOr<std::optional<zk::MemberInfo>> CurrentLeader();

 private:
  struct WakeToken;  // lets watch callbacks outlive this object safely

  LeaderElection(zk::ZkApi* zk, Options options);
  void OnSessionEvent(const zk::SessionEvent& event);
  void Wake();
  void Loop();
  // One election round: ensures the node, then leads or watches the
  // predecessor. Returns whether this candidate leads.
  absl::StatusOr<bool> RunRound();
  absl::Status EnsureNode();
  // Sets leadership and runs the callback (mu_ not held).
  void SetElected(bool elected, const std::string& reason);
  // When the loop must act next (InfiniteFuture: only when woken).
  absl::Time NextDeadline() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  zk::ZkApi* const zk_;
  const Options options_;
  const std::string node_data_;
  std::shared_ptr<WakeToken> token_;
  int64_t listener_id_ = 0;

  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool dirty_ ABSL_GUARDED_BY(mu_) = true;  // run a round
  absl::Time next_round_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool connected_ ABSL_GUARDED_BY(mu_) = true;
  absl::Time lost_at_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  bool elected_ ABSL_GUARDED_BY(mu_) = false;
  std::string node_path_ ABSL_GUARDED_BY(mu_);
  int64_t node_generation_ ABSL_GUARDED_BY(mu_) = 0;
  std::string watched_ ABSL_GUARDED_BY(mu_);
  std::string demotion_reason_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

// The current leader as ZooKeeper says: the MemberInfo of the lowest
// election node under `layout`; nullopt when there is no candidate.
absl::StatusOr<std::optional<zk::MemberInfo>> ReadLeader(
    zk::ZkApi& zk, const zk::Layout& layout);

}  // namespace core
}  // namespace mandator
}  // namespace kess
