// DirWatcher: learns within milliseconds that files changed in a set of
// directories (Linux inotify), so that a reader that re-checks its files on
// a timer can re-check them at once instead. It says only "something may
// have changed in one of your directories"; what changed is the reader's
// business, and the reader keeps its timer as the backstop (an inotify
// queue can overflow, and a directory can be replaced).
//
//   auto watcher = DirWatcher::Create([&] { WakePoller(); });
//   (*watcher)->Watch("/var/cache/kess/routes");  // may not exist yet
//
// Events that call `on_change`: a file moved into, written and closed in,
// created in, deleted from or moved out of a watched directory, the queue
// overflowing, and a watched directory appearing (it did not exist when it
// was watched: its nearest existing ancestor is watched until it does) or
// going away. Renames over a file, as every atomic writer does, are
// IN_MOVED_TO on the directory; watching the file itself would miss them.
//
// The second form of Create says which files: DirChanges names, per wanted
// directory, the files moved into, written, created, deleted or moved out
// (from the events' names), so that a reader re-reads just those instead of
// listing its directories. `rescan` is set when names cannot be trusted to
// be complete: the queue overflowed (IN_Q_OVERFLOW, events were lost), a
// wanted directory appeared or went away, or an event came from an ancestor
// standing in for a missing directory. Then the reader lists everything.
//
// Thread-safety: thread-safe. The callback runs on the watcher's own
// thread, one call at a time, and must not call back into the DirWatcher's
// destructor.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "common/status.h"

namespace kess {

// What one wake-up of a DirWatcher saw (see above).
struct DirChanges {
  // Wanted directory (as normalized: no trailing slash) -> file names.
  std::map<std::string, std::set<std::string>> files;
  bool rescan = false;
};

class DirWatcher {
 public:
  // Errors if inotify or the thread cannot be set up (e.g. the per-user
  // inotify instance limit): the caller falls back to its timer.
  static absl::StatusOr<std::unique_ptr<DirWatcher>> Create(
      std::function<void()> on_change);
  // The same, with the names of the files that changed.
  static absl::StatusOr<std::unique_ptr<DirWatcher>> Create(
      std::function<void(const DirChanges&)> on_changes);
  ~DirWatcher();  // stops the thread; on_change is not called after it

  DirWatcher(const DirWatcher&) = delete;
  DirWatcher& operator=(const DirWatcher&) = delete;

  // Watches `dir` (an absolute or relative path, no trailing slash needed).
  // Idempotent. Errors only when neither `dir` nor any ancestor can be
  // watched (e.g. the inotify watch limit); the caller's timer still works.
  absl::Status Watch(const std::string& dir);

  // Directories watched directly right now (tests, metrics).
  int watched_count() const;

 private:
  DirWatcher(int inotify_fd, int stop_fd,
             std::function<void(const DirChanges&)> on_changes);
  void Run();
  // Adds inotify watches for every wanted directory not watched yet: the
  // directory itself, or its nearest existing ancestor. True if a wanted
  // directory got its own watch just now.
  bool ResolveLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int inotify_fd_;
  const int stop_fd_;  // eventfd: the destructor wakes the thread
  const std::function<void(const DirChanges&)> on_changes_;

  mutable absl::Mutex mu_;
  std::set<std::string> wanted_ ABSL_GUARDED_BY(mu_);
  // inotify watch descriptor -> path, for every path watched (wanted
  // directories and the ancestors standing in for missing ones).
  std::map<int, std::string> watches_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace kess
