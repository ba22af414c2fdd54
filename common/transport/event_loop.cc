#include "common/transport/event_loop.h"

#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "glog/logging.h"

namespace kess {
namespace transport {
namespace {

constexpr int kMaxEventsPerWait = 1024;
// Longer delays are cut to this (the deadline must not overflow).
constexpr absl::Duration kMaxDelay = absl::Hours(24 * 365 * 100);

}  // namespace

absl::StatusOr<std::unique_ptr<EventLoop>> EventLoop::Create(
    const std::string& name) {
  int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) return ErrnoToStatus(errno, "epoll_create1");
  int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) {
    int err = errno;
    close(epoll_fd);
    return ErrnoToStatus(err, "eventfd");
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // marks the wakeup fd
  if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, wake_fd, &ev) != 0) {
    int err = errno;
    close(wake_fd);
    close(epoll_fd);
    return ErrnoToStatus(err, "epoll_ctl(eventfd)");
  }
  std::unique_ptr<EventLoop> loop(new EventLoop(epoll_fd, wake_fd));
  EventLoop* raw = loop.get();
  std::string thread_name = name.substr(0, 15);
  loop->thread_ = std::thread([raw, thread_name] {
    pthread_setname_np(pthread_self(), thread_name.c_str());
    raw->Run();
  });
  return loop;
}

EventLoop::EventLoop(int epoll_fd, int wake_fd)
    : epoll_fd_(epoll_fd), wake_fd_(wake_fd) {}

EventLoop::~EventLoop() {
  CHECK(!InLoopThread()) << "an EventLoop cannot destroy itself";
  stop_.store(true);
  Wake();
  if (thread_.joinable()) thread_.join();
  // Destroy leftover tasks and timers here, while the loop object is intact:
  // their captures may DeleteSoon() or Post() again, which is then dropped.
  std::vector<std::function<void()>> tasks;
  {
    absl::MutexLock lock(&tasks_mu_);
    tasks.swap(tasks_);
  }
  tasks.clear();
  timers_.clear();
  {
    absl::MutexLock lock(&tasks_mu_);
    tasks_.clear();
  }
  close(wake_fd_);
  close(epoll_fd_);
}

int64_t EventLoop::NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// eventfd_write rather than write(2): glibc's eventfd_write does not go
// through the interposable write symbol, so fault injection that fails
// write(2) for a whole process (fiu-run posix/io/rw/write, used to fill a
// "disk") cannot swallow a wake-up and leave wake_pending_ set for good.
void EventLoop::Wake() { (void)eventfd_write(wake_fd_, 1); }

void EventLoop::Post(std::function<void()> task) {
  {
    absl::MutexLock lock(&tasks_mu_);
    tasks_.push_back(std::move(task));
  }
  // One eventfd write per batch of posts: the loop clears wake_pending_
  // before it takes the queue, so a post racing with that is never missed.
  if (!wake_pending_.exchange(true)) Wake();
}

void EventLoop::RunInLoop(std::function<void()> task) {
  if (InLoopThread()) {
    task();
  } else {
    Post(std::move(task));
  }
}

absl::Status EventLoop::Control(int op, int fd, uint32_t events,
                                Handler* handler) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  if (epoll_ctl(epoll_fd_, op, fd, &ev) != 0) {
    return ErrnoToStatus(
        errno, op == EPOLL_CTL_ADD ? "epoll_ctl(ADD)" : "epoll_ctl(MOD)");
  }
  return absl::OkStatus();
}

absl::Status EventLoop::Add(int fd, uint32_t events, Handler* handler) {
  return Control(EPOLL_CTL_ADD, fd, events, handler);
}

absl::Status EventLoop::Modify(int fd, uint32_t events, Handler* handler) {
  return Control(EPOLL_CTL_MOD, fd, events, handler);
}

void EventLoop::Remove(int fd) {
  epoll_event ev{};
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, &ev);
}

EventLoop::TimerId EventLoop::RunAfter(absl::Duration delay,
                                       std::function<void()> fn) {
  DCHECK(InLoopThread());
  const TimerId id = next_timer_id_++;
  int64_t delay_ms = 0;
  if (delay > absl::ZeroDuration()) {
    delay_ms = absl::ToInt64Milliseconds(
        absl::Ceil(std::min(delay, kMaxDelay), absl::Milliseconds(1)));
  }
  const int64_t deadline = NowMs() + delay_ms;
  timers_.emplace(std::make_pair(deadline, id), std::move(fn));
  timer_deadlines_.emplace(id, deadline);
  return id;
}

void EventLoop::CancelTimer(TimerId id) {
  DCHECK(InLoopThread());
  auto it = timer_deadlines_.find(id);
  if (it == timer_deadlines_.end()) return;
  timers_.erase(std::make_pair(it->second, id));
  timer_deadlines_.erase(it);
}

int EventLoop::NextTimeoutMs() const {
  if (wake_pending_.load()) return 0;
  if (timers_.empty()) return -1;
  int64_t wait = timers_.begin()->first.first - NowMs();
  if (wait < 0) return 0;
  return wait > 60000 ? 60000 : static_cast<int>(wait);
}

void EventLoop::RunExpiredTimers() {
  const int64_t now = NowMs();
  // Bounded: timers added by a callback with delay 0 run next iteration.
  const TimerId last_id = next_timer_id_;
  while (!timers_.empty()) {
    auto it = timers_.begin();
    if (it->first.first > now || it->first.second >= last_id) break;
    std::function<void()> fn = std::move(it->second);
    timer_deadlines_.erase(it->first.second);
    timers_.erase(it);
    fn();
  }
}

void EventLoop::DrainWakeFd() {
  uint64_t count;
  while (read(wake_fd_, &count, sizeof(count)) > 0) {
  }
}

void EventLoop::RunPostedTasks() {
  wake_pending_.store(false);
  std::vector<std::function<void()>> tasks;
  {
    absl::MutexLock lock(&tasks_mu_);
    tasks.swap(tasks_);
  }
  for (auto& task : tasks) {
    task();
    task = nullptr;  // release its captures now, not after the batch
  }
}

void EventLoop::Run() {
  thread_id_.store(std::this_thread::get_id());
  std::vector<epoll_event> events(kMaxEventsPerWait);
  while (!stop_.load()) {
    int n = epoll_wait(epoll_fd_, events.data(), kMaxEventsPerWait,
                       NextTimeoutMs());
    if (n < 0) {
      if (errno == EINTR) continue;
      LOG(FATAL) << "epoll_wait: " << ErrnoToStatus(errno, "epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
      auto* handler = static_cast<Handler*>(events[i].data.ptr);
      if (handler == nullptr) {
        DrainWakeFd();
      } else {
        handler->OnEvents(events[i].events);
      }
    }
    RunExpiredTimers();
    RunPostedTasks();
  }
}

}  // namespace transport
}  // namespace kess
