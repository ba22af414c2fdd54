#include "common/dir_watcher.h"

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/testing/wait_for.h"
#include "gtest/gtest.h"

namespace kess {
namespace {

using ::kess::testing::WaitFor;

constexpr absl::Duration kWait = absl::Seconds(5);

class DirWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    std::string pattern = std::string(tmp ? tmp : "/tmp") + "/dirw.XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    auto watcher = DirWatcher::Create([this] { ++changes_; });
    ASSERT_TRUE(watcher.ok()) << watcher.status();
    watcher_ = *std::move(watcher);
  }

  // Written beside, then renamed over `path`: what the agent does.
  void WriteAtomically(const std::string& path, const std::string& text) {
    const std::string temp = path + ".tmp";
    { std::ofstream(temp) << text; }
    ASSERT_EQ(rename(temp.c_str(), path.c_str()), 0) << path;
  }

  bool Changed() {
    return WaitFor([this] { return changes_.load() > 0; }, kWait);
  }

  std::string root_;
  std::atomic<int> changes_{0};
  std::unique_ptr<DirWatcher> watcher_;
};

TEST_F(DirWatcherTest, RenameIntoAWatchedDirectory) {
  const std::string dir = root_ + "/routes";
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  ASSERT_TRUE(watcher_->Watch(dir + "/").ok());
  EXPECT_EQ(watcher_->watched_count(), 1);
  WriteAtomically(dir + "/a.json", "1");
  EXPECT_TRUE(Changed());
}

TEST_F(DirWatcherTest, DirectoryThatAppearsLaterLevelByLevel) {
  const std::string dir = root_ + "/configs/ns";
  ASSERT_TRUE(watcher_->Watch(dir).ok());  // its ancestor stands in
  EXPECT_EQ(watcher_->watched_count(), 0);
  ASSERT_EQ(mkdir((root_ + "/configs").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  ASSERT_TRUE(WaitFor([&] { return watcher_->watched_count() == 1; }, kWait));
  changes_ = 0;
  WriteAtomically(dir + "/k.json", "1");
  EXPECT_TRUE(Changed());
}

TEST_F(DirWatcherTest, DirectoryRemovedAndCreatedAgain) {
  const std::string dir = root_ + "/routes";
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  ASSERT_TRUE(watcher_->Watch(dir).ok());
  ASSERT_EQ(rmdir(dir.c_str()), 0);
  ASSERT_TRUE(WaitFor([&] { return watcher_->watched_count() == 0; }, kWait));
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  ASSERT_TRUE(WaitFor([&] { return watcher_->watched_count() == 1; }, kWait));
  changes_ = 0;
  WriteAtomically(dir + "/a.json", "2");
  EXPECT_TRUE(Changed());
}

TEST_F(DirWatcherTest, OtherDirectoriesDoNotWake) {
  const std::string watched = root_ + "/routes";
  const std::string other = root_ + "/other";
  ASSERT_EQ(mkdir(watched.c_str(), 0755), 0);
  ASSERT_EQ(mkdir(other.c_str(), 0755), 0);
  ASSERT_TRUE(watcher_->Watch(watched).ok());
  WriteAtomically(other + "/x.json", "1");
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(changes_.load(), 0);
  WriteAtomically(watched + "/x.json", "1");
  EXPECT_TRUE(Changed());
}

TEST_F(DirWatcherTest, WatchingTwiceIsOneWatch) {
  const std::string dir = root_ + "/routes";
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  ASSERT_TRUE(watcher_->Watch(dir).ok());
  ASSERT_TRUE(watcher_->Watch(dir + "//").ok());
  EXPECT_EQ(watcher_->watched_count(), 1);
}

// The named form says which files changed in which watched directory, and
// asks for a rescan only when names are not enough (a directory appearing).
TEST(DirWatcherNamesTest, NamesTheFilesThatChanged) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string pattern = std::string(tmp ? tmp : "/tmp") + "/dirn.XXXXXX";
  ASSERT_NE(mkdtemp(pattern.data()), nullptr);
  const std::string root = pattern;
  absl::Mutex mu;
  std::map<std::string, std::set<std::string>> seen;
  int rescans = 0;
  auto watcher = DirWatcher::Create([&](const DirChanges& changes) {
    absl::MutexLock lock(&mu);
    for (const auto& [dir, names] : changes.files) {
      seen[dir].insert(names.begin(), names.end());
    }
    rescans += changes.rescan;
  });
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  const std::string a = root + "/a";
  const std::string b = root + "/b";
  ASSERT_EQ(mkdir(a.c_str(), 0755), 0);
  ASSERT_TRUE((*watcher)->Watch(a + "/").ok());
  ASSERT_TRUE((*watcher)->Watch(b).ok());  // missing: the root stands in
  for (const char* name : {"k1.json", "k2.json"}) {
    const std::string temp = a + "/." + name + ".tmp";
    { std::ofstream(temp) << "v"; }
    ASSERT_EQ(rename(temp.c_str(), (a + "/" + name).c_str()), 0);
  }
  auto has = [&](const std::string& dir, const std::string& name) {
    absl::MutexLock lock(&mu);
    return seen[dir].count(name) > 0;
  };
  ASSERT_TRUE(WaitFor([&] { return has(a, "k1.json") && has(a, "k2.json"); },
                      kWait));
  {
    absl::MutexLock lock(&mu);
    EXPECT_EQ(rescans, 0);
    EXPECT_EQ(seen.count(b), 0u);
  }
  // b appears: names from the stand-in are not enough.
  ASSERT_EQ(mkdir(b.c_str(), 0755), 0);
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::MutexLock lock(&mu);
        return rescans > 0;
      },
      kWait));
  ASSERT_TRUE(
      WaitFor([&] { return (*watcher)->watched_count() == 2; }, kWait));
  { std::ofstream(b + "/k3.json") << "v"; }
  EXPECT_TRUE(WaitFor([&] { return has(b, "k3.json"); }, kWait));
}

}  // namespace
}  // namespace kess
