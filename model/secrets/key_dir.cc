#include "model/secrets/key_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "model/file_cache/env.h"
#include "model/names.h"

namespace kess {
namespace secrets {

absl::StatusOr<KeyRing> LoadKeyRingFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) {
      return absl::NotFoundError(absl::StrCat("no key ring file ", path));
    }
    return absl::PermissionDeniedError(absl::StrCat(
        "key ring file ", path, " cannot be opened: ", std::strerror(err)));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat("key ring file ", path, " is not a regular file"));
  }
  if ((st.st_mode & 077) != 0) {
    close(fd);
    return absl::PermissionDeniedError(absl::StrFormat(
        "key ring file %s has mode %04o; it must be readable by its owner "
        "only (chmod 600)",
        path, st.st_mode & 07777));
  }
  if (st.st_size > static_cast<off_t>(kMaxKeyRingFileBytes)) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrCat(
        "key ring file ", path, " is above ", kMaxKeyRingFileBytes, " bytes"));
  }
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = read(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  close(fd);
  text.resize(done);
  absl::StatusOr<KeyRing> ring = ParseKeyRing(text);
  if (!ring.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", ring.status().message()));
  }
  return ring;
}

absl::Status WriteKeyRingFile(const std::string& path, const KeyRing& ring,
                              absl::string_view ns) {
  return file_cache::WriteFileAtomically(file_cache::Env::Default(), path,
                                         FormatKeyRing(ring, ns), 0600);
}

KeyRingDir::KeyRingDir(std::string dir) : dir_(std::move(dir)) {}

std::string KeyRingDir::PathFor(const std::string& ns) const {
  return absl::StrCat(dir_, "/", ns, ".key");
}

absl::StatusOr<std::shared_ptr<const KeyRing>> KeyRingDir::Get(
    const std::string& ns) {
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kNamespace, ns));
  if (dir_.empty()) {
    return absl::NotFoundError("no key ring directory is configured");
  }
  const std::string path = PathFor(ns);
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("no key ring file ", path));
  }
  const int64_t mtime_ns =
      static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 +
      st.st_ctim.tv_nsec;
  {
    absl::MutexLock lock(&mu_);
    auto it = cache_.find(ns);
    if (it != cache_.end() && it->second.ino == st.st_ino &&
        it->second.size == st.st_size && it->second.mtime_ns == mtime_ns) {
      return it->second.ring;
    }
  }
  // The file's mode is checked on every load, never cached as good.
  KESS_ASSIGN_OR_RETURN(KeyRing ring, LoadKeyRingFile(path));
  auto shared = std::make_shared<const KeyRing>(std::move(ring));
  absl::MutexLock lock(&mu_);
  cache_[ns] = Cached{static_cast<uint64_t>(st.st_ino),
                      static_cast<int64_t>(st.st_size), mtime_ns, shared};
  return shared;
}

}  // namespace secrets
}  // namespace kess
