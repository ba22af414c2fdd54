#include "common/steady_await.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

namespace kess {
namespace {

using SteadyTime = std::chrono::steady_clock::time_point;

// Wakes the mutexes of waits whose deadline passed; see the header.
class Ticker {
 public:
  static Ticker& Get() {
    static Ticker* const ticker = new Ticker();  // never destroyed
    return *ticker;
  }

  using Handle = std::multimap<SteadyTime, absl::Mutex*>::iterator;

  Handle Add(SteadyTime deadline, absl::Mutex* mu) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!started_) {
      std::thread([this] { Run(); }).detach();  // lives as long as the process
      started_ = true;
    }
    Handle h = due_.emplace(deadline, mu);
    if (h == due_.begin()) cv_.notify_one();  // a new earliest deadline
    return h;
  }

  void Remove(Handle h) {
    std::lock_guard<std::mutex> lock(mu_);
    due_.erase(h);
  }

 private:
  Ticker() = default;

  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      if (due_.empty()) {
        cv_.wait(lock);
        continue;
      }
      const SteadyTime next = due_.begin()->first;
      if (std::chrono::steady_clock::now() < next) {
        cv_.wait_until(lock, next);  // steady clock: immune to wall steps
        continue;
      }
      // Every due wait: poke its mutex, so that absl re-evaluates the
      // waiter's condition (which checks the deadline). TryLock never
      // blocks: a held mutex will be released by its holder, which does
      // the same. The entries stay until their waiters remove them.
      const SteadyTime now = std::chrono::steady_clock::now();
      for (auto it = due_.begin(); it != due_.end() && it->first <= now;
           ++it) {
        if (it->second->TryLock()) it->second->Unlock();
      }
      // Poke due waits again soon if they have not gone yet (their mutex
      // was held, or their thread has not run).
      cv_.wait_for(lock, std::chrono::milliseconds(5));
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false;
  std::multimap<SteadyTime, absl::Mutex*> due_;
};

}  // namespace

bool AwaitWithSteadyTimeout(absl::Mutex* mu, const absl::Condition& cond,
                            absl::Duration timeout) {
  if (cond.Eval()) return true;
  if (timeout <= absl::ZeroDuration()) return false;
  const SteadyTime deadline =
      std::chrono::steady_clock::now() +
      std::chrono::nanoseconds(absl::ToInt64Nanoseconds(
          std::min(timeout, absl::Hours(24 * 365))));
  auto done = [&cond, deadline] {
    return cond.Eval() || std::chrono::steady_clock::now() >= deadline;
  };
  const Ticker::Handle handle = Ticker::Get().Add(deadline, mu);
  mu->Await(absl::Condition(&done));
  Ticker::Get().Remove(handle);
  return cond.Eval();
}

}  // namespace kess
