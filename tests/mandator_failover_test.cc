// End to end: three real `mandator` processes of the main DC on one real
// ZooKeeper server. Invariants 1, 2 and 3 of docs/design.md.
//  - kill -9 of the leader during a stream of 1,000 writes: another mandator
//    takes over, every acknowledged write is present with its value,
//    acknowledged revisions strictly increase, the change log has no gaps;
//  - ZooKeeper stopped for a while: writes get 503 with a clear message and
//    nothing is acknowledged; after the restart writes work again.
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "Poco/JSON/Object.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "gtest/gtest.h"
#include "common/http_client.h"
#include "mandator/testing/test_util.h"
#include "tests/cluster/mandator_cluster.h"
#include "tests/cluster/mandator_process.h"
#include "tests/harness/zk_ensemble.h"
#include "zk_schema/codec.h"
#include "zk_schema/layout.h"
#include "zk_schema/revision_log.h"
#include "zk_schema/zk_client.h"

namespace kess {
namespace {


constexpr absl::Duration kSessionTimeout =
    absl::Seconds(4);  // the server's max with tick 200

class MandatorClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ensemble = testing::ZkEnsemble::Start({.name = "main"});
    ASSERT_TRUE(ensemble.ok()) << ensemble.status();
    zk_ = std::move(ensemble).value();
    testing::MandatorProcessOptions o;
    o.zk_session_timeout = kSessionTimeout;
    auto mandators = testing::StartMainMandators(zk_->ConnectString(),
                                                 {"m1", "m2", "m3"}, o);
    ASSERT_TRUE(mandators.ok()) << mandators.status();
    mandators_ = std::move(mandators).value();
  }

  void TearDown() override {
    for (auto& m : mandators_) m->Stop();
    mandators_.clear();
    zk_.reset();
  }

  testing::MandatorProcess* WaitLeader(absl::Duration timeout) {
    return testing::WaitLeader(mandators_, timeout);
  }

  std::unique_ptr<testing::ZkEnsemble> zk_;
  testing::MandatorList mandators_;
};

TEST_F(MandatorClusterTest, KillingTheLeaderLosesNoAcknowledgedWrite) {
  testing::MandatorProcess* first = WaitLeader(absl::Seconds(60));
  ASSERT_NE(first, nullptr);

  constexpr int kWrites = 1000;
  constexpr int kKillAfter = 300;
  // One writer, every write to a new key, round-robin over the mandators;
  // a failed write is retried against the next one (bounded in time).
  testing::WriteStreamOptions stream;
  stream.writes = kWrites;
  stream.kill = first;  // kill -9, with writes in flight
  stream.kill_after = kKillAfter;
  const testing::WriteStreamResult result =
      testing::WriteStream(mandators_, stream);
  ASSERT_NE(result.killed_at, absl::InfiniteFuture()) << "no kill";
  ASSERT_TRUE(result.status.ok()) << result.status;
  const std::vector<int64_t>& ack_order = result.revisions;
  ASSERT_EQ(ack_order.size(), kWrites);
  EXPECT_GT(result.failed_attempts, 0)
      << "the kill did not interrupt the stream";
  const absl::Duration takeover =
      result.first_ack_after_kill - result.killed_at;
  LOG(INFO) << "first write acknowledged " << takeover
            << " after the kill; failed attempts: " << result.failed_attempts;
  EXPECT_LT(takeover, absl::Seconds(60)) << "takeover hung";

  testing::MandatorProcess* second = WaitLeader(absl::Seconds(30));
  ASSERT_NE(second, nullptr);
  EXPECT_NE(second, first);

  // Acknowledged revisions strictly increase.
  for (size_t i = 1; i < ack_order.size(); ++i) {
    ASSERT_LT(ack_order[i - 1], ack_order[i]) << "at write " << i;
  }
  // Every acknowledged write is there with its value and revision.
  for (int i = 0; i < kWrites; ++i) {
    const std::string key = testing::StreamKey(i);
    auto reply = HttpCall(second->http_address(), "GET",
                          absl::StrCat("/api/v1/configs/stream/", key));
    ASSERT_TRUE(reply.ok() && reply->status == 200) << key;
    auto config = testing::JsonBody(reply->body);
    EXPECT_EQ(config->getValue<std::string>("value"), testing::StreamValue(i));
    EXPECT_EQ(config->getValue<int64_t>("revision"), ack_order[i]) << key;
  }

  // The change log has every revision from 1 to the newest, each naming a
  // stream key, and every acknowledged revision names its own key.
  auto reader = mandator::testing::ConnectReader(zk_->ConnectString());
  ASSERT_TRUE(reader.ok()) << reader.status();
  zk::Layout layout;
  auto summary = zk::ReadRevision(**reader, layout);
  ASSERT_TRUE(summary.ok()) << summary.status();
  const int64_t newest = summary->first.revision();
  EXPECT_GE(newest, ack_order.back());
  auto log = (*reader)->GetChildren(layout.ChangelogDir());
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(static_cast<int64_t>(log->children.size()), newest)
      << "the change log has gaps (or was trimmed)";
  for (int64_t r = 1; r <= newest; ++r) {
    ASSERT_EQ(log->children[r - 1], zk::FormatRevision(r));
  }
  for (int i = 0; i < kWrites; ++i) {
    auto node = (*reader)->Get(layout.ChangelogPath(ack_order[i]));
    ASSERT_TRUE(node.ok()) << ack_order[i];
    auto change = zk::DecodeAs<zk::ChangeRecord>(node->data, "log");
    ASSERT_TRUE(change.ok());
    EXPECT_EQ(change->key(), testing::StreamKey(i));
    EXPECT_EQ(change->revision(), ack_order[i]);
  }
}

TEST_F(MandatorClusterTest, WritesAreRefusedWhileZooKeeperIsDown) {
  testing::MandatorProcess* leader = WaitLeader(absl::Seconds(60));
  ASSERT_NE(leader, nullptr);
  auto before =
      HttpCall(leader->http_address(), "PUT", "/api/v1/configs/outage/k",
               testing::PutBody("before"));
  ASSERT_TRUE(before.ok() && before->status == 200);

  ASSERT_TRUE(zk_->StopServer(0).ok());
  // Every mandator refuses writes with 503 and a message saying why; none
  // is acknowledged while the server is down (for longer than a session).
  const absl::Time outage_end =
      absl::Now() + kSessionTimeout + absl::Seconds(2);
  int refused = 0;
  while (absl::Now() < outage_end) {
    for (auto& m : mandators_) {
      auto reply =
          HttpCall(m->http_address(), "PUT", "/api/v1/configs/outage/k",
                   testing::PutBody("during"), absl::Seconds(30));
      ASSERT_TRUE(reply.ok()) << reply.status();
      ASSERT_EQ(reply->status, 503) << m->id() << ": " << reply->body;
      auto error = testing::JsonBody(reply->body)->getObject("error");
      ASSERT_TRUE(error);
      EXPECT_EQ(error->getValue<std::string>("code"), "UNAVAILABLE");
      EXPECT_FALSE(error->getValue<std::string>("message").empty());
      ++refused;
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_GT(refused, 0);
  auto health = HttpCall(leader->http_address(), "GET", "/healthz");
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(health->status, 503) << health->body;

  ASSERT_TRUE(zk_->StartServer(0).ok());
  // Writes work again (through any mandator) once a leader is back.
  const absl::Time deadline = absl::Now() + absl::Seconds(90);
  bool written = false;
  size_t next = 0;
  while (!written && absl::Now() < deadline) {
    auto& m = mandators_[next++ % mandators_.size()];
    auto reply = HttpCall(m->http_address(), "PUT", "/api/v1/configs/outage/k",
                          testing::PutBody("after"), absl::Seconds(20));
    written = reply.ok() && reply->status == 200;
    if (!written) absl::SleepFor(absl::Milliseconds(200));
  }
  ASSERT_TRUE(written) << "no write succeeded after ZooKeeper came back";
  testing::MandatorProcess* now = WaitLeader(absl::Seconds(30));
  ASSERT_NE(now, nullptr);
  auto got = HttpCall(now->http_address(), "GET", "/api/v1/configs/outage/k");
  ASSERT_TRUE(got.ok() && got->status == 200);
  EXPECT_EQ(testing::JsonBody(got->body)->getValue<std::string>("value"),
            "after");
  // The refused write never happened: versions are 1 (before) and 2 (after).
  EXPECT_EQ(testing::JsonBody(got->body)->getValue<int64_t>("version"), 2);
}

}  // namespace
}  // namespace kess
