// SessionListenerSet: the session listeners of one ZkApi client (zk_api.h),
// shared by ZkClient and the in-memory client of testing/ so that both
// register and deliver alike.
//
// Deliver() calls, in id order, every listener registered when it started
// and still registered when its turn comes, without holding the set's lock
// (a listener may add or remove listeners). It does not wait for a
// listener running on another thread: a client that promises "not running
// after RemoveSessionListener returns" waits on its own callback thread.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <map>

#include "absl/synchronization/mutex.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace zk {

class SessionListenerSet {
 public:
  // Returns the id for Remove(); ids start at 1.
  int64_t Add(SessionListener listener);
  void Remove(int64_t id);
  void Deliver(const SessionEvent& event);

 private:
  absl::Mutex mu_;
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<int64_t, SessionListener> listeners_ ABSL_GUARDED_BY(mu_);
};

}  // namespace zk
}  // namespace kess
