#include "mandator/core/leader_election.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "common/steady_await.h"
#include "glog/logging.h"
#include "zk_schema/codec.h"
#include "zk_schema/zk_errors.h"

namespace kess {
namespace mandator {
namespace core {
namespace {

// The election's deadlines (connection grace, retry) run on the monotonic
// clock, expressed as absl::Time for the arithmetic: a wall-clock jump must
// neither demote a leader early nor keep a disconnected one in office.
absl::Time MonotonicNow() {
  return absl::UnixEpoch() + absl::Milliseconds(Clock::Steady()->NowMs());
}

}  // namespace

struct LeaderElection::WakeToken {
  absl::Mutex mu;
  LeaderElection* self ABSL_GUARDED_BY(mu) = nullptr;
};

namespace {

// Election children sorted by sequence number; foreign names are skipped.
std::vector<std::pair<int64_t, std::string>> SortedCandidates(
    const std::vector<std::string>& children) {
  std::vector<std::pair<int64_t, std::string>> sorted;
  for (const std::string& child : children) {
    absl::StatusOr<int64_t> seq = zk::ParseElectionSequence(child);
    if (seq.ok()) sorted.emplace_back(*seq, child);
  }
  std::sort(sorted.begin(), sorted.end());
  return sorted;
}

}  // namespace

absl::StatusOr<std::unique_ptr<LeaderElection>> LeaderElection::Create(
    zk::ZkApi* zk, Options options) {
  if (options.self.id().empty()) {
    return absl::InvalidArgumentError("an election candidate needs an id");
  }
  std::unique_ptr<LeaderElection> election(
      new LeaderElection(zk, std::move(options)));
  LeaderElection* self = election.get();
  election->listener_id_ = zk->AddSessionListener(
      [self](const zk::SessionEvent& event) { self->OnSessionEvent(event); });
  election->thread_ = std::thread([self] { self->Loop(); });
  return election;
}

LeaderElection::LeaderElection(zk::ZkApi* zk, Options options)
    : zk_(zk),
      options_(std::move(options)),
      node_data_(zk::Encode(options_.self)),
      token_(std::make_shared<WakeToken>()) {
  absl::MutexLock lock(&token_->mu);
  token_->self = this;
}

LeaderElection::~LeaderElection() {
  {
    absl::MutexLock lock(&token_->mu);
    token_->self = nullptr;
  }
  zk_->RemoveSessionListener(listener_id_);
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
  std::string node;
  bool elected;
  {
    absl::MutexLock lock(&mu_);
    node = node_path_;
    elected = elected_;
  }
  if (elected) SetElected(false, "withdrawn (shutting down)");
  if (!node.empty()) {
    absl::Status deleted = zk_->Delete(node);
    LOG_IF(WARNING, !deleted.ok() && !absl::IsNotFound(deleted))
        << "election node " << node << " not deleted (it goes away with the "
        << "session): " << deleted;
  }
}

bool LeaderElection::IsLeader() const {
  absl::MutexLock lock(&mu_);
  return elected_ && connected_;
}

bool LeaderElection::IsElected() const {
  absl::MutexLock lock(&mu_);
  return elected_;
}

std::string LeaderElection::node_path() const {
  absl::MutexLock lock(&mu_);
  return node_path_;
}

std::string LeaderElection::watched_path() const {
  absl::MutexLock lock(&mu_);
  return watched_;
}

std::string LeaderElection::last_demotion_reason() const {
  absl::MutexLock lock(&mu_);
  return demotion_reason_;
}

void LeaderElection::Wake() {
  absl::MutexLock lock(&mu_);
  dirty_ = true;
}

void LeaderElection::OnSessionEvent(const zk::SessionEvent& event) {
  absl::MutexLock lock(&mu_);
  switch (event.type) {
    case zk::SessionEvent::kConnectionLost:
      if (connected_) lost_at_ = MonotonicNow();
      connected_ = false;
      break;
    case zk::SessionEvent::kReconnected:
      connected_ = true;
      lost_at_ = absl::InfiniteFuture();
      dirty_ = true;
      break;
    case zk::SessionEvent::kExpired:
    case zk::SessionEvent::kAuthFailed:
      // The node is gone with the session: demote at once (the loop runs
      // the callback; IsLeader() is false from now on).
      connected_ = false;
      lost_at_ = absl::InfinitePast();
      node_path_.clear();
      watched_.clear();
      break;
    case zk::SessionEvent::kNewSession:
      connected_ = true;
      lost_at_ = absl::InfiniteFuture();
      node_path_.clear();
      watched_.clear();
      dirty_ = true;
      break;
  }
}

void LeaderElection::SetElected(bool elected, const std::string& reason) {
  {
    absl::MutexLock lock(&mu_);
    if (elected_ == elected) return;
    elected_ = elected;
    if (!elected) demotion_reason_ = reason;
  }
  if (elected) {
    LOG(INFO) << "mandator " << options_.self.id() << " is the leader ("
              << reason << ")";
    if (options_.on_elected) options_.on_elected();
  } else {
    LOG(WARNING) << "mandator " << options_.self.id()
                 << " is no longer the leader: " << reason;
    if (options_.on_demoted) options_.on_demoted();
  }
}

absl::Time LeaderElection::NextDeadline() const {
  absl::Time deadline = absl::InfiniteFuture();
  if (elected_ && node_path_.empty()) deadline = absl::InfinitePast();
  if (elected_ && !connected_) {
    deadline = std::min(deadline, lost_at_ + options_.connection_grace);
  }
  if (dirty_ && connected_) deadline = std::min(deadline, next_round_);
  return deadline;
}

void LeaderElection::Loop() {
  for (;;) {
    bool run_round = false;
    std::string demote_reason;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_ || MonotonicNow() >= NextDeadline();
      };
      AwaitWithSteadyTimeout(
          &mu_, absl::Condition(&ready),
          std::clamp(NextDeadline() - MonotonicNow(), absl::ZeroDuration(),
                     absl::Seconds(1)));
      if (stop_) return;
      const absl::Time now = MonotonicNow();
      if (elected_ && node_path_.empty()) {
        demote_reason = "ZooKeeper session ended; the election node is gone";
      } else if (elected_ && !connected_ &&
                 now >= lost_at_ + options_.connection_grace) {
        demote_reason =
            absl::StrCat("ZooKeeper connection lost for more than ",
                         absl::FormatDuration(options_.connection_grace));
      }
      if (dirty_ && connected_ && now >= next_round_) {
        dirty_ = false;
        run_round = true;
      }
    }
    if (!demote_reason.empty()) SetElected(false, demote_reason);
    if (!run_round) continue;
    absl::StatusOr<bool> leads = RunRound();
    if (!leads.ok()) {
      LOG(WARNING) << "election round of " << options_.self.id()
                   << " failed: " << leads.status() << "; retrying in "
                   << options_.retry_interval;
      absl::MutexLock lock(&mu_);
      dirty_ = true;
      next_round_ = MonotonicNow() + options_.retry_interval;
      continue;
    }
    if (*leads) {
      SetElected(true, "lowest election node");
    } else {
      SetElected(false, "another candidate has the lowest election node");
    }
  }
}

absl::Status LeaderElection::EnsureNode() {
  const int64_t generation = zk_->generation();
  {
    absl::MutexLock lock(&mu_);
    if (!node_path_.empty() && node_generation_ == generation) {
      return absl::OkStatus();
    }
    node_path_.clear();
  }
  const std::string dir = options_.layout.ElectionDir();
  // A create whose reply was lost may have made our node: adopt it.
  KESS_ASSIGN_OR_RETURN(zk::ChildrenResult children, zk_->GetChildren(dir));
  const int64_t session = zk_->session_id();
  for (const auto& candidate : SortedCandidates(children.children)) {
    const std::string path = absl::StrCat(dir, "/", candidate.second);
    absl::StatusOr<zk::GetResult> node = zk_->Get(path);
    if (node.ok() && node->stat.ephemeral_owner == session &&
        node->data == node_data_) {
      absl::MutexLock lock(&mu_);
      node_path_ = path;
      node_generation_ = generation;
      return absl::OkStatus();
    }
  }
  KESS_ASSIGN_OR_RETURN(
      std::string created,
      zk_->Create(options_.layout.ElectionNodePrefix(), node_data_,
                  zk::CreateMode::kEphemeralSequential, options_.acl));
  LOG(INFO) << "mandator " << options_.self.id() << " is candidate " << created;
  absl::MutexLock lock(&mu_);
  node_path_ = created;
  node_generation_ = generation;
  return absl::OkStatus();
}

absl::StatusOr<bool> LeaderElection::RunRound() {
  KESS_RETURN_IF_ERROR(EnsureNode());
  const std::string dir = options_.layout.ElectionDir();
  const std::string mine = node_path();
  KESS_ASSIGN_OR_RETURN(zk::ChildrenResult children, zk_->GetChildren(dir));
  const auto sorted = SortedCandidates(children.children);
  int index = -1;
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (absl::StrCat(dir, "/", sorted[i].second) == mine) index = i;
  }
  if (index < 0) {
    {
      absl::MutexLock lock(&mu_);
      node_path_.clear();
      watched_.clear();
    }
    return absl::UnavailableError(absl::StrCat(
        "election node ", mine, " disappeared; creating a new one"));
  }
  if (index == 0) {
    absl::MutexLock lock(&mu_);
    watched_.clear();
    return true;
  }
  const std::string predecessor =
      absl::StrCat(dir, "/", sorted[index - 1].second);
  std::shared_ptr<WakeToken> token = token_;
  KESS_ASSIGN_OR_RETURN(
      std::optional<zk::Stat> stat,
      zk_->Exists(predecessor, [token](const zk::WatchEvent&) {
        absl::MutexLock lock(&token->mu);
        if (token->self != nullptr) token->self->Wake();
      }));
  absl::MutexLock lock(&mu_);
  watched_ = predecessor;
  // Gone between the listing and the watch: look again now. (Exists set
  // a watch for its creation, which is harmless: it fires at most once.)
  if (!stat.has_value()) dirty_ = true;
  return false;
}

absl::StatusOr<std::optional<zk::MemberInfo>> LeaderElection::CurrentLeader() {
  return ReadLeader(*zk_, options_.layout);
}

absl::StatusOr<std::optional<zk::MemberInfo>> ReadLeader(
    zk::ZkApi& zk, const zk::Layout& layout) {
  const std::string dir = layout.ElectionDir();
  KESS_ASSIGN_OR_RETURN(zk::ChildrenResult children, zk.GetChildren(dir));
  for (const auto& candidate : SortedCandidates(children.children)) {
    const std::string path = absl::StrCat(dir, "/", candidate.second);
    absl::StatusOr<zk::GetResult> node = zk.Get(path);
    if (absl::IsNotFound(node.status())) continue;  // left meanwhile
    KESS_RETURN_IF_ERROR(node.status());
    KESS_ASSIGN_OR_RETURN(zk::MemberInfo info,
                          zk::DecodeAs<zk::MemberInfo>(node->data, path));
    return std::make_optional(std::move(info));
  }
  return std::optional<zk::MemberInfo>();
}

}  // namespace core
}  // namespace mandator
}  // namespace kess
