#include "model/file_cache/testing/fault_injection_env.h"

namespace kess {
namespace file_cache {
namespace testing {

void FaultInjectionEnv::Heal() {
  write_errno_ = 0;
  sync_errno_ = 0;
  rename_errno_ = 0;
  dir_sync_errno_ = 0;
}

void FaultInjectionEnv::SetPathFilter(const std::string& substring) {
  absl::MutexLock lock(&mu_);
  path_filter_ = substring;
}

bool FaultInjectionEnv::Applies(const std::string& path) const {
  absl::MutexLock lock(&mu_);
  return path.find(path_filter_) != std::string::npos;
}

absl::Status FaultInjectionEnv::Inject(int err, const std::string& what) {
  ++injected_failures_;
  return PosixError(err, what + " (injected)");
}

absl::StatusOr<std::string> FaultInjectionEnv::ReadFile(
    const std::string& path) {
  return base_->ReadFile(path);
}

absl::Status FaultInjectionEnv::WriteFileAndSync(const std::string& path,
                                                 absl::string_view data,
                                                 int mode) {
  ++write_calls_;
  if (int err = write_errno_.load(); err != 0 && Applies(path)) {
    // Like a disk that fills up half way: a partial file is left behind.
    base_->WriteFileAndSync(path, data.substr(0, data.size() / 2), mode)
        .IgnoreError();
    return Inject(err, "write " + path);
  }
  KESS_RETURN_IF_ERROR(base_->WriteFileAndSync(path, data, mode));
  if (int err = sync_errno_.load(); err != 0 && Applies(path))
    return Inject(err, "fsync " + path);
  return absl::OkStatus();
}

absl::Status FaultInjectionEnv::Rename(const std::string& from,
                                       const std::string& to) {
  if (int err = rename_errno_.load(); err != 0 && Applies(to))
    return Inject(err, "rename " + from);
  return base_->Rename(from, to);
}

absl::Status FaultInjectionEnv::SyncDir(const std::string& dir) {
  if (int err = dir_sync_errno_.load(); err != 0 && Applies(dir))
    return Inject(err, "fsync " + dir);
  return base_->SyncDir(dir);
}

absl::Status FaultInjectionEnv::RemoveFile(const std::string& path) {
  return base_->RemoveFile(path);
}

absl::Status FaultInjectionEnv::CreateDirs(const std::string& dir) {
  return base_->CreateDirs(dir);
}

absl::StatusOr<std::vector<std::string>> FaultInjectionEnv::ListDir(
    const std::string& dir) {
  return base_->ListDir(dir);
}

absl::StatusOr<FileInfo> FaultInjectionEnv::Stat(const std::string& path) {
  return base_->Stat(path);
}

int64_t FaultInjectionEnv::NowMs() {
  int64_t pinned = now_ms_.load();
  return pinned != 0 ? pinned : base_->NowMs();
}

}  // namespace testing
}  // namespace file_cache
}  // namespace kess
