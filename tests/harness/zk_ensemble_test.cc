#include "tests/harness/zk_ensemble.h"

#include <zookeeper/zookeeper.h>

#include <chrono>
#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace kess {
namespace testing {
namespace {

// A raw C-client round trip: create a node and read it back.
absl::Status CreateAndRead(const std::string& hosts, const std::string& path) {
  zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
  zhandle_t* zh = zookeeper_init(hosts.c_str(), nullptr, 4000, nullptr,
                                 nullptr, 0);
  if (zh == nullptr) return absl::InternalError("zookeeper_init");
  for (int i = 0; i < 100 && zoo_state(zh) != ZOO_CONNECTED_STATE; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  int rc = zoo_create(zh, path.c_str(), "v", 1, &ZOO_OPEN_ACL_UNSAFE, 0,
                      nullptr, 0);
  char buf[8];
  int len = sizeof(buf);
  if (rc == ZOK) rc = zoo_get(zh, path.c_str(), 0, buf, &len, nullptr);
  zookeeper_close(zh);
  if (rc != ZOK) return absl::UnavailableError(zerror(rc));
  if (std::string(buf, len) != "v") return absl::InternalError("bad value");
  return absl::OkStatus();
}

TEST(ZkEnsembleTest, StandaloneServesAndStops) {
  auto zk = ZkEnsemble::Start({.name = "solo", .servers = 1});
  ASSERT_TRUE(zk.ok()) << zk.status();
  EXPECT_EQ((*zk)->size(), 1);
  EXPECT_EQ((*zk)->ConnectString(),
            "127.0.0.1:" + std::to_string((*zk)->ClientPort(0)));
  auto ruok = (*zk)->FourLetterWord(0, "ruok");
  ASSERT_TRUE(ruok.ok()) << ruok.status();
  EXPECT_EQ(*ruok, "imok");
  EXPECT_TRUE(CreateAndRead((*zk)->ConnectString(), "/a").ok());

  (*zk)->Stop();
  EXPECT_FALSE((*zk)->IsRunning(0));
  EXPECT_FALSE((*zk)->FourLetterWord(0, "ruok", 500).ok());
  // Restart on the same port and data: the node is still there.
  ASSERT_TRUE((*zk)->StartServer(0).ok());
  EXPECT_EQ(CreateAndRead((*zk)->ConnectString(), "/a").code(),
            absl::StatusCode::kUnavailable);  // ZNODEEXISTS: data survived
}

TEST(ZkEnsembleTest, TwoDatacentersAtOnceAreIndependent) {
  auto dc1 = ZkEnsemble::Start({.name = "dc1", .servers = 1});
  auto dc2 = ZkEnsemble::Start({.name = "dc2", .servers = 1});
  ASSERT_TRUE(dc1.ok()) << dc1.status();
  ASSERT_TRUE(dc2.ok()) << dc2.status();
  EXPECT_NE((*dc1)->ClientPort(0), (*dc2)->ClientPort(0));
  EXPECT_TRUE(CreateAndRead((*dc1)->ConnectString(), "/x").ok());
  EXPECT_TRUE(CreateAndRead((*dc2)->ConnectString(), "/x").ok());
}

TEST(ZkEnsembleTest, QuorumSurvivesOneServerAndNotTwo) {
  auto zk = ZkEnsemble::Start({.name = "quorum", .servers = 3});
  ASSERT_TRUE(zk.ok()) << zk.status();
  EXPECT_TRUE(CreateAndRead((*zk)->ConnectString(), "/q1").ok());

  ASSERT_TRUE((*zk)->StopServer(0).ok());
  EXPECT_TRUE(CreateAndRead((*zk)->ConnectString(), "/q2").ok());

  // Without a quorum the last server stops serving once it notices (after
  // about syncLimit ticks); bounded wait as "it did not hang".
  ASSERT_TRUE((*zk)->StopServer(1).ok());
  bool serving = true;
  std::string last;
  for (int i = 0; i < 200 && serving; ++i) {
    auto srvr = (*zk)->FourLetterWord(2, "srvr");
    ASSERT_TRUE(srvr.ok()) << srvr.status();
    last = *srvr;
    serving = srvr->find("Mode: ") != std::string::npos;
    if (serving) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_FALSE(serving) << last;

  ASSERT_TRUE((*zk)->StartServer(0).ok());
  ASSERT_TRUE((*zk)->StartServer(1).ok());
  EXPECT_TRUE(CreateAndRead((*zk)->ConnectString(), "/q3").ok());
}

TEST(ZkEnsembleTest, PausedServerHangsUntilResumedAndStops) {
  auto zk = ZkEnsemble::Start({.name = "paused", .servers = 1});
  ASSERT_TRUE(zk.ok()) << zk.status();
  EXPECT_EQ((*zk)->PauseServer(1).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE((*zk)->PauseServer(0).ok());
  // The kernel still accepts the connection; nobody answers.
  EXPECT_EQ((*zk)->FourLetterWord(0, "ruok", 500).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE((*zk)->IsRunning(0));
  ASSERT_TRUE((*zk)->ResumeServer(0).ok());
  auto ruok = (*zk)->FourLetterWord(0, "ruok");
  ASSERT_TRUE(ruok.ok()) << ruok.status();
  EXPECT_EQ(*ruok, "imok");

  // A paused server stops on its SIGTERM (resumed first), not on the
  // SIGKILL after the 5 s grace.
  const pid_t pid = (*zk)->ServerPid(0);
  EXPECT_GT(pid, 0);
  ASSERT_TRUE((*zk)->PauseServer(0).ok());
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE((*zk)->StopServer(0).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
  EXPECT_FALSE((*zk)->IsRunning(0));
  EXPECT_EQ((*zk)->ServerPid(0), -1);
  EXPECT_EQ((*zk)->ResumeServer(0).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE((*zk)->StartServer(0).ok());
  EXPECT_NE((*zk)->ServerPid(0), pid);
}

TEST(ZkEnsembleTest, RejectsUnsupportedSize) {
  auto zk = ZkEnsemble::Start({.name = "bad", .servers = 2});
  EXPECT_EQ(zk.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace testing
}  // namespace kess
