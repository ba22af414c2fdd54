#include "zk_schema/session_listeners.h"

#include <utility>
#include <vector>

namespace kess {
namespace zk {

int64_t SessionListenerSet::Add(SessionListener listener) {
  absl::MutexLock lock(&mu_);
  const int64_t id = next_id_++;
  listeners_.emplace(id, std::move(listener));
  return id;
}

void SessionListenerSet::Remove(int64_t id) {
  absl::MutexLock lock(&mu_);
  listeners_.erase(id);
}

void SessionListenerSet::Deliver(const SessionEvent& event) {
  std::vector<int64_t> ids;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& entry : listeners_) ids.push_back(entry.first);
  }
  for (int64_t id : ids) {
    SessionListener listener;
    {
      absl::MutexLock lock(&mu_);
      auto it = listeners_.find(id);
      if (it == listeners_.end()) continue;  // removed meanwhile
      listener = it->second;
    }
    listener(event);
  }
}

}  // namespace zk
}  // namespace kess
