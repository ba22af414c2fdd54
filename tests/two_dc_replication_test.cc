// End to end across two DCs: a main DC and a slave DC, each with
// its own real ZooKeeper server and three real `mandator` processes. Each
// test starts its own cluster and compares what the two ZooKeepers hold,
// read directly (tests/cluster/dc_snapshot.h). Invariants 1, 2, 4, 5 and 11
// of docs/design.md:
//  - a write through the real `kessctl` appears in the slave DC's ZooKeeper
//    with the same revision and content, and kessctl reads it back there;
//  - kill -9 of the main leader during 1,000 writes: every acknowledged
//    write is in the slave DC with its revision and value, revisions
//    strictly increase, neither change log has gaps;
//  - main ZooKeeper stopped: writes refused (503, clear message), the slave
//    DC serves its data unchanged (HTTP API and ZooKeeper); both converge
//    after the restart;
//  - forced expiry of the slave leader's session: leadership re-armed,
//    writes made during and after it are replicated;
//  - kill -9 of the slave leader during writes: the slave's revision never
//    goes back, no revision is skipped or applied with other content.
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/http_client.h"
#include "common/testing/wait_for.h"
#include "glog/logging.h"
#include "gtest/gtest.h"
#include "tests/cluster/dc_snapshot.h"
#include "tests/cluster/mandator_cluster.h"
#include "tests/cluster/two_dc_cluster.h"
#include "tests/harness/run_command.h"
#include "zk_schema/revision_log.h"
#include "zk_schema/testing/real_zk.h"

namespace kess {
namespace {

using testing::CommandResult;
using testing::JsonBody;
using testing::MandatorProcess;
using testing::PutBody;
using testing::RunCommand;
using testing::WaitFor;

// Only "did not hang" bounds.
constexpr absl::Duration kPatience = absl::Seconds(60);

std::string TempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

// Runs the real kessctl binary with `args`; stdout captured, stderr to the
// test log. A failure to run it is a test failure and an exit code of -1.
CommandResult RunKessctl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {
      absl::StrCat(std::getenv("TEST_SRCDIR"), "/kess/kessctl/kessctl")};
  // The cluster's CA: its mandators serve HTTPS (cluster_tls.h).
  if (!DefaultHttpsCaFile().empty()) {
    argv.push_back("--ca=" + DefaultHttpsCaFile());
  }
  argv.insert(argv.end(), args.begin(), args.end());
  absl::StatusOr<CommandResult> result = RunCommand(argv, kPatience);
  if (!result.ok()) {
    ADD_FAILURE() << result.status();
    return CommandResult{};
  }
  return *std::move(result);
}

class TwoDcReplicationTest : public ::testing::Test {
 protected:
  void StartCluster(testing::TwoDcClusterOptions options = {}) {
    auto cluster = testing::TwoDcCluster::Start(options);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
    auto main = cluster_->ConnectMainReader();
    ASSERT_TRUE(main.ok()) << main.status();
    main_ = *std::move(main);
    auto slave = cluster_->ConnectSlaveReader();
    ASSERT_TRUE(slave.ok()) << slave.status();
    slave_ = *std::move(slave);
    ASSERT_NE(testing::WaitLeader(cluster_->main(), kPatience), nullptr);
    ASSERT_NE(testing::WaitLeader(cluster_->slave(), kPatience), nullptr);
  }

  void TearDown() override {
    if (HasFailure() && cluster_ != nullptr) {
      LOG(INFO) << "mandator logs are in " << cluster_->logs_dir();
    }
    main_.reset();
    slave_.reset();
    cluster_.reset();
  }

  static int64_t RevisionIn(zk::ZkApi& zk) {
    auto read = zk::ReadRevision(zk, zk::Layout::Create("/kess").value());
    return read.ok() ? read->first.revision() : -1;
  }

  absl::StatusOr<testing::DcSnapshot> Snapshot(zk::ZkApi& zk) {
    return testing::ReadDc(zk, cluster_->layout());
  }

  // Waits until the slave DC's ZooKeeper is at main's revision, then
  // compares what both hold. Requires that nothing writes meanwhile.
  ::testing::AssertionResult Converged() {
    int64_t main_revision = -1;
    int64_t slave_revision = -1;
    if (!WaitFor(
            [&] {
              main_revision = RevisionIn(*main_);
              slave_revision = RevisionIn(*slave_);
              return main_revision >= 0 && main_revision == slave_revision;
            },
            kPatience)) {
      return ::testing::AssertionFailure()
             << "the slave DC stays at revision " << slave_revision
             << ", main is at " << main_revision;
    }
    auto main = Snapshot(*main_);
    auto slave = Snapshot(*slave_);
    if (!main.ok() || !slave.ok()) {
      return ::testing::AssertionFailure()
             << "main " << main.status() << ", slave " << slave.status();
    }
    return testing::SameData(*main, *slave);
  }

  // A PUT through the main DC that must succeed; returns the revision.
  int64_t Put(const std::string& ns, const std::string& key,
              const std::string& value) {
    MandatorProcess* leader = testing::WaitLeader(cluster_->main(), kPatience);
    if (leader == nullptr) return -1;
    auto reply = HttpCall(leader->http_address(), "PUT",
                          absl::StrCat("/api/v1/configs/", ns, "/", key),
                          PutBody(value));
    EXPECT_TRUE(reply.ok() && reply->status == 200)
        << (reply.ok() ? reply->body : reply.status().ToString());
    if (!reply.ok() || reply->status != 200) return -1;
    return JsonBody(reply->body)->getValue<int64_t>("revision");
  }

  std::unique_ptr<testing::TwoDcCluster> cluster_;
  std::unique_ptr<zk::ZkClient> main_;   // reader of the main DC's ZK
  std::unique_ptr<zk::ZkClient> slave_;  // reader of the slave DC's ZK
};

TEST_F(TwoDcReplicationTest, AKessctlWriteReachesTheSlaveDatacenter) {
  StartCluster();
  // Through a follower first: it forwards to the leader.
  const std::string mandators =
      absl::StrCat("--mandators=", cluster_->main()[2]->http_address(), ",",
                   cluster_->main()[0]->http_address());
  CommandResult put = RunKessctl({mandators, "--output=json", "config", "put",
                                  "app", "greeting", "hello from dc1"});
  ASSERT_EQ(put.exit_code, 0) << put.out;
  Poco::JSON::Object::Ptr ack = JsonBody(put.out);
  ASSERT_TRUE(ack) << put.out;
  const int64_t revision = ack->getValue<int64_t>("revision");

  // A binary value above the inline limit: chunked in both DCs.
  const std::string blob_path = TempDir() + "/blob.bin";
  std::string blob(300 * 1024, '\0');
  for (size_t i = 0; i < blob.size(); ++i) blob[i] = static_cast<char>(i * 7);
  std::ofstream(blob_path, std::ios::binary) << blob;
  CommandResult put_blob = RunKessctl(
      {mandators, "config", "put", "app", "blob", "--file=" + blob_path});
  ASSERT_EQ(put_blob.exit_code, 0) << put_blob.out;

  ASSERT_TRUE(Converged());
  auto slave = Snapshot(*slave_);
  ASSERT_TRUE(slave.ok()) << slave.status();
  const mandator::core::Config& greeting = slave->configs.at("app/greeting");
  EXPECT_EQ(greeting.record.revision(), revision);
  EXPECT_EQ(greeting.value, "hello from dc1");
  EXPECT_EQ(slave->configs.at("app/blob").value, blob);
  EXPECT_EQ(slave->revision, revision + 1);

  // kessctl reads the same back from a slave-DC mandator, and is refused a
  // write there.
  const std::string slave_mandator =
      "--mandators=" + cluster_->slave()[1]->http_address();
  CommandResult get =
      RunKessctl({slave_mandator, "config", "get", "app", "blob"});
  EXPECT_EQ(get.exit_code, 0);
  EXPECT_TRUE(get.out == blob) << "kessctl get in the slave DC differs";
  CommandResult get_json = RunKessctl(
      {slave_mandator, "--output=json", "config", "get", "app", "greeting"});
  ASSERT_EQ(get_json.exit_code, 0);
  EXPECT_EQ(JsonBody(get_json.out)->getValue<int64_t>("revision"), revision);
  EXPECT_EQ(
      RunKessctl({slave_mandator, "config", "put", "app", "x", "y"}).exit_code,
      3);
}

TEST_F(TwoDcReplicationTest, KillingTheMainLeaderLosesNothingInTheSlave) {
  StartCluster();
  MandatorProcess* first = testing::WaitLeader(cluster_->main(), kPatience);
  ASSERT_NE(first, nullptr);
  constexpr int kWrites = 1000;
  testing::WriteStreamOptions stream;
  stream.writes = kWrites;
  stream.kill = first;
  stream.kill_after = 300;
  const testing::WriteStreamResult result =
      testing::WriteStream(cluster_->main(), stream);
  ASSERT_NE(result.killed_at, absl::InfiniteFuture()) << "no kill";
  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(result.revisions.size(), kWrites);
  EXPECT_GT(result.failed_attempts, 0) << "the kill interrupted nothing";
  for (size_t i = 1; i < result.revisions.size(); ++i) {
    ASSERT_LT(result.revisions[i - 1], result.revisions[i]) << "write " << i;
  }

  ASSERT_TRUE(Converged());
  auto slave = Snapshot(*slave_);
  ASSERT_TRUE(slave.ok()) << slave.status();
  for (int i = 0; i < kWrites; ++i) {
    const std::string name = "stream/" + testing::StreamKey(i);
    ASSERT_EQ(slave->configs.count(name), 1) << name;
    const mandator::core::Config& c = slave->configs.at(name);
    EXPECT_EQ(c.record.revision(), result.revisions[i]) << name;
    EXPECT_EQ(c.value, testing::StreamValue(i)) << name;
  }
  // Every revision from 1 on, in both DCs (SameData checks the slave's log
  // equals main's and has no gaps).
  EXPECT_EQ(slave->changelog.begin()->first, 1);
  EXPECT_EQ(static_cast<int64_t>(slave->changelog.size()), slave->revision);
}

TEST_F(TwoDcReplicationTest, TheSlaveKeepsServingWhileMainZooKeeperIsDown) {
  StartCluster();
  for (int i = 0; i < 20; ++i) {
    ASSERT_GT(Put("outage", testing::StreamKey(i), testing::StreamValue(i)), 0);
  }
  ASSERT_TRUE(Converged());
  auto before = Snapshot(*slave_);
  ASSERT_TRUE(before.ok()) << before.status();
  const std::string probe = "/api/v1/configs/outage/" + testing::StreamKey(7);
  auto probe_before =
      HttpCall(cluster_->slave()[0]->http_address(), "GET", probe);
  ASSERT_TRUE(probe_before.ok() && probe_before->status == 200);

  ASSERT_TRUE(cluster_->main_zk().StopServer(0).ok());
  // Longer than a session: every main mandator loses its session.
  const absl::Time outage_end = absl::Now() + absl::Seconds(6);
  int rounds = 0;
  while (absl::Now() < outage_end) {
    ++rounds;
    for (auto& m : cluster_->main()) {
      auto reply =
          HttpCall(m->http_address(), "PUT", "/api/v1/configs/outage/x",
                   PutBody("during"), absl::Seconds(30));
      ASSERT_TRUE(reply.ok()) << reply.status();
      ASSERT_EQ(reply->status, 503) << m->id() << ": " << reply->body;
      auto error = JsonBody(reply->body)->getObject("error");
      ASSERT_TRUE(error) << reply->body;
      EXPECT_EQ(error->getValue<std::string>("code"), "UNAVAILABLE");
      EXPECT_FALSE(error->getValue<std::string>("message").empty());
    }
    for (auto& m : cluster_->slave()) {
      auto got = HttpCall(m->http_address(), "GET", probe);
      ASSERT_TRUE(got.ok() && got->status == 200) << m->id();
      EXPECT_EQ(got->body, probe_before->body) << m->id();
      auto health = HttpCall(m->http_address(), "GET", "/healthz");
      ASSERT_TRUE(health.ok());
      EXPECT_EQ(health->status, 200) << m->id() << ": " << health->body;
      Poco::JSON::Object::Ptr status = testing::StatusOf(*m);
      ASSERT_TRUE(status);
      EXPECT_EQ(status->getValue<int64_t>("revision"), before->revision);
    }
    absl::SleepFor(absl::Milliseconds(300));
  }
  EXPECT_GT(rounds, 3);
  auto during = Snapshot(*slave_);
  ASSERT_TRUE(during.ok()) << during.status();
  EXPECT_TRUE(testing::SameData(*before, *during))
      << "the slave DC's data changed while main was down";
  EXPECT_EQ(during->changelog, before->changelog);

  ASSERT_TRUE(cluster_->main_zk().StartServer(0).ok());
  // Writes work again once a main leader is back; the slave follows.
  const absl::Time deadline = absl::Now() + kPatience;
  bool written = false;
  while (!written && absl::Now() < deadline) {
    for (auto& m : cluster_->main()) {
      auto reply =
          HttpCall(m->http_address(), "PUT", "/api/v1/configs/outage/x",
                   PutBody("after"), absl::Seconds(20));
      written = reply.ok() && reply->status == 200;
      if (written) break;
    }
    if (!written) absl::SleepFor(absl::Milliseconds(200));
  }
  ASSERT_TRUE(written) << "no write succeeded after main ZooKeeper came back";
  ASSERT_TRUE(Converged());
  auto after = Snapshot(*slave_);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->configs.at("outage/x").value, "after");
  EXPECT_EQ(after->configs.at("outage/x").record.version(), 1)
      << "a refused write was applied";
}

TEST_F(TwoDcReplicationTest, SlaveLeaderSessionExpiryReelectsAndCatchesUp) {
  testing::TwoDcClusterOptions options;
  options.proxy_slave_zk = true;
  StartCluster(options);
  for (int i = 0; i < 10; ++i) {
    ASSERT_GT(Put("before", testing::StreamKey(i), testing::StreamValue(i)), 0);
  }
  ASSERT_TRUE(Converged());
  MandatorProcess* leader = testing::WaitLeader(cluster_->slave(), kPatience);
  ASSERT_NE(leader, nullptr);
  auto creds = cluster_->SlaveSessionCredentials(*leader);
  ASSERT_TRUE(creds.ok()) << creds.status();

  // Writes go on in the main DC while the session ends.
  std::atomic<int> acked{0};
  testing::WriteStreamResult result;
  std::thread writer([&] {
    testing::WriteStreamOptions stream;
    stream.ns = "during";
    stream.writes = 300;
    stream.on_ack = [&](int) { ++acked; };
    result = testing::WriteStream(cluster_->main(), stream);
  });
  ASSERT_TRUE(WaitFor([&] { return acked >= 50; }, kPatience));
  const absl::Status expired =
      zk::testing::ExpireSession(cluster_->slave_zk().ConnectString(), *creds);
  writer.join();
  ASSERT_TRUE(expired.ok()) << expired;
  ASSERT_TRUE(result.status.ok()) << result.status;
  for (int i = 0; i < 10; ++i) {
    ASSERT_GT(Put("after", testing::StreamKey(i), testing::StreamValue(i)), 0);
  }

  // The old leader is on a new session (it noticed the expiry); the DC has
  // a leader that replicates everything.
  ASSERT_TRUE(WaitFor(
      [&] {
        Poco::JSON::Object::Ptr status = testing::StatusOf(*leader);
        return status &&
               status->getValue<std::string>("zookeeper") == "connected" &&
               status->getValue<std::string>("zk_session_id") !=
                   absl::StrCat("0x", absl::Hex(creds->session_id)) &&
               status->getValue<std::string>("zk_session_id") != "0x0";
      },
      kPatience))
      << leader->id() << " did not get a new session";
  MandatorProcess* now = testing::WaitLeader(cluster_->slave(), kPatience);
  ASSERT_NE(now, nullptr);
  LOG(INFO) << "slave leader before the expiry: " << leader->id()
            << ", after: " << now->id();
  ASSERT_TRUE(Converged());
  auto slave = Snapshot(*slave_);
  ASSERT_TRUE(slave.ok());
  EXPECT_EQ(slave->configs.count("during/" + testing::StreamKey(299)), 1);
  EXPECT_EQ(slave->configs.count("after/" + testing::StreamKey(9)), 1);
}

TEST_F(TwoDcReplicationTest, KillingTheSlaveLeaderNeitherSkipsNorRepeats) {
  StartCluster();
  MandatorProcess* leader = testing::WaitLeader(cluster_->slave(), kPatience);
  ASSERT_NE(leader, nullptr);

  // Watches the slave's revision from the outside: it never goes back.
  std::atomic<bool> done{false};
  std::atomic<int> went_back{0};
  std::thread monitor([&] {
    int64_t last = 0;
    while (!done) {
      const int64_t now = RevisionIn(*slave_);
      if (now >= 0 && now < last) ++went_back;
      if (now > last) last = now;
      absl::SleepFor(absl::Milliseconds(2));
    }
  });
  testing::WriteStreamOptions stream;
  stream.writes = 500;
  stream.kill = leader;  // the slave DC's leader
  stream.kill_after = 150;
  const testing::WriteStreamResult result =
      testing::WriteStream(cluster_->main(), stream);
  ASSERT_NE(result.killed_at, absl::InfiniteFuture()) << "no kill";
  ASSERT_TRUE(result.status.ok()) << result.status;

  MandatorProcess* next = testing::WaitLeader(cluster_->slave(), kPatience);
  ASSERT_NE(next, nullptr);
  EXPECT_NE(next, leader);
  const ::testing::AssertionResult converged = Converged();
  done = true;
  monitor.join();
  ASSERT_TRUE(converged);
  EXPECT_EQ(went_back, 0) << "the slave's revision went back";
  auto slave = Snapshot(*slave_);
  ASSERT_TRUE(slave.ok());
  for (int i = 0; i < stream.writes; ++i) {
    const std::string name = "stream/" + testing::StreamKey(i);
    ASSERT_EQ(slave->configs.count(name), 1) << name;
    EXPECT_EQ(slave->configs.at(name).record.revision(), result.revisions[i]);
    EXPECT_EQ(slave->configs.at(name).value, testing::StreamValue(i));
  }
  // Each revision once, from 1 on, equal to main's (SameData).
  EXPECT_EQ(slave->changelog.begin()->first, 1);
  EXPECT_EQ(static_cast<int64_t>(slave->changelog.size()), slave->revision);
}

}  // namespace
}  // namespace kess
