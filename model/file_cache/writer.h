// FileCacheWriter: the only code that writes cache files (used by the
// agent). Each Write publishes one whole new version atomically (temp file,
// fsync, rename, fsync of the directory; see WriteFileAtomically) and never
// replaces a newer revision with an older or equal one, so a file's
// revision only ever increases (invariant 7 of docs/design.md).
//
//   KESS_ASSIGN_OR_RETURN(auto writer, FileCacheWriter::Open({dir}));
//   absl::StatusOr<FileCacheWriter::Result> r = writer->Write(entry);
//
// On a failed write (disk full, fsync error) the previous file stays intact
// and the error is returned; the caller retries later. The revision held
// for the key is only advanced after the file is durably in place.
//
// Thread-safety: all methods are thread-safe (writes are serialized).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "model/file_cache/env.h"
#include "model/file_cache/format.h"
#include "common/status.h"

namespace kess {
namespace file_cache {

class FileCacheWriter {
 public:
  struct Options {
    std::string cache_dir;
    Env* env = Env::Default();  // must outlive the writer
  };

  // Creates the directory layout if needed, removes temp files left by a
  // writer that was killed mid-write, and loads the revision of every valid
  // file (the agent resumes from them). Unreadable files are listed in
  // damaged_files() and count as revision 0, so they get refetched.
  static absl::StatusOr<std::unique_ptr<FileCacheWriter>> Open(Options options);

  enum class Result { kWritten, kNotNewer };

  // Publishes `entry` if entry.revision is greater than the revision on
  // disk (kWritten), else changes nothing (kNotNewer). Sets written_ms from
  // the Env's clock (and, if `written_ms` is not null, stores there the value
  // the file got). InvalidArgument for an invalid key; the Env's error
  // (ResourceExhausted for ENOSPC, Internal for EIO, ...) when the write
  // failed, in which case the old file is untouched.
  absl::StatusOr<Result> Write(CacheEntry entry, int64_t* written_ms = nullptr);

  // The revision on disk for `key`; 0 if there is no file.
  int64_t Revision(const CacheKey& key) const;
  // Every key with a file, and its revision.
  std::map<CacheKey, int64_t> Revisions() const;
  // Paths (relative to the cache directory) found unreadable by Open.
  const std::vector<std::string>& damaged_files() const { return damaged_; }
  const std::string& cache_dir() const { return options_.cache_dir; }

 private:
  explicit FileCacheWriter(Options options) : options_(std::move(options)) {}
  void LoadFile(const std::string& relative);

  const Options options_;
  std::vector<std::string> damaged_;
  mutable absl::Mutex mu_;
  std::map<CacheKey, int64_t> revisions_ ABSL_GUARDED_BY(mu_);
};

}  // namespace file_cache
}  // namespace kess
