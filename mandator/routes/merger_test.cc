#include "mandator/routes/merger.h"

#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace kess {
namespace mandator {
namespace routes {
namespace {

constexpr int64_t kNowMs = 1'800'000'000'000;
constexpr int64_t kFresh = 1000;   // ms, well below instance_timeout
constexpr int64_t kStale = 60000;  // ms, well above it
constexpr int64_t kWarm = 3'600'000;

protocol::InstanceInfo Info(const std::string& service, const std::string& id,
                            const std::string& host = "host-1",
                            const std::string& dc = "dc1") {
  protocol::InstanceInfo info;
  info.set_service(service);
  info.set_id(id);
  info.set_host(host);
  info.set_address("127.0.0.1:8080");
  info.set_datacenter(dc);
  info.set_weight(100);
  info.set_health("up");
  return info;
}

class MergerTest : public ::testing::Test {
 public:
  MergerTest() {
    input_.collector_uptime = absl::Hours(1);
    input_.settled_datacenters = {"dc1"};
    input_.now_ms = kNowMs;
    input_.peers.reserve(64);  // Peer() hands out references
  }

  // A mandator of dc1 that answered, up for an hour.
  PeerReport& Peer(const std::string& id, const std::string& dc = "dc1",
                   int64_t uptime_ms = kWarm) {
    PeerReport peer;
    peer.id = id;
    peer.datacenter = dc;
    peer.answered = true;
    peer.table.set_mandator_id(id);
    peer.table.set_datacenter(dc);
    peer.table.set_uptime_ms(uptime_ms);
    input_.peers.push_back(peer);
    return input_.peers.back();
  }

  static void Saw(PeerReport& peer, const protocol::InstanceInfo& info,
                  int64_t age_ms, bool deregistered = false) {
    protocol::InstanceSeen* seen = peer.table.add_instances();
    *seen->mutable_info() = info;
    seen->set_last_heartbeat_age_ms(age_ms);
    seen->set_first_seen_age_ms(age_ms + 5000);
    seen->set_deregistered(deregistered);
  }

  static void Host(PeerReport& peer, const std::string& host, int64_t age_ms) {
    protocol::HostSeen* seen = peer.table.add_hosts();
    seen->set_host_id(host);
    seen->set_last_heartbeat_age_ms(age_ms);
  }

  // A published table of `n` healthy instances i0..i<n-1>, each on its own
  // host h0..
  static RouteTable Table(const std::string& service, int n) {
    RouteTable table;
    table.service = service;
    table.revision = 7;
    for (int i = 0; i < n; ++i) {
      RouteInstance in;
      in.id = absl::StrCat("i", i);
      in.host = absl::StrCat("h", i);
      in.address = "127.0.0.1:8080";
      in.datacenter = "dc1";
      in.registered_ms = kNowMs - 100000;
      table.instances.push_back(in);
    }
    std::sort(table.instances.begin(), table.instances.end(),
              [](const RouteInstance& a, const RouteInstance& b) {
                return a.id < b.id;
              });
    return table;
  }

  MergeResult Run() { return Merge(input_, baseline_, overrides_, options_); }

  static const RouteInstance* Find(const MergeResult& r,
                                   const std::string& service,
                                   const std::string& id) {
    for (const ServiceChange& c : r.changes) {
      if (c.service != service || !c.table.has_value()) continue;
      for (const RouteInstance& in : c.table->instances) {
        if (in.id == id) return &in;
      }
    }
    return nullptr;
  }

  MergeInput input_;
  RouteTables baseline_;
  Overrides overrides_;
  MergeOptions options_;
};

TEST_F(MergerTest, NewInstanceIsAddedHealthy) {
  Saw(Peer("m1"), Info("svc", "a"), kFresh);
  MergeResult r = Run();
  ASSERT_EQ(r.changes.size(), 1u);
  ASSERT_TRUE(r.changes[0].table.has_value());
  const RouteInstance* a = Find(r, "svc", "a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->state, InstanceState::kHealthy);
  EXPECT_EQ(a->registered_ms, kNowMs - kFresh - 5000);
  EXPECT_EQ(r.heartbeat_age_ms["svc"]["a"], kFresh);
}

TEST_F(MergerTest, NoNewInstanceWhileTheLeaderWarmsUpIsStillAdded) {
  input_.collector_uptime = absl::ZeroDuration();
  Saw(Peer("m1", "dc1", 0), Info("svc", "a"), kFresh);
  EXPECT_NE(Find(Run(), "svc", "a"), nullptr);
}

TEST_F(MergerTest, AliveIfAnyMandatorSawAHeartbeat) {
  baseline_["svc"] = Table("svc", 1);
  Saw(Peer("m1"), Info("svc", "i0", "h0"), kStale);
  Saw(Peer("m2"), Info("svc", "i0", "h0"), kFresh);
  MergeResult r = Run();
  EXPECT_TRUE(r.changes.empty());  // unchanged: no write
  EXPECT_EQ(r.stats.healthy, 1);
}

TEST_F(MergerTest, UnchangedInputWritesNothing) {
  baseline_["svc"] = Table("svc", 3);
  PeerReport& m1 = Peer("m1");
  for (int i = 0; i < 3; ++i) {
    Saw(m1, Info("svc", absl::StrCat("i", i), absl::StrCat("h", i)), kFresh);
  }
  EXPECT_TRUE(Run().changes.empty());
}

TEST_F(MergerTest, StaleWithLiveHostIsSuspect) {
  baseline_["svc"] = Table("svc", 3);
  PeerReport& m1 = Peer("m1");
  Saw(m1, Info("svc", "i0", "h0"), kStale);
  Saw(m1, Info("svc", "i1", "h1"), kFresh);
  Saw(m1, Info("svc", "i2", "h2"), kFresh);
  Host(m1, "h0", kFresh);
  MergeResult r = Run();
  ASSERT_NE(Find(r, "svc", "i0"), nullptr);
  EXPECT_EQ(Find(r, "svc", "i0")->state, InstanceState::kSuspect);
  EXPECT_EQ(r.stats.removed, 0);
}

TEST_F(MergerTest, StaleWithStaleHostIsRemoved) {
  baseline_["svc"] = Table("svc", 3);
  PeerReport& m1 = Peer("m1");
  Saw(m1, Info("svc", "i0", "h0"), kStale);
  Saw(m1, Info("svc", "i1", "h1"), kFresh);
  Saw(m1, Info("svc", "i2", "h2"), kFresh);
  Host(m1, "h0", kStale);
  MergeResult r = Run();
  EXPECT_EQ(Find(r, "svc", "i0"), nullptr);
  EXPECT_NE(Find(r, "svc", "i1"), nullptr);
  EXPECT_EQ(r.stats.removed, 1);
}

// Every case in which silence is not evidence: nothing degrades.
TEST_F(MergerTest, IncompleteEvidenceKeepsTheBaselineUnchanged) {
  struct Case {
    const char* name;
    std::function<void(MergerTest*)> setup;
  };
  const std::vector<Case> cases = {
      {"leader warming up",
       [](MergerTest* t) {
         t->input_.collector_uptime = absl::Seconds(2);
         t->Peer("m1");
       }},
      {"a mandator warming up",
       [](MergerTest* t) {
         t->Peer("m1");
         t->Peer("m2", "dc1", 2000);
       }},
      {"a mandator did not answer",
       [](MergerTest* t) {
         t->Peer("m1");
         t->Peer("m2").answered = false;
       }},
      {"DC not settled",
       [](MergerTest* t) {
         t->input_.settled_datacenters.clear();
         t->Peer("m1");
       }},
      {"no mandator in the DC", [](MergerTest* t) { t->Peer("x1", "dc2"); }},
  };
  for (const Case& c : cases) {
    input_.peers.clear();
    input_.collector_uptime = absl::Hours(1);
    input_.settled_datacenters = {"dc1"};
    baseline_["svc"] = Table("svc", 6);
    c.setup(this);
    MergeResult r = Run();
    EXPECT_TRUE(r.changes.empty()) << c.name;
    EXPECT_EQ(r.stats.kept_unproven, 6) << c.name;
    EXPECT_EQ(r.stats.removed, 0) << c.name;
  }
}

TEST_F(MergerTest, AllMandatorsRestartedRemoveNothingAndNewLeaderKeepsAll) {
  // A new leader: baseline loaded from ZooKeeper, every mandator just
  // restarted and has heard from nobody yet.
  baseline_["a"] = Table("a", 10);
  baseline_["b"] = Table("b", 1);
  input_.collector_uptime = absl::Seconds(1);
  Peer("m1", "dc1", 500);
  Peer("m2", "dc1", 800);
  Peer("m3", "dc1", 300);
  MergeResult r = Run();
  EXPECT_TRUE(r.changes.empty());
  EXPECT_EQ(r.stats.kept_unproven, 11);
}

TEST_F(MergerTest, ProtectionThresholdLimitsRemovalsPerCycle) {
  baseline_["svc"] = Table("svc", 9);
  PeerReport& m1 = Peer("m1");
  for (int i = 0; i < 9; ++i) {
    // i0..i5 stale (i0 the longest), i6..i8 fresh.
    Saw(m1, Info("svc", absl::StrCat("i", i), absl::StrCat("h", i)),
        i < 6 ? kStale + (6 - i) * 1000 : kFresh);
  }
  MergeResult r = Run();
  EXPECT_EQ(r.stats.removed, 3);  // floor(9 / 3)
  EXPECT_EQ(r.stats.held_back, 3);
  EXPECT_EQ(Find(r, "svc", "i0"), nullptr);
  EXPECT_EQ(Find(r, "svc", "i2"), nullptr);
  ASSERT_NE(Find(r, "svc", "i3"), nullptr);
  EXPECT_EQ(Find(r, "svc", "i3")->state, InstanceState::kSuspect);

  // The next cycle starts from the result: another third of what is left.
  baseline_["svc"] = *r.changes[0].table;
  r = Run();
  EXPECT_EQ(r.stats.removed, 2);  // floor(6 / 3)
}

TEST_F(MergerTest, AtLeastOneRemovalPerCycleForSmallServices) {
  baseline_["svc"] = Table("svc", 2);
  PeerReport& m1 = Peer("m1");
  Saw(m1, Info("svc", "i0", "h0"), kStale);
  Saw(m1, Info("svc", "i1", "h1"), kFresh);
  MergeResult r = Run();
  EXPECT_EQ(r.stats.removed, 1);
  EXPECT_EQ(Find(r, "svc", "i0"), nullptr);
}

TEST_F(MergerTest, NeverEmptiesAServiceByHeartbeatLoss) {
  baseline_["one"] = Table("one", 1);
  baseline_["two"] = Table("two", 2);
  Peer("m1");  // reports nothing at all
  options_.max_removal_share = 1.0;
  MergeResult r = Run();
  EXPECT_EQ(r.stats.removed, 1);  // from "two"; "one" keeps its only one
  EXPECT_EQ(r.stats.held_back, 2);
  ASSERT_EQ(r.changes.size(), 2u);
  for (const ServiceChange& c : r.changes) {
    ASSERT_TRUE(c.table.has_value()) << c.service;
    ASSERT_EQ(c.table->instances.size(), 1u) << c.service;
    EXPECT_EQ(c.table->instances[0].state, InstanceState::kSuspect);
  }
  // And the cycles after keep them.
  for (const ServiceChange& c : r.changes) baseline_[c.service] = *c.table;
  r = Run();
  EXPECT_EQ(r.stats.removed, 0);
  EXPECT_TRUE(r.changes.empty());
}

// Checks: a fresh instance reported critical is suspect, with its output.
TEST_F(MergerTest, CriticalChecksMakeAnInstanceSuspect) {
  baseline_["svc"] = Table("svc", 3);
  PeerReport& m1 = Peer("m1");
  for (int i = 0; i < 3; ++i) {
    protocol::InstanceInfo info =
        Info("svc", absl::StrCat("i", i), absl::StrCat("h", i));
    if (i == 1) {
      info.set_check_status("critical");
      info.set_check_output("HTTP GET http://127.0.0.1:8080/: timed out");
    } else if (i == 2) {
      info.set_check_status("warning");
    }
    Saw(m1, info, kFresh);
  }
  MergeResult r = Run();
  ASSERT_NE(Find(r, "svc", "i1"), nullptr);
  EXPECT_EQ(Find(r, "svc", "i1")->state, InstanceState::kSuspect);
  EXPECT_EQ(Find(r, "svc", "i1")->check_output,
            "HTTP GET http://127.0.0.1:8080/: timed out");
  EXPECT_EQ(Find(r, "svc", "i2")->state, InstanceState::kHealthy);  // warning
  EXPECT_EQ(Find(r, "svc", "i0")->state, InstanceState::kHealthy);
  EXPECT_EQ(r.stats.critical, 1);
  EXPECT_EQ(r.stats.critical_held_back, 0);

  // Passing again: healthy again.
  baseline_["svc"] = *r.changes[0].table;
  input_.peers.clear();
  PeerReport& again = Peer("m1");
  for (int i = 0; i < 3; ++i) {
    protocol::InstanceInfo info =
        Info("svc", absl::StrCat("i", i), absl::StrCat("h", i));
    info.set_check_status("passing");
    Saw(again, info, kFresh);
  }
  r = Run();
  EXPECT_EQ(Find(r, "svc", "i1")->state, InstanceState::kHealthy);
  EXPECT_EQ(r.stats.critical, 0);
}

// Checks failing en masse: at most the threshold's share is suspect, never
// the last healthy one, and the same ones keep their place across cycles.
TEST_F(MergerTest, CriticalChecksEnMasseStayWithinTheThreshold) {
  baseline_["svc"] = Table("svc", 9);
  auto report_all_critical = [this] {
    input_.peers.clear();
    PeerReport& m1 = Peer("m1");
    for (int i = 0; i < 9; ++i) {
      protocol::InstanceInfo info =
          Info("svc", absl::StrCat("i", i), absl::StrCat("h", i));
      info.set_check_status("critical");
      Saw(m1, info, kFresh);
    }
  };
  report_all_critical();
  MergeResult r = Run();
  EXPECT_EQ(r.stats.critical, 3);  // floor(9 / 3)
  EXPECT_EQ(r.stats.critical_held_back, 6);
  EXPECT_EQ(r.stats.healthy, 6);
  ASSERT_EQ(r.changes.size(), 1u);
  std::set<std::string> suspect;
  for (const RouteInstance& in : r.changes[0].table->instances) {
    EXPECT_EQ(in.check_status, "critical");
    if (in.state == InstanceState::kSuspect) suspect.insert(in.id);
  }
  EXPECT_EQ(suspect, (std::set<std::string>{"i0", "i1", "i2"}));

  // Next cycle (the published table as baseline): i0 passes again; the
  // suspect ones stay, the freed place goes to the next by id.
  baseline_["svc"] = *r.changes[0].table;
  report_all_critical();
  input_.peers[0].table.mutable_instances(0)->mutable_info()->set_check_status(
      "passing");
  r = Run();
  ASSERT_EQ(r.changes.size(), 1u);
  suspect.clear();
  for (const RouteInstance& in : r.changes[0].table->instances) {
    if (in.state == InstanceState::kSuspect) suspect.insert(in.id);
  }
  EXPECT_EQ(suspect, (std::set<std::string>{"i1", "i2", "i3"}));
}

// One budget: instances suspect for their heartbeats (or removed) use up
// the threshold before any is made suspect for its checks.
TEST_F(MergerTest, CriticalChecksShareTheBudgetWithStaleInstances) {
  baseline_["svc"] = Table("svc", 6);  // budget: floor(6 / 3) = 2
  PeerReport& m1 = Peer("m1");
  for (int i = 0; i < 6; ++i) {
    protocol::InstanceInfo info =
        Info("svc", absl::StrCat("i", i), absl::StrCat("h", i));
    if (i >= 2) info.set_check_status("critical");
    Saw(m1, info, i < 2 ? kStale : kFresh);
  }
  Host(m1, "h0", kFresh);  // i0: suspect for its heartbeats
  Host(m1, "h1", kStale);  // i1: removed
  MergeResult r = Run();
  EXPECT_EQ(r.stats.removed, 1);
  EXPECT_EQ(Find(r, "svc", "i0")->state, InstanceState::kSuspect);
  EXPECT_EQ(r.stats.critical, 0);  // the budget is spent
  EXPECT_EQ(r.stats.critical_held_back, 4);
  for (int i = 2; i < 6; ++i) {
    EXPECT_EQ(Find(r, "svc", absl::StrCat("i", i))->state,
              InstanceState::kHealthy);
  }

  // Only one suspect for its heartbeats: one place is left.
  baseline_["svc"] = Table("svc", 6);
  input_.peers.clear();
  PeerReport& again = Peer("m1");
  for (int i = 0; i < 6; ++i) {
    protocol::InstanceInfo info =
        Info("svc", absl::StrCat("i", i), absl::StrCat("h", i));
    if (i >= 2) info.set_check_status("critical");
    Saw(again, info, i < 1 ? kStale : kFresh);
  }
  Host(again, "h0", kFresh);
  r = Run();
  EXPECT_EQ(r.stats.critical, 1);
  EXPECT_EQ(Find(r, "svc", "i2")->state, InstanceState::kSuspect);
  EXPECT_EQ(Find(r, "svc", "i3")->state, InstanceState::kHealthy);
}

// Many critical instances against a large baseline: the demotion order is
// decided with one lookup per instance (this took seconds with a scan of
// the baseline in the sort's comparator).
TEST_F(MergerTest, CriticalChecksScaleToLargeServices) {
  constexpr int kSize = 20000;
  baseline_["svc"] = Table("svc", kSize);
  PeerReport& m1 = Peer("m1");
  for (int i = 0; i < kSize; ++i) {
    protocol::InstanceInfo info =
        Info("svc", absl::StrCat("i", i), absl::StrCat("h", i));
    info.set_check_status("critical");
    Saw(m1, info, kFresh);
  }
  const absl::Time start = absl::Now();
  MergeResult r = Run();
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(r.stats.critical, kSize / 3);
  EXPECT_EQ(r.stats.critical_held_back, kSize - kSize / 3);
  // Generous for a loaded machine; the linear scan needed minutes here.
  EXPECT_LT(took, absl::Seconds(30)) << took;
}

TEST_F(MergerTest, CriticalChecksNeverTakeTheLastHealthyInstance) {
  baseline_["svc"] = Table("svc", 1);
  protocol::InstanceInfo info = Info("svc", "i0", "h0");
  info.set_check_status("critical");
  Saw(Peer("m1"), info, kFresh);
  MergeResult r = Run();
  ASSERT_NE(Find(r, "svc", "i0"), nullptr);  // changed: check_status
  EXPECT_EQ(Find(r, "svc", "i0")->state, InstanceState::kHealthy);
  EXPECT_EQ(Find(r, "svc", "i0")->check_status, "critical");
  EXPECT_EQ(r.stats.critical_held_back, 1);

  // Two instances, both critical: one is suspect, one stays healthy.
  baseline_["svc"] = Table("svc", 2);
  input_.peers.clear();
  PeerReport& m1 = Peer("m1");
  for (int i = 0; i < 2; ++i) {
    protocol::InstanceInfo c =
        Info("svc", absl::StrCat("i", i), absl::StrCat("h", i));
    c.set_check_status("critical");
    Saw(m1, c, kFresh);
  }
  r = Run();
  EXPECT_EQ(r.stats.critical, 1);
  EXPECT_EQ(r.stats.healthy, 1);
}

TEST_F(MergerTest, DeregistrationsAreImmediateAndMayEmptyTheService) {
  baseline_["svc"] = Table("svc", 6);
  PeerReport& m1 = Peer("m1", "dc1", 10);  // even while warming up
  for (int i = 0; i < 6; ++i) {
    Saw(m1, Info("svc", absl::StrCat("i", i)), kFresh, /*deregistered=*/true);
  }
  MergeResult r = Run();
  ASSERT_EQ(r.changes.size(), 1u);
  EXPECT_FALSE(r.changes[0].table.has_value());  // delete
  EXPECT_EQ(r.stats.deregistered, 6);
}

TEST_F(MergerTest, DeregistrationsDoNotCountAgainstTheThreshold) {
  baseline_["svc"] = Table("svc", 6);
  PeerReport& m1 = Peer("m1");
  for (int i = 0; i < 4; ++i) {
    Saw(m1, Info("svc", absl::StrCat("i", i)), kFresh, true);
  }
  // i4, i5 stale with dead hosts: one more removal allowed (floor(6/3)=2).
  MergeResult r = Run();
  EXPECT_EQ(r.stats.deregistered, 4);
  EXPECT_EQ(r.stats.removed, 1);  // the other would empty the service
  EXPECT_EQ(r.stats.held_back, 1);
}

TEST_F(MergerTest, ReRegistrationElsewhereWinsOverAnOlderDeregistration) {
  baseline_["svc"] = Table("svc", 1);
  Saw(Peer("m1"), Info("svc", "i0", "h0"), 3000, /*deregistered=*/true);
  Saw(Peer("m2"), Info("svc", "i0", "h0"), 500);
  MergeResult r = Run();
  EXPECT_TRUE(r.changes.empty());
  EXPECT_EQ(r.stats.healthy, 1);
}

// Owned reports: m1 and m2 hold i0 for its host h0; m3 (which did not hold
// it) bound it to another host that registered it with its own address.
void SawOwned(PeerReport& peer, protocol::InstanceInfo info,
              const std::string& owner, int64_t age_ms,
              bool deregistered = false) {
  protocol::InstanceSeen* seen = peer.table.add_instances();
  *seen->mutable_info() = std::move(info);
  seen->set_last_heartbeat_age_ms(age_ms);
  seen->set_first_seen_age_ms(age_ms + 5000);
  seen->set_deregistered(deregistered);
  seen->set_owner(owner);
}

protocol::InstanceInfo Evil(const std::string& id) {
  protocol::InstanceInfo info = Info("svc", id, "evil");
  info.set_address("127.0.0.66:6666");
  info.set_weight(10000);
  return info;
}

TEST_F(MergerTest, AnotherHostsFresherReportDoesNotReplaceThePublishedOne) {
  baseline_["svc"] = Table("svc", 2);
  SawOwned(Peer("m1"), Info("svc", "i0", "h0"), "kess://host/h0", 900);
  SawOwned(Peer("m2"), Info("svc", "i0", "h0"), "kess://host/h0", 800);
  SawOwned(Peer("m3"), Evil("i0"), "kess://host/evil", 0);
  Saw(input_.peers[0], Info("svc", "i1", "h1"), kFresh);
  MergeResult r = Run();
  EXPECT_TRUE(r.changes.empty());
  EXPECT_EQ(r.stats.foreign_reports, 1);
  EXPECT_EQ(r.stats.healthy, 2);
}

TEST_F(MergerTest, AnotherHostsTombstoneDoesNotRemoveThePublishedOne) {
  baseline_["svc"] = Table("svc", 2);
  SawOwned(Peer("m1"), Info("svc", "i0", "h0"), "kess://host/h0", 900);
  SawOwned(Peer("m3"), Evil("i0"), "kess://host/evil", 0,
           /*deregistered=*/true);
  Saw(input_.peers[0], Info("svc", "i1", "h1"), kFresh);
  MergeResult r = Run();
  EXPECT_TRUE(r.changes.empty());
  EXPECT_EQ(r.stats.deregistered, 0);
  EXPECT_EQ(r.stats.foreign_reports, 1);
}

TEST_F(MergerTest, AnotherHostsReportAloneDoesNotKeepAStaleInstanceAlive) {
  baseline_["svc"] = Table("svc", 3);
  PeerReport& m1 = Peer("m1");
  Saw(m1, Info("svc", "i1", "h1"), kFresh);
  Saw(m1, Info("svc", "i2", "h2"), kFresh);
  Host(m1, "h0", kFresh);  // its host lives: suspect
  SawOwned(Peer("m3"), Evil("i0"), "kess://host/evil", 0);
  MergeResult r = Run();
  const RouteInstance* i0 = Find(r, "svc", "i0");
  ASSERT_NE(i0, nullptr);
  EXPECT_EQ(i0->state, InstanceState::kSuspect);
  EXPECT_EQ(i0->host, "h0");
  EXPECT_EQ(i0->address, "127.0.0.1:8080");
}

TEST_F(MergerTest, TheOwnerAndTheServiceMayStillChangeOrRemoveIt) {
  baseline_["svc"] = Table("svc", 3);
  // The owner restarts with another address: taken.
  protocol::InstanceInfo moved = Info("svc", "i0", "h0");
  moved.set_address("127.0.0.1:9090");
  SawOwned(Peer("m1"), moved, "kess://host/h0", 0);
  // The service's own principal moves i1 to another host: taken.
  SawOwned(input_.peers[0], Info("svc", "i1", "h9"), "kess://service/svc", 0);
  // The owner deregisters i2: removed at once.
  SawOwned(input_.peers[0], Info("svc", "i2", "h2"), "kess://host/h2", 0,
           /*deregistered=*/true);
  MergeResult r = Run();
  EXPECT_EQ(r.stats.foreign_reports, 0);
  EXPECT_EQ(r.stats.deregistered, 1);
  ASSERT_NE(Find(r, "svc", "i0"), nullptr);
  EXPECT_EQ(Find(r, "svc", "i0")->address, "127.0.0.1:9090");
  ASSERT_NE(Find(r, "svc", "i1"), nullptr);
  EXPECT_EQ(Find(r, "svc", "i1")->host, "h9");
  EXPECT_EQ(Find(r, "svc", "i2"), nullptr);
}

TEST_F(MergerTest, ReportsWithoutOwnerAreTakenAsBefore) {
  // Rights off, or a mandator that predates InstanceSeen.owner.
  baseline_["svc"] = Table("svc", 2);
  SawOwned(Peer("m1"), Info("svc", "i0", "h0"), "kess://host/h0", 900);
  Saw(Peer("m2"), Evil("i0"), 0);
  Saw(input_.peers[0], Info("svc", "i1", "h1"), kFresh);
  MergeResult r = Run();
  EXPECT_EQ(r.stats.foreign_reports, 0);
  ASSERT_NE(Find(r, "svc", "i0"), nullptr);
  EXPECT_EQ(Find(r, "svc", "i0")->host, "evil");
}

TEST_F(MergerTest, AnInstanceNotPublishedYetTakesAnyOwner) {
  SawOwned(Peer("m1"), Info("svc", "a", "h0"), "kess://host/h0", 0);
  MergeResult r = Run();
  EXPECT_EQ(r.stats.foreign_reports, 0);
  EXPECT_NE(Find(r, "svc", "a"), nullptr);
}

TEST_F(MergerTest, OverridesSurviveHeartbeats) {
  PeerReport& m1 = Peer("m1");
  Saw(m1, Info("svc", "a"), kFresh);
  Saw(m1, Info("svc", "b"), kFresh);
  overrides_["svc"]["a"].weight = 5;
  overrides_["svc"]["b"].disabled = true;
  MergeResult r = Run();
  EXPECT_EQ(Find(r, "svc", "a")->weight, 5);
  EXPECT_EQ(Find(r, "svc", "b")->state, InstanceState::kDisabled);
  // The next cycle with the same heartbeats changes nothing.
  baseline_["svc"] = *r.changes[0].table;
  EXPECT_TRUE(Run().changes.empty());
}

TEST_F(MergerTest, InvalidReportsAreIgnored) {
  protocol::InstanceInfo bad = Info("svc", "a");
  bad.set_weight(0);
  Saw(Peer("m1"), bad, kFresh);
  EXPECT_TRUE(Run().changes.empty());
}

TEST_F(MergerTest, HundredThousandInstancesFromSixMandators) {
  // 1,000 services x 100 instances, each reported by 2 of 6 mandators.
  for (int m = 0; m < 6; ++m) Peer(absl::StrCat("m", m));
  int n = 0;
  for (int s = 0; s < 1000; ++s) {
    for (int i = 0; i < 100; ++i, ++n) {
      protocol::InstanceInfo info =
          Info(absl::StrCat("svc-", s), absl::StrCat("i", i),
               absl::StrCat("h", n % 5000));
      Saw(input_.peers[n % 6], info, kFresh);
      Saw(input_.peers[(n + 1) % 6], info, kFresh + 10);
    }
  }
  MergeResult r = Run();
  EXPECT_EQ(r.changes.size(), 1000u);
  EXPECT_EQ(r.stats.healthy, 100000);
  // Second cycle on the published result: nothing to write.
  for (const ServiceChange& c : r.changes) baseline_[c.service] = *c.table;
  EXPECT_TRUE(Run().changes.empty());
}

}  // namespace
}  // namespace routes
}  // namespace mandator
}  // namespace kess
