// Two DCs for replication tests (testonly): one in-memory ZooKeeper per DC
// ("main" and "slave", zk_schema/testing/fake_zk.h, fresh for every test),
// a kess tree under the same root in both, the real config writer
// (ConfigStore) and a route writer (zk::testing::TestLeader) on main, and
// comparisons of the two trees.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "common/metrics.h"
#include "gtest/gtest.h"
#include "mandator/core/config_store.h"
#include "mandator/replication/record_sync.h"
#include "mandator/replication/replicator.h"
#include "zk_schema/layout.h"
#include "zk_schema/testing/fake_zk.h"
#include "zk_schema/testing/test_leader.h"

namespace kess {
namespace mandator {
namespace replication {
namespace testing {

// Generous bounds: only "did not hang" waits use them. Everything runs in
// memory, so a wait that takes this long has failed (and fails well within
// the test's timeout).
inline constexpr absl::Duration kPatience = absl::Seconds(20);

class TwoDcTest : public ::testing::Test {
 protected:
  // Connects main_ and local_ (as user "mandator") and calls
  // InitTrees(100).
  void SetUp() override;

  // A fresh tree under "/<test name><suffix>/kess" in both DCs (main: the
  // main DC's skeleton with `retention`; slave: its own skeleton), and the
  // writers on main. Replaces layout_, store_ and routes_.
  void InitTrees(int retention, const std::string& suffix = "");

  // Another mandator's client of main_zk_ or slave_zk_ (its own session,
  // as another process would have).
  std::unique_ptr<zk::testing::FakeZkClient> Connect(
      zk::testing::FakeZkServer* zk);

  // Writes to main as the leader does; fail the test on error.
  int64_t Put(const std::string& ns, const std::string& key,
              const std::string& value);
  int64_t Delete(const std::string& ns, const std::string& key);
  int64_t PutRoute(const std::string& service, int instances);
  int64_t DeleteRoute(const std::string& service);

  // Options for a replicator of `dc` with fast polls and backoff and the
  // fixture's own metrics registry.
  Replicator::Options ReplicatorOptions(const std::string& dc = "dc2");
  std::unique_ptr<Replicator> StartReplicator(zk::ZkApi* main, zk::ZkApi* local,
                                              Replicator::Options options);
  // Waits (bounded) until `r` reports local revision >= `revision`.
  bool WaitForRevision(const Replicator& r, int64_t revision,
                       absl::Duration timeout = kPatience);

  // Both trees hold the same namespaces, configs and routes: records equal
  // but for the value's body, values equal byte for byte.
  ::testing::AssertionResult SameContent();
  // Local change records [from, to] exist and equal main's (main must
  // still hold them).
  ::testing::AssertionResult ChangelogMatchesMain(int64_t from, int64_t to);
  // path -> (data version, mzxid) of every namespace, config and route node
  // of the local tree, to see what was written.
  std::map<std::string, std::pair<int, int64_t>> LocalNodeVersions();
  // Local revision (from /kess/revision).
  int64_t LocalRevision();
  // The local /kess/revision and its version (a replicator's head); fails
  // the test on error.
  LocalHead Head();
  // The local record of config ns/key; fails the test if it is missing.
  zk::ConfigRecord LocalConfig(const std::string& ns, const std::string& key);
  // The value of a counter in registry_.
  double CounterValue(const std::string& name, const metrics::Labels& labels);

  // Declared first: destroyed after every client.
  zk::testing::FakeZkServer main_zk_;
  zk::testing::FakeZkServer slave_zk_;
  std::unique_ptr<zk::testing::FakeZkClient> main_;
  std::unique_ptr<zk::testing::FakeZkClient> local_;
  zk::Layout layout_;
  std::unique_ptr<core::ConfigStore> store_;
  std::unique_ptr<zk::testing::TestLeader> routes_;
  metrics::Registry registry_;
};

// A value of `size` pseudo-random bytes.
std::string RandomValue(size_t size, uint64_t seed);

// Deletes `path` and everything below it (test clean-up, bounded depth).
absl::Status DeleteTree(zk::ZkApi& zk, const std::string& path);

}  // namespace testing
}  // namespace replication
}  // namespace mandator
}  // namespace kess
