// sdk::Registration against three real schedulers (mandator/scheduler) in
// this process, over the transport on 127.0.0.1 with ephemeral ports.
// Timeouts only bound "did not hang".
#include "sdk/registration.h"

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/metrics.h"
#include "common/rendezvous.h"
#include "common/testing/wait_for.h"
#include "common/transport/event_loop.h"
#include "gtest/gtest.h"
#include "mandator/scheduler/scheduler.h"

namespace kess {
namespace {

using mandator::scheduler::Scheduler;
using testing::WaitFor;

constexpr absl::Duration kWait = absl::Seconds(20);

class RegistrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 3; ++i) {
      registries_.push_back(std::make_unique<metrics::Registry>());
      ports_.push_back(0);
      servers_.push_back(nullptr);
      StartServer(i);
      addresses_.push_back(servers_[i]->address());
    }
  }

  void StartServer(int i) {
    mandator::scheduler::SchedulerOptions o;
    o.mandator_id = absl::StrCat("m", i);
    o.datacenter = "dc1";
    o.port = ports_[i];  // the same port again after a restart
    o.num_loops = 1;
    o.registry = registries_[i].get();
    auto s = Scheduler::Create(o);
    ASSERT_TRUE(s.ok()) << s.status();
    servers_[i] = std::move(s).value();
    ports_[i] = servers_[i]->port();
  }

  sdk::RegistrationOptions Options(const std::string& id) {
    sdk::RegistrationOptions o;
    o.mandators = addresses_;
    o.instance.service = "checkout";
    o.instance.id = id;
    o.instance.host = "web-1";
    o.instance.address = "127.0.0.1:8080";
    o.instance.datacenter = "dc1";
    o.instance.metadata["version"] = "1.0";
    o.heartbeat_interval = absl::Milliseconds(100);
    o.call_timeout = absl::Seconds(2);
    o.return_interval = absl::Milliseconds(500);
    o.registry = &sdk_registry_;
    return o;
  }

  // The indexes of the two servers HRW prefers for `id`.
  std::set<int> Preferred(const std::string& id) {
    std::vector<std::string> order =
        RendezvousOrder(absl::StrCat("checkout/", id), addresses_);
    std::set<int> out;
    for (int k = 0; k < 2; ++k) {
      for (int i = 0; i < 3; ++i) {
        if (addresses_[i] == order[k]) out.insert(i);
      }
    }
    return out;
  }

  // The instance as server i sees it; nullptr if it does not.
  std::unique_ptr<protocol::InstanceSeen> Seen(int i, const std::string& id) {
    if (servers_[i] == nullptr) return nullptr;
    protocol::PartialTable t = servers_[i]->table().Snapshot(0, nullptr);
    for (const auto& seen : t.instances()) {
      if (seen.info().id() == id) {
        return std::make_unique<protocol::InstanceSeen>(seen);
      }
    }
    return nullptr;
  }
  bool Live(int i, const std::string& id) {
    auto seen = Seen(i, id);
    return seen != nullptr && !seen->deregistered();
  }
  std::set<int> Holding(const std::string& id) {
    std::set<int> out;
    for (int i = 0; i < 3; ++i) {
      if (Live(i, id)) out.insert(i);
    }
    return out;
  }
  std::set<int> Registered(const sdk::Registration& r) {
    std::set<int> out;
    for (const std::string& a : r.state().registered) {
      for (int i = 0; i < 3; ++i) {
        if (addresses_[i] == a) out.insert(i);
      }
    }
    return out;
  }

  metrics::Registry sdk_registry_;
  std::vector<std::unique_ptr<metrics::Registry>> registries_;
  std::vector<int> ports_;
  std::vector<std::unique_ptr<Scheduler>> servers_;
  std::vector<std::string> addresses_;
};

TEST_F(RegistrationTest, PicksTwoByHrwStableAcrossRestarts) {
  const std::set<int> preferred = Preferred("c-1");
  for (int run = 0; run < 2; ++run) {
    auto r = sdk::Registration::Create(Options("c-1"));
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE((*r)->WaitRegistered(2, kWait).ok());
    EXPECT_EQ(Registered(**r), preferred) << "run " << run;
    EXPECT_EQ(Holding("c-1"), preferred) << "run " << run;
    EXPECT_TRUE((*r)->Deregister().ok());
  }
  // Instances spread over all three mandators.
  std::set<int> firsts;
  for (int k = 0; k < 30; ++k) {
    std::set<int> p = Preferred(absl::StrCat("c-", k));
    firsts.insert(p.begin(), p.end());
  }
  EXPECT_EQ(firsts.size(), 3u);
}

TEST_F(RegistrationTest, HeartbeatsRefreshAndUnknownReRegisters) {
  auto r = sdk::Registration::Create(Options("c-2"));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE((*r)->WaitRegistered(2, kWait).ok());
  const int i = *Preferred("c-2").begin();
  absl::SleepFor(absl::Milliseconds(300));
  auto seen = Seen(i, "c-2");
  ASSERT_NE(seen, nullptr);
  EXPECT_LT(seen->last_heartbeat_age_ms(), 5000);  // heartbeats arrive
  EXPECT_GT(seen->first_seen_age_ms(), seen->last_heartbeat_age_ms());

  // The mandator forgets it (a tombstone answers "unknown"): the next
  // heartbeat brings a registration.
  google::protobuf::RepeatedPtrField<protocol::InstanceRef> refs;
  refs.Add()->set_service("checkout");
  refs[0].set_id("c-2");
  ASSERT_EQ(servers_[i]->table().Deregister(refs), 1u);
  EXPECT_TRUE(WaitFor([&] { return Live(i, "c-2"); }, kWait));
}

TEST_F(RegistrationTest, HealthAndWeightReachBothMandators) {
  sdk::RegistrationOptions o = Options("c-3");
  o.instance.health = "warming_up";
  auto r = sdk::Registration::Create(o);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE((*r)->WaitRegistered(2, kWait).ok());
  for (int i : Preferred("c-3")) {
    EXPECT_EQ(Seen(i, "c-3")->info().health(), "warming_up");
  }
  ASSERT_TRUE((*r)->SetHealth("up").ok());
  ASSERT_TRUE((*r)->SetWeight(250).ok());
  for (int i : Preferred("c-3")) {
    EXPECT_TRUE(WaitFor(
        [&] {
          auto s = Seen(i, "c-3");
          return s->info().health() == "up" && s->info().weight() == 250;
        },
        kWait));
  }
  EXPECT_EQ((*r)->SetWeight(0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*r)->SetWeight(-3).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*r)->SetHealth("Warming Up").code(),
            absl::StatusCode::kInvalidArgument);
}

// Many Registrations on one shared loop (what the host agent does), each
// with its own check status; SetInstance replaces the rest but not the
// identity.
TEST_F(RegistrationTest, SharedLoopCheckStatusAndSetInstance) {
  auto loop = transport::EventLoop::Create("test-register");
  ASSERT_TRUE(loop.ok()) << loop.status();
  std::vector<std::unique_ptr<sdk::Registration>> regs;
  for (int k = 0; k < 20; ++k) {
    sdk::RegistrationOptions o = Options(absl::StrCat("shared-", k));
    o.loop = loop->get();
    auto r = sdk::Registration::Create(o);
    ASSERT_TRUE(r.ok()) << r.status();
    regs.push_back(std::move(r).value());
  }
  for (auto& r : regs) ASSERT_TRUE(r->WaitRegistered(2, kWait).ok());
  ASSERT_TRUE(regs[0]->SetCheckStatus("critical", "HTTP GET /: timed out").ok());
  for (int i : Preferred("shared-0")) {
    EXPECT_TRUE(WaitFor(
        [&] {
          auto s = Seen(i, "shared-0");
          return s != nullptr && s->info().check_status() == "critical" &&
                 s->info().check_output() == "HTTP GET /: timed out";
        },
        kWait));
  }
  EXPECT_EQ(regs[0]->SetCheckStatus("dead", "").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(regs[0]->SetCheckStatus("passing", "bell\x07").code(),
            absl::StatusCode::kInvalidArgument);

  sdk::Instance next = Options("shared-1").instance;
  next.address = "127.0.0.1:9090";
  next.weight = 7;
  ASSERT_TRUE(regs[1]->SetInstance(next).ok());
  for (int i : Preferred("shared-1")) {
    EXPECT_TRUE(WaitFor(
        [&] {
          auto s = Seen(i, "shared-1");
          return s != nullptr && s->info().address() == "127.0.0.1:9090" &&
                 s->info().weight() == 7;
        },
        kWait));
  }
  next.host = "web-2";
  EXPECT_EQ(regs[1]->SetInstance(next).code(),
            absl::StatusCode::kInvalidArgument);

  // Destroyed one by one while the loop goes on: each deregisters.
  regs.resize(10);
  for (int k = 10; k < 20; ++k) {
    EXPECT_TRUE(WaitFor(
        [&] { return Holding(absl::StrCat("shared-", k)).empty(); }, kWait))
        << k;
  }
  regs.clear();
}

TEST_F(RegistrationTest, MovesToTheThirdWhenOneDiesAndComesBack) {
  const std::set<int> preferred = Preferred("c-4");
  int third = 0;
  while (preferred.count(third)) ++third;
  const int victim = *preferred.begin();
  auto r = sdk::Registration::Create(Options("c-4"));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE((*r)->WaitRegistered(2, kWait).ok());

  servers_[victim].reset();  // its connections close
  std::set<int> moved = preferred;
  moved.erase(victim);
  moved.insert(third);
  EXPECT_TRUE(WaitFor([&] { return Registered(**r) == moved; }, kWait))
      << "registered at " << Registered(**r).size();
  EXPECT_TRUE(Live(third, "c-4"));
  EXPECT_EQ((*r)->state().switches, 1);

  // It comes back on its port: after return_interval the SDK returns to it.
  StartServer(victim);
  EXPECT_TRUE(WaitFor(
      [&] {
        sdk::RegistrationState s = (*r)->state();
        return Registered(**r) == preferred && s.targets.size() == 2;
      },
      kWait));
  EXPECT_TRUE(Live(victim, "c-4"));
  // The third is no longer heartbeated (it ages and is forgotten later).
  auto before = Seen(third, "c-4");
  absl::SleepFor(absl::Milliseconds(400));
  auto after = Seen(third, "c-4");
  ASSERT_TRUE(before && after);
  EXPECT_GE(after->last_heartbeat_age_ms(),
            before->last_heartbeat_age_ms() + 300);
}

TEST_F(RegistrationTest, DeregisterReachesBoth) {
  const std::set<int> preferred = Preferred("c-5");
  auto r = sdk::Registration::Create(Options("c-5"));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE((*r)->WaitRegistered(2, kWait).ok());
  EXPECT_TRUE((*r)->Deregister().ok());
  for (int i : preferred) {
    auto seen = Seen(i, "c-5");
    ASSERT_NE(seen, nullptr);
    EXPECT_TRUE(seen->deregistered()) << "server " << i;
  }
  EXPECT_TRUE((*r)->state().deregistered);
  EXPECT_EQ((*r)->SetHealth("up").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE((*r)->Deregister().ok());  // the first call's result
}

TEST_F(RegistrationTest, DestructorDeregistersAndIsBoundedWhenAllAreDown) {
  {
    auto r = sdk::Registration::Create(Options("c-6"));
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE((*r)->WaitRegistered(2, kWait).ok());
  }
  for (int i : Preferred("c-6")) {
    ASSERT_NE(Seen(i, "c-6"), nullptr);
    EXPECT_TRUE(Seen(i, "c-6")->deregistered());
  }
  auto r = sdk::Registration::Create(Options("c-7"));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE((*r)->WaitRegistered(2, kWait).ok());
  for (auto& s : servers_) s.reset();
  const absl::Time start = absl::Now();
  r->reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(15));  // did not hang
}

TEST_F(RegistrationTest, CreateRejectsBadOptions) {
  sdk::RegistrationOptions o = Options("c-8");
  o.mandators.clear();
  EXPECT_EQ(sdk::Registration::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = Options("../c");
  EXPECT_EQ(sdk::Registration::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = Options("c-8");
  o.instance.weight = 0;
  EXPECT_EQ(sdk::Registration::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = Options("c-8");
  o.mandators.push_back("no-port");
  EXPECT_EQ(sdk::Registration::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kess
