// Key ring files (key_ring.h has their format), and KeyRingDir: the key
// rings of a host or mandator, one file per secret namespace in one
// directory (<dir>/<namespace>.key), read when first needed and again
// whenever the file changes (its inode, size or ctime: content or mode), so
// that a rotated ring takes effect without a restart.
//
// Thread-safety: thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "common/status.h"
#include "model/secrets/key_ring.h"

namespace kess {
namespace secrets {

// Reads and parses a key ring file. PermissionDenied when the file may be
// read or written by group or others (it must be 0600 or 0400, like an ssh
// key); NotFound when it does not exist.
absl::StatusOr<KeyRing> LoadKeyRingFile(const std::string& path);

// Writes `ring` to `path` with mode 0600 from its creation on: a temp file
// in the same directory, fsync, rename, fsync of the directory.
absl::Status WriteKeyRingFile(const std::string& path, const KeyRing& ring,
                              absl::string_view ns);

class KeyRingDir {
 public:
  // `dir` may be empty (no rings at all) or not exist yet.
  explicit KeyRingDir(std::string dir);

  // The ring of namespace `ns`: NotFound when there is no file (or no
  // directory), else LoadKeyRingFile's errors. A validated namespace name
  // never leaves the directory (model/names.h: no '/', no "..").
  absl::StatusOr<std::shared_ptr<const KeyRing>> Get(const std::string& ns);

  // <dir>/<ns>.key
  std::string PathFor(const std::string& ns) const;
  const std::string& dir() const { return dir_; }

 private:
  struct Cached {
    uint64_t ino = 0;
    int64_t size = -1;
    int64_t mtime_ns = 0;
    std::shared_ptr<const KeyRing> ring;
  };

  const std::string dir_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Cached> cache_ ABSL_GUARDED_BY(mu_);
};

}  // namespace secrets
}  // namespace kess
