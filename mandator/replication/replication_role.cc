#include "mandator/replication/replication_role.h"

#include <algorithm>

#include "common/steady_await.h"
#include "glog/logging.h"
#include "mandator/core/zk_options.h"

namespace kess {
namespace mandator {
namespace replication {

ReplicationRole::ReplicationRole(zk::ZkApi* local, Options options)
    : local_(local), options_(std::move(options)) {}

ReplicationRole::~ReplicationRole() { Stop(); }

void ReplicationRole::Start() {
  {
    absl::MutexLock lock(&mu_);
    if (running_) return;
    running_ = true;
  }
  thread_ = std::thread([this] { Run(); });
}

void ReplicationRole::Stop() {
  std::unique_ptr<Replicator> replicator;
  std::unique_ptr<SubtreeMirror> mirror;
  {
    absl::MutexLock lock(&mu_);
    running_ = false;
    replicator = std::move(replicator_);
    mirror = std::move(mirror_);
  }
  if (mirror != nullptr) mirror->Stop();
  if (replicator != nullptr) {
    replicator->Stop();  // no replication write after this
    LOG(INFO) << "replication from the main datacenter stopped";
  }
  if (thread_.joinable()) thread_.join();
  replicator.reset();
  std::unique_ptr<zk::ZkApi> main;
  {
    absl::MutexLock lock(&mu_);
    main = std::move(main_);
  }
}

std::optional<Replicator::Progress> ReplicationRole::progress() const {
  absl::MutexLock lock(&mu_);
  if (replicator_ == nullptr) return std::nullopt;
  return replicator_->progress();
}

void ReplicationRole::Run() {
  absl::Duration backoff = options_.replicator.min_backoff;
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (!running_) return;
    }
    zk::ZkClientOptions zk_options = core::ReaderClientOptions(
        options_.main_zk, options_.auth, options_.session_timeout);
    zk_options.connect_timeout = options_.connect_timeout;
    absl::StatusOr<std::unique_ptr<zk::ZkApi>> main =
        options_.connect ? options_.connect(zk_options)
                         : core::ConnectZooKeeper(zk_options);
    absl::Status status = main.status();
    if (main.ok()) {
      absl::MutexLock lock(&mu_);
      if (!running_) return;  // demoted meanwhile; `main` closes
      absl::StatusOr<std::unique_ptr<Replicator>> replicator =
          Replicator::Create(main->get(), local_, options_.replicator);
      status = replicator.status();
      if (replicator.ok()) {
        main_ = std::move(main).value();
        replicator_ = std::move(replicator).value();
        replicator_->Start();
        if (!options_.mirror.auth_dir.empty() ||
            !options_.mirror.audit_dir.empty()) {
          mirror_ = std::make_unique<SubtreeMirror>(main_.get(), local_,
                                                    options_.mirror);
          mirror_->Start();
        }
        LOG(INFO) << "replicating from the main datacenter at "
                  << options_.main_zk;
        return;
      }
    }
    LOG(WARNING) << "cannot start replication from " << options_.main_zk << ": "
                 << status << "; retrying in " << backoff;
    absl::MutexLock lock(&mu_);
    auto stopped = [this]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !running_; };
    AwaitWithSteadyTimeout(&mu_, absl::Condition(&stopped), backoff);
    backoff = std::min(backoff * 2, options_.replicator.max_backoff);
  }
}

}  // namespace replication
}  // namespace mandator
}  // namespace kess
