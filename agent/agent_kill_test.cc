// kill -9 of the real agent binary while it writes: a FakeDistributor
// pushes a stream of changes (values large enough that writes take a
// while), a reader thread reads and verifies every cache file the whole
// time, and the agent is SIGKILLed and restarted several times.
// Must hold (invariant 7 of docs/design.md): no torn or partial file is
// ever visible (every read parses and its CRC-32 matches), no file's
// revision goes backwards, and after each restart the agent resumes from
// its cache with its known revisions.
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/testing/fake_distributor.h"
#include "model/file_cache/env.h"
#include "model/file_cache/format.h"
#include "common/http_client.h"
#include "common/testing/wait_for.h"
#include "gtest/gtest.h"
#include "tests/harness/daemon_process.h"

namespace kess {
namespace agent {
namespace {

using file_cache::CacheKey;
using file_cache::Env;
using ::kess::testing::DaemonProcess;
using ::kess::testing::Runfile;
using ::kess::testing::TestTmpDir;
using ::kess::testing::WaitFor;
using testing::FakeDistributor;

constexpr absl::Duration kLong = absl::Seconds(60);  // "did not hang"
constexpr int kKeys = 8;
constexpr int kKills = 8;

// Reads every key's file over and over and checks each read.
class ReaderLoop {
 public:
  ReaderLoop(std::string cache_dir, std::vector<CacheKey> keys)
      : dir_(std::move(cache_dir)), keys_(std::move(keys)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~ReaderLoop() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

  int64_t reads() const { return reads_; }
  int64_t torn() const { return torn_; }
  int64_t backwards() const { return backwards_; }
  std::string first_error() const { return first_error_; }

 private:
  void Run() {
    std::map<CacheKey, int64_t> last;
    while (!stop_) {
      for (const CacheKey& key : keys_) {
        const std::string path = dir_ + "/" + file_cache::RelativePath(key);
        auto text = Env::Default()->ReadFile(path);
        if (absl::IsNotFound(text.status())) continue;  // not fetched yet
        ++reads_;
        absl::StatusOr<file_cache::CacheEntry> entry =
            text.ok() ? file_cache::DecodeEntry(*text)
                      : absl::StatusOr<file_cache::CacheEntry>(text.status());
        if (!entry.ok()) {
          if (torn_++ == 0) first_error_ = entry.status().ToString();
          continue;
        }
        if (entry->revision < last[key]) {
          if (backwards_++ == 0) {
            first_error_ = absl::StrCat(key.ToString(), " went from ",
                                        last[key], " to ", entry->revision);
          }
        }
        last[key] = entry->revision;
      }
    }
  }

  const std::string dir_;
  const std::vector<CacheKey> keys_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> reads_{0}, torn_{0}, backwards_{0};
  std::string first_error_;  // written by the reader thread only until Stop
  std::thread thread_;
};

TEST(AgentKillTest, NoTornFilesAndResumeAfterKill9) {
  const std::string base = TestTmpDir() + "/kill";
  const std::string cache_dir = base + "/cache";
  const std::string port_file = base + "/http_port";
  ASSERT_TRUE(Env::Default()->CreateDirs(cache_dir).ok());

  auto d = FakeDistributor::Start({});
  ASSERT_TRUE(d.ok()) << d.status();
  std::unique_ptr<FakeDistributor> dist = std::move(d).value();

  std::vector<CacheKey> keys;
  std::string body = "{\"configs\":[";
  for (int i = 0; i < kKeys; ++i) {
    keys.push_back(CacheKey::Config("stress", absl::StrCat("key", i)));
    absl::StrAppend(&body, i ? "," : "",
                    "{\"namespace\":\"stress\",\"key\":\"key", i, "\"}");
    dist->Set(keys.back(), "initial");
  }
  body += "],\"routes\":[\"svc\"]}";
  keys.push_back(CacheKey::Route("svc"));
  dist->Set(keys.back(), std::string("\x00\x01\x02", 3));

  const std::vector<std::string> args = {Runfile("agent/agent"),
                                         "--host_id=host-kill",
                                         // the fake distributor is plain
                                         "--insecure_plaintext",
                                         "--dc=dc1",
                                         "--distributors=" + dist->address(),
                                         "--cache_dir=" + cache_dir,
                                         "--http_port=0",
                                         "--http_port_file=" + port_file,
                                         "--pull_interval_ms=200",
                                         "--heartbeat_interval_ms=200",
                                         "--heartbeat_timeout_ms=3000",
                                         "--reconnect_initial_ms=20",
                                         "--reconnect_max_ms=200",
                                         "--host_heartbeat_interval_ms=1000"};
  DaemonProcess agent("agent host-kill", base + "/agent.log");
  ASSERT_TRUE(agent.Start(args).ok());
  const absl::StatusOr<int> port = agent.WaitForPortFile(port_file, kLong);
  ASSERT_TRUE(port.ok()) << port.status();
  const absl::StatusOr<HttpReply> subscribed =
      HttpCall(absl::StrCat("127.0.0.1:", *port), "POST", "/v1/subscriptions",
               body, kLong);
  ASSERT_TRUE(subscribed.ok()) << subscribed.status();
  ASSERT_EQ(subscribed->status, 200) << subscribed->body;

  ReaderLoop reader(cache_dir, keys);

  // The change stream: values of 256 KiB..1 MiB so kills land mid-write.
  std::atomic<bool> stop_writer{false};
  std::thread writer([&] {
    std::mt19937 random(7);
    for (int64_t n = 0; !stop_writer; ++n) {
      size_t size = 262144 + random() % 786432;
      std::string value(size, static_cast<char>('a' + n % 26));
      value += absl::StrCat(" #", n);
      dist->Set(keys[n % kKeys], value);
      usleep(2000);
    }
  });

  std::mt19937 random(11);
  for (int kill_round = 0; kill_round < kKills; ++kill_round) {
    usleep(200000 + random() % 400000);
    int status = agent.Kill();
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
    Env::Default()->RemoveFile(port_file).IgnoreError();
    const size_t subscribes_before = dist->subscribes().size();
    ASSERT_TRUE(agent.Start(args).ok());
    const absl::StatusOr<int> again = agent.WaitForPortFile(port_file, kLong);
    ASSERT_TRUE(again.ok())
        << "restart " << kill_round << ": " << again.status();
    // It resumed: it subscribed again, by itself (persisted set), with the
    // revisions from its cache.
    ASSERT_TRUE(WaitFor(
        [&] { return dist->subscribes().size() > subscribes_before; }, kLong));
    protocol::SubscribeRequest resumed = dist->subscribes()[subscribes_before];
    EXPECT_EQ(resumed.keys_size(), kKeys + 1);
    int with_revision = 0;
    for (const auto& k : resumed.keys()) with_revision += k.revision() > 0;
    EXPECT_EQ(with_revision, kKeys + 1) << resumed.DebugString();
  }
  stop_writer = true;
  writer.join();

  // After the last restart it catches up with everything.
  std::map<CacheKey, int64_t> want;
  for (const CacheKey& key : keys)
    want[key] = dist->Set(key, "final " + key.ToString());
  EXPECT_TRUE(WaitFor(
      [&] {
        for (const auto& [key, rev] : want) {
          auto text = Env::Default()->ReadFile(cache_dir + "/" +
                                               file_cache::RelativePath(key));
          auto entry =
              text.ok() ? file_cache::DecodeEntry(*text)
                        : absl::StatusOr<file_cache::CacheEntry>(text.status());
          if (!entry.ok() || entry->revision != rev) return false;
        }
        return true;
      },
      kLong));
  reader.Stop();

  EXPECT_EQ(reader.torn(), 0) << reader.first_error();
  EXPECT_EQ(reader.backwards(), 0) << reader.first_error();
  EXPECT_GT(reader.reads(), 1000);
  EXPECT_EQ(dist->known_ahead(), 0);
  std::cerr << "reads: " << reader.reads() << ", changes: " << dist->revision()
            << ", kills: " << kKills << "\n";

  // Temp files left by the kills were removed at start-up, and the idle
  // agent has none open.
  auto names = Env::Default()->ListDir(cache_dir + "/configs/stress");
  ASSERT_TRUE(names.ok());
  for (const std::string& name : *names) {
    EXPECT_FALSE(file_cache::IsTempFileName(name)) << name;
  }
  // How often a kill landed mid-write (informational: it is random).
  auto log = Env::Default()->ReadFile(base + "/agent.log");
  ASSERT_TRUE(log.ok());
  size_t interrupted = 0;
  for (size_t pos = 0; (pos = log->find("left by an interrupted write", pos)) !=
                       std::string::npos;
       ++pos) {
    ++interrupted;
  }
  std::cerr << "restarts that found a half-written temp file: " << interrupted
            << " of " << kKills << "\n";
  EXPECT_EQ(agent.Stop(), 0) << "clean exit on SIGTERM";
}

}  // namespace
}  // namespace agent
}  // namespace kess
