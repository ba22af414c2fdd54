// What ZooKeeper callbacks saw, in the order they ran, for assertions from
// the test thread: the watch and session events of one or more clients
// (a ZkClient on a real server or a FakeZkClient alike).
//
//   EventLog log;
//   log.Listen(zk, "c");                      // "c: session expired 1"
//   ASSERT_TRUE(zk.Get("/x", log.Watcher("w")).ok());
//   ...                                       // "w changed /x"
//   EXPECT_THAT(log.entries(), ElementsAre(...));
//
// Thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "zk_schema/zk_api.h"

namespace kess {
namespace zk {
namespace testing {

class EventLog {
 public:
  void Add(std::string entry) ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<std::string> entries() const ABSL_LOCKS_EXCLUDED(mu_);
  size_t size() const { return entries().size(); }
  void Clear() ABSL_LOCKS_EXCLUDED(mu_);

  // A watch callback that logs "<tag> <WatchEventTypeName> <path>".
  // REQUIRES: the log outlives the watch.
  WatchCallback Watcher(const std::string& tag);
  // Logs "<tag>: <SessionEventTypeName> <generation>" for every session
  // event of `zk`. REQUIRES: the log outlives `zk`'s listeners.
  void Listen(ZkApi& zk, const std::string& tag);

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> entries_ ABSL_GUARDED_BY(mu_);
};

// "created", "deleted", "changed", "children".
const char* WatchEventTypeName(WatchEventType type);

}  // namespace testing
}  // namespace zk
}  // namespace kess
