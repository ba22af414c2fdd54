#include "zk_schema/testing/callback_thread.h"

#include <utility>

#include "glog/logging.h"

namespace kess {
namespace zk {
namespace testing {

CallbackThread::CallbackThread() {
  thread_ = std::thread([this] { Loop(); });
  thread_id_ = thread_.get_id();
}

CallbackThread::~CallbackThread() { Stop(); }

void CallbackThread::Post(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  if (stop_) return;
  queue_.push_back(std::move(task));
}

void CallbackThread::Drain() {
  CHECK(!OnThisThread()) << "DrainCallbacks() called from a callback";
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stop_ || (queue_.empty() && !busy_);
  };
  mu_.Await(absl::Condition(&idle));
}

void CallbackThread::WaitForRunningTask() {
  if (OnThisThread()) return;
  absl::MutexLock wait(&running_mu_);
}

void CallbackThread::Stop() {
  CHECK(!OnThisThread()) << "FakeZkClient destroyed from its own callback";
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    queue_.clear();
  }
  if (thread_.joinable()) thread_.join();
}

bool CallbackThread::OnThisThread() const {
  return std::this_thread::get_id() == thread_id_;
}

uint64_t CallbackThread::completed() const {
  absl::MutexLock lock(&mu_);
  return completed_;
}

void CallbackThread::Loop() {
  for (;;) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_ || !queue_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (stop_) return;
      task = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    {
      absl::MutexLock running(&running_mu_);
      task();
      task = nullptr;  // what it captured goes before Drain() returns
    }
    absl::MutexLock lock(&mu_);
    busy_ = false;
    ++completed_;
  }
}

}  // namespace testing
}  // namespace zk
}  // namespace kess
