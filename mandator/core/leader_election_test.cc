// LeaderElection on the in-memory ZooKeeper (zk_schema/testing/fake_zk.h):
// three candidates, predecessor-only watches, withdrawal, and the leader's
// session and connection failing at exact points: expiry, a connection
// loss within and beyond the grace period, an expiry while disconnected,
// the whole ensemble stopped and started, a lost answer to its create.
#include "mandator/core/leader_election.h"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/testing/wait_for.h"
#include "gtest/gtest.h"
#include "mandator/testing/test_util.h"
#include "zk_schema/testing/fake_zk.h"

namespace kess {
namespace mandator {
namespace core {
namespace {

using ::kess::mandator::testing::FakeMandator;
using ::kess::testing::WaitFor;
using ::kess::zk::testing::FakeZkClient;
using ::kess::zk::testing::FakeZkServer;
using ::kess::zk::testing::FaultSpec;

// The election runs its rounds on its own thread: waits are bounded polls
// ("did not hang"; everything runs in memory, rounds take milliseconds).
constexpr absl::Duration kWait = absl::Seconds(10);

struct Candidate {
  std::unique_ptr<FakeZkClient> client;
  std::unique_ptr<LeaderElection> election;
  std::atomic<int> elected{0};
  std::atomic<int> demoted{0};
};

// Starts candidate `id` with its own session on `zk`, with the fault
// `fault` (if any) armed on its client first; returns nullptr (after a
// test failure) if it cannot.
std::unique_ptr<Candidate> Start(FakeZkServer* zk, const zk::Layout& layout,
                                 const std::string& id,
                                 absl::Duration grace = absl::Seconds(30),
                                 const FaultSpec* fault = nullptr) {
  auto c = std::make_unique<Candidate>();
  c->client = FakeMandator(zk);
  if (fault != nullptr) c->client->InjectFault(*fault);
  LeaderElection::Options options;
  options.layout = layout;
  options.self.set_id(id);
  options.self.set_http_address(
      absl::StrCat("127.0.0.1:1", id.substr(id.size() - 1)));
  options.connection_grace = grace;
  options.retry_interval = absl::Milliseconds(10);
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

class LeaderElectionTest : public mandator::testing::FakeZkTest {
 protected:
  std::unique_ptr<Candidate> Start(const std::string& id,
                                   absl::Duration grace = absl::Seconds(30)) {
    return core::Start(&zk_, *layout_, id, grace);
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

  // Election nodes, oldest first.
  std::vector<std::string> Nodes() {
    auto children = client_->GetChildren(layout_->ElectionDir());
    EXPECT_TRUE(children.ok()) << children.status();
    return children.ok() ? children->children : std::vector<std::string>{};
  }
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

// Invariant 3: the leader's session expires; its node (the fence) goes
// with it, it is demoted at once and the next candidate leads.
TEST_F(LeaderElectionTest, ExpiringTheLeadersSessionElectsTheNextAtOnce) {
  std::unique_ptr<Candidate> a, b, c;
  ASSERT_NO_FATAL_FAILURE(StartThree(&a, &b, &c));
  const std::string a_node = a->election->node_path();

  a->client->ExpireSession();
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
  auto none = ReadLeader(*client_, *layout_);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());
  auto a = Start("m1");
  ASSERT_TRUE(a);
  auto leader = ReadLeader(*client_, *layout_);
  ASSERT_TRUE(leader.ok() && leader->has_value());
  EXPECT_EQ((*leader)->id(), "m1");
  a->election.reset();
  EXPECT_FALSE(ReadLeader(*client_, *layout_)->has_value());
}

// Invariant 3: a leader that loses its connection stops taking writes at
// once (IsLeader() false while still elected); back within the grace
// period, with its session and node intact, it leads again without a
// demotion, and nobody else led meanwhile.
TEST_F(LeaderElectionTest, AConnectionLossPausesTheLeaderUntilItIsBack) {
  std::unique_ptr<Candidate> a, b, c;
  ASSERT_NO_FATAL_FAILURE(StartThree(&a, &b, &c));
  const std::string a_node = a->election->node_path();

  a->client->DropConnection();
  a->client->DrainCallbacks();  // kConnectionLost has been delivered
  EXPECT_FALSE(a->election->IsLeader());
  EXPECT_TRUE(a->election->IsElected());
  EXPECT_FALSE(b->election->IsLeader());
  EXPECT_FALSE(c->election->IsLeader());

  a->client->RestoreConnection();
  ASSERT_TRUE(WaitFor([&] { return a->election->IsLeader(); }, kWait));
  EXPECT_EQ(a->election->node_path(), a_node);
  EXPECT_EQ(a->elected, 1);
  EXPECT_EQ(a->demoted, 0);
  EXPECT_EQ(b->elected + c->elected, 0);
}

// Invariant 3: a leader cut off for longer than the grace period (the
// session timeout) steps down, since by then ZooKeeper may have expired
// its session and another candidate may lead.
TEST_F(LeaderElectionTest, ALeaderCutOffBeyondTheGracePeriodStepsDown) {
  auto a = Start("m1", /*grace=*/absl::Milliseconds(200));
  ASSERT_TRUE(a);
  ASSERT_TRUE(WaitFor([&] { return a->election->IsLeader(); }, kWait));

  a->client->DropConnection();
  ASSERT_TRUE(WaitFor([&] { return a->demoted == 1; }, kWait));
  EXPECT_FALSE(a->election->IsElected());
  EXPECT_NE(a->election->last_demotion_reason().find("connection lost"),
            std::string::npos)
      << a->election->last_demotion_reason();

  // Its session survived (the fake expires nothing by itself): back, it
  // runs the election again and leads with the same node.
  a->client->RestoreConnection();
  ASSERT_TRUE(WaitFor([&] { return a->election->IsLeader(); }, kWait));
  EXPECT_EQ(a->elected, 2);
}

// Invariant 3: the leader's session expires while it is disconnected. The
// next candidate leads at once; the old leader stays paused (never leading
// alongside) and, when its connection returns, learns of the expiry and is
// demoted at once, well within its grace period, then runs again as the
// last candidate with a new node.
TEST_F(LeaderElectionTest, ExpiryWhileDisconnectedDemotesOnReconnection) {
  std::unique_ptr<Candidate> a, b, c;
  ASSERT_NO_FATAL_FAILURE(StartThree(&a, &b, &c));
  const std::string a_node = a->election->node_path();

  a->client->DropConnection();
  a->client->DrainCallbacks();
  a->client->ExpireSession();
  ASSERT_TRUE(WaitFor([&] { return b->election->IsLeader(); }, kWait));
  EXPECT_FALSE(a->election->IsLeader());
  EXPECT_EQ(a->demoted, 0);  // it does not know yet

  a->client->RestoreConnection();
  ASSERT_TRUE(WaitFor([&] { return a->demoted == 1; }, kWait));
  EXPECT_NE(a->election->last_demotion_reason().find("session ended"),
            std::string::npos)
      << a->election->last_demotion_reason();
  ASSERT_TRUE(WaitFor(
      [&] {
        const std::string n = a->election->node_path();
        return !n.empty() && n != a_node &&
               a->election->watched_path() == c->election->node_path();
      },
      kWait));
  EXPECT_FALSE(a->election->IsLeader());
  EXPECT_TRUE(b->election->IsLeader());
  EXPECT_EQ(Nodes().size(), 3u);
}

// Invariant 3, whose fence is the candidate's one election node: the answer
// to a candidate's create is lost, though the node was made. The candidate
// adopts that node instead of creating a second one (which would sit behind
// its own first node and never lead).
TEST_F(LeaderElectionTest, ALostAnswerToTheCreateIsAdoptedNotRepeated) {
  FaultSpec lost;
  lost.ops = FaultSpec::kCreate;
  lost.path_prefix = layout_->ElectionDir();
  lost.kind = FaultSpec::kConnectionLossAfterApply;
  auto a = core::Start(&zk_, *layout_, "m1", absl::Seconds(30), &lost);
  ASSERT_TRUE(a);
  ASSERT_TRUE(WaitFor([&] { return a->election->IsLeader(); }, kWait));
  EXPECT_EQ(zk_.PendingFaults(), 0);
  EXPECT_EQ(Nodes().size(), 1u);
  EXPECT_EQ(a->election->node_path(),
            absl::StrCat(layout_->ElectionDir(), "/", Nodes().front()));
}

// The whole ensemble stops: the leader pauses at once, steps down after the
// grace period, and leads again once the ensemble is back (invariants 3 and
// 11: writes are refused while it cannot be sure it leads).
TEST_F(LeaderElectionTest, LeaderPausesThenStepsDownThenComesBack) {
  auto a = Start("m1", /*grace=*/absl::Milliseconds(300));
  ASSERT_TRUE(a);
  ASSERT_TRUE(WaitFor([&] { return a->election->IsLeader(); }, kWait));

  zk_.Stop();
  a->client->DrainCallbacks();
  EXPECT_FALSE(a->election->IsLeader());
  ASSERT_TRUE(WaitFor([&] { return a->demoted == 1; }, kWait));
  EXPECT_NE(a->election->last_demotion_reason().find("connection lost"),
            std::string::npos)
      << a->election->last_demotion_reason();

  zk_.Start();
  ASSERT_TRUE(WaitFor([&] { return a->election->IsLeader(); }, kWait));
  EXPECT_EQ(a->elected, 2);
}

}  // namespace
}  // namespace core
}  // namespace mandator
}  // namespace kess
