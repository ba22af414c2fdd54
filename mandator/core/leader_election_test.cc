#include "mandator/core/leader_election.h"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/testing/wait_for.h"
#include "gtest/gtest.h"
#include "mandator/testing/test_util.h"
#include "tests/harness/zk_test_base.h"
#include "zk_schema/testing/real_zk.h"

namespace kess {
namespace mandator {
namespace core {
namespace {

using ::kess::mandator::testing::ConnectMandator;
using ::kess::mandator::testing::FreshLayout;
using ::kess::testing::WaitFor;

constexpr absl::Duration kWait = absl::Seconds(30);

struct Candidate {
  std::unique_ptr<zk::ZkClient> client;
  std::unique_ptr<LeaderElection> election;
  std::atomic<int> elected{0};
  std::atomic<int> demoted{0};
};

// Starts candidate `id` on `connect`; returns nullptr (after a test
// failure) if it cannot.
std::unique_ptr<Candidate> Start(const std::string& connect,
                                 const zk::Layout& layout,
                                 const std::string& id,
                                 absl::Duration grace = absl::Seconds(4)) {
  auto c = std::make_unique<Candidate>();
  auto client = ConnectMandator(connect);
  EXPECT_TRUE(client.ok()) << client.status();
  if (!client.ok()) return nullptr;
  c->client = std::move(client).value();
  LeaderElection::Options options;
  options.layout = layout;
  options.self.set_id(id);
  options.self.set_http_address(
      absl::StrCat("127.0.0.1:1", id.substr(id.size() - 1)));
  options.connection_grace = grace;
  options.retry_interval = absl::Milliseconds(100);
  Candidate* raw = c.get();
  options.on_elected = [raw] { raw->elected++; };
  options.on_demoted = [raw] { raw->demoted++; };
  auto election = LeaderElection::Create(c->client.get(), options);
  EXPECT_TRUE(election.ok()) << election.status();
  if (!election.ok()) return nullptr;
  c->election = std::move(election).value();
  // Wait until it is a candidate.
  EXPECT_TRUE(
      WaitFor([&] { return !c->election->node_path().empty(); }, kWait));
  return c;
}

class LeaderElectionTest : public kess::testing::ZkTestBase {
 protected:
  void SetUp() override {
    auto admin = ConnectMandator(zk()->ConnectString());
    ASSERT_TRUE(admin.ok()) << admin.status();
    admin_ = std::move(admin).value();
    auto layout = FreshLayout(*admin_);
    ASSERT_TRUE(layout.ok()) << layout.status();
    layout_ = std::make_unique<zk::Layout>(*layout);
  }

  std::unique_ptr<Candidate> Start(const std::string& id) {
    return core::Start(zk()->ConnectString(), *layout_, id);
  }

  // m1 (the leader), m2 and m3, in this order of candidacy; m3 already
  // watches m2.
  void StartThree(std::unique_ptr<Candidate>* a, std::unique_ptr<Candidate>* b,
                  std::unique_ptr<Candidate>* c) {
    *a = Start("m1");
    ASSERT_TRUE(*a);
    ASSERT_TRUE(WaitFor([&] { return (*a)->election->IsLeader(); }, kWait));
    *b = Start("m2");
    *c = Start("m3");
    ASSERT_TRUE(*b && *c);
    ASSERT_TRUE(WaitFor(
        [&] {
          return (*c)->election->watched_path() == (*b)->election->node_path();
        },
        kWait));
  }

  std::unique_ptr<zk::ZkClient> admin_;
  std::unique_ptr<zk::Layout> layout_;
};

TEST_F(LeaderElectionTest, OneLeaderAndEachCandidateWatchesOnlyItsPredecessor) {
  std::unique_ptr<Candidate> a, b, c;
  ASSERT_NO_FATAL_FAILURE(StartThree(&a, &b, &c));
  ASSERT_TRUE(WaitFor(
      [&] {
        return b->election->watched_path() == a->election->node_path() &&
               c->election->watched_path() == b->election->node_path();
      },
      kWait));
  EXPECT_TRUE(a->election->IsLeader());
  EXPECT_EQ(a->election->watched_path(), "");
  EXPECT_FALSE(b->election->IsLeader());
  EXPECT_FALSE(c->election->IsLeader());
  EXPECT_EQ(a->elected, 1);
  EXPECT_EQ(b->elected + c->elected, 0);

  for (Candidate* x : {a.get(), b.get(), c.get()}) {
    auto leader = x->election->CurrentLeader();
    ASSERT_TRUE(leader.ok()) << leader.status();
    ASSERT_TRUE(leader->has_value());
    EXPECT_EQ((*leader)->id(), "m1");
    EXPECT_EQ((*leader)->http_address(), "127.0.0.1:11");
  }
}

TEST_F(LeaderElectionTest, ExpiringTheLeadersSessionElectsTheNextAtOnce) {
  std::unique_ptr<Candidate> a, b, c;
  ASSERT_NO_FATAL_FAILURE(StartThree(&a, &b, &c));
  const std::string a_node = a->election->node_path();

  auto creds = a->client->session_credentials();
  ASSERT_TRUE(creds.ok());
  ASSERT_TRUE(zk::testing::ExpireSession(zk()->ConnectString(), *creds).ok());
  ASSERT_TRUE(WaitFor([&] { return a->demoted == 1; }, kWait));
  ASSERT_TRUE(WaitFor([&] { return b->election->IsLeader(); }, kWait));
  EXPECT_EQ(b->elected, 1);
  EXPECT_FALSE(c->election->IsLeader());
  EXPECT_EQ(c->election->watched_path(), b->election->node_path());
  EXPECT_NE(a->election->last_demotion_reason(), "");

  // The old leader comes back with a new session as the last candidate,
  // watching the one before it; it does not lead again.
  ASSERT_TRUE(WaitFor(
      [&] {
        const std::string n = a->election->node_path();
        return !n.empty() && n != a_node &&
               a->election->watched_path() == c->election->node_path();
      },
      kWait));
  EXPECT_FALSE(a->election->IsLeader());
  EXPECT_TRUE(b->election->IsLeader());
  EXPECT_EQ(a->elected, 1);
}

TEST_F(LeaderElectionTest, AWithdrawingLeaderHandsOverAndAMiddleOneRewires) {
  std::unique_ptr<Candidate> a, b, c;
  ASSERT_NO_FATAL_FAILURE(StartThree(&a, &b, &c));
  ASSERT_TRUE(WaitFor(
      [&] { return c->election->watched_path() == b->election->node_path(); },
      kWait));

  b.reset();  // the middle candidate leaves: c now watches a
  ASSERT_TRUE(WaitFor(
      [&] { return c->election->watched_path() == a->election->node_path(); },
      kWait));
  EXPECT_TRUE(a->election->IsLeader());
  EXPECT_FALSE(c->election->IsLeader());

  a->election.reset();  // withdraws: on_demoted runs, c leads
  EXPECT_EQ(a->demoted, 1);
  ASSERT_TRUE(WaitFor([&] { return c->election->IsLeader(); }, kWait));
  auto leader = c->election->CurrentLeader();
  ASSERT_TRUE(leader.ok() && leader->has_value());
  EXPECT_EQ((*leader)->id(), "m3");
}

TEST_F(LeaderElectionTest, NoCandidateMeansNoLeader) {
  auto none = ReadLeader(*admin_, *layout_);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());
  auto a = Start("m1");
  ASSERT_TRUE(a);
  auto leader = ReadLeader(*admin_, *layout_);
  ASSERT_TRUE(leader.ok() && leader->has_value());
  EXPECT_EQ((*leader)->id(), "m1");
  a->election.reset();
  EXPECT_FALSE(ReadLeader(*admin_, *layout_)->has_value());
}

// A server that stops: the leader pauses at once, steps down after the
// grace period, and leads again once the server is back.
TEST(LeaderElectionOutageTest, LeaderPausesThenStepsDownThenComesBack) {
  auto ensemble = kess::testing::ZkEnsemble::Start({.name = "outage"});
  ASSERT_TRUE(ensemble.ok()) << ensemble.status();
  auto admin = ConnectMandator((*ensemble)->ConnectString());
  ASSERT_TRUE(admin.ok());
  auto layout = FreshLayout(**admin);
  ASSERT_TRUE(layout.ok());
  auto a = Start((*ensemble)->ConnectString(), *layout, "m1",
                 /*grace=*/absl::Seconds(1));
  ASSERT_TRUE(a);
  ASSERT_TRUE(WaitFor([&] { return a->election->IsLeader(); }, kWait));

  ASSERT_TRUE((*ensemble)->StopServer(0).ok());
  ASSERT_TRUE(WaitFor([&] { return !a->election->IsLeader(); }, kWait));
  ASSERT_TRUE(WaitFor([&] { return a->demoted == 1; }, kWait));
  EXPECT_NE(a->election->last_demotion_reason().find("connection lost"),
            std::string::npos)
      << a->election->last_demotion_reason();

  ASSERT_TRUE((*ensemble)->StartServer(0).ok());
  ASSERT_TRUE(WaitFor([&] { return a->election->IsLeader(); }, kWait));
  EXPECT_EQ(a->elected, 2);
}

}  // namespace
}  // namespace core
}  // namespace mandator
}  // namespace kess
