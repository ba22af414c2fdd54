#include "zk_schema/ephemeral_node.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "zk_schema/zk_errors.h"

namespace kess {
namespace zk {
namespace {

constexpr int kCreateAttempts = 5;
constexpr absl::Duration kRetryDelay = absl::Milliseconds(200);

}  // namespace

absl::StatusOr<std::unique_ptr<EphemeralNode>> EphemeralNode::Create(
    ZkApi* zk, std::string path, std::string data, AclList acl,
    OnDestroy on_destroy) {
  std::unique_ptr<EphemeralNode> node(new EphemeralNode(
      zk, std::move(path), std::move(data), std::move(acl), on_destroy));
  KESS_RETURN_IF_ERROR(node->CreateNow());
  EphemeralNode* self = node.get();
  node->listener_id_ = zk->AddSessionListener(
      [self](const SessionEvent& event) { self->OnSessionEvent(event); });
  return node;
}

EphemeralNode::~EphemeralNode() {
  if (listener_id_ != 0) zk_->RemoveSessionListener(listener_id_);
  if (on_destroy_ == OnDestroy::kLeaveToSession) return;
  absl::Status deleted = zk_->Delete(path_);
  if (!deleted.ok() && !absl::IsNotFound(deleted)) {
    LOG(WARNING) << "ephemeral " << path_ << " not deleted: " << deleted
                 << " (it goes away with the session)";
  }
}

int64_t EphemeralNode::created_generation() const {
  absl::MutexLock lock(&mu_);
  return created_generation_;
}

absl::Status EphemeralNode::CreateNow() {
  const int64_t generation = zk_->generation();
  absl::Status status;
  for (int attempt = 0; attempt < kCreateAttempts; ++attempt) {
    if (attempt > 0) absl::SleepFor(kRetryDelay);
    status = zk_->Create(path_, data_, CreateMode::kEphemeral, acl_).status();
    if (absl::IsAlreadyExists(status)) {
      // Ours (a create whose reply was lost) or a leftover of an older
      // session that the server has not removed yet.
      absl::StatusOr<std::optional<Stat>> stat = zk_->Exists(path_);
      if (!stat.ok()) {
        status = stat.status();
        continue;
      }
      if (!stat->has_value()) continue;  // gone meanwhile: create again
      if ((*stat)->ephemeral_owner == zk_->session_id()) {
        status = absl::OkStatus();
      } else if (on_destroy_ == OnDestroy::kLeaveToSession) {
        // Not ours to delete: it goes when its session ends.
        status = absl::AlreadyExistsError(absl::StrCat(
            path_, " is held by another session (0x",
            absl::Hex((*stat)->ephemeral_owner),
            "); it goes away when that session ends"));
        break;
      } else {
        status = zk_->Delete(path_, (*stat)->version);
        if (status.ok() || absl::IsNotFound(status)) continue;
      }
    }
    if (status.ok()) {
      absl::MutexLock lock(&mu_);
      created_generation_ = generation;
      return status;
    }
    if (!IsConnectionLoss(status) && !IsThrottled(status)) break;
  }
  absl::MutexLock lock(&mu_);
  created_generation_ = 0;
  return status;
}

void EphemeralNode::OnSessionEvent(const SessionEvent& event) {
  const bool missing = created_generation() != event.generation;
  if (event.type == SessionEvent::kNewSession ||
      (event.type == SessionEvent::kReconnected && missing)) {
    absl::Status status = CreateNow();
    LOG_IF(WARNING, !status.ok())
        << "could not re-create ephemeral " << path_ << " in session "
        << "generation " << event.generation << ": " << status;
  }
}

}  // namespace zk
}  // namespace kess
