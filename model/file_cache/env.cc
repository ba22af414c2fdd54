#include "model/file_cache/env.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/metrics.h"
#include "glog/logging.h"

namespace kess {
namespace file_cache {
namespace {

constexpr absl::string_view kErrnoPayload = "kess/errno";

void Refused(const char* reason) {
  metrics::Registry::Default()
      .GetCounter("kess_file_cache_refused_total",
                  "File-cache opens refused: a symbolic link where a cache "
                  "file should be, or a temp file that already exists.",
                  {{"reason", reason}})
      ->Increment();
}

// 64 random bits as 16 hex digits, from getrandom(2) (the kernel's CSPRNG).
std::string RandomSuffix() {
  uint64_t bits = 0;
  size_t got = 0;
  for (int attempt = 0; attempt < 100 && got < sizeof(bits); ++attempt) {
    ssize_t n = ::getrandom(reinterpret_cast<char*>(&bits) + got,
                            sizeof(bits) - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
    else if (n < 0 && errno != EINTR) break;
  }
  CHECK_EQ(got, sizeof(bits)) << "getrandom failed";
  return absl::StrCat(absl::Hex(bits, absl::kZeroPad16));
}

class PosixEnv : public Env {
 public:
  absl::StatusOr<std::string> ReadFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
      const int err = errno;
      if (err == ELOOP) {
        Refused("symlink");
        absl::Status status = absl::FailedPreconditionError(
            "open " + path + ": refusing to follow a symbolic link");
        status.SetPayload(kErrnoPayload, absl::Cord("ELOOP"));
        return status;
      }
      return PosixError(err, "open " + path);
    }
    std::string data;
    char buf[65536];
    while (true) {
      ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        ::close(fd);
        return PosixError(err, "read " + path);
      }
      if (n == 0) break;
      data.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return data;
  }

  absl::Status WriteFileAndSync(const std::string& path,
                                absl::string_view data,
                                int mode = 0644) override {
    int fd = ::open(path.c_str(),
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    static_cast<mode_t>(mode));
    if (fd < 0) {
      const int err = errno;
      if (err == EEXIST) Refused("exists");
      return PosixError(err, "create " + path);
    }
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::write(fd, data.data() + done, data.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        ::close(fd);
        return PosixError(err, "write " + path);
      }
      done += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0) {
      int err = errno;
      ::close(fd);
      return PosixError(err, "fsync " + path);
    }
    if (::close(fd) != 0) return PosixError(errno, "close " + path);
    return absl::OkStatus();
  }

  absl::Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return PosixError(errno, "rename " + from + " -> " + to);
    }
    return absl::OkStatus();
  }

  absl::Status SyncDir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return PosixError(errno, "open " + dir);
    if (::fsync(fd) != 0) {
      int err = errno;
      ::close(fd);
      return PosixError(err, "fsync " + dir);
    }
    ::close(fd);
    return absl::OkStatus();
  }

  absl::Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) {
      return PosixError(errno, "unlink " + path);
    }
    return absl::OkStatus();
  }

  absl::Status CreateDirs(const std::string& dir) override {
    if (dir.empty()) return absl::OkStatus();
    struct stat st;
    if (::stat(dir.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode)) return absl::OkStatus();
      return absl::FailedPreconditionError(dir + " exists and is not a dir");
    }
    std::string parent = DirName(dir);
    if (parent != dir && parent != "." && parent != "/") {
      KESS_RETURN_IF_ERROR(CreateDirs(parent));
    }
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return PosixError(errno, "mkdir " + dir);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<std::string>> ListDir(
      const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return PosixError(errno, "opendir " + dir);
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(std::move(name));
    }
    ::closedir(d);
    return names;
  }

  absl::StatusOr<FileInfo> Stat(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      return PosixError(errno, "stat " + path);
    }
    FileInfo info;
    info.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 +
                    st.st_mtim.tv_nsec;
    info.size = st.st_size;
    info.inode = st.st_ino;
    return info;
  }

  int64_t NowMs() override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

constexpr absl::string_view kTempMarker = ".tmp-";

}  // namespace

absl::Status PosixError(int err, const std::string& context) {
  absl::Status status = ErrnoToStatus(err, context);
  const char* name = ::strerrorname_np(err);
  status.SetPayload(kErrnoPayload,
                    absl::Cord(name != nullptr ? name : std::to_string(err)));
  return status;
}

std::string ErrnoName(const absl::Status& status) {
  absl::optional<absl::Cord> name = status.GetPayload(kErrnoPayload);
  return name.has_value() ? std::string(*name) : "";
}

Env* Env::Default() {
  static Env* const env = new PosixEnv();
  return env;
}

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool IsTempFileName(absl::string_view name) {
  return absl::StartsWith(name, ".") && absl::StrContains(name, kTempMarker);
}

absl::Status WriteFileAtomically(Env* env, const std::string& path,
                                 absl::string_view data, int mode) {
  const std::string dir = DirName(path);
  const std::string temp =
      absl::StrCat(dir, "/.", BaseName(path), kTempMarker, RandomSuffix());
  absl::Status status = env->WriteFileAndSync(temp, data, mode);
  if (status.ok()) status = env->Rename(temp, path);
  if (!status.ok()) {
    // Only a temp file this call created is removed (an existing one was
    // not opened, let alone written).
    if (!absl::IsAlreadyExists(status)) env->RemoveFile(temp).IgnoreError();
    return status;
  }
  // The new version is visible now; the directory fsync only makes the
  // rename durable. If it fails the rename may be lost on power loss, so the
  // caller must treat the write as failed and retry it.
  return env->SyncDir(dir);
}

int RemoveTempFiles(Env* env, const std::string& dir) {
  auto names = env->ListDir(dir);
  if (!names.ok()) return 0;
  int removed = 0;
  for (const std::string& name : *names) {
    if (IsTempFileName(name) && env->RemoveFile(dir + "/" + name).ok()) {
      ++removed;
    }
  }
  return removed;
}

}  // namespace file_cache
}  // namespace kess
