// FileCacheReader: reads and verifies cache files (used by the SDK; any
// other language does the same with its standard library, see
// docs/file-cache.md).
//
// Because the writer publishes by rename, a read sees one whole version.
// Errors are distinct so callers can keep their last good value:
//   InvalidArgument  the key has an invalid name (nothing was read)
//   NotFound         no file for this key (not subscribed / not fetched yet)
//   DataLoss         the file is garbled or its CRC-32 does not match
//   other            the Env's error (permissions, I/O)
//
// Thread-safety: thread-safe (no mutable state).
#pragma once

#include <string>

#include "model/file_cache/env.h"
#include "model/file_cache/format.h"
#include "common/status.h"

namespace kess {
namespace file_cache {

class FileCacheReader {
 public:
  // `env` must outlive the reader.
  explicit FileCacheReader(std::string cache_dir, Env* env = Env::Default())
      : cache_dir_(std::move(cache_dir)), env_(env) {}

  // The verified entry of `key`. A tombstone (entry.absent) is returned as
  // an entry, not as an error: it is a real version (a deletion).
  absl::StatusOr<CacheEntry> Read(const CacheKey& key) const;

  // stat of the key's file, for cheap change detection before Read.
  absl::StatusOr<FileInfo> Stat(const CacheKey& key) const;

  const std::string& cache_dir() const { return cache_dir_; }

 private:
  const std::string cache_dir_;
  Env* const env_;
};

}  // namespace file_cache
}  // namespace kess
