// Partition mode end to end (mandator/routes/README.md, "Partition mode"):
// invariant 10 of docs/design.md, with 4, 5 and 9 along the way.
// two DCs of real mandators (2 each), the main ones with --other_dcs, the
// slave ones reaching the main DC's ZooKeeper through a proxy the test cuts
// and heals; providers registered with the real SDK (sdk::Registration) in
// both DCs.
//
//  1. steady state: both DCs' tables hold the instances of both DCs;
//  2. the link toggled faster than --partition_after: no mode change;
//  3. the link cut: after --partition_after the slave leader is in overlay
//     mode, nothing is removed, a new instance of an existing service and a
//     new service registered in dc2 appear in dc2's tables; a config
//     written in dc1 meanwhile does not reach dc2;
//  4. healed: after --heal_after dc1's tables hold the new dc2 instances and
//     dc2 converges to dc1 exactly (routes and configs, same revisions).
// Throughout, a monitor samples dc2's ZooKeeper: its revision and every
// route record's revision never go backwards, and no instance, once seen
// in dc2's tables, is ever missing.
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/http_client.h"
#include "common/testing/wait_for.h"
#include "gtest/gtest.h"
#include "mandator/routes/route_store.h"
#include "sdk/registration.h"
#include "tests/cluster/dc_snapshot.h"
#include "tests/cluster/mandator_cluster.h"
#include "tests/cluster/two_dc_cluster.h"
#include "zk_schema/revision_log.h"

namespace kess {
namespace {

using mandator::routes::RouteStore;
using mandator::routes::RouteTables;
using testing::MandatorProcess;
using testing::WaitFor;

constexpr absl::Duration kPatience = absl::Seconds(30);  // "did not hang"
constexpr absl::Duration kPartitionAfter = absl::Seconds(3);

std::set<std::string> Ids(const RouteTables& tables, const std::string& svc) {
  std::set<std::string> ids;
  auto it = tables.find(svc);
  if (it == tables.end()) return ids;
  for (const auto& instance : it->second.instances) ids.insert(instance.id);
  return ids;
}

bool Contains(const std::set<std::string>& have,
              const std::set<std::string>& want) {
  for (const std::string& id : want) {
    if (have.count(id) == 0) return false;
  }
  return true;
}

// Samples dc2's ZooKeeper every 50 ms until stopped; records violations.
class Monitor {
 public:
  Monitor(std::unique_ptr<zk::ZkClient> zk, zk::Layout layout)
      : zk_(std::move(zk)),
        layout_(layout),
        store_(zk_.get(), RouteStore::Options{layout}) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Monitor() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::vector<std::string> violations() {
    absl::MutexLock lock(&mu_);
    return violations_;
  }
  int samples() const { return samples_; }

 private:
  void Violation(std::string what) {
    absl::MutexLock lock(&mu_);
    if (violations_.size() < 20) violations_.push_back(std::move(what));
  }
  void Run() {
    int64_t revision = 0;
    std::map<std::string, int64_t> record_revisions;
    std::map<std::string, std::set<std::string>> seen;  // service -> ids
    while (!stop_) {
      absl::SleepFor(absl::Milliseconds(50));
      auto summary = zk::ReadRevision(*zk_, layout_);
      auto tables = store_.LoadAll();
      if (!summary.ok() || !tables.ok()) continue;
      ++samples_;
      if (summary->first.revision() < revision) {
        Violation(absl::StrCat("dc2 revision went back: ", revision, " -> ",
                               summary->first.revision()));
      }
      revision = std::max(revision, summary->first.revision());
      for (const auto& [service, table] : *tables) {
        int64_t& last = record_revisions[service];
        if (table.revision < last) {
          Violation(absl::StrCat("route ", service, " went back: ", last,
                                 " -> ", table.revision));
        }
        last = std::max(last, table.revision);
      }
      for (auto& [service, ids] : seen) {
        for (const std::string& id : ids) {
          if (Ids(*tables, service).count(id) == 0) {
            Violation(absl::StrCat(service, "/", id, " missing in dc2 at ",
                                   summary->first.revision()));
          }
        }
      }
      for (const auto& [service, table] : *tables) {
        for (const auto& instance : table.instances) {
          seen[service].insert(instance.id);
        }
      }
    }
  }

  std::unique_ptr<zk::ZkClient> zk_;
  const zk::Layout layout_;
  RouteStore store_;
  std::atomic<bool> stop_{false};
  std::atomic<int> samples_{0};
  absl::Mutex mu_;
  std::vector<std::string> violations_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

class PartitionModeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::TwoDcClusterOptions options;
    options.mandators_per_dc = 2;
    options.proxy_main_zk_for_slaves = true;
    options.main_other_dcs = true;
    options.extra_flags = {"--route_cycle_ms=300", "--route_window_ms=300",
                           "--heartbeat_interval_ms=1000",
                           "--instance_timeout_ms=4000",
                           "--route_warmup_ms=4000"};
    options.partition_after = kPartitionAfter;
    options.heal_after = absl::Seconds(3);
    auto cluster = testing::TwoDcCluster::Start(options);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
    auto main = cluster_->ConnectMainReader();
    auto slave = cluster_->ConnectSlaveReader();
    ASSERT_TRUE(main.ok() && slave.ok());
    main_ = *std::move(main);
    slave_ = *std::move(slave);
    ASSERT_NE(testing::WaitLeader(cluster_->main(), kPatience), nullptr);
    ASSERT_NE(testing::WaitLeader(cluster_->slave(), kPatience), nullptr);
  }

  std::unique_ptr<sdk::Registration> Register(const std::string& service,
                                              const std::string& id,
                                              bool main_dc) {
    sdk::RegistrationOptions o;
    for (const auto& m : main_dc ? cluster_->main() : cluster_->slave()) {
      o.mandators.push_back(m->address());
    }
    o.instance.service = service;
    o.instance.id = id;
    o.instance.host = "host-" + id;
    o.instance.address = "127.0.0.1:1";
    o.instance.datacenter = main_dc ? "dc1" : "dc2";
    o.heartbeat_interval = absl::Seconds(1);
    o.return_interval = absl::Seconds(2);
    auto tls = cluster_->tls().ClientContext();
    EXPECT_TRUE(tls.ok()) << tls.status();
    if (tls.ok()) o.tls = *tls;
    auto registration = sdk::Registration::Create(o);
    EXPECT_TRUE(registration.ok()) << registration.status();
    return registration.ok() ? *std::move(registration) : nullptr;
  }

  RouteTables Tables(zk::ZkClient& zk) {
    RouteStore store(&zk, RouteStore::Options{cluster_->layout()});
    auto tables = store.LoadAll();
    return tables.ok() ? *tables : RouteTables();
  }

  bool WaitIds(zk::ZkClient& zk, const std::string& service,
               const std::set<std::string>& want, absl::Duration timeout) {
    return WaitFor([&] { return Contains(Ids(Tables(zk), service), want); },
                   timeout);
  }

  std::string SlaveMode() {
    MandatorProcess* leader = testing::FindLeader(cluster_->slave());
    if (leader == nullptr) return "";
    auto status = testing::StatusOf(*leader);
    return status ? status->optValue<std::string>("partition_mode", "") : "";
  }

  // The slave leader's main_contacts (-1: unknown).
  int64_t SlaveMainContacts() {
    MandatorProcess* leader = testing::FindLeader(cluster_->slave());
    if (leader == nullptr) return -1;
    auto status = testing::StatusOf(*leader);
    return status ? status->optValue<int64_t>("main_contacts", -1) : -1;
  }

  bool WaitMode(const std::string& mode, absl::Duration timeout) {
    return WaitFor([&] { return SlaveMode() == mode; }, timeout);
  }

  int64_t Put(const std::string& ns, const std::string& key,
              const std::string& value) {
    MandatorProcess* leader = testing::WaitLeader(cluster_->main(), kPatience);
    if (leader == nullptr) return -1;
    auto reply = HttpCall(leader->http_address(), "PUT",
                          absl::StrCat("/api/v1/configs/", ns, "/", key),
                          testing::PutBody(value));
    if (!reply.ok() || reply->status != 200) return -1;
    return testing::JsonBody(reply->body)->getValue<int64_t>("revision");
  }

  // Routes and configs equal in both DCs (same records, same revisions).
  ::testing::AssertionResult Converged() {
    auto main = testing::ReadDc(*main_, cluster_->layout());
    auto slave = testing::ReadDc(*slave_, cluster_->layout());
    if (!main.ok() || !slave.ok()) {
      return ::testing::AssertionFailure() << "snapshots not read";
    }
    RouteTables main_routes = Tables(*main_);
    RouteTables slave_routes = Tables(*slave_);
    if (main_routes != slave_routes) {
      return ::testing::AssertionFailure()
             << "route tables differ (" << main_routes.size() << " vs "
             << slave_routes.size() << " services)";
    }
    return testing::SameData(*main, *slave);
  }

  std::unique_ptr<testing::TwoDcCluster> cluster_;
  std::unique_ptr<zk::ZkClient> main_;
  std::unique_ptr<zk::ZkClient> slave_;
};

TEST_F(PartitionModeTest, OverlayWhileCutConvergesAfterHeal) {
  testing::ZkSessionProxy* link = cluster_->main_link_proxy();
  ASSERT_NE(link, nullptr);
  auto w1 = Register("web", "w1", /*main_dc=*/true);
  auto w2 = Register("web", "w2", /*main_dc=*/false);
  ASSERT_GT(Put("app", "color", "blue"), 0);
  // 1. Steady state.
  ASSERT_TRUE(WaitIds(*main_, "web", {"w1", "w2"}, kPatience));
  ASSERT_TRUE(WaitIds(*slave_, "web", {"w1", "w2"}, kPatience));
  ASSERT_TRUE(WaitMode("replicating", kPatience));
  auto monitor_zk = cluster_->ConnectSlaveReader();
  ASSERT_TRUE(monitor_zk.ok());
  Monitor monitor(*std::move(monitor_zk), cluster_->layout());

  // 2. Quick toggles (1 s cut, then healed until the slave leader has
  //    reached main again, at least 1 s; partition_after is 3 s). Each cut
  //    is timed on the steady clock and each heal waits for a real contact,
  //    so a loaded machine cannot turn a toggle into a long cut.
  for (int i = 0; i < 3; ++i) {
    link->SetCut(true);
    const auto cut_start = std::chrono::steady_clock::now();
    for (int j = 0; j < 50 && std::chrono::steady_clock::now() - cut_start <
                                  std::chrono::seconds(1);
         ++j) {
      EXPECT_EQ(SlaveMode(), "replicating") << "toggle " << i;
      absl::SleepFor(absl::Milliseconds(100));
    }
    const int64_t contacts_before = SlaveMainContacts();  // none while cut
    link->SetCut(false);
    const absl::Time healed = absl::Now();
    EXPECT_TRUE(WaitFor([&] { return SlaveMainContacts() > contacts_before; },
                        kPatience))
        << "toggle " << i << ": the slave never reached main again";
    absl::SleepFor(absl::Seconds(1) - (absl::Now() - healed));
    EXPECT_EQ(SlaveMode(), "replicating") << "toggle " << i;
  }
  absl::SleepFor(absl::Seconds(2));  // replication catches up again
  EXPECT_EQ(SlaveMode(), "replicating");

  // 3. Cut.
  const absl::Time cut_at = absl::Now();
  link->SetCut(true);
  ASSERT_TRUE(WaitMode("overlay", kPatience));
  EXPECT_GE(absl::Now() - cut_at, kPartitionAfter);
  auto w3 = Register("web", "w3", /*main_dc=*/false);
  auto l1 = Register("local", "l1", /*main_dc=*/false);
  EXPECT_TRUE(WaitIds(*slave_, "web", {"w1", "w2", "w3"}, kPatience));
  EXPECT_TRUE(WaitIds(*slave_, "local", {"l1"}, kPatience));
  const int64_t written = Put("app", "color", "green");
  ASSERT_GT(written, 0);
  absl::SleepFor(absl::Seconds(1));
  {
    auto slave = testing::ReadDc(*slave_, cluster_->layout());
    ASSERT_TRUE(slave.ok());
    auto it = slave->configs.find("app/color");
    ASSERT_NE(it, slave->configs.end());
    EXPECT_NE(it->second.value, "green") << "the cut link delivered a config";
  }
  EXPECT_EQ(SlaveMode(), "overlay");

  // 4. Heal.
  link->SetCut(false);
  ASSERT_TRUE(WaitMode("replicating", absl::Seconds(60)));
  EXPECT_TRUE(WaitIds(*main_, "web", {"w1", "w2", "w3"}, kPatience));
  EXPECT_TRUE(WaitIds(*main_, "local", {"l1"}, kPatience));
  ::testing::AssertionResult converged = ::testing::AssertionFailure();
  // Converged reads both DCs' ZooKeeper: polled slowly.
  WaitFor(
      [&] {
        converged = Converged();
        return static_cast<bool>(converged);
      },
      kPatience, absl::Milliseconds(200));
  EXPECT_TRUE(converged);
  auto overlay = slave_->Exists(cluster_->layout().OverlayPath());
  ASSERT_TRUE(overlay.ok());
  EXPECT_FALSE(overlay->has_value()) << "/kess/overlay left behind";
  absl::SleepFor(absl::Seconds(1));
  monitor.Stop();
  EXPECT_GT(monitor.samples(), 100);
  for (const std::string& v : monitor.violations()) ADD_FAILURE() << v;
}

}  // namespace
}  // namespace kess
