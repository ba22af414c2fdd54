// Three DCs over emulated WAN links, end to end: a main DC (dc1) and two
// slave DCs (dc2, dc3), each with its own real ZooKeeper server and 2 real
// `mandator` processes (tests/cluster/multi_dc_cluster.h). Each slave DC's
// mandators reach dc1's ZooKeeper through a tests/wan WanLink of its own:
//   dc2: delay=10ms each way (20 ms RTT);
//   dc3: delay=40ms, jitter=5ms, loss=0.01 each way (80 ms RTT).
// The test reads every DC's ZooKeeper directly (tests/cluster/dc_snapshot.h);
// "converged" means: the slave DC is at main's revision, holds exactly
// main's configs (records and values) and the same change records, under
// the same revisions (invariant 5 of docs/design.md; the monitor of 3 is
// invariant 4, the serving DC cut off of 2 invariant 11).
//
// One cluster serves the suite; every test starts with both links open at
// their profiles and all three DCs converged.
//  1. Convergence: 300 writes to distinct keys, overwrites and deletes
//     through the main leader's HTTP API; dc2 and dc3 converge.
//  2. dc3's link only, blackholed (silent drop), then cut: new writes reach
//     dc2 while dc3's revision and data stay as they were and its mandators
//     keep serving them; reopened, dc3 converges.
//  3. dc3's link lossier (5 %) and flapping (cut/open every second for 8 s)
//     while writes go on: once healed every DC converges, and a monitor
//     sampling dc2's and dc3's revisions throughout never sees one go back.
//
// No assertion is on speed: every wait is a "did not hang" bound
// (kPatience), every loop is bounded in count and time. How long the DCs
// took is logged (LOG(INFO)) for information only.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "glog/logging.h"
#include "gtest/gtest.h"
#include "common/http_client.h"
#include "tests/cluster/dc_snapshot.h"
#include "tests/cluster/mandator_cluster.h"
#include "tests/cluster/multi_dc_cluster.h"
#include "tests/wan/link_profile.h"
#include "tests/wan/wan_link.h"
#include "zk_schema/layout.h"
#include "zk_schema/revision_log.h"
#include "zk_schema/zk_client.h"

namespace kess {
namespace {

using testing::MandatorList;
using testing::MandatorProcess;
using testing::MultiDcCluster;
using wan::LinkState;
using SteadyClock = std::chrono::steady_clock;

// Only "did not hang" bounds.
constexpr absl::Duration kPatience = absl::Seconds(60);
constexpr absl::Duration kPoll = absl::Milliseconds(5);
constexpr int kMaxPolls = 20000;  // with kPoll: beyond kPatience

constexpr int kDc2 = 0;  // slave DC indexes in MultiDcCluster
constexpr int kDc3 = 1;
constexpr char kDc2Link[] = "delay=10ms";
constexpr char kDc3Link[] = "delay=40ms,jitter=5ms,loss=0.01";
constexpr char kDc3Lossy[] = "delay=40ms,jitter=5ms,loss=0.05";
// How long dc3's link stays blackholed or cut: longer than the mandators'
// ZooKeeper session (4 s), so that main's ZooKeeper expires dc3's sessions.
constexpr auto kOutage = std::chrono::seconds(5);

wan::LinkProfile Profile(const char* text) {
  auto profile = wan::ParseLinkProfile(text);
  CHECK(profile.ok()) << profile.status();
  return *profile;
}

int64_t Revision(zk::ZkApi& zk) {
  static const zk::Layout* const layout =
      new zk::Layout(zk::Layout::Create("/kess").value());
  auto read = zk::ReadRevision(zk, *layout);
  return read.ok() ? read->first.revision() : -1;
}

int64_t MillisSince(absl::Time t) {
  return absl::ToInt64Milliseconds(absl::Now() - t);
}

std::vector<int64_t> ChangelogRevisions(const testing::DcSnapshot& dc) {
  std::vector<int64_t> revisions;
  for (const auto& [revision, record] : dc.changelog) {
    revisions.push_back(revision);
  }
  return revisions;
}

// Samples one DC's /kess/revision every kPoll on its own thread until
// stopped (or kMaxPolls samples): counts the samples and every one lower
// than a revision seen before.
class RevisionMonitor {
 public:
  RevisionMonitor(std::string dc, std::unique_ptr<zk::ZkClient> zk)
      : dc_(std::move(dc)), zk_(std::move(zk)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~RevisionMonitor() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int samples() const { return samples_; }
  int went_back() const { return went_back_; }
  std::string first_violation() {
    absl::MutexLock lock(&mu_);
    return first_violation_;
  }

 private:
  void Run() {
    int64_t highest = 0;
    for (int i = 0; i < kMaxPolls && !stop_; ++i) {
      const int64_t now = Revision(*zk_);
      if (now >= 0) {
        ++samples_;
        if (now < highest && went_back_++ == 0) {
          absl::MutexLock lock(&mu_);
          first_violation_ = absl::StrCat(dc_, "'s revision went back from ",
                                          highest, " to ", now);
        }
        highest = std::max(highest, now);
      }
      absl::SleepFor(kPoll);
    }
  }

  const std::string dc_;
  std::unique_ptr<zk::ZkClient> zk_;
  std::atomic<bool> stop_{false};
  std::atomic<int> samples_{0};
  std::atomic<int> went_back_{0};
  absl::Mutex mu_;
  std::string first_violation_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

class ThreeDcWanTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    testing::MultiDcClusterOptions options;
    options.slave_dcs = 2;
    options.mandators_per_dc = 2;
    options.wan_main_zk_for_slaves = true;
    options.wan_profiles = {Profile(kDc2Link), Profile(kDc3Link)};
    auto cluster = MultiDcCluster::Start(options);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = cluster->release();
    auto main = cluster_->ConnectMainReader();
    ASSERT_TRUE(main.ok()) << main.status();
    main_ = main->release();
    for (int d : {kDc2, kDc3}) {
      auto slave = cluster_->ConnectSlaveReader(d);
      ASSERT_TRUE(slave.ok()) << slave.status();
      slaves_[d] = slave->release();
      ASSERT_NE(testing::WaitLeader(cluster_->slave(d), kPatience), nullptr)
          << MultiDcCluster::SlaveDcName(d) << " elects no leader";
    }
    leader_ = testing::WaitLeader(cluster_->main(), kPatience);
    ASSERT_NE(leader_, nullptr) << "dc1 elects no leader";
  }

  static void TearDownTestSuite() {
    for (zk::ZkClient*& slave : slaves_) {
      delete slave;
      slave = nullptr;
    }
    delete main_;
    main_ = nullptr;
    delete cluster_;  // stops every process and link
    cluster_ = nullptr;
  }

  // Both links open at their profiles, every DC converged.
  void SetUp() override {
    ASSERT_NE(cluster_, nullptr) << "no cluster";
    ASSERT_NE(leader_, nullptr);
    ASSERT_TRUE(cluster_->SetWanProfile(kDc2, Profile(kDc2Link)).ok());
    ASSERT_TRUE(cluster_->SetWanProfile(kDc3, Profile(kDc3Link)).ok());
    cluster_->SetWanState(kDc2, LinkState::kOpen);
    cluster_->SetWanState(kDc3, LinkState::kOpen);
    ASSERT_TRUE(Converged({kDc2, kDc3}, "set-up", absl::Now(), "the start"));
  }

  void TearDown() override {
    if (HasFailure() && cluster_ != nullptr) {
      LOG(INFO) << "mandator logs are in " << cluster_->logs_dir();
    }
  }

  static std::string Name(int d) { return MultiDcCluster::SlaveDcName(d); }

  // A write through the main leader that must succeed: PUT of `value`, or
  // DELETE. Its revision, or -1.
  static int64_t Write(const std::string& method, const std::string& ns,
                       const std::string& key, const std::string& value = "") {
    auto reply =
        HttpCall(leader_->http_address(), method,
                 absl::StrCat("/api/v1/configs/", ns, "/", key),
                 method == "PUT" ? testing::PutBody(value) : std::string());
    EXPECT_TRUE(reply.ok() && reply->status == 200)
        << method << " " << ns << "/" << key << ": "
        << (reply.ok() ? reply->body : reply.status().ToString());
    if (!reply.ok() || reply->status != 200) return -1;
    auto body = testing::JsonBody(reply->body);
    return body ? body->optValue<int64_t>("revision", -1) : -1;
  }
  static int64_t Put(const std::string& ns, const std::string& key,
                     const std::string& value) {
    return Write("PUT", ns, key, value);
  }

  // What dc3's leader says about replication, for the log.
  static std::string Dc3LeaderStatus() {
    MandatorProcess* leader = testing::FindLeader(cluster_->slave(kDc3));
    auto status = leader != nullptr ? testing::StatusOf(*leader) : nullptr;
    if (!status) return "no leader";
    return absl::StrCat(
        leader->id(), " revision ", status->optValue<int64_t>("revision", -1),
        ", main_revision ", status->optValue<int64_t>("main_revision", -1),
        ", main_contacts ", status->optValue<int64_t>("main_contacts", -1));
  }

  static absl::StatusOr<testing::DcSnapshot> Snapshot(zk::ZkApi& zk) {
    return testing::ReadDc(zk, cluster_->layout());
  }

  // Waits until every slave DC in `dcs` is at main's revision (nothing may
  // write meanwhile), logs when each got there counted from `since`, then
  // compares each with main: SameData and the same change-log revisions.
  static ::testing::AssertionResult Converged(const std::vector<int>& dcs,
                                              const std::string& what,
                                              absl::Time since,
                                              const std::string& since_what) {
    const int64_t target = Revision(*main_);
    if (target < 0) {
      return ::testing::AssertionFailure() << "main's revision not read";
    }
    std::map<int, int64_t> at;     // dc -> its last revision read
    std::map<int, int64_t> at_ms;  // dc -> when it reached target
    const absl::Time deadline = absl::Now() + kPatience;
    for (int i = 0; i < kMaxPolls && at_ms.size() < dcs.size(); ++i) {
      for (int d : dcs) {
        if (at_ms.count(d) != 0) continue;
        at[d] = Revision(*slaves_[d]);
        if (at[d] > target) {
          return ::testing::AssertionFailure()
                 << Name(d) << " is at revision " << at[d]
                 << ", ahead of main's " << target;
        }
        if (at[d] == target) at_ms[d] = MillisSince(since);
      }
      if (at_ms.size() == dcs.size() || absl::Now() >= deadline) break;
      absl::SleepFor(kPoll);
    }
    for (int d : dcs) {
      if (at_ms.count(d) == 0) {
        return ::testing::AssertionFailure()
               << what << ": " << Name(d) << " stays at revision " << at[d]
               << ", main is at " << target << " (waited "
               << absl::FormatDuration(kPatience) << ")";
      }
      LOG(INFO) << what << ": " << Name(d) << " reached revision " << target
                << " " << at_ms[d] << " ms after " << since_what;
    }
    auto main = Snapshot(*main_);
    if (!main.ok()) {
      return ::testing::AssertionFailure() << "main: " << main.status();
    }
    if (main->revision != target) {
      return ::testing::AssertionFailure()
             << "main moved from " << target << " to " << main->revision
             << " while the DCs were compared";
    }
    for (int d : dcs) {
      auto slave = Snapshot(*slaves_[d]);
      if (!slave.ok()) {
        return ::testing::AssertionFailure()
               << Name(d) << ": " << slave.status();
      }
      ::testing::AssertionResult same = testing::SameData(*main, *slave);
      if (!same) return same << " (" << Name(d) << ")";
      if (ChangelogRevisions(*main) != ChangelogRevisions(*slave)) {
        return ::testing::AssertionFailure()
               << Name(d) << " holds " << slave->changelog.size()
               << " change records, main " << main->changelog.size();
      }
    }
    return ::testing::AssertionSuccess();
  }

  static MultiDcCluster* cluster_;
  static zk::ZkClient* main_;       // reader of dc1's ZooKeeper
  static zk::ZkClient* slaves_[2];  // readers of dc2's and dc3's
  static MandatorProcess* leader_;  // dc1's; the main DC is never disturbed
};

MultiDcCluster* ThreeDcWanTest::cluster_ = nullptr;
zk::ZkClient* ThreeDcWanTest::main_ = nullptr;
zk::ZkClient* ThreeDcWanTest::slaves_[2] = {nullptr, nullptr};
MandatorProcess* ThreeDcWanTest::leader_ = nullptr;

TEST_F(ThreeDcWanTest, WritesOverwritesAndDeletesConvergeInEveryDc) {
  constexpr int kKeys = 300;
  std::map<std::string, std::string> expected;  // key -> value in "conv"
  for (int i = 0; i < kKeys; ++i) {
    const std::string key = testing::StreamKey(i);
    ASSERT_GT(Put("conv", key, testing::StreamValue(i)), 0);
    expected[key] = testing::StreamValue(i);
  }
  for (int i = 0; i < kKeys; i += 30) {  // 10 overwrites
    const std::string key = testing::StreamKey(i);
    ASSERT_GT(Put("conv", key, "overwritten"), 0);
    expected[key] = "overwritten";
  }
  for (int i = 5; i < kKeys; i += 60) {  // 5 deletes
    const std::string key = testing::StreamKey(i);
    ASSERT_GT(Write("DELETE", "conv", key), 0);
    expected.erase(key);
  }
  const absl::Time last_ack = absl::Now();
  ASSERT_TRUE(Converged({kDc2, kDc3}, "convergence", last_ack, "the last ack"));

  for (int d : {kDc2, kDc3}) {
    auto slave = Snapshot(*slaves_[d]);
    ASSERT_TRUE(slave.ok()) << slave.status();
    std::map<std::string, std::string> held;
    for (const auto& [name, config] : slave->configs) {
      if (name.rfind("conv/", 0) == 0) held[name.substr(5)] = config.value;
    }
    EXPECT_EQ(held.size(), kKeys - 5) << Name(d);
    EXPECT_TRUE(held == expected) << Name(d) << " holds other configs";
  }
}

TEST_F(ThreeDcWanTest, Dc3AloneCutOffFallsBehindAndCatchesUp) {
  for (LinkState outage : {LinkState::kBlackhole, LinkState::kCut}) {
    SCOPED_TRACE(wan::LinkStateName(outage));
    const std::string ns = absl::StrCat("outage-", wan::LinkStateName(outage));
    ASSERT_GT(Put(ns, "probe", "before"), 0);
    ASSERT_TRUE(
        Converged({kDc2, kDc3}, "before the outage", absl::Now(), "the probe"));
    auto dc3_before = Snapshot(*slaves_[kDc3]);
    ASSERT_TRUE(dc3_before.ok()) << dc3_before.status();
    const std::string probe_uri = "/api/v1/configs/" + ns + "/probe";
    auto probe_before =
        HttpCall(cluster_->slave(kDc3)[0]->http_address(), "GET", probe_uri);
    ASSERT_TRUE(probe_before.ok() && probe_before->status == 200);

    const std::string status_before = Dc3LeaderStatus();
    cluster_->SetWanState(kDc3, outage);
    const auto outage_start = SteadyClock::now();
    for (int i = 0; i < 50; ++i) {
      ASSERT_GT(Put(ns, testing::StreamKey(i), testing::StreamValue(i)), 0);
    }
    // dc2 follows while dc3 is cut off.
    EXPECT_TRUE(Converged({kDc2},
                          absl::StrCat("dc3 ", wan::LinkStateName(outage)),
                          absl::Now(), "the last ack"));
    // dc3 stays where it was, and serves it, for the whole outage.
    int samples = 0;
    int moved = 0;
    for (int i = 0; i < 1000 && SteadyClock::now() - outage_start < kOutage;
         ++i) {
      ++samples;
      const int64_t now = Revision(*slaves_[kDc3]);
      if (now != dc3_before->revision) {
        ADD_FAILURE() << "dc3 at revision " << now << " during the outage, "
                      << "was " << dc3_before->revision;
        ++moved;
        if (moved > 3) break;
      }
      if (i % 25 == 0) {
        const MandatorList& dc3 = cluster_->slave(kDc3);
        auto probe = HttpCall(dc3[i / 25 % dc3.size()]->http_address(), "GET",
                              probe_uri);
        EXPECT_TRUE(probe.ok() && probe->status == 200 &&
                    probe->body == probe_before->body)
            << "dc3 does not serve its data during the outage";
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    EXPECT_GT(samples, 10);
    auto dc3_during = Snapshot(*slaves_[kDc3]);
    ASSERT_TRUE(dc3_during.ok()) << dc3_during.status();
    EXPECT_TRUE(testing::SameData(*dc3_before, *dc3_during))
        << "dc3's data changed while its link was down";
    EXPECT_EQ(dc3_during->changelog, dc3_before->changelog);
    LOG(INFO) << "dc3 at the end of the " << wan::LinkStateName(outage) << ": "
              << Dc3LeaderStatus() << " (before: " << status_before << ")";

    cluster_->SetWanState(kDc3, LinkState::kOpen);
    const absl::Time opened = absl::Now();
    ASSERT_TRUE(Converged(
        {kDc2, kDc3}, absl::StrCat("after the ", wan::LinkStateName(outage)),
        opened, "the link opened"));
  }
}

TEST_F(ThreeDcWanTest, ALossyFlappingLinkNeverSendsDc3Back) {
  auto dc2_zk = cluster_->ConnectSlaveReader(kDc2);
  auto dc3_zk = cluster_->ConnectSlaveReader(kDc3);
  ASSERT_TRUE(dc2_zk.ok() && dc3_zk.ok());
  RevisionMonitor dc2_monitor("dc2", *std::move(dc2_zk));
  RevisionMonitor dc3_monitor("dc3", *std::move(dc3_zk));
  ASSERT_TRUE(cluster_->SetWanProfile(kDc3, Profile(kDc3Lossy)).ok());

  // A writer, paced, until the flapping is over.
  std::atomic<bool> stop{false};
  std::vector<int> acked;  // indexes; read after the join
  int failed = 0;
  std::thread writer([&] {
    const absl::Time deadline = absl::Now() + kPatience;
    for (int i = 0; i < 2000 && !stop && absl::Now() < deadline; ++i) {
      if (Put("flap", testing::StreamKey(i), testing::StreamValue(i)) > 0) {
        acked.push_back(i);
      } else {
        ++failed;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
  });
  // Cut and open every second for 8 s, timed on the steady clock.
  const auto start = SteadyClock::now();
  for (int step = 0; step < 8; ++step) {
    cluster_->SetWanState(kDc3,
                          step % 2 == 0 ? LinkState::kCut : LinkState::kOpen);
    std::this_thread::sleep_until(start + std::chrono::seconds(step + 1));
  }
  cluster_->SetWanState(kDc3, LinkState::kOpen);
  ASSERT_TRUE(cluster_->SetWanProfile(kDc3, Profile(kDc3Link)).ok());
  stop = true;
  writer.join();
  const absl::Time last_ack = absl::Now();
  LOG(INFO) << "writes during the flapping: " << acked.size() << " acked, "
            << failed << " failed";
  EXPECT_EQ(failed, 0);
  EXPECT_GT(acked.size(), 20);

  ASSERT_TRUE(Converged({kDc2, kDc3}, "after the flapping", last_ack,
                        "the last ack and the heal"));
  auto dc3 = Snapshot(*slaves_[kDc3]);
  ASSERT_TRUE(dc3.ok()) << dc3.status();
  for (int i : acked) {
    const std::string name = "flap/" + testing::StreamKey(i);
    ASSERT_EQ(dc3->configs.count(name), 1) << name;
    EXPECT_EQ(dc3->configs.at(name).value, testing::StreamValue(i)) << name;
  }
  dc2_monitor.Stop();
  dc3_monitor.Stop();
  LOG(INFO) << "monitor samples: dc2 " << dc2_monitor.samples() << ", dc3 "
            << dc3_monitor.samples();
  EXPECT_GT(dc3_monitor.samples(), 100);
  EXPECT_EQ(dc2_monitor.went_back(), 0) << dc2_monitor.first_violation();
  EXPECT_EQ(dc3_monitor.went_back(), 0) << dc3_monitor.first_violation();
}

}  // namespace
}  // namespace kess
