// The DataSet kept current from a real ZooKeeper by the ZkFollower: full
// load, incremental changes (puts, deletes, a chunked 5 MB value, routes),
// full resync after the change log was trimmed, the shrink guard, a missing
// tree, and forced session expiry.
#include <memory>
#include <string>
#include <vector>

#include "common/testing/wait_for.h"
#include "distributor/testing/test_fixture.h"
#include "distributor/zk_follower.h"
#include "gtest/gtest.h"
#include "zk_schema/codec.h"
#include "zk_schema/revision_log.h"

namespace kess {
namespace distributor {
namespace testing {
namespace {

using ::kess::testing::WaitFor;

// Records every batch the follower publishes.
class RecordingListener : public ChangeListener {
 public:
  void OnChanges(const std::vector<ItemPtr>& changes,
                 int64_t revision) override {
    absl::MutexLock lock(&mu_);
    for (const ItemPtr& item : changes) keys_.push_back(item->key);
    last_revision_ = revision;
  }
  std::vector<std::string> keys() {
    absl::MutexLock lock(&mu_);
    return keys_;
  }
  void Clear() {
    absl::MutexLock lock(&mu_);
    keys_.clear();
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> keys_;
  int64_t last_revision_ = 0;
};

class SyncTest : public DistributorFixture {
 protected:
  // A follower of its own (own ZK session) on `data`.
  std::unique_ptr<ZkFollower> Follow(DataSet* data, ChangeListener* listener,
                                     DistributorMetrics* metrics,
                                     absl::Duration poll = absl::Hours(1)) {
    if (reader_ == nullptr) {
      absl::StatusOr<std::unique_ptr<zk::ZkClient>> client =
          zk::ZkClient::Create(
              zk::testing::TestClientOptions(zk()->ConnectString()));
      EXPECT_TRUE(client.ok()) << client.status();
      reader_ = *std::move(client);
    }
    ZkFollowerOptions options;
    options.poll_interval = poll;
    options.retry_interval = absl::Milliseconds(50);
    auto follower = std::make_unique<ZkFollower>(reader_.get(), *layout_, data,
                                                 listener, metrics, options);
    follower->Start();
    return follower;
  }

  // Commits `n` puts of key "k<i>" with value "v<i>".
  void PutMany(int n, const std::string& prefix = "k") {
    for (int i = 0; i < n; ++i) {
      ASSERT_GT(Put("ns", absl::StrCat(prefix, i), absl::StrCat("v", i)), 0);
    }
  }

  // Bumps the summary past a change log that holds nothing: followers must
  // reload fully (as after a trim, or a restored tree).
  void ForceFullResync() {
    auto [summary, version] = *zk::ReadRevision(*writer_, *layout_);
    summary.set_revision(summary.revision() + 1);
    summary.set_oldest_retained(summary.revision() + 1);
    ASSERT_TRUE(
        writer_->Set(layout_->RevisionPath(), zk::Encode(summary), version)
            .ok());
  }

  // Deletes config records k0..k<n-1> behind the change log's back.
  void DeleteRecordsDirectly(int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(
          writer_->Delete(*layout_->ConfigPath("ns", absl::StrCat("k", i)))
              .ok());
    }
  }

  std::unique_ptr<zk::ZkClient> reader_;
  metrics::Registry registry_;
  DistributorMetrics metrics_{&registry_};
};

TEST_F(SyncTest, LoadsEverythingThenFollowsPutsDeletesChunksAndRoutes) {
  ASSERT_GT(Put("ns", "a", "1"), 0);
  RouteTable table;
  table.service = "svc";
  table.instances.push_back(TestInstance("127.0.0.1:80"));
  ASSERT_TRUE(leader_->PutRoute(table).ok());

  DataSet data;
  RecordingListener listener;
  std::unique_ptr<ZkFollower> follower = Follow(&data, &listener, &metrics_);
  ASSERT_TRUE(WaitFor([&] { return data.loaded(); }, kWait));
  EXPECT_EQ(data.revision(), ZkRevision());
  EXPECT_EQ(data.live_keys(), 2u);
  EXPECT_EQ(Decode(data.Find("c/ns/a")).value(), "1");
  EXPECT_EQ(Decode(data.Find("c/ns/a")).content_type(), "text/plain");
  EXPECT_EQ(Decode(data.Find("r/svc")).content_type(), "application/json");
  absl::StatusOr<RouteTable> loaded =
      RouteTableFromJson(Decode(data.Find("r/svc")).value());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->instances[0].address, "127.0.0.1:80");
  EXPECT_FALSE(follower->stale());

  // Incremental, through the watch (the poll interval is an hour).
  const int64_t put_b = Put("ns", "b", "2");
  ASSERT_GT(Put("ns", "a", "1-new"), 0);
  const std::string big(5 * 1000 * 1000, 'x');
  const int64_t put_big = Put("ns", "big", big);
  const int64_t del_b = Delete("ns", "b");
  const int64_t del_route = *leader_->DeleteRoute("svc");
  ASSERT_TRUE(WaitFor([&] { return data.revision() == del_route; }, kWait));
  EXPECT_EQ(Decode(data.Find("c/ns/a")).value(), "1-new");
  protocol::Resource big_resource = Decode(data.Find("c/ns/big"));
  EXPECT_EQ(big_resource.revision(), put_big);
  EXPECT_TRUE(big_resource.value() == big);
  EXPECT_EQ(big_resource.crc32(), zk::Crc32(big));
  // Deletes are tombstones at the delete's revision.
  ItemPtr b = data.Find("c/ns/b");
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(b->absent);
  EXPECT_EQ(b->revision, del_b);
  EXPECT_GT(del_b, put_b);
  EXPECT_TRUE(data.Find("r/svc")->absent);
  EXPECT_EQ(data.live_keys(), 2u);  // a, big
  EXPECT_EQ(Gauge(&registry_, "kess_distributor_revision"), del_route);
  EXPECT_EQ(Counter(&registry_, "kess_distributor_full_reloads_total"), 1);
}

TEST_F(SyncTest, FullResyncAfterTrimmedChangelogAppliesOnlyDifferences) {
  PutMany(10);
  DataSet data;
  RecordingListener listener;
  std::unique_ptr<ZkFollower> follower = Follow(&data, &listener, &metrics_);
  ASSERT_TRUE(WaitFor([&] { return data.loaded(); }, kWait));
  follower->Stop();
  const int64_t before = data.revision();

  // More than the retention (100) of commits, then the log is trimmed: the
  // next follower cannot catch up incrementally.
  for (int i = 0; i < 120; ++i) {
    ASSERT_GT(Put("ns", "hot", absl::StrCat(i)), 0);
  }
  ASSERT_GT(Delete("ns", "k3"), 0);
  ASSERT_TRUE(leader_->Trim().ok());
  ASSERT_FALSE(
      writer_->Exists(layout_->ChangelogPath(before + 1))->has_value());

  listener.Clear();
  follower = Follow(&data, &listener, &metrics_);
  ASSERT_TRUE(WaitFor([&] { return data.revision() == ZkRevision(); }, kWait));
  EXPECT_EQ(Counter(&registry_, "kess_distributor_full_reloads_total"), 2);
  std::vector<std::string> changed = listener.keys();
  std::sort(changed.begin(), changed.end());
  EXPECT_EQ(changed, (std::vector<std::string>{"c/ns/hot", "c/ns/k3"}));
  EXPECT_EQ(Decode(data.Find("c/ns/hot")).value(), "119");
  EXPECT_TRUE(data.Find("c/ns/k3")->absent);
  EXPECT_EQ(data.live_keys(), 10u);  // k0..k9 without k3, plus hot
}

// ZooKeeper "sick": records vanish without change records (a restored or
// damaged tree), and the follower must resync fully. It refuses to shrink.
TEST_F(SyncTest, FullReloadThatWouldShrinkTooMuchIsRefused) {
  PutMany(10);
  DataSet data;
  RecordingListener listener;
  std::unique_ptr<ZkFollower> follower = Follow(&data, &listener, &metrics_);
  ASSERT_TRUE(WaitFor([&] { return data.loaded(); }, kWait));
  follower->Stop();

  DeleteRecordsDirectly(8);
  ForceFullResync();

  listener.Clear();
  follower = Follow(&data, &listener, &metrics_, absl::Milliseconds(100));
  ASSERT_TRUE(WaitFor(
      [&] {
        return Counter(&registry_, "kess_distributor_refused_shrink_total") >=
               2;
      },
      kWait));
  EXPECT_TRUE(follower->stale());
  EXPECT_NE(follower->stale_reason().find("refused"), std::string::npos);
  EXPECT_EQ(data.live_keys(), 10u);
  EXPECT_EQ(Decode(data.Find("c/ns/k0")).value(), "v0");
  EXPECT_TRUE(listener.keys().empty());
  EXPECT_EQ(Gauge(&registry_, "kess_distributor_stale"), 1);
}

// The same number of deletes through the change log is legitimate.
TEST_F(SyncTest, ManyDeletesThroughTheChangelogAreApplied) {
  PutMany(10);
  DataSet data;
  RecordingListener listener;
  std::unique_ptr<ZkFollower> follower = Follow(&data, &listener, &metrics_);
  ASSERT_TRUE(WaitFor([&] { return data.loaded(); }, kWait));
  for (int i = 0; i < 10; ++i) {
    ASSERT_GT(Delete("ns", absl::StrCat("k", i)), 0);
  }
  ASSERT_TRUE(WaitFor([&] { return data.revision() == ZkRevision(); }, kWait));
  EXPECT_EQ(data.live_keys(), 0u);
  EXPECT_EQ(Counter(&registry_, "kess_distributor_refused_shrink_total"), 0);
  EXPECT_FALSE(follower->stale());
}

TEST_F(SyncTest, MissingTreeIsAnErrorNeverAnEmptyDataSet) {
  PutMany(3);
  DataSet data;
  RecordingListener listener;
  std::unique_ptr<ZkFollower> follower =
      Follow(&data, &listener, &metrics_, absl::Milliseconds(100));
  ASSERT_TRUE(WaitFor([&] { return data.loaded(); }, kWait));
  listener.Clear();
  // The whole configs subtree disappears, and the summary says "resync".
  DeleteRecordsDirectly(3);
  ASSERT_TRUE(writer_->Delete(*layout_->NamespacePath("ns")).ok());
  ASSERT_TRUE(writer_->Delete(layout_->ConfigsDir()).ok());
  ForceFullResync();
  ASSERT_TRUE(WaitFor(
      [&] {
        return Counter(&registry_, "kess_distributor_zk_errors_total") >= 2;
      },
      kWait));
  EXPECT_TRUE(follower->stale());
  EXPECT_EQ(data.live_keys(), 3u);
  EXPECT_TRUE(listener.keys().empty());
}

TEST_F(SyncTest, SessionExpiryRearmsTheWatchAndConverges) {
  ASSERT_GT(Put("ns", "a", "1"), 0);
  DataSet data;
  RecordingListener listener;
  // Hour-long poll: only the (re-armed) watch can deliver changes quickly.
  std::unique_ptr<ZkFollower> follower = Follow(&data, &listener, &metrics_);
  ASSERT_TRUE(WaitFor([&] { return data.loaded(); }, kWait));
  const int64_t generation = reader_->generation();
  absl::StatusOr<zk::SessionCredentials> creds = reader_->session_credentials();
  ASSERT_TRUE(creds.ok());
  ASSERT_TRUE(zk::testing::ExpireSession(zk()->ConnectString(), *creds).ok());
  ASSERT_GT(Put("ns", "a", "during"), 0);
  ASSERT_TRUE(
      WaitFor([&] { return reader_->generation() > generation; }, kWait));
  ASSERT_TRUE(WaitFor([&] { return data.revision() == ZkRevision(); }, kWait));
  EXPECT_EQ(Decode(data.Find("c/ns/a")).value(), "during");
  // A change after the new session arrives through the new watch.
  const int64_t after = Put("ns", "a", "after");
  ASSERT_TRUE(
      WaitFor([&] { return data.revision() == after; }, absl::Seconds(10)));
  EXPECT_EQ(Decode(data.Find("c/ns/a")).value(), "after");
  EXPECT_FALSE(follower->stale());
}

}  // namespace
}  // namespace testing
}  // namespace distributor
}  // namespace kess
