#include "model/file_cache/writer.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace kess {
namespace file_cache {
namespace {

bool IsJsonFileName(const std::string& name) {
  return !IsTempFileName(name) && absl::EndsWith(name, ".json") &&
         !absl::StartsWith(name, ".");
}

}  // namespace

absl::StatusOr<std::unique_ptr<FileCacheWriter>> FileCacheWriter::Open(
    Options options) {
  if (options.cache_dir.empty()) {
    return absl::InvalidArgumentError("cache_dir is empty");
  }
  Env* const env = options.env;
  const std::string dir = options.cache_dir;
  KESS_RETURN_IF_ERROR(env->CreateDirs(dir + "/configs"));
  KESS_RETURN_IF_ERROR(env->CreateDirs(dir + "/routes"));
  std::unique_ptr<FileCacheWriter> writer(
      new FileCacheWriter(std::move(options)));

  int temps = RemoveTempFiles(env, dir + "/routes");
  KESS_ASSIGN_OR_RETURN(std::vector<std::string> namespaces,
                        env->ListDir(dir + "/configs"));
  for (const std::string& ns : namespaces) {
    temps += RemoveTempFiles(env, dir + "/configs/" + ns);
    auto names = env->ListDir(dir + "/configs/" + ns);
    if (!names.ok()) continue;  // not a directory
    for (const std::string& name : *names) {
      if (IsJsonFileName(name)) writer->LoadFile("configs/" + ns + "/" + name);
    }
  }
  KESS_ASSIGN_OR_RETURN(std::vector<std::string> services,
                        env->ListDir(dir + "/routes"));
  for (const std::string& name : services) {
    if (IsJsonFileName(name)) writer->LoadFile("routes/" + name);
  }
  if (temps > 0) {
    LOG(INFO) << "file cache " << dir << ": removed " << temps
              << " temp files left by an interrupted write";
  }
  return writer;
}

void FileCacheWriter::LoadFile(const std::string& relative) {
  auto text = options_.env->ReadFile(options_.cache_dir + "/" + relative);
  absl::StatusOr<CacheEntry> entry =
      text.ok() ? DecodeEntry(*text)
                : absl::StatusOr<CacheEntry>(text.status());
  if (entry.ok() && RelativePath(entry->key) != relative) {
    entry = absl::DataLossError("file name does not match its key " +
                                entry->key.ToString());
  }
  if (!entry.ok()) {
    LOG(WARNING) << "file cache: " << relative
                 << " is unreadable, will be refetched: " << entry.status();
    damaged_.push_back(relative);
    return;
  }
  absl::MutexLock lock(&mu_);
  revisions_[entry->key] = entry->revision;
}

absl::StatusOr<FileCacheWriter::Result> FileCacheWriter::Write(
    CacheEntry entry, int64_t* written_ms) {
  KESS_ASSIGN_OR_RETURN(std::string path,
                        PathFor(options_.cache_dir, entry.key));
  absl::MutexLock lock(&mu_);
  auto it = revisions_.find(entry.key);
  if (it != revisions_.end() && entry.revision <= it->second) {
    return Result::kNotNewer;
  }
  if (entry.key.type == CacheKey::Type::kConfig &&
      !options_.env->Stat(DirName(path)).ok()) {
    // A new namespace directory: make its entry in configs/ durable too.
    KESS_RETURN_IF_ERROR(options_.env->CreateDirs(DirName(path)));
    KESS_RETURN_IF_ERROR(
        options_.env->SyncDir(options_.cache_dir + "/configs"));
  }
  entry.written_ms = options_.env->NowMs();
  KESS_RETURN_IF_ERROR(
      WriteFileAtomically(options_.env, path, EncodeEntry(entry),
                          entry.file_mode));
  revisions_[entry.key] = entry.revision;
  if (written_ms != nullptr) *written_ms = entry.written_ms;
  return Result::kWritten;
}

int64_t FileCacheWriter::Revision(const CacheKey& key) const {
  absl::MutexLock lock(&mu_);
  auto it = revisions_.find(key);
  return it == revisions_.end() ? 0 : it->second;
}

std::map<CacheKey, int64_t> FileCacheWriter::Revisions() const {
  absl::MutexLock lock(&mu_);
  return revisions_;
}

}  // namespace file_cache
}  // namespace kess
