#include "tests/cluster/cache_reader_loop.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "model/file_cache/env.h"
#include "model/file_cache/format.h"

namespace kess {
namespace testing {

CacheReaderLoop::CacheReaderLoop(std::vector<std::string> cache_dirs)
    : dirs_(std::move(cache_dirs)) {
  thread_ = std::thread([this] { Run(); });
}

void CacheReaderLoop::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

std::string CacheReaderLoop::first_error() const {
  absl::MutexLock lock(&mu_);
  return first_error_;
}

int64_t CacheReaderLoop::MaxRevision(const std::string& path) const {
  absl::MutexLock lock(&mu_);
  auto it = seen_.find(path);
  return it == seen_.end() ? 0 : it->second;
}

void CacheReaderLoop::Note(const std::string& error) {
  absl::MutexLock lock(&mu_);
  if (first_error_.empty()) first_error_ = error;
}

void CacheReaderLoop::Run() {
  file_cache::Env* env = file_cache::Env::Default();
  while (!stop_) {
    for (const std::string& dir : dirs_) {
      const std::string configs = dir + "/configs";
      absl::StatusOr<std::vector<std::string>> namespaces =
          env->ListDir(configs);
      if (!namespaces.ok()) continue;
      for (const std::string& ns : *namespaces) {
        if (ns.empty() || ns[0] == '.') continue;
        absl::StatusOr<std::vector<std::string>> files =
            env->ListDir(configs + "/" + ns);
        if (!files.ok()) continue;
        for (const std::string& file : *files) {
          if (file.empty() || file[0] == '.') continue;
          Check(configs + "/" + ns + "/" + file);
        }
      }
    }
    usleep(1000);
  }
}

void CacheReaderLoop::Check(const std::string& path) {
  absl::StatusOr<std::string> text = file_cache::Env::Default()->ReadFile(path);
  if (absl::IsNotFound(text.status())) return;
  ++reads_;
  absl::StatusOr<file_cache::CacheEntry> entry =
      text.ok() ? file_cache::DecodeEntry(*text)
                : absl::StatusOr<file_cache::CacheEntry>(text.status());
  if (!entry.ok()) {
    ++torn_;
    Note(absl::StrCat(path, ": ", entry.status().ToString()));
    return;
  }
  absl::MutexLock lock(&mu_);
  int64_t& seen = seen_[path];
  if (entry->revision < seen) {
    ++backwards_;
    if (first_error_.empty()) {
      first_error_ = absl::StrCat(path, " went from revision ", seen, " to ",
                                  entry->revision);
    }
    return;
  }
  seen = entry->revision;
}

}  // namespace testing
}  // namespace kess
