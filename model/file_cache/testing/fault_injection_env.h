// An Env that forwards to another one but fails chosen operations with a
// chosen errno, for tests of disk-full and fsync-failure handling:
//
//   FaultInjectionEnv env(Env::Default());
//   env.FailWrites(ENOSPC);   // every WriteFileAndSync writes half, then fails
//   env.FailSyncs(EIO);       // data written, fsync reports EIO
//   env.Heal();
//
// A failed write leaves a partial file at the target path, like a real
// full disk would; WriteFileAtomically must never let it reach the final
// name. The clock can be pinned with SetNowMs.
//
// Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/synchronization/mutex.h"
#include "model/file_cache/env.h"

namespace kess {
namespace file_cache {
namespace testing {

class FaultInjectionEnv : public Env {
 public:
  // `base` must outlive this Env.
  explicit FaultInjectionEnv(Env* base) : base_(base) {}

  // 0 = no fault. Each applies until Heal() (or being set to 0).
  void FailWrites(int err) { write_errno_ = err; }
  void FailSyncs(int err) { sync_errno_ = err; }
  void FailRenames(int err) { rename_errno_ = err; }
  void FailDirSyncs(int err) { dir_sync_errno_ = err; }
  void Heal();
  // Only paths containing `substring` get faults ("" = every path). Lets a
  // test fail one key's writes while others succeed.
  void SetPathFilter(const std::string& substring);
  // 0 = the base Env's clock.
  void SetNowMs(int64_t now_ms) { now_ms_ = now_ms; }

  // Operations that failed because of an injected fault.
  int injected_failures() const { return injected_failures_; }
  int write_calls() const { return write_calls_; }

  absl::StatusOr<std::string> ReadFile(const std::string& path) override;
  absl::Status WriteFileAndSync(const std::string& path,
                                absl::string_view data,
                                int mode = 0644) override;
  absl::Status Rename(const std::string& from, const std::string& to) override;
  absl::Status SyncDir(const std::string& dir) override;
  absl::Status RemoveFile(const std::string& path) override;
  absl::Status CreateDirs(const std::string& dir) override;
  absl::StatusOr<std::vector<std::string>> ListDir(
      const std::string& dir) override;
  absl::StatusOr<FileInfo> Stat(const std::string& path) override;
  int64_t NowMs() override;

 private:
  absl::Status Inject(int err, const std::string& what);
  bool Applies(const std::string& path) const;

  Env* const base_;
  std::atomic<int> write_errno_{0};
  std::atomic<int> sync_errno_{0};
  std::atomic<int> rename_errno_{0};
  std::atomic<int> dir_sync_errno_{0};
  std::atomic<int64_t> now_ms_{0};
  std::atomic<int> injected_failures_{0};
  std::atomic<int> write_calls_{0};
  mutable absl::Mutex mu_;
  std::string path_filter_ ABSL_GUARDED_BY(mu_);
};

}  // namespace testing
}  // namespace file_cache
}  // namespace kess
