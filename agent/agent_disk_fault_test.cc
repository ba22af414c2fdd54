// Disk faults end to end: the real agent binary runs under fiu-run
// (Debian's fiu-utils, installed by scripts/setup.sh), which makes its
// fsync(2) calls fail with EIO on command (fiu-ctrl). While fsync fails the
// old cache file stays intact and readable, the error is counted by errno
// and /healthz says 503; once fsync works again the agent's retry writes the
// newest version. (ENOSPC on write(2) cannot be injected this way without
// also breaking the agent's logging and sockets; the fault Env covers it in
// cache_updater_test and writer_test.)
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/testing/fake_distributor.h"
#include "common/http_client.h"
#include "common/testing/wait_for.h"
#include "gtest/gtest.h"
#include "model/file_cache/env.h"
#include "model/file_cache/format.h"
#include "tests/harness/daemon_process.h"
#include "tests/harness/fiu_ctrl.h"

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
constexpr char kFiuRun[] = "/usr/bin/fiu-run";

// The HTTP status of `method path` at `address`; 0 (and the error in
// *body) if there was no answer.
int Http(const std::string& address, const std::string& method,
         const std::string& path, const std::string& body,
         std::string* reply_body) {
  absl::StatusOr<HttpReply> reply =
      HttpCall(address, method, path, body, kLong);
  *reply_body =
      reply.ok() ? reply->body : std::string(reply.status().message());
  return reply.ok() ? reply->status : 0;
}

TEST(AgentDiskFaultTest, FsyncEioKeepsOldFileAndIsRetried) {
  struct stat st;
  ASSERT_EQ(stat(kFiuRun, &st), 0)
      << "fiu-run missing: run scripts/setup.sh (package fiu-utils)";
  const std::string base = TestTmpDir() + "/fault";
  const std::string cache_dir = base + "/cache";
  const std::string port_file = base + "/http_port";
  const std::string fiu_fifo = base + "/fiu-ctrl";
  ASSERT_TRUE(Env::Default()->CreateDirs(cache_dir).ok());

  auto d = FakeDistributor::Start({});
  ASSERT_TRUE(d.ok()) << d.status();
  std::unique_ptr<FakeDistributor> dist = std::move(d).value();
  const CacheKey key = CacheKey::Config("shop", "db.timeout");
  dist->Set(key, "v1");

  DaemonProcess agent("agent host-fault", base + "/agent.log");
  ASSERT_TRUE(
      agent
          .Start({kFiuRun, "-x", "-f", fiu_fifo, Runfile("agent/agent"),
                  "--host_id=host-fault", "--dc=dc1", "--insecure_plaintext",
                  "--distributors=" + dist->address(),
                  "--cache_dir=" + cache_dir, "--http_port=0",
                  "--http_port_file=" + port_file, "--pull_interval_ms=500"})
          .ok());
  const absl::StatusOr<int> port = agent.WaitForPortFile(port_file, kLong);
  ASSERT_TRUE(port.ok()) << port.status();
  const std::string address = absl::StrCat("127.0.0.1:", *port);
  std::string reply;
  ASSERT_EQ(
      Http(address, "POST", "/v1/subscriptions",
           R"({"configs":[{"namespace":"shop","key":"db.timeout"}]})", &reply),
      200)
      << reply;
  const std::string path = cache_dir + "/" + file_cache::RelativePath(key);
  auto read = [&]() -> absl::StatusOr<file_cache::CacheEntry> {
    KESS_ASSIGN_OR_RETURN(std::string text, Env::Default()->ReadFile(path));
    return file_cache::DecodeEntry(text);
  };
  ASSERT_TRUE(
      WaitFor([&] { return read().ok() && read()->value == "v1"; }, kLong));

  auto fiu_ctrl = [&](const std::string& command) {
    return ::kess::testing::FiuCtrl(fiu_fifo, agent.pid(), command);
  };
  ASSERT_EQ(fiu_ctrl("enable name=posix/io/sync/fsync,failinfo=5"),
            absl::OkStatus());
  const int64_t rev = dist->Set(key, "v2");

  // The write fails, is counted with its errno, and the old file stays.
  ASSERT_TRUE(WaitFor(
      [&] {
        Http(address, "GET", "/metrics", "", &reply);
        return absl::StrContains(
            reply, "kess_agent_cache_write_errors_total{errno=\"EIO\"}");
      },
      kLong))
      << reply;
  std::string health;
  EXPECT_EQ(Http(address, "GET", "/healthz", "", &health), 503) << health;
  for (int i = 0; i < 20; ++i) {  // for a while, while retries keep failing
    auto entry = read();
    ASSERT_TRUE(entry.ok()) << entry.status();
    EXPECT_EQ(entry->value, "v1");
    usleep(20000);
  }
  EXPECT_EQ(Http(address, "GET", "/v1/status", "", &reply), 200);
  EXPECT_TRUE(absl::StrContains(reply, "\"failing_writes\":1")) << reply;

  // The disk recovers: the retry writes the newest version.
  ASSERT_EQ(fiu_ctrl("disable name=posix/io/sync/fsync"), absl::OkStatus());
  ASSERT_TRUE(
      WaitFor([&] { return read().ok() && read()->revision == rev; }, kLong));
  EXPECT_EQ(read()->value, "v2");
  EXPECT_TRUE(WaitFor(
      [&] { return Http(address, "GET", "/healthz", "", &health) == 200; },
      kLong));
  EXPECT_EQ(agent.Stop(), 0);
}

}  // namespace
}  // namespace agent
}  // namespace kess
