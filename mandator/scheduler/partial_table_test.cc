// PartialTable on a ManualClock. The table reads time only through
// Clock (common/clock.h), so a wall-clock jump cannot change an age: the fake
// clock makes that true by construction (the test WallClockJumpChangesNothing
// shows ages follow only the monotonic clock).
#include "mandator/scheduler/partial_table.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace kess {
namespace mandator {
namespace scheduler {
namespace {

using google::protobuf::RepeatedPtrField;

protocol::InstanceInfo Info(const std::string& service, const std::string& id) {
  protocol::InstanceInfo info;
  info.set_service(service);
  info.set_id(id);
  info.set_host("host-1");
  info.set_address("127.0.0.1:8080");
  info.set_datacenter("dc1");
  info.set_weight(100);
  info.set_health("up");
  return info;
}

RepeatedPtrField<protocol::InstanceInfo> Infos(
    std::vector<protocol::InstanceInfo> v) {
  RepeatedPtrField<protocol::InstanceInfo> out;
  for (auto& i : v) *out.Add() = std::move(i);
  return out;
}

InstanceRefs Refs(std::vector<std::pair<std::string, std::string>> v) {
  InstanceRefs out;
  for (auto& [s, id] : v) {
    protocol::InstanceRef* r = out.Add();
    r->set_service(s);
    r->set_id(id);
  }
  return out;
}

const protocol::InstanceSeen* Find(const protocol::PartialTable& t,
                                   const std::string& service,
                                   const std::string& id) {
  for (const auto& seen : t.instances()) {
    if (seen.info().service() == service && seen.info().id() == id) {
      return &seen;
    }
  }
  return nullptr;
}

class PartialTableTest : public ::testing::Test {
 protected:
  PartialTableOptions Options() {
    PartialTableOptions o;
    o.expire_after = absl::Seconds(50);
    o.tombstone_ttl = absl::Seconds(30);
    return o;
  }
  ManualClock clock_;
};

TEST_F(PartialTableTest, RegisterThenHeartbeatRefreshesAges) {
  PartialTable table(&clock_, Options());
  ASSERT_TRUE(table.Register(Infos({Info("svc", "a"), Info("svc", "b")})).ok());
  EXPECT_EQ(table.instance_count(), 2u);
  clock_.Advance(4000);
  InstanceRefs unknown;
  EXPECT_EQ(table.Heartbeat(Refs({{"svc", "a"}}), "", &unknown), 1u);
  EXPECT_EQ(unknown.size(), 0);
  clock_.Advance(1000);
  protocol::PartialTable t = table.Snapshot(0, nullptr);
  ASSERT_EQ(t.instances_size(), 2);
  EXPECT_EQ(Find(t, "svc", "a")->last_heartbeat_age_ms(), 1000);
  EXPECT_EQ(Find(t, "svc", "a")->first_seen_age_ms(), 5000);
  EXPECT_EQ(Find(t, "svc", "b")->last_heartbeat_age_ms(), 5000);
  EXPECT_FALSE(Find(t, "svc", "a")->deregistered());
  EXPECT_EQ(t.uptime_ms(), 5000);
}

TEST_F(PartialTableTest, HeartbeatSetsHealth) {
  PartialTable table(&clock_, Options());
  ASSERT_TRUE(table.Register(Infos({Info("svc", "a")})).ok());
  InstanceRefs unknown;
  table.Heartbeat(Refs({{"svc", "a"}}), "warming_up", &unknown);
  EXPECT_EQ(Find(table.Snapshot(0, nullptr), "svc", "a")->info().health(),
            "warming_up");
  table.Heartbeat(Refs({{"svc", "a"}}), "", &unknown);  // "" = unchanged
  EXPECT_EQ(Find(table.Snapshot(0, nullptr), "svc", "a")->info().health(),
            "warming_up");
}

TEST_F(PartialTableTest, UnknownInstancesAreReportedThenReRegister) {
  PartialTable table(&clock_, Options());
  ASSERT_TRUE(table.Register(Infos({Info("svc", "a")})).ok());
  InstanceRefs unknown;
  EXPECT_EQ(table.Heartbeat(Refs({{"svc", "a"}, {"svc", "x"}, {"other", "a"}}),
                            "", &unknown),
            1u);
  ASSERT_EQ(unknown.size(), 2);
  EXPECT_EQ(unknown[0].id(), "x");
  EXPECT_EQ(unknown[1].service(), "other");
  // The SDK re-registers what was unknown; then its heartbeats count.
  ASSERT_TRUE(table.Register(Infos({Info("svc", "x")})).ok());
  unknown.Clear();
  EXPECT_EQ(table.Heartbeat(Refs({{"svc", "x"}}), "", &unknown), 1u);
  EXPECT_EQ(unknown.size(), 0);
}

TEST_F(PartialTableTest, DeregisterKeepsTombstoneThenForgets) {
  PartialTable table(&clock_, Options());
  ASSERT_TRUE(table.Register(Infos({Info("svc", "a"), Info("svc", "b")})).ok());
  EXPECT_EQ(table.Deregister(Refs({{"svc", "a"}, {"svc", "nope"}})), 1u);
  EXPECT_EQ(table.Deregister(Refs({{"svc", "a"}})), 0u);  // already
  EXPECT_EQ(table.instance_count(), 1u);
  EXPECT_EQ(table.tombstone_count(), 1u);
  // The tombstone is what the leader reads, for tombstone_ttl.
  clock_.Advance(29000);
  EXPECT_EQ(table.Expire().tombstones, 0u);
  protocol::PartialTable t = table.Snapshot(0, nullptr);
  ASSERT_NE(Find(t, "svc", "a"), nullptr);
  EXPECT_TRUE(Find(t, "svc", "a")->deregistered());
  // A heartbeat for a deregistered instance is "unknown": it must register
  // again to come back.
  InstanceRefs unknown;
  EXPECT_EQ(table.Heartbeat(Refs({{"svc", "a"}}), "", &unknown), 0u);
  EXPECT_EQ(unknown.size(), 1);
  clock_.Advance(2000);
  PartialTable::Expired e = table.Expire();
  EXPECT_EQ(e.tombstones, 1u);
  EXPECT_EQ(table.tombstone_count(), 0u);
  EXPECT_EQ(Find(table.Snapshot(0, nullptr), "svc", "a"), nullptr);
}

TEST_F(PartialTableTest, RegisterRevivesTombstone) {
  PartialTable table(&clock_, Options());
  ASSERT_TRUE(table.Register(Infos({Info("svc", "a")})).ok());
  clock_.Advance(1000);
  table.Deregister(Refs({{"svc", "a"}}));
  clock_.Advance(1000);
  ASSERT_TRUE(table.Register(Infos({Info("svc", "a")})).ok());
  EXPECT_EQ(table.instance_count(), 1u);
  EXPECT_EQ(table.tombstone_count(), 0u);
  const auto* seen = Find(table.Snapshot(0, nullptr), "svc", "a");
  EXPECT_FALSE(seen->deregistered());
  EXPECT_EQ(seen->first_seen_age_ms(), 0);  // a new life
}

// The leader's merge reads each report's owner (tombstones included) to
// ignore another host's reports of a published instance.
TEST_F(PartialTableTest, SnapshotCarriesTheOwner) {
  PartialTable table(&clock_, Options());
  ASSERT_TRUE(
      table.Register(Infos({Info("svc", "a")}), "kess://host/host-1").ok());
  ASSERT_TRUE(table.Register(Infos({Info("svc", "b")})).ok());
  protocol::PartialTable t = table.Snapshot(0, nullptr);
  ASSERT_NE(Find(t, "svc", "a"), nullptr);
  EXPECT_EQ(Find(t, "svc", "a")->owner(), "kess://host/host-1");
  ASSERT_NE(Find(t, "svc", "b"), nullptr);
  EXPECT_EQ(Find(t, "svc", "b")->owner(), "");  // rights off
  table.Deregister(Refs({{"svc", "a"}}));
  t = table.Snapshot(0, nullptr);
  ASSERT_NE(Find(t, "svc", "a"), nullptr);
  EXPECT_TRUE(Find(t, "svc", "a")->deregistered());
  EXPECT_EQ(Find(t, "svc", "a")->owner(), "kess://host/host-1");
}

TEST_F(PartialTableTest, SilentEntriesExpireFromMemory) {
  PartialTable table(&clock_, Options());
  ASSERT_TRUE(table.Register(Infos({Info("svc", "a"), Info("svc", "b")})).ok());
  ASSERT_TRUE(table.HostHeartbeat("host-1"));
  ASSERT_TRUE(table.HostHeartbeat("host-2"));
  clock_.Advance(30000);
  InstanceRefs unknown;
  table.Heartbeat(Refs({{"svc", "b"}}), "", &unknown);
  table.HostHeartbeat("host-2");
  clock_.Advance(20001);  // a and host-1: 50,001 ms silent
  PartialTable::Expired e = table.Expire();
  EXPECT_EQ(e.instances, 1u);
  EXPECT_EQ(e.hosts, 1u);
  protocol::PartialTable t = table.Snapshot(0, nullptr);
  EXPECT_EQ(Find(t, "svc", "a"), nullptr);
  ASSERT_NE(Find(t, "svc", "b"), nullptr);
  ASSERT_EQ(t.hosts_size(), 1);
  EXPECT_EQ(t.hosts(0).host_id(), "host-2");
  EXPECT_EQ(t.hosts(0).last_heartbeat_age_ms(), 20001);
  // An expired instance is unknown: its SDK re-registers.
  EXPECT_EQ(table.Heartbeat(Refs({{"svc", "a"}}), "", &unknown), 0u);
  EXPECT_EQ(unknown.size(), 1);
}

TEST_F(PartialTableTest, HostsKeepWhatTheAgentReported) {
  PartialTable table(&clock_, Options());
  ASSERT_TRUE(table.HostHeartbeat("h2", "127.0.0.1:7301", 41));
  ASSERT_TRUE(table.HostHeartbeat("h1"));
  clock_.Advance(700);
  ASSERT_TRUE(table.HostHeartbeat("h2", "127.0.0.1:7302", 42));
  std::vector<PartialTable::HostView> hosts = table.Hosts();
  ASSERT_EQ(hosts.size(), 2u);
  EXPECT_EQ(hosts[0].host_id, "h1");
  EXPECT_EQ(hosts[0].distributor, "");
  EXPECT_EQ(hosts[0].last_heartbeat_age_ms, 700);
  EXPECT_EQ(hosts[1].host_id, "h2");
  EXPECT_EQ(hosts[1].distributor, "127.0.0.1:7302");  // the newest report
  EXPECT_EQ(hosts[1].revision, 42);
  EXPECT_EQ(hosts[1].last_heartbeat_age_ms, 0);
}

TEST_F(PartialTableTest, SyncedRevisionRemembersWhenItLastChanged) {
  PartialTable table(&clock_, Options());
  ASSERT_TRUE(table.HostHeartbeat("h1", "d", 5, 40));
  clock_.Advance(1000);
  ASSERT_TRUE(table.HostHeartbeat("h1", "d", 5, 40));  // no change
  std::vector<PartialTable::HostView> hosts = table.Hosts();
  ASSERT_EQ(hosts.size(), 1u);
  EXPECT_EQ(hosts[0].synced_revision, 40);
  EXPECT_EQ(hosts[0].synced_age_ms, 1000);  // since first heard
  clock_.Advance(500);
  ASSERT_TRUE(table.HostHeartbeat("h1", "d", 5, 43));
  clock_.Advance(200);
  hosts = table.Hosts();
  EXPECT_EQ(hosts[0].synced_revision, 43);
  EXPECT_EQ(hosts[0].synced_age_ms, 200);
  EXPECT_EQ(hosts[0].revision, 5);
  EXPECT_EQ(hosts[0].agent_version, "");  // an agent older than the field
}

TEST_F(PartialTableTest, AgentVersionIsTheLastReported) {
  PartialTable table(&clock_, Options());
  ASSERT_TRUE(table.HostHeartbeat("h1", "d", 5, 40));  // 0.9.0: no version
  EXPECT_EQ(table.Hosts()[0].agent_version, "");
  // The host's agent was upgraded.
  ASSERT_TRUE(table.HostHeartbeat("h1", "d", 5, 40, "0.10.0"));
  EXPECT_EQ(table.Hosts()[0].agent_version, "0.10.0");
}

TEST_F(PartialTableTest, WallClockJumpChangesNothing) {
  // Ages are differences of Clock (monotonic) readings; the wall clock is
  // never read. Whatever the wall clock does between two snapshots, ages
  // move exactly by what the monotonic clock moved.
  PartialTable table(&clock_, Options());
  ASSERT_TRUE(table.Register(Infos({Info("svc", "a")})).ok());
  clock_.Advance(1234);
  protocol::PartialTable t = table.Snapshot(0, nullptr);
  EXPECT_EQ(t.instances(0).last_heartbeat_age_ms(), 1234);
  EXPECT_EQ(table.Expire().instances, 0u);
}

TEST_F(PartialTableTest, PagesInServiceIdOrder) {
  PartialTable table(&clock_, Options());
  // "a-b" < "a" as raw "service/id" strings but not as (service, id).
  ASSERT_TRUE(
      table
          .Register(Infos({Info("a", "2"), Info("a-b", "1"), Info("a", "1"),
                           Info("b", "1"), Info("a", "3")}))
          .ok());
  ASSERT_TRUE(table.HostHeartbeat("host-1"));
  std::vector<std::string> seen;
  protocol::PartialTable page = table.Snapshot(2, nullptr);
  EXPECT_EQ(page.hosts_size(), 1);
  int pages = 1;
  for (;;) {
    for (const auto& i : page.instances()) {
      seen.push_back(i.info().service() + "/" + i.info().id());
    }
    if (!page.has_next_after()) break;
    ASSERT_LT(++pages, 10);
    protocol::InstanceRef after = page.next_after();
    page = table.Snapshot(2, &after);
    EXPECT_EQ(page.hosts_size(), 0);  // hosts on the first page only
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen,
            (std::vector<std::string>{"a/1", "a/2", "a/3", "a-b/1", "b/1"}));
}

TEST_F(PartialTableTest, BoundedSize) {
  PartialTableOptions o = Options();
  o.max_instances = 2;
  o.max_hosts = 1;
  PartialTable table(&clock_, o);
  ASSERT_TRUE(table.Register(Infos({Info("svc", "a"), Info("svc", "b")})).ok());
  absl::Status s = table.Register(Infos({Info("svc", "a"), Info("svc", "c")}));
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(table.instance_count(), 2u);  // "a" was refreshed, "c" refused
  EXPECT_TRUE(table.HostHeartbeat("h1"));
  EXPECT_FALSE(table.HostHeartbeat("h2"));
  EXPECT_TRUE(table.HostHeartbeat("h1"));
}

TEST_F(PartialTableTest, ConcurrentHeartbeatsAndSnapshots) {
  PartialTable table(&clock_, Options());
  RepeatedPtrField<protocol::InstanceInfo> infos;
  for (int i = 0; i < 1000; ++i) *infos.Add() = Info("svc", absl::StrCat(i));
  ASSERT_TRUE(table.Register(infos).ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&table, t] {
      for (int round = 0; round < 50; ++round) {
        InstanceRefs refs, unknown;
        for (int i = t; i < 1000; i += 4) {
          protocol::InstanceRef* r = refs.Add();
          r->set_service("svc");
          r->set_id(absl::StrCat(i));
        }
        EXPECT_EQ(table.Heartbeat(refs, "", &unknown), 250u);
      }
    });
  }
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(table.Snapshot(0, nullptr).instances_size(), 1000);
  }
  for (auto& t : threads) t.join();
}

}  // namespace
}  // namespace scheduler
}  // namespace mandator
}  // namespace kess
