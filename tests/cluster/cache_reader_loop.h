// A reader of agents' file caches for end-to-end tests: a thread that reads
// every config file under some cache directories over and over, the whole
// time a test runs, and checks each read as any reader of
// docs/file-cache.md would: the file parses, its CRC-32 matches
// (file_cache::DecodeEntry), and its revision never goes below one seen
// before at that path: invariant 7 of docs/design.md, as the fault suite's
// InvariantChecker judges it.
//
//   CacheReaderLoop reader({a1->cache_dir(), a2->cache_dir()});
//   ... kill things, write things ...
//   reader.Stop();
//   EXPECT_EQ(reader.torn(), 0) << reader.first_error();
//   EXPECT_EQ(reader.backwards(), 0) << reader.first_error();
//
// Names starting with "." (writes in progress) are skipped, as the format
// says. A file that vanishes between listing and reading is skipped too
// (files are never deleted, but a directory may not exist yet).
//
// Thread-safety: the accessors are thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace kess {
namespace testing {

class CacheReaderLoop {
 public:
  explicit CacheReaderLoop(std::vector<std::string> cache_dirs);
  ~CacheReaderLoop() { Stop(); }
  void Stop();

  int64_t reads() const { return reads_; }
  // Reads that did not parse or whose CRC-32 did not match.
  int64_t torn() const { return torn_; }
  // Reads whose revision was lower than one read before at that path.
  int64_t backwards() const { return backwards_; }
  std::string first_error() const;
  // The highest revision read at "<cache_dir>/configs/<ns>/<key>.json".
  int64_t MaxRevision(const std::string& path) const;

 private:
  void Run();
  void Check(const std::string& path);
  void Note(const std::string& error);

  const std::vector<std::string> dirs_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> reads_{0}, torn_{0}, backwards_{0};
  mutable absl::Mutex mu_;
  std::string first_error_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> seen_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace testing
}  // namespace kess
