// GET /v1/watch end to end: a real agent fed by a real distributor (main
// DC: ZooKeeper, a mandator, a distributor, an agent), a config written
// through the mandator's API; a waiting watch must answer within a bound,
// with the new value, and the file must already hold that revision.
#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/http_client.h"
#include "common/json_util.h"
#include "common/testing/wait_for.h"
#include "gtest/gtest.h"
#include "model/file_cache/reader.h"
#include "tests/cluster/cache_tier_cluster.h"

namespace kess {
namespace testing {
namespace {

class AgentWatchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    CacheTierClusterOptions options;
    options.dcs.slave_dcs = 0;  // the main DC alone
    options.distributors_per_dc = 1;
    options.agents_per_dc = 1;
    auto cluster = CacheTierCluster::Start(options);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(cluster).value().release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(cluster_, nullptr); }

  static AgentHost& agent() { return *cluster_->main().agents[0]; }

  static absl::StatusOr<HttpReply> Watch(const std::string& query,
                                         absl::Duration timeout) {
    return HttpCall(agent().http_address(), "GET", "/v1/watch?" + query, "",
                    timeout);
  }

  static CacheTierCluster* cluster_;
};
CacheTierCluster* AgentWatchTest::cluster_ = nullptr;

TEST_F(AgentWatchTest, WaitingWatchAnswersAfterAWriteInTheMainDc) {
  ASSERT_TRUE(
      agent().Subscribe(ConfigSubscription({{"shop", "db.timeout"}})).ok());
  auto rev1 = cluster_->Put("shop", "db.timeout", "30s");
  ASSERT_TRUE(rev1.ok()) << rev1.status();
  ASSERT_TRUE(WaitCached({&agent()}, "shop", "db.timeout", *rev1,
                         absl::Seconds(30)));

  // First call: the full state of the selection, at once.
  auto first = Watch("config=shop/db.timeout&namespace=shop&service=payments",
                     absl::Seconds(10));
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->status, 200) << first->body;
  auto json = ParseJsonObject(first->body);
  ASSERT_TRUE(json.ok()) << first->body;
  EXPECT_TRUE((*json)->getValue<bool>("full"));
  const std::string epoch = (*json)->getValue<std::string>("epoch");
  const int64_t index = (*json)->getValue<int64_t>("index");
  auto changes = (*json)->getArray("changes");
  ASSERT_EQ(changes->size(), 1u) << first->body;
  EXPECT_EQ(changes->getObject(0)->getValue<std::string>("value"), "30s");
  EXPECT_EQ(changes->getObject(0)->getValue<int64_t>("revision"), *rev1);

  // Nothing new: a short watch times out with the same index. The full
  // answer read the file, which may be in place before its version is
  // counted in the index (docs/agent-api.md): then one answer repeats
  // revision rev1, as a client loop must accept, before the index settles.
  int64_t settled = index;
  bool timed_out = false;
  for (int i = 0; i < 3 && !timed_out; ++i) {
    auto idle = Watch(absl::StrCat("config=shop/db.timeout&index=", settled,
                                   "&epoch=", epoch, "&timeout=300ms"),
                      absl::Seconds(10));
    ASSERT_TRUE(idle.ok());
    json = ParseJsonObject(idle->body);
    ASSERT_TRUE(json.ok()) << idle->body;
    timed_out = (*json)->getValue<bool>("timed_out");
    if (timed_out) {
      EXPECT_EQ((*json)->getValue<int64_t>("index"), settled);
      break;
    }
    auto repeated = (*json)->getArray("changes");
    ASSERT_EQ(repeated->size(), 1u) << idle->body;
    EXPECT_EQ(repeated->getObject(0)->getValue<int64_t>("revision"), *rev1)
        << "a change other than a repeat of the version already held";
    settled = (*json)->getValue<int64_t>("index");
  }
  ASSERT_TRUE(timed_out) << "the index never settled";
  const int64_t index_before_write = settled;

  // A waiting watch, then a write in the main DC.
  std::optional<absl::StatusOr<HttpReply>> waited;
  std::chrono::steady_clock::time_point answered;
  std::thread waiter([&] {
    waited = Watch(absl::StrCat("config=shop/db.timeout&index=",
                                index_before_write, "&epoch=", epoch,
                                "&timeout=60s"),
                   absl::Seconds(70));
    answered = std::chrono::steady_clock::now();
  });
  // Its request is waiting at the agent before the write. No ASSERT until
  // the thread is joined (the watch's 60 s timeout bounds the join).
  const bool waiting = WaitFor(
      [&] {
        auto m = HttpCall(agent().http_address(), "GET", "/metrics");
        return m.ok() && m->body.find("kess_agent_watch_waiters 1") !=
                             std::string::npos;
      },
      absl::Seconds(10));
  auto start = std::chrono::steady_clock::now();
  auto rev2 = cluster_->Put("shop", "db.timeout", "45s");
  waiter.join();
  ASSERT_TRUE(waiting) << "the watch was not waiting at the agent";
  ASSERT_TRUE(rev2.ok()) << rev2.status();
  double seconds = std::chrono::duration<double>(answered - start).count();
  ASSERT_TRUE(waited->ok()) << waited->status();
  ASSERT_EQ((*waited)->status, 200);
  json = ParseJsonObject((*waited)->body);
  ASSERT_TRUE(json.ok()) << (*waited)->body;
  EXPECT_FALSE((*json)->getValue<bool>("full"));
  EXPECT_FALSE((*json)->getValue<bool>("timed_out"));
  EXPECT_GT((*json)->getValue<int64_t>("index"), index_before_write);
  changes = (*json)->getArray("changes");
  ASSERT_EQ(changes->size(), 1u);
  EXPECT_EQ(changes->getObject(0)->getValue<std::string>("value"), "45s");
  EXPECT_EQ(changes->getObject(0)->getValue<int64_t>("revision"), *rev2);
  // From the write's commit to the answer: the write path and the cache
  // tier, well inside the long poll's 60 s.
  EXPECT_LT(seconds, 10.0);
  // The file was durable before the answer: it holds at least that revision.
  file_cache::FileCacheReader reader(agent().cache_dir());
  auto entry = reader.Read(file_cache::CacheKey::Config("shop", "db.timeout"));
  ASSERT_TRUE(entry.ok()) << entry.status();
  EXPECT_GE(entry->revision, *rev2);
  std::cout << "watch answered " << seconds * 1000
            << " ms after the PUT was sent\n";
}

// Its own namespace ("restart"): the first test's selection namespace=shop
// must not see its keys, whatever order the tests run in (--gtest_shuffle).
// The namespace is subscribed as a whole, so its keys are held through it
// only: a full answer after the restart must carry them all.
TEST_F(AgentWatchTest, AgentRestartGivesANewEpochAndAFullAnswer) {
  ASSERT_TRUE(agent().Subscribe(R"({"namespaces":["restart"]})").ok());
  auto rev = cluster_->Put("restart", "r", "one");
  ASSERT_TRUE(rev.ok());
  auto rev_s = cluster_->Put("restart", "s", "two");
  ASSERT_TRUE(rev_s.ok());
  ASSERT_TRUE(WaitCached({&agent()}, "restart", "r", *rev, absl::Seconds(30)));
  ASSERT_TRUE(
      WaitCached({&agent()}, "restart", "s", *rev_s, absl::Seconds(30)));
  auto before = Watch("namespace=restart", absl::Seconds(10));
  ASSERT_TRUE(before.ok());
  auto json = ParseJsonObject(before->body);
  ASSERT_TRUE(json.ok());
  const std::string epoch = (*json)->getValue<std::string>("epoch");
  const int64_t index = (*json)->getValue<int64_t>("index");
  EXPECT_EQ((*json)->getArray("changes")->size(), 2u) << before->body;

  ASSERT_TRUE(agent().Restart().ok());
  std::optional<absl::StatusOr<HttpReply>> after;
  ASSERT_TRUE(WaitFor(
      [&] {
        after = Watch(absl::StrCat("namespace=restart&index=", index,
                                   "&epoch=", epoch, "&timeout=5s"),
                      absl::Seconds(10));
        return after->ok() && (*after)->status == 200;
      },
      absl::Seconds(30), absl::Milliseconds(200)));
  json = ParseJsonObject((*after)->body);
  ASSERT_TRUE(json.ok());
  EXPECT_NE((*json)->getValue<std::string>("epoch"), epoch);
  EXPECT_TRUE((*json)->getValue<bool>("full"));
  auto changes = (*json)->getArray("changes");
  ASSERT_EQ(changes->size(), 2u) << (*after)->body;
  std::set<std::string> values;
  for (size_t i = 0; i < changes->size(); ++i) {
    values.insert(changes->getObject(i)->getValue<std::string>("value"));
  }
  EXPECT_EQ(values, (std::set<std::string>{"one", "two"}));
}

}  // namespace
}  // namespace testing
}  // namespace kess
