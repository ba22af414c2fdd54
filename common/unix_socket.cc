#include "common/unix_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace kess {
namespace {

std::string DirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// True if something accepts connections on the socket at `path`.
absl::StatusOr<bool> Served(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoToStatus(errno, "socket(AF_UNIX)");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, path.data(), path.size());
  const int r = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  const int err = errno;
  close(fd);
  if (r == 0) return true;
  if (err == ECONNREFUSED) return false;  // stale: nobody listens
  return ErrnoToStatus(err, "connect to " + path);
}

}  // namespace

absl::StatusOr<std::unique_ptr<UnixSocketPlacement>> UnixSocketPlacement::Prepare(
    const std::string& path) {
  constexpr size_t kMax = sizeof(sockaddr_un::sun_path) - 1;
  const std::string dir = DirOf(path);
  std::unique_ptr<UnixSocketPlacement> p(new UnixSocketPlacement);
  p->path_ = path;
  // <dir>/.kess-sock-XXXXXX/s
  std::string tmpl = dir + "/.kess-sock-XXXXXX";
  if (path.empty() || path.size() > kMax || tmpl.size() + 2 > kMax) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unix socket path ", path, " is too long: at most ", kMax,
        " bytes, and its directory at most ", kMax - 20));
  }
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) {
    return ErrnoToStatus(errno, "unix socket directory " + dir);
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "unix socket directory ", dir,
        " is writable by group or others (another user could replace the "
        "socket); use a directory only this user can write to, e.g. "
        "/run/kess with mode 0755"));
  }
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, " exists and is not a socket; not replacing it"));
    }
    KESS_ASSIGN_OR_RETURN(bool served, Served(path));
    if (served) {
      return absl::FailedPreconditionError(absl::StrCat(
          "another process serves on ", path,
          " (a second daemon?); not replacing its socket"));
    }
  } else if (errno != ENOENT) {
    return ErrnoToStatus(errno, "lstat " + path);
  }
  if (mkdtemp(tmpl.data()) == nullptr) {
    return ErrnoToStatus(errno, "mkdtemp " + tmpl);
  }
  p->private_dir_ = tmpl;  // mode 0700
  p->bind_path_ = tmpl + "/s";
  return p;
}

UnixSocketPlacement::~UnixSocketPlacement() {
  if (!private_dir_.empty()) {
    unlink(bind_path_.c_str());
    rmdir(private_dir_.c_str());
  }
}

absl::Status UnixSocketPlacement::Publish(int mode) {
  // Inside a directory only this user can enter, the name cannot have been
  // swapped: chmod by path is safe here.
  if (chmod(bind_path_.c_str(), static_cast<mode_t>(mode)) != 0) {
    return ErrnoToStatus(errno, "chmod " + bind_path_);
  }
  struct stat st;
  if (lstat(bind_path_.c_str(), &st) != 0) {
    return ErrnoToStatus(errno, "lstat " + bind_path_);
  }
  if (rename(bind_path_.c_str(), path_.c_str()) != 0) {
    return ErrnoToStatus(errno, "rename " + bind_path_ + " -> " + path_);
  }
  rmdir(private_dir_.c_str());
  private_dir_.clear();
  published_ = true;
  dev_ = st.st_dev;
  ino_ = st.st_ino;
  return absl::OkStatus();
}

void UnixSocketPlacement::RemoveIfOurs() {
  if (!published_) return;
  published_ = false;
  struct stat st;
  if (lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ &&
      st.st_ino == ino_) {
    unlink(path_.c_str());
  }
}

}  // namespace kess
