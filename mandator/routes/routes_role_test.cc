// RoutesRole end to end in one process: the in-memory ZooKeeper
// (zk_schema/testing/fake_zk.h), real schedulers (mandator/scheduler)
// registered as mandators of the DC, and a "fleet" thread that heartbeats
// instances and hosts to them as providers and agents would. What it shows
// (invariant 9 of docs/design.md): a mandator killed, then all mandators of
// the DC restarted, then a leader change — no instance is removed; and a
// dead instance on a dead host still is. And route-table commits that are
// lost, on the way or after being applied, change none of that.
#include "mandator/routes/routes_role.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/testing/wait_for.h"
#include "gtest/gtest.h"
#include "mandator/scheduler/scheduler.h"
#include "mandator/testing/test_util.h"
#include "zk_schema/codec.h"
#include "zk_schema/revision_log.h"
#include "zk_schema/testing/fake_zk.h"

namespace kess {
namespace mandator {
namespace routes {
namespace {

using ::kess::mandator::testing::TestAcl;
using ::kess::testing::WaitFor;
using ::kess::zk::testing::FaultSpec;

// Bounds of waits that only mean "did not hang".
constexpr absl::Duration kWait = absl::Seconds(30);

constexpr int kMandators = 3;
constexpr int kPerService = 10;
const char* const kServices[] = {"svc-a", "svc-b"};

// Three schedulers of dc1, each published in ZooKeeper like a mandator.
class Dc {
 public:
  Dc(zk::ZkApi* zk, zk::Layout layout) : zk_(zk), layout_(std::move(layout)) {}

  void Start(int i) {
    scheduler::SchedulerOptions options;
    options.mandator_id = Id(i);
    options.datacenter = "dc1";
    options.heartbeat_interval = absl::Milliseconds(200);
    options.registry = &registry_;
    auto s = scheduler::Scheduler::Create(options);
    ASSERT_TRUE(s.ok()) << s.status();
    zk::MemberInfo member;
    member.set_id(Id(i));
    member.set_role(zk::MANDATOR);
    member.set_datacenter("dc1");
    member.set_address((*s)->address());
    ASSERT_TRUE(zk_->Create(*layout_.MemberPath(zk::MANDATOR, Id(i)),
                            zk::Encode(member), zk::CreateMode::kEphemeral,
                            TestAcl())
                    .ok());
    absl::MutexLock lock(&mu_);
    schedulers_[i] = *std::move(s);
  }

  // Gone: out of ZooKeeper and its server closed (kill -9 + session end).
  void Kill(int i) {
    ASSERT_TRUE(zk_->Delete(*layout_.MemberPath(zk::MANDATOR, Id(i)), -1).ok());
    std::unique_ptr<scheduler::Scheduler> gone;
    {
      absl::MutexLock lock(&mu_);
      gone = std::move(schedulers_[i]);
    }
  }

  // What providers and agents do: heartbeat instance k to mandators k and
  // k+1, registering again where it is unknown; every host to all.
  void Beat(const std::vector<bool>& instance_alive) {
    absl::MutexLock lock(&mu_);
    for (int m = 0; m < kMandators; ++m) {
      if (schedulers_[m] == nullptr) continue;
      scheduler::PartialTable& table = schedulers_[m]->table();
      int k = 0;
      for (const char* service : kServices) {
        for (int i = 0; i < kPerService; ++i, ++k) {
          if (!instance_alive[k]) continue;
          if (k % kMandators != m && (k + 1) % kMandators != m) continue;
          google::protobuf::RepeatedPtrField<protocol::InstanceRef> refs,
              unknown;
          protocol::InstanceRef* ref = refs.Add();
          ref->set_service(service);
          ref->set_id(absl::StrCat("i", i));
          table.Heartbeat(refs, "", &unknown);
          if (!unknown.empty()) {
            google::protobuf::RepeatedPtrField<protocol::InstanceInfo> infos;
            protocol::InstanceInfo* info = infos.Add();
            info->set_service(service);
            info->set_id(absl::StrCat("i", i));
            info->set_host(absl::StrCat("h", k));
            info->set_address(absl::StrCat("127.0.0.1:", 9000 + k));
            info->set_datacenter("dc1");
            info->set_weight(100);
            EXPECT_TRUE(table.Register(infos).ok());
          }
          table.HostHeartbeat(absl::StrCat("h", k));
        }
      }
    }
  }

 private:
  static std::string Id(int i) { return absl::StrCat("m", i); }

  zk::ZkApi* const zk_;
  const zk::Layout layout_;
  metrics::Registry registry_;
  absl::Mutex mu_;
  std::unique_ptr<scheduler::Scheduler> schedulers_[kMandators] ABSL_GUARDED_BY(
      mu_);
};

class RoutesRoleTest : public mandator::testing::FakeZkTest {
 protected:
  void SetUp() override {
    FakeZkTest::SetUp();
    store_ = std::make_unique<RouteStore>(
        client_.get(), RouteStore::Options{*layout_, TestAcl(), "test"});
    dc_ = std::make_unique<Dc>(client_.get(), *layout_);
    {
      absl::MutexLock lock(&alive_mu_);
      alive_.assign(2 * kPerService, true);
    }
    for (int i = 0; i < kMandators; ++i) dc_->Start(i);
    fleet_ = std::thread([this] {
      while (!stop_fleet_) {
        std::vector<bool> alive;
        {
          absl::MutexLock lock(&alive_mu_);
          alive = alive_;
        }
        dc_->Beat(alive);
        absl::SleepFor(absl::Milliseconds(100));
      }
    });
  }

  void TearDown() override {
    role_.reset();
    stop_fleet_ = true;
    if (fleet_.joinable()) fleet_.join();
  }

  std::unique_ptr<RoutesRole> NewRole() {
    RoutesRole::Options options;
    options.self_id = "leader";
    options.datacenter = "dc1";
    options.layout = *layout_;
    options.cycle = absl::Milliseconds(100);
    options.merge.instance_timeout = absl::Milliseconds(800);
    options.merge.host_timeout = absl::Milliseconds(800);
    options.merge.warmup = absl::Milliseconds(1500);
    options.collector.requester_id = "leader";
    options.collector.policy.normal_timeout = absl::Seconds(1);
    options.collector.registry = &registry_;
    options.writer.window = absl::Milliseconds(300);
    options.writer.registry = &registry_;
    options.store = RouteStore::Options{*layout_, TestAcl(), "leader"};
    options.registry = &registry_;
    auto role = std::make_unique<RoutesRole>(client_.get(), options);
    role->Start();
    return role;
  }

  // Instance ids per service as published, with their states.
  std::map<std::string, std::map<std::string, InstanceState>> Published() {
    std::map<std::string, std::map<std::string, InstanceState>> out;
    for (const char* service : kServices) {
      auto table = store_->Get(service);
      EXPECT_TRUE(table.ok()) << table.status();
      if (!table.ok() || !table->has_value()) continue;
      for (const RouteInstance& in : (*table)->instances) {
        out[service][in.id] = in.state;
      }
    }
    return out;
  }

  bool AllPublishedHealthy() {
    auto published = Published();
    for (const char* service : kServices) {
      if (published[service].size() != kPerService) return false;
      for (const auto& [id, state] : published[service]) {
        if (state != InstanceState::kHealthy) return false;
      }
    }
    return true;
  }

  // Samples ZooKeeper for `how_long`; fails if any instance went missing.
  void ExpectNothingRemovedFor(absl::Duration how_long, const char* phase) {
    const absl::Time end = absl::Now() + how_long;
    while (absl::Now() < end) {
      auto published = Published();
      for (const char* service : kServices) {
        ASSERT_EQ(published[service].size(), kPerService)
            << phase << ": " << service;
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
  }

  std::unique_ptr<RouteStore> store_;
  std::unique_ptr<Dc> dc_;
  metrics::Registry registry_;
  std::unique_ptr<RoutesRole> role_;
  absl::Mutex alive_mu_;
  std::vector<bool> alive_ ABSL_GUARDED_BY(alive_mu_);
  std::atomic<bool> stop_fleet_{false};
  std::thread fleet_;
};

TEST_F(RoutesRoleTest, MandatorKilledDcRestartedLeaderChangedNothingRemoved) {
  role_ = NewRole();
  ASSERT_TRUE(WaitFor([&] { return AllPublishedHealthy(); }, kWait));
  ASSERT_TRUE(WaitFor(
      [&] {
        auto view = role_->view();
        return view != nullptr && view->answered.size() == kMandators;
      },
      kWait));

  // 1. One mandator killed: its instances still beat to their other one.
  dc_->Kill(0);
  ExpectNothingRemovedFor(absl::Seconds(4), "one mandator killed");
  EXPECT_TRUE(AllPublishedHealthy());

  // 2. Every mandator of the DC restarted: for a while nobody answers,
  // then they answer with empty tables, then the fleet registers again.
  dc_->Kill(1);
  dc_->Kill(2);
  ExpectNothingRemovedFor(absl::Seconds(2), "all mandators down");
  for (int i = 0; i < kMandators; ++i) dc_->Start(i);
  ExpectNothingRemovedFor(absl::Seconds(4), "all mandators restarted");
  ASSERT_TRUE(WaitFor([&] { return AllPublishedHealthy(); }, kWait));

  // 3. Leader change: a new leader starts from the published tables.
  role_.reset();
  role_ = NewRole();
  ExpectNothingRemovedFor(absl::Seconds(3), "new leader");
  EXPECT_TRUE(AllPublishedHealthy());

  // Writes stayed few: the services once, plus state changes.
  const double writes =
      registry_.GetCounter("kess_routes_writes_total", "", {{"result", "ok"}})
          ->Value();
  EXPECT_LE(writes, 20) << "route writes during the whole test";

  // 4. And a really dead instance (its host silent too) is removed.
  {
    absl::MutexLock lock(&alive_mu_);
    alive_[3] = false;  // svc-a i3 on host h3
  }
  ASSERT_TRUE(
      WaitFor([&] { return Published()["svc-a"].count("i3") == 0; }, kWait));
  EXPECT_EQ(Published()["svc-a"].size(), kPerService - 1);
  EXPECT_EQ(Published()["svc-b"].size(), kPerService);
}

// Invariants 9 and 11: the leader's first route-table commits fail — two
// are lost on their way, the next two are applied but lose their answers.
// The lost ones are refused whole and retried next cycle, the unanswered
// ones are read back as committed; the tables reach every instance,
// healthy, with a change record for every revision, and no instance goes
// missing.
TEST_F(RoutesRoleTest, LostRouteCommitsAreRetriedAndRemoveNothing) {
  FaultSpec lost;
  lost.ops = FaultSpec::kMulti;
  lost.path_prefix = layout_->RoutesDir();
  lost.kind = FaultSpec::kConnectionLossBeforeApply;
  lost.count = 2;
  client_->InjectFault(lost);
  FaultSpec unanswered = lost;
  unanswered.kind = FaultSpec::kConnectionLossAfterApply;
  client_->InjectFault(unanswered);

  role_ = NewRole();
  ASSERT_TRUE(WaitFor([&] { return AllPublishedHealthy(); }, kWait));
  ASSERT_TRUE(WaitFor([&] { return zk_.PendingFaults() == 0; }, kWait));
  ExpectNothingRemovedFor(absl::Seconds(1), "after the lost commits");
  EXPECT_TRUE(AllPublishedHealthy());
  EXPECT_EQ(
      registry_
          .GetCounter("kess_routes_writes_total", "", {{"result", "error"}})
          ->Value(),
      2);
  auto summary = zk::ReadRevision(*client_, *layout_);
  ASSERT_TRUE(summary.ok()) << summary.status();
  auto log = client_->GetChildren(layout_->ChangelogDir());
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ(log->children.size(),
            static_cast<size_t>(summary->first.revision()));
}

}  // namespace
}  // namespace routes
}  // namespace mandator
}  // namespace kess
