#include "model/file_cache/reader.h"

#include "absl/strings/str_cat.h"

namespace kess {
namespace file_cache {

absl::StatusOr<CacheEntry> FileCacheReader::Read(const CacheKey& key) const {
  KESS_ASSIGN_OR_RETURN(std::string path, PathFor(cache_dir_, key));
  KESS_ASSIGN_OR_RETURN(std::string text, env_->ReadFile(path));
  absl::StatusOr<CacheEntry> entry = DecodeEntry(text);
  if (!entry.ok()) {
    return absl::Status(entry.status().code(),
                        absl::StrCat(path, ": ", entry.status().message()));
  }
  if (!(entry->key == key)) {
    return absl::DataLossError(absl::StrCat(path, ": holds ",
                                            entry->key.ToString(),
                                            ", expected ", key.ToString()));
  }
  return entry;
}

absl::StatusOr<FileInfo> FileCacheReader::Stat(const CacheKey& key) const {
  KESS_ASSIGN_OR_RETURN(std::string path, PathFor(cache_dir_, key));
  return env_->Stat(path);
}

}  // namespace file_cache
}  // namespace kess
