// Every operating-system access of the file cache (files, directories,
// rename, fsync, clock) behind one small interface, leveldb style, so the
// writer's failure handling (disk full, fsync errors) is unit-tested with a
// fault-injecting Env (testing/fault_injection_env.h) instead of a real
// full disk.
//
// Thread-safety: Env implementations are safe to call from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/status.h"

namespace kess {
namespace file_cache {

// What a reader polls to notice a new version without parsing the file: a
// rename gives the path a new inode, and the mtime/size usually change too.
struct FileInfo {
  int64_t mtime_ns = 0;
  int64_t size = 0;
  uint64_t inode = 0;

  bool operator==(const FileInfo& o) const {
    return mtime_ns == o.mtime_ns && size == o.size && inode == o.inode;
  }
  bool operator!=(const FileInfo& o) const { return !(*this == o); }
};

class Env {
 public:
  virtual ~Env() = default;

  // The real, POSIX implementation. Never deleted.
  static Env* Default();

  // The whole file. NotFound if it does not exist. A symbolic link at
  // `path` is never followed (O_NOFOLLOW): FailedPrecondition "refusing to
  // follow a symbolic link", counted in
  // kess_file_cache_refused_total{reason="symlink"}; a link planted in the
  // cache directory cannot make a reader serve another file.
  virtual absl::StatusOr<std::string> ReadFile(const std::string& path) = 0;

  // Creates `path`, which must not exist (O_CREAT | O_EXCL | O_NOFOLLOW: a
  // file or symbolic link already there is AlreadyExists, counted in
  // kess_file_cache_refused_total{reason="exists"}, and never written
  // through) with permission bits `mode` (less the umask), writes `data`,
  // fsyncs and closes it.
  // On failure the file may hold any prefix of `data`; the caller removes it.
  // The errno of the failing call is reported through PosixError (ENOSPC
  // -> ResourceExhausted, EIO -> Internal), with the call named.
  virtual absl::Status WriteFileAndSync(const std::string& path,
                                        absl::string_view data,
                                        int mode = 0644) = 0;

  // rename(2): atomically replaces `to`.
  virtual absl::Status Rename(const std::string& from,
                              const std::string& to) = 0;

  // fsync of a directory, so a rename in it survives a power loss.
  virtual absl::Status SyncDir(const std::string& dir) = 0;

  // NotFound if it does not exist.
  virtual absl::Status RemoveFile(const std::string& path) = 0;

  // mkdir -p. OK if it exists already.
  virtual absl::Status CreateDirs(const std::string& dir) = 0;

  // Entry names in `dir` (no "." or ".."), unsorted. NotFound if missing.
  virtual absl::StatusOr<std::vector<std::string>> ListDir(
      const std::string& dir) = 0;

  // stat(2) of `path`. NotFound if it does not exist.
  virtual absl::StatusOr<FileInfo> Stat(const std::string& path) = 0;

  // Wall-clock milliseconds since the Unix epoch.
  virtual int64_t NowMs() = 0;
};

// ErrnoToStatus(err, context) that also carries the errno's symbolic name
// ("ENOSPC", "EIO") as a payload, for metric labels (see ErrnoName).
absl::Status PosixError(int err, const std::string& context);
// The errno name a PosixError carries; "" for any other status.
std::string ErrnoName(const absl::Status& status);

// The atomic publish every kess writer uses: writes `data` to a temp file in
// the same directory as `path` (named ".<basename>.tmp-<16 random hex
// digits from getrandom>", which no valid name can collide with and no other
// local user can predict), created exclusively, fsyncs it, renames it over
// `path`, then
// fsyncs the directory. A reader sees the old file or the whole new one,
// never a mix. On failure `path` is untouched and the temp file removed (a
// crash may leave one behind: see RemoveTempFiles). The file gets `mode`
// from its creation on (0600 for a file only its owner may read).
absl::Status WriteFileAtomically(Env* env, const std::string& path,
                                 absl::string_view data, int mode = 0644);

// True for the temp-file names WriteFileAtomically uses.
bool IsTempFileName(absl::string_view name);

// Removes leftover temp files in `dir` (from a writer killed mid-write).
// Returns how many were removed.
int RemoveTempFiles(Env* env, const std::string& dir);

// The directory part of `path` ("a/b/c.json" -> "a/b"; "c" -> ".").
std::string DirName(const std::string& path);
// The last component of `path`.
std::string BaseName(const std::string& path);

}  // namespace file_cache
}  // namespace kess
