// An epoll event loop on one thread of its own: file-descriptor readiness,
// timers, and tasks posted from any thread.
//
// Every transport object (Connection, Server's connections, Client) lives on
// exactly one EventLoop and is touched only from that loop's thread, so it
// needs no locks. Thousands of connections share one loop; a process uses a
// small fixed number of loops, never a thread per connection.
//
// Thread-safety: Post(), InLoopThread() and the destructor may be called from
// any thread (the destructor not from the loop's own thread). Everything else
// (Add/Modify/Remove, RunAfter/CancelTimer) must be called on the loop
// thread.
//
// Ordering: each iteration first dispatches all ready fd events, then runs
// expired timers, then runs the tasks posted so far, in posting order. An
// object posted for deletion (DeleteSoon) therefore outlives the batch of
// events that may still name it.
#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/status.h"

namespace kess {
namespace transport {

class EventLoop {
 public:
  // Receives readiness events for one fd. Called on the loop thread.
  class Handler {
   public:
    virtual ~Handler() = default;
    // `events` is an EPOLLIN/EPOLLOUT/EPOLLERR/EPOLLHUP mask.
    virtual void OnEvents(uint32_t events) = 0;
  };

  using TimerId = uint64_t;  // 0 is never a valid id

  // Creates the epoll and wakeup fds and starts the loop thread, named
  // `name` (at most 15 characters are kept).
  static absl::StatusOr<std::unique_ptr<EventLoop>> Create(
      const std::string& name);

  // Stops the thread and joins it. Tasks and timers that have not run are
  // destroyed without running. REQUIRES: not called on the loop thread;
  // every Handler registered has been removed or is being destroyed with
  // the loop's owner.
  ~EventLoop();

  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Runs `task` on the loop thread, soon. Any thread.
  void Post(std::function<void()> task);

  // Runs `task` now if on the loop thread, else Post()s it.
  void RunInLoop(std::function<void()> task);

  // Deletes `object` on the loop thread after the current event batch.
  template <typename T>
  void DeleteSoon(std::unique_ptr<T> object) {
    std::shared_ptr<T> holder(std::move(object));
    Post([holder]() {});
  }

  bool InLoopThread() const {
    return std::this_thread::get_id() == thread_id_.load();
  }

  // fd registration; `handler` must stay valid until Remove(fd).
  absl::Status Add(int fd, uint32_t events, Handler* handler);
  absl::Status Modify(int fd, uint32_t events, Handler* handler);
  void Remove(int fd);

  // Runs `fn` once on the loop thread after `delay` (a negative one counts
  // as zero; rounded up to whole milliseconds, the timers' resolution, so a
  // positive delay never becomes zero). Returns an id for CancelTimer. Loop
  // thread only.
  TimerId RunAfter(absl::Duration delay, std::function<void()> fn);
  // Cancelling an id that already ran or was cancelled is a no-op.
  void CancelTimer(TimerId id);

  // Monotonic milliseconds, the clock timers use.
  static int64_t NowMs();

 private:
  EventLoop(int epoll_fd, int wake_fd);
  absl::Status Control(int op, int fd, uint32_t events, Handler* handler);
  void Run();
  int NextTimeoutMs() const;
  void RunExpiredTimers();
  // One eventfd signal to the loop thread.
  void Wake();
  void RunPostedTasks();
  void DrainWakeFd();

  const int epoll_fd_;
  const int wake_fd_;
  std::atomic<bool> stop_{false};
  std::atomic<std::thread::id> thread_id_{};
  std::thread thread_;

  absl::Mutex tasks_mu_;
  std::vector<std::function<void()>> tasks_ ABSL_GUARDED_BY(tasks_mu_);
  std::atomic<bool> wake_pending_{false};

  // Loop thread only. Keyed by (deadline, id) so equal deadlines run in
  // creation order.
  std::map<std::pair<int64_t, TimerId>, std::function<void()>> timers_;
  std::unordered_map<TimerId, int64_t> timer_deadlines_;
  TimerId next_timer_id_ = 1;
};

}  // namespace transport
}  // namespace kess
