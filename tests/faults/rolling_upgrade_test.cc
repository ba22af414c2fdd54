// The rolling upgrade, end to end: a 2-DC cluster (2 mandators, 2
// distributors and 3 agents per DC, plaintext) started from the daemons of
// an older release, under a write load of configs and with two registered
// instances, upgraded in place one process at a time: the mandators (dc1,
// then dc2; the leader of each DC last), then the distributors, then the
// agents. Each is stopped (SIGTERM) and started from the current binary on
// the same ports, ZooKeeper tree and cache directory.
//
// Checked the whole time:
//   - no acknowledged write lost: at the end every key's last acknowledged
//     value is what every agent's cache holds, at its revision or newer;
//   - no revision going backwards and no torn file in any agent's cache
//     (CacheReaderLoop, invariant 7 of docs/design.md);
//   - no agent without data: every 100 ms, every agent has a file for every
//     key written before the upgrade began;
//   - the registered instances stay in every agent's route file and in
//     both DCs' ZooKeeper (RouteSampler, invariant 9);
//   - and at the end every agent converges on every key.
// Reported: writes acknowledged and lost, the largest staleness seen (how
// long an agent's cache was behind an acknowledged write of a key), the
// samples with an agent without data, and a FAULTS| line for
// scripts/faults.sh's table.
//
// The older daemons come from $KESS_UPGRADE_OLD_BIN (a directory holding
// mandator, distributor and agent, built by scripts/build_old_release.sh
// from the commit pinned in scripts/faults.sh); they know no TLS flags, so
// every daemon runs with --undefok=insecure_plaintext. Without the variable
// the test is skipped: it is tagged manual and run by scripts/faults.sh
// --upgrade, never by `bazel test //...`.
#include <stdlib.h>

#include <atomic>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/http_client.h"
#include "common/testing/wait_for.h"
#include "common/version.h"
#include "glog/logging.h"
#include "gtest/gtest.h"
#include "model/file_cache/reader.h"
#include "sdk/registration.h"
#include "tests/cluster/cache_reader_loop.h"
#include "tests/cluster/cache_tier_cluster.h"
#include "tests/cluster/mandator_cluster.h"
#include "tests/discovery/discovery_cluster.h"

namespace kess {
namespace {

using ::kess::testing::AgentHost;
using ::kess::testing::CacheReaderLoop;
using ::kess::testing::CachedRevision;
using ::kess::testing::DiscoveryCluster;
using ::kess::testing::DiscoveryClusterOptions;
using ::kess::testing::MandatorList;
using ::kess::testing::MandatorProcess;
using ::kess::testing::RouteSampler;

constexpr char kNs[] = "upgrade";
constexpr int kKeys = 20;
// Old binaries know no TLS flag; the current ones need --insecure_plaintext.
constexpr char kUndefOk[] = "--undefok=insecure_plaintext";

std::string Key(int i) { return absl::StrCat("k", i); }

// The cached value of ns/key in `agent`'s cache; "" if none is readable.
std::string CachedValue(const AgentHost& agent, const std::string& key) {
  file_cache::FileCacheReader reader(agent.cache_dir());
  auto entry = reader.Read(file_cache::CacheKey::Config(kNs, key));
  return entry.ok() && !entry->absent ? entry->value : "";
}

// The writer: one PUT after another over the keys, each retried through
// leader changes (CacheTierCluster::Put) until it is acknowledged.
class WriteLoad {
 public:
  explicit WriteLoad(testing::CacheTierCluster* cluster) : cluster_(cluster) {}
  ~WriteLoad() { Stop(); }

  void Start(int first) {
    next_ = first;
    thread_ = std::thread([this] { Run(); });
  }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

  struct Ack {
    int64_t revision = 0;
    std::string value;
    absl::Time at;
  };
  // Every acknowledged write per key, in order.
  std::map<std::string, std::vector<Ack>> acks() const {
    absl::MutexLock lock(&mu_);
    return acks_;
  }
  int acknowledged() const { return acknowledged_; }
  int failed() const { return failed_; }

  // Writes one value to every key and waits for it (before the load).
  absl::Status Seed() {
    for (int k = 0; k < kKeys; ++k) {
      KESS_RETURN_IF_ERROR(WriteOne(k, "seed"));
    }
    return absl::OkStatus();
  }

 private:
  absl::Status WriteOne(int k, const std::string& value) {
    absl::StatusOr<int64_t> rev = cluster_->Put(kNs, Key(k), value);
    if (!rev.ok()) return rev.status();
    absl::MutexLock lock(&mu_);
    acks_[Key(k)].push_back({*rev, value, absl::Now()});
    ++acknowledged_;
    return absl::OkStatus();
  }

  void Run() {
    while (!stop_) {
      const int i = next_++;
      absl::Status s = WriteOne(i % kKeys, absl::StrCat("w", i));
      if (!s.ok()) {
        // Put retried for 60 s: a write that could not be made at all.
        ++failed_;
        LOG(WARNING) << "upgrade: write " << i << " failed: " << s;
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
  }

  testing::CacheTierCluster* const cluster_;
  std::atomic<bool> stop_{false};
  int next_ = 0;
  std::atomic<int> acknowledged_{0}, failed_{0};
  mutable absl::Mutex mu_;
  std::map<std::string, std::vector<Ack>> acks_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

// Samples every agent's cache every 100 ms: is every key there, and how
// long has each been behind the newest acknowledged write of its key.
class DataSampler {
 public:
  DataSampler(std::vector<AgentHost*> agents, const WriteLoad* load)
      : agents_(std::move(agents)), load_(load) {
    thread_ = std::thread([this] { Run(); });
  }
  ~DataSampler() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int samples() const { return samples_; }
  // Samples in which some agent had no file for some key.
  int without_data() const { return without_data_; }
  absl::Duration max_staleness() const {
    absl::MutexLock lock(&mu_);
    return max_staleness_;
  }
  std::string worst() const {
    absl::MutexLock lock(&mu_);
    return worst_;
  }
  std::string first_missing() const {
    absl::MutexLock lock(&mu_);
    return first_missing_;
  }

 private:
  void Run() {
    while (!stop_) {
      const auto acks = load_->acks();
      const absl::Time now = absl::Now();
      bool missing = false;
      for (AgentHost* a : agents_) {
        for (int k = 0; k < kKeys; ++k) {
          const std::string key = Key(k);
          const int64_t cached = CachedRevision(*a, kNs, key);
          if (cached == 0) {
            missing = true;
            absl::MutexLock lock(&mu_);
            if (first_missing_.empty()) {
              first_missing_ = absl::StrCat(a->host_id(), " has no ", key,
                                            " at sample ", samples_.load());
            }
            continue;
          }
          // The oldest acknowledged write newer than the cache.
          auto it = acks.find(key);
          if (it == acks.end()) continue;
          for (const WriteLoad::Ack& ack : it->second) {
            if (ack.revision > cached) {
              absl::Duration behind = now - ack.at;
              absl::MutexLock lock(&mu_);
              if (behind > max_staleness_) {
                max_staleness_ = behind;
                worst_ = absl::StrCat(a->host_id(), " ", key, " at ", cached,
                                      " behind ", ack.revision);
              }
              break;
            }
          }
        }
      }
      if (missing) ++without_data_;
      ++samples_;
      absl::SleepFor(absl::Milliseconds(100));
    }
  }

  const std::vector<AgentHost*> agents_;
  const WriteLoad* const load_;
  std::atomic<bool> stop_{false};
  std::atomic<int> samples_{0}, without_data_{0};
  mutable absl::Mutex mu_;
  absl::Duration max_staleness_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  std::string worst_ ABSL_GUARDED_BY(mu_);
  std::string first_missing_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

// The mandators of one DC, followers first and the leader last.
std::vector<MandatorProcess*> UpgradeOrder(MandatorList& mandators) {
  MandatorProcess* leader = testing::FindLeader(mandators);
  std::vector<MandatorProcess*> order;
  for (auto& m : mandators) {
    if (m.get() != leader) order.push_back(m.get());
  }
  if (leader != nullptr) order.push_back(leader);
  return order;
}

TEST(RollingUpgradeTest, OldClusterUpgradedOneProcessAtATimeUnderLoad) {
  const char* old_bin_env = getenv("KESS_UPGRADE_OLD_BIN");
  if (old_bin_env == nullptr || *old_bin_env == '\0') {
    GTEST_SKIP() << "KESS_UPGRADE_OLD_BIN not set (scripts/faults.sh "
                    "--upgrade builds the old release and sets it)";
  }
  const std::string old_bin = old_bin_env;
  const char* old_commit_env = getenv("KESS_UPGRADE_OLD_COMMIT");
  const std::string old_commit =
      old_commit_env != nullptr ? old_commit_env : "old";
  const std::string new_mandator = testing::ClusterBinary("", "mandator/mandator");
  const std::string new_distributor =
      testing::ClusterBinary("", "distributor/distributor");
  const std::string new_agent = testing::ClusterBinary("", "agent/agent");
  const std::vector<std::string> plaintext = {"--insecure_plaintext"};

  DiscoveryClusterOptions options;
  options.tls = false;
  options.mandators_per_dc = 2;
  options.distributors_per_dc = 2;
  options.agents_per_dc = 3;
  options.mandator_binary = old_bin + "/mandator";
  options.distributor_binary = old_bin + "/distributor";
  options.agent_binary = old_bin + "/agent";
  options.mandator_flags = {kUndefOk};
  options.distributor_flags = {kUndefOk};
  options.agent_flags = {kUndefOk};
  auto started = DiscoveryCluster::Start(options);
  ASSERT_TRUE(started.ok()) << started.status();
  DiscoveryCluster& cluster = **started;
  const std::vector<AgentHost*> agents = cluster.AllAgents();
  ASSERT_EQ(agents.size(), 6u);

  // The cluster really runs the older release: its mandators' status has
  // no "version" member (added after it), which the current one has.
  for (const std::string dc : {"dc1", "dc2"}) {
    for (auto& m : cluster.Mandators(dc)) {
      Poco::JSON::Object::Ptr status = testing::StatusOf(*m);
      ASSERT_TRUE(status) << dc << "/" << m->id();
      ASSERT_FALSE(status->has("version"))
          << dc << "/" << m->id() << " is not the old release";
    }
  }

  // Every agent holds every key (and the route table of "web").
  std::string subscription = "{\"configs\":[";
  for (int k = 0; k < kKeys; ++k) {
    absl::StrAppend(&subscription, k == 0 ? "" : ",", "{\"namespace\":\"", kNs,
                    "\",\"key\":\"", Key(k), "\"}");
  }
  subscription += "],\"routes\":[\"web\"]}";
  for (AgentHost* a : agents) {
    ASSERT_TRUE(a->Subscribe(subscription).ok()) << a->host_id();
  }
  WriteLoad load(&cluster.tier());
  ASSERT_TRUE(load.Seed().ok());
  const auto seeded = load.acks();
  for (int k = 0; k < kKeys; ++k) {
    ASSERT_TRUE(testing::WaitCached(agents, kNs, Key(k),
                                    seeded.at(Key(k)).back().revision,
                                    absl::Seconds(60)))
        << Key(k);
  }

  // Registrations through the current SDK (a newer client of the old
  // mandators), one per DC, on hosts of that DC.
  auto web1 = cluster.Register("dc1", "web", "web-dc1");
  auto web2 = cluster.Register("dc2", "web", "web-dc2");
  ASSERT_TRUE(web1.ok()) << web1.status();
  ASSERT_TRUE(web2.ok()) << web2.status();
  ASSERT_TRUE(testing::WaitAllAgents(agents, "web",
                                     testing::HasInstance("web-dc1"),
                                     absl::Seconds(60)));
  ASSERT_TRUE(testing::WaitAllAgents(agents, "web",
                                     testing::HasInstance("web-dc2"),
                                     absl::Seconds(60)));

  CacheReaderLoop reader([&] {
    std::vector<std::string> dirs;
    for (AgentHost* a : agents) dirs.push_back(a->cache_dir());
    return dirs;
  }());
  auto main_zk = cluster.dcs().ConnectMainReader();
  auto slave_zk = cluster.dcs().ConnectSlaveReader();
  ASSERT_TRUE(main_zk.ok()) << main_zk.status();
  ASSERT_TRUE(slave_zk.ok()) << slave_zk.status();
  RouteSampler routes(agents, std::move(main_zk).value(),
                      std::move(slave_zk).value(), cluster.dcs().layout(),
                      {{"web", {"web-dc1", "web-dc2"}}},
                      absl::Milliseconds(200));
  DataSampler data(agents, &load);
  load.Start(kKeys);
  const absl::Time upgrade_start = absl::Now();

  // Every restart: stop, start the current binary on the same state,
  // wait until it is ready, and let the load run over it for a while.
  int restarts = 0;
  const absl::Duration settle = absl::Seconds(3);
  for (const std::string dc : {"dc1", "dc2"}) {
    for (MandatorProcess* m : UpgradeOrder(cluster.Mandators(dc))) {
      LOG(INFO) << "upgrade: mandator " << dc << "/" << m->id();
      m->set_binary(new_mandator, plaintext);
      ASSERT_TRUE(m->Restart().ok()) << dc << "/" << m->id();
      ASSERT_NE(testing::WaitLeader(cluster.Mandators(dc), absl::Seconds(60)),
                nullptr)
          << dc;
      ++restarts;
      absl::SleepFor(settle);
    }
  }
  for (const std::string dc : {"dc1", "dc2"}) {
    for (auto& d : cluster.Dc(dc).distributors) {
      LOG(INFO) << "upgrade: distributor " << dc << "/" << d->id();
      d->set_binary(new_distributor, plaintext);
      ASSERT_TRUE(d->Restart().ok()) << dc << "/" << d->id();
      ++restarts;
      absl::SleepFor(settle);
    }
  }
  for (AgentHost* a : agents) {
    LOG(INFO) << "upgrade: agent " << a->host_id();
    a->set_binary(new_agent, plaintext);
    ASSERT_TRUE(a->Restart().ok()) << a->host_id();
    ++restarts;
    absl::SleepFor(settle);
  }
  const absl::Duration upgrade_took = absl::Now() - upgrade_start;

  // A little more load on the upgraded cluster, then stop and converge.
  absl::SleepFor(absl::Seconds(5));
  load.Stop();
  const auto acks = load.acks();
  int lost = 0;
  std::string first_lost;
  for (int k = 0; k < kKeys; ++k) {
    const std::string key = Key(k);
    const WriteLoad::Ack& last = acks.at(key).back();
    EXPECT_TRUE(testing::WaitCached(agents, kNs, key, last.revision,
                                    absl::Seconds(60)))
        << key << " never reached revision " << last.revision;
    for (AgentHost* a : agents) {
      if (CachedRevision(*a, kNs, key) < last.revision ||
          CachedValue(*a, key) != last.value) {
        ++lost;
        if (first_lost.empty()) {
          first_lost = absl::StrCat(a->host_id(), " ", key, " holds '",
                                    CachedValue(*a, key), "' at ",
                                    CachedRevision(*a, kNs, key), ", acked '",
                                    last.value, "' at ", last.revision);
        }
      }
    }
  }
  EXPECT_TRUE(testing::WaitAllAgents(agents, "web",
                                     testing::HasInstance("web-dc1"),
                                     absl::Seconds(30)));
  EXPECT_TRUE(testing::WaitAllAgents(agents, "web",
                                     testing::HasInstance("web-dc2"),
                                     absl::Seconds(30)));
  data.Stop();
  routes.Stop();
  reader.Stop();

  // Every process runs the current binary now.
  for (const std::string dc : {"dc1", "dc2"}) {
    for (auto& m : cluster.Mandators(dc)) {
      EXPECT_EQ(m->binary(), new_mandator);
      Poco::JSON::Object::Ptr status = testing::StatusOf(*m);
      ASSERT_TRUE(status) << dc << "/" << m->id();
      EXPECT_EQ(status->optValue<std::string>("version", ""), BuildVersion())
          << dc << "/" << m->id();
    }
    for (auto& d : cluster.Dc(dc).distributors) {
      EXPECT_EQ(d->binary(), new_distributor);
    }
  }
  for (AgentHost* a : agents) EXPECT_EQ(a->binary(), new_agent);
  // And every host's heartbeat says so (HostHeartbeat.agent_version, which
  // the old agents did not send): some mandator of its DC lists it with the
  // current release.
  for (const std::string dc : {"dc1", "dc2"}) {
    for (auto& a : cluster.Dc(dc).agents) {
      EXPECT_TRUE(::kess::testing::WaitFor(
          [&] {
            for (auto& m : cluster.Mandators(dc)) {
              absl::StatusOr<HttpReply> reply =
                  HttpCall(m->http_address(), "GET", "/api/v1/hosts?scope=local");
              if (!reply.ok() || reply->status != 200) continue;
              Poco::JSON::Object::Ptr body = testing::JsonBody(reply->body);
              if (!body || !body->has("hosts")) continue;
              Poco::JSON::Array::Ptr hosts = body->getArray("hosts");
              for (size_t i = 0; i < hosts->size(); ++i) {
                Poco::JSON::Object::Ptr h = hosts->getObject(i);
                if (h->optValue<std::string>("host_id", "") == a->host_id() &&
                    h->optValue<std::string>("agent_version", "") ==
                        BuildVersion()) {
                  return true;
                }
              }
            }
            return false;
          },
          absl::Seconds(30), absl::Milliseconds(200)))
          << dc << "/" << a->host_id() << " never reported agent version "
          << BuildVersion();
    }
  }

  EXPECT_EQ(load.failed(), 0);
  EXPECT_EQ(lost, 0) << first_lost;
  EXPECT_EQ(reader.torn(), 0) << reader.first_error();
  EXPECT_EQ(reader.backwards(), 0) << reader.first_error();
  EXPECT_EQ(data.without_data(), 0) << data.first_missing();
  EXPECT_EQ(routes.violation_count(), 0)
      << (routes.violations().empty() ? "" : routes.violations()[0]);

  const int violations = lost + static_cast<int>(reader.torn()) +
                         static_cast<int>(reader.backwards()) +
                         data.without_data() + routes.violation_count() +
                         load.failed();
  LOG(INFO) << "upgrade: " << restarts << " restarts in " << upgrade_took
            << "; writes acknowledged " << load.acknowledged() << ", failed "
            << load.failed() << ", lost " << lost << "; max staleness "
            << data.max_staleness() << " (" << data.worst() << "); "
            << data.samples() << " data samples, " << data.without_data()
            << " with an agent without data; cache reads " << reader.reads()
            << " (torn " << reader.torn() << ", backwards "
            << reader.backwards() << "); route samples " << routes.samples()
            << " (violations " << routes.violation_count() << ")";
  std::cout << "UPGRADE|from=" << old_commit << "|restarts=" << restarts
            << "|took_s=" << absl::ToInt64Seconds(upgrade_took)
            << "|writes_acked=" << load.acknowledged()
            << "|writes_failed=" << load.failed() << "|writes_lost=" << lost
            << "|max_staleness_ms="
            << absl::ToInt64Milliseconds(data.max_staleness())
            << "|data_samples=" << data.samples()
            << "|samples_agent_without_data=" << data.without_data()
            << "|cache_reads=" << reader.reads()
            << "|backwards=" << reader.backwards() << "|torn=" << reader.torn()
            << "|route_samples=" << routes.samples()
            << "|route_violations=" << routes.violation_count() << std::endl;
  std::cout << "FAULTS|rolling upgrade from " << old_commit.substr(0, 7)
            << "|" << restarts
            << " in-place upgrades: 4 mandators + 4 distributors + 6 agents "
               "(max staleness "
            << absl::ToInt64Milliseconds(data.max_staleness()) << " ms)|"
            << load.acknowledged() << "|" << agents.size() * kKeys << "|"
            << reader.reads() + data.samples() << "|" << violations << "|"
            << routes.samples() << "|" << std::endl;
}

}  // namespace
}  // namespace kess
