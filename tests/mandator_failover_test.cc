// End to end: three real `mandator` processes of the main DC on one real
// ZooKeeper server.
//  - kill -9 of the leader during a stream of 1,000 writes: another mandator
//    takes over, every acknowledged write is present with its value,
//    acknowledged revisions strictly increase, the change log has no gaps;
//  - ZooKeeper stopped for a while: writes get 503 with a clear message and
//    nothing is acknowledged; after the restart writes work again.
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "Poco/JSON/Object.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/json_util.h"
#include "glog/logging.h"
#include "gtest/gtest.h"
#include "mandator/http_call.h"
#include "mandator/test_util.h"
#include "tests/cluster/mandator_process.h"
#include "tests/harness/zk_ensemble.h"
#include "zk_schema/codec.h"
#include "zk_schema/layout.h"
#include "zk_schema/revision_log.h"
#include "zk_schema/zk_client.h"

namespace kess {
namespace {

using mandator::HttpCall;
using mandator::HttpReply;

constexpr int kSessionTimeoutMs = 4000;  // the server's max with tick 200

class MandatorClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ensemble = testing::ZkEnsemble::Start({.name = "main"});
    ASSERT_TRUE(ensemble.ok()) << ensemble.status();
    zk_ = std::move(ensemble).value();
    const char* tmp = std::getenv("TEST_TMPDIR");
    auto auth = testing::WriteAuthFile(tmp != nullptr ? tmp : "/tmp",
                                       mandator::testing::TestAuth());
    ASSERT_TRUE(auth.ok()) << auth.status();
    for (const char* id : {"m1", "m2", "m3"}) {
      testing::MandatorProcessOptions o;
      o.id = id;
      o.datacenter = "dc1";
      o.is_main = true;
      o.zk = zk_->ConnectString();
      o.auth_file = *auth;
      o.zk_session_timeout_ms = kSessionTimeoutMs;
      auto m = testing::MandatorProcess::Start(o);
      ASSERT_TRUE(m.ok()) << m.status();
      mandators_.push_back(std::move(m).value());
    }
  }

  void TearDown() override {
    for (auto& m : mandators_) m->Stop();
    mandators_.clear();
    zk_.reset();
  }

  static Poco::JSON::Object::Ptr Json(const std::string& body) {
    auto object = ParseJsonObject(body);
    return object.ok() ? *object : Poco::JSON::Object::Ptr();
  }

  // The running mandator that says it leads; nullptr if none does (yet).
  testing::MandatorProcess* Leader() {
    for (auto& m : mandators_) {
      if (!m->running()) continue;
      auto reply = HttpCall(m->http_address(), "GET", "/api/v1/status", "",
                            absl::Seconds(5));
      if (!reply.ok() || reply->status != 200) continue;
      auto status = Json(reply->body);
      if (status && status->optValue<bool>("is_leader", false)) return m.get();
    }
    return nullptr;
  }

  testing::MandatorProcess* WaitLeader(absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      if (testing::MandatorProcess* m = Leader()) return m;
      absl::SleepFor(absl::Milliseconds(100));
    }
    return nullptr;
  }

  static std::string PutBody(const std::string& value) {
    return absl::StrCat("{\"value\":", JsonQuote(value), "}");
  }

  std::unique_ptr<testing::ZkEnsemble> zk_;
  std::vector<std::unique_ptr<testing::MandatorProcess>> mandators_;
};

TEST_F(MandatorClusterTest, KillingTheLeaderLosesNoAcknowledgedWrite) {
  testing::MandatorProcess* first = WaitLeader(absl::Seconds(60));
  ASSERT_NE(first, nullptr);

  constexpr int kWrites = 1000;
  constexpr int kKillAfter = 300;
  std::atomic<int> acked{0};
  std::map<std::string, int64_t> revision_of;  // key -> acknowledged revision
  std::vector<int64_t> ack_order;
  std::atomic<int> failures{0};
  absl::Time killed_at = absl::InfiniteFuture();
  absl::Time first_ack_after_kill = absl::InfiniteFuture();
  std::atomic<bool> killed{false};

  std::thread killer([&] {
    const absl::Time deadline = absl::Now() + absl::Seconds(120);
    while (acked < kKillAfter && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    killed_at = absl::Now();
    first->Kill();  // kill -9, with writes in flight
    killed = true;
  });

  // One writer, every write to a new key, round-robin over the mandators;
  // a failed write is retried against the next one (bounded in time).
  const absl::Time stream_deadline = absl::Now() + absl::Seconds(240);
  size_t next = 0;
  bool gave_up = false;
  for (int i = 0; i < kWrites && !gave_up; ++i) {
    const std::string key = absl::StrFormat("k%04d", i);
    const std::string value = absl::StrCat("value-", i);
    for (;;) {
      if (absl::Now() > stream_deadline) {
        gave_up = true;
        break;
      }
      testing::MandatorProcess* m =
          mandators_[next++ % mandators_.size()].get();
      if (!m->running()) continue;
      auto reply = HttpCall(m->http_address(), "PUT",
                            absl::StrCat("/api/v1/configs/stream/", key),
                            PutBody(value), absl::Seconds(20));
      if (reply.ok() && reply->status == 200) {
        auto result = Json(reply->body);
        ASSERT_TRUE(result) << reply->body;
        const int64_t revision = result->getValue<int64_t>("revision");
        revision_of[key] = revision;
        ack_order.push_back(revision);
        if (killed && first_ack_after_kill == absl::InfiniteFuture()) {
          first_ack_after_kill = absl::Now();
        }
        ++acked;
        break;
      }
      ++failures;
      // Retryable answers only: the leader is gone or not elected yet.
      if (reply.ok()) {
        ASSERT_TRUE(reply->status == 503 || reply->status == 504)
            << reply->status << " " << reply->body;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
  }
  killer.join();
  ASSERT_FALSE(gave_up) << "only " << acked << " writes within the time bound";
  ASSERT_EQ(acked, kWrites);
  EXPECT_GT(failures, 0) << "the kill did not interrupt the stream";
  const absl::Duration takeover = first_ack_after_kill - killed_at;
  LOG(INFO) << "first write acknowledged " << takeover
            << " after the kill; failed attempts: " << failures;
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
    const std::string key = absl::StrFormat("k%04d", i);
    auto reply = HttpCall(second->http_address(), "GET",
                          absl::StrCat("/api/v1/configs/stream/", key));
    ASSERT_TRUE(reply.ok() && reply->status == 200) << key;
    auto config = Json(reply->body);
    EXPECT_EQ(config->getValue<std::string>("value"),
              absl::StrCat("value-", i));
    EXPECT_EQ(config->getValue<int64_t>("revision"), revision_of[key]) << key;
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
  for (const auto& [key, revision] : revision_of) {
    auto node = (*reader)->Get(layout.ChangelogPath(revision));
    ASSERT_TRUE(node.ok()) << revision;
    auto change = zk::DecodeAs<zk::ChangeRecord>(node->data, "log");
    ASSERT_TRUE(change.ok());
    EXPECT_EQ(change->key(), key);
    EXPECT_EQ(change->revision(), revision);
  }
}

TEST_F(MandatorClusterTest, WritesAreRefusedWhileZooKeeperIsDown) {
  testing::MandatorProcess* leader = WaitLeader(absl::Seconds(60));
  ASSERT_NE(leader, nullptr);
  auto before = HttpCall(leader->http_address(), "PUT",
                         "/api/v1/configs/outage/k", PutBody("before"));
  ASSERT_TRUE(before.ok() && before->status == 200);

  ASSERT_TRUE(zk_->StopServer(0).ok());
  // Every mandator refuses writes with 503 and a message saying why; none
  // is acknowledged while the server is down (for longer than a session).
  const absl::Time outage_end =
      absl::Now() + absl::Milliseconds(kSessionTimeoutMs + 2000);
  int refused = 0;
  while (absl::Now() < outage_end) {
    for (auto& m : mandators_) {
      auto reply =
          HttpCall(m->http_address(), "PUT", "/api/v1/configs/outage/k",
                   PutBody("during"), absl::Seconds(30));
      ASSERT_TRUE(reply.ok()) << reply.status();
      ASSERT_EQ(reply->status, 503) << m->id() << ": " << reply->body;
      auto error = Json(reply->body)->getObject("error");
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
                          PutBody("after"), absl::Seconds(20));
    written = reply.ok() && reply->status == 200;
    if (!written) absl::SleepFor(absl::Milliseconds(200));
  }
  ASSERT_TRUE(written) << "no write succeeded after ZooKeeper came back";
  testing::MandatorProcess* now = WaitLeader(absl::Seconds(30));
  ASSERT_NE(now, nullptr);
  auto got = HttpCall(now->http_address(), "GET", "/api/v1/configs/outage/k");
  ASSERT_TRUE(got.ok() && got->status == 200);
  EXPECT_EQ(Json(got->body)->getValue<std::string>("value"), "after");
  // The refused write never happened: versions are 1 (before) and 2 (after).
  EXPECT_EQ(Json(got->body)->getValue<int64_t>("version"), 2);
}

}  // namespace
}  // namespace kess
