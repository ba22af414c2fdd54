#include "common/dir_watcher.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace kess {
namespace {

// One mask for wanted directories and the ancestors that stand in for
// missing ones: the extra events on an ancestor are rare (a directory
// appearing) and only cost a spurious wake-up.
constexpr uint32_t kMask = IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE |
                           IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF |
                           IN_MOVE_SELF | IN_ONLYDIR;

std::string Normalize(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir.empty() ? "." : dir;
}

// "/a/b" -> "/a", "/a" -> "/", "a/b" -> "a", "a" -> "."; "" at the root.
std::string Parent(const std::string& dir) {
  if (dir == "/" || dir == ".") return "";
  const size_t slash = dir.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return dir.substr(0, slash);
}

// `watched` is `path` or one of its ancestors.
bool Covers(const std::string& watched, const std::string& path) {
  if (watched == path || watched == ".") return true;
  return absl::StartsWith(path, watched == "/" ? watched : watched + "/");
}

}  // namespace

absl::StatusOr<std::unique_ptr<DirWatcher>> DirWatcher::Create(
    std::function<void()> on_change) {
  return Create([on_change = std::move(on_change)](const DirChanges&) {
    on_change();
  });
}

absl::StatusOr<std::unique_ptr<DirWatcher>> DirWatcher::Create(
    std::function<void(const DirChanges&)> on_changes) {
  const int inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd < 0) {
    return ErrnoToStatus(errno, "inotify_init1");
  }
  const int stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (stop_fd < 0) {
    const int err = errno;
    close(inotify_fd);
    return ErrnoToStatus(err, "eventfd");
  }
  std::unique_ptr<DirWatcher> watcher(
      new DirWatcher(inotify_fd, stop_fd, std::move(on_changes)));
  watcher->thread_ = std::thread([w = watcher.get()] { w->Run(); });
  return watcher;
}

DirWatcher::DirWatcher(int inotify_fd, int stop_fd,
                       std::function<void(const DirChanges&)> on_changes)
    : inotify_fd_(inotify_fd),
      stop_fd_(stop_fd),
      on_changes_(std::move(on_changes)) {}

DirWatcher::~DirWatcher() {
  eventfd_write(stop_fd_, 1);
  if (thread_.joinable()) thread_.join();
  close(inotify_fd_);
  close(stop_fd_);
}

absl::Status DirWatcher::Watch(const std::string& dir) {
  absl::MutexLock lock(&mu_);
  const std::string path = Normalize(dir);
  wanted_.insert(path);
  ResolveLocked();
  for (const auto& [wd, watched] : watches_) {
    if (Covers(watched, path)) return absl::OkStatus();
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "inotify: neither ", path, " nor any ancestor can be watched"));
}

int DirWatcher::watched_count() const {
  absl::MutexLock lock(&mu_);
  int n = 0;
  for (const auto& [wd, path] : watches_) n += wanted_.count(path);
  return n;
}

bool DirWatcher::ResolveLocked() {
  std::set<std::string> watched;
  for (const auto& [wd, path] : watches_) watched.insert(path);
  bool gained = false;
  for (const std::string& want : wanted_) {
    if (watched.count(want)) continue;
    // The directory itself, else the nearest existing ancestor; then the
    // directory once more, in case it appeared before the ancestor's watch
    // could report it.
    std::string path = want;
    while (!path.empty()) {
      const int wd = inotify_add_watch(inotify_fd_, path.c_str(), kMask);
      if (wd >= 0) {
        watches_[wd] = path;
        watched.insert(path);
        break;
      }
      if (errno != ENOENT && errno != ENOTDIR) break;  // e.g. ENOSPC, EACCES
      path = Parent(path);
    }
    if (path == want) {
      gained = true;
      continue;
    }
    if (path.empty()) continue;
    const int wd = inotify_add_watch(inotify_fd_, want.c_str(), kMask);
    if (wd >= 0) {
      watches_[wd] = want;
      watched.insert(want);
      gained = true;
    }
  }
  return gained;
}

void DirWatcher::Run() {
  alignas(struct inotify_event) char buffer[64 * 1024];
  for (;;) {
    pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;  // cannot happen with valid fds; the caller's timer remains
    }
    if (fds[1].revents != 0) return;
    bool changed = false;
    bool resolve = false;
    DirChanges changes;
    // Bounded: a reader that falls this far behind lists its directories.
    constexpr size_t kMaxNames = 100000;
    size_t names = 0;
    for (;;) {
      const ssize_t n = read(inotify_fd_, buffer, sizeof(buffer));
      if (n <= 0) break;  // EAGAIN: drained
      absl::MutexLock lock(&mu_);
      for (ssize_t at = 0; at < n;) {
        struct inotify_event event;
        std::memcpy(&event, buffer + at, sizeof(event));
        const char* name = buffer + at + sizeof(event);
        at += static_cast<ssize_t>(sizeof(event)) + event.len;
        changed = true;
        if (event.mask & IN_IGNORED) {  // the directory went away
          watches_.erase(event.wd);
          resolve = true;
          changes.rescan = true;
          continue;
        }
        if (event.mask & (IN_Q_OVERFLOW | IN_ISDIR | IN_DELETE_SELF |
                          IN_MOVE_SELF)) {
          resolve = true;
          changes.rescan = true;
          continue;
        }
        auto watch = watches_.find(event.wd);
        if (event.len == 0 || watch == watches_.end() ||
            wanted_.count(watch->second) == 0) {
          changes.rescan = true;  // an ancestor standing in, or unknown
          continue;
        }
        if (names < kMaxNames) {
          // The name is NUL-padded to event.len.
          if (changes.files[watch->second].insert(std::string(name)).second) {
            ++names;
          }
        } else {
          changes.rescan = true;
        }
      }
    }
    if (resolve) {
      absl::MutexLock lock(&mu_);
      ResolveLocked();
    }
    if (changed) on_changes_(changes);
  }
}

}  // namespace kess
