// CallbackThread: the callback thread of one FakeZkClient.
//
// Runs posted tasks one at a time, in the order posted, on its own thread,
// as ZkClient's dispatcher does: watch callbacks and session listeners run
// there, never on a thread that holds the fake's lock, so they may call the
// client. Drain() waits until every task posted so far (and every task those
// post) has run, which lets a test check what callbacks did without
// sleeping.
//
// Thread-safe. The destructor must not run on the thread itself.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace kess {
namespace zk {
namespace testing {

class CallbackThread {
 public:
  CallbackThread();
  ~CallbackThread();  // Stop()

  CallbackThread(const CallbackThread&) = delete;
  CallbackThread& operator=(const CallbackThread&) = delete;

  // Queues `task`; dropped after Stop().
  void Post(std::function<void()> task);
  // Waits until the queue is empty and no task is running.
  // REQUIRES: not on this thread.
  void Drain();
  // Waits for a running task to return (none may be running afterwards
  // unless posted later); returns at once on this thread.
  void WaitForRunningTask();
  // Drops queued tasks, waits for a running one, joins. Idempotent.
  // REQUIRES: not on this thread.
  void Stop();

  bool OnThisThread() const;
  // Tasks run so far.
  uint64_t completed() const;

 private:
  void Loop();

  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool busy_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t completed_ ABSL_GUARDED_BY(mu_) = 0;
  // Held while a task runs.
  absl::Mutex running_mu_;
  std::thread thread_;
  std::thread::id thread_id_;
};

}  // namespace testing
}  // namespace zk
}  // namespace kess
