// Discovery end to end against route files written by the real
// FileCacheWriter in a temp dir: serving without an agent, new versions,
// the last good table through garbage, invalid tables and deletion,
// subscribing through a stand-in for the agent's HTTP API, caller-side
// failover on a manual clock, local_first through the options, and Select
// from many threads while tables are swapped.
#include "sdk/discovery.h"

#include <unistd.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "common/testing/wait_for.h"
#include "common/transport/testing/test_util.h"
#include "gtest/gtest.h"
#include "model/file_cache/env.h"
#include "model/file_cache/writer.h"
#include "model/route_table.h"
#include "sdk/testing/route_tables.h"
#include "sdk/testing/test_util.h"

namespace kess {
namespace sdk {
namespace {

using file_cache::CacheEntry;
using file_cache::CacheKey;
using file_cache::Env;
using file_cache::FileCacheWriter;
using ::kess::testing::WaitFor;
using testing::AddressOf;
using testing::Instance;
using testing::kLong;
using transport::testing::UnusedPort;

class DiscoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("discovery");
    ASSERT_FALSE(dir_.empty());
    auto w = FileCacheWriter::Open({dir_});
    ASSERT_TRUE(w.ok());
    writer_ = std::move(w).value();
  }

  void WriteTable(int64_t revision, std::vector<RouteInstance> instances,
                  const std::string& service = "payments") {
    CacheEntry e;
    e.key = CacheKey::Route(service);
    e.revision = revision;
    e.value = RouteTableToJson(
        testing::Table(service, revision, std::move(instances)));
    e.content_type = "application/json";
    ASSERT_TRUE(writer_->Write(e).ok());
  }
  void WriteRaw(int64_t revision, const std::string& value,
                bool absent = false) {
    CacheEntry e;
    e.key = CacheKey::Route("payments");
    e.revision = revision;
    e.value = value;
    e.absent = absent;
    ASSERT_TRUE(writer_->Write(e).ok());
  }

  Discovery::Options BaseOptions(std::string agent_address = "") {
    Discovery::Options o;
    o.cache_dir = dir_;
    o.agent_http_address = std::move(agent_address);
    o.poll_interval = absl::Milliseconds(20);
    o.subscribe_retry_initial = absl::Milliseconds(20);
    o.subscribe_retry_max = absl::Milliseconds(100);
    o.registry = &registry_;
    o.clock = &clock_;
    return o;
  }
  std::unique_ptr<Discovery> Make(const Discovery::Options& o) {
    auto d = Discovery::Create(o);
    EXPECT_TRUE(d.ok()) << d.status();
    return std::move(d).value();
  }

  std::string SelectId(Discovery* d, absl::string_view key = "") {
    auto picked = d->Select("payments", key);
    return picked.ok() ? (*picked)->id : picked.status().ToString();
  }
  std::map<std::string, int> Count(Discovery* d, int n) {
    std::map<std::string, int> counts;
    for (int i = 0; i < n; ++i) ++counts[SelectId(d)];
    return counts;
  }
  double Counter(const std::string& name) {
    return registry_.GetCounter(name, "")->Value();
  }

  std::string dir_;
  metrics::Registry registry_;
  ManualClock clock_;
  std::unique_ptr<FileCacheWriter> writer_;
};

TEST_F(DiscoveryTest, ServesTheCacheWithoutAnAgentAndFollowsNewVersions) {
  WriteTable(3, {Instance("a"), Instance("b"), Instance("c")});
  auto d = Make(BaseOptions("127.0.0.1:" + std::to_string(UnusedPort())));
  auto counts = Count(d.get(), 3000);
  EXPECT_EQ(counts.size(), 3u);
  EXPECT_GT(counts["a"], 700);
  auto picked = d->Select("payments");
  ASSERT_TRUE(picked.ok());
  EXPECT_EQ((*picked)->address, AddressOf((*picked)->id));
  EXPECT_EQ((*d->GetTable("payments"))->revision, 3);

  absl::Mutex mu;
  std::vector<int64_t> seen;
  auto watch = d->Watch("payments", [&](std::shared_ptr<const RouteTable> t) {
    absl::MutexLock lock(&mu);
    seen.push_back(t->revision);
  });
  ASSERT_TRUE(watch.ok());
  ASSERT_TRUE(WaitFor(
      [&] {  // the version cached when the watch began
        absl::MutexLock lock(&mu);
        return !seen.empty();
      },
      kLong));
  WriteTable(4, {Instance("x"), Instance("y")});
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::MutexLock lock(&mu);
        return !seen.empty() && seen.back() == 4;
      },
      kLong));
  counts = Count(d.get(), 1000);
  EXPECT_EQ(counts["x"] + counts["y"], 1000);
  {
    absl::MutexLock lock(&mu);
    EXPECT_EQ(seen, (std::vector<int64_t>{3, 4}));
  }
  // The agent is down: subscribing is retried, tables are still served.
  ASSERT_TRUE(WaitFor(
      [&] { return Counter("kess_sdk_subscribe_errors_total") >= 2; }, kLong));
  // `picked` still holds its (old) table version.
  EXPECT_EQ((*picked)->address, AddressOf((*picked)->id));
  watch->reset();
}

TEST_F(DiscoveryTest, KeepsTheLastGoodTable) {
  WriteTable(5, {Instance("a"), Instance("b")});
  auto d = Make(BaseOptions());
  ASSERT_EQ((*d->GetTable("payments"))->revision, 5);
  const std::string path = dir_ + "/routes/payments.json";
  // `damage` makes the file unusable; the table stays at `revision`.
  auto expect_kept = [&](const std::string& what, int64_t revision,
                         const std::function<void()>& damage) {
    const double before = Counter("kess_sdk_route_read_errors_total");
    damage();
    d->PollNow();  // the background poll may have been first
    EXPECT_GT(Counter("kess_sdk_route_read_errors_total"), before) << what;
    EXPECT_EQ((*d->GetTable("payments"))->revision, revision) << what;
  };
  expect_kept("garbled file", 5, [&] {
    ASSERT_TRUE(file_cache::WriteFileAtomically(Env::Default(), path,
                                                "{\"format\":1,\"ty")
                    .ok());
  });
  expect_kept("invalid table", 5, [&] {
    // A whole, checksummed file whose value is not a valid table.
    WriteRaw(6, "{\"format\":1,\"service\":\"payments\",\"instances\":[{}]}");
  });
  const std::string id = SelectId(d.get());
  EXPECT_TRUE(id == "a" || id == "b") << id;
  WriteTable(7, {Instance("z")});
  d->PollNow();
  ASSERT_EQ((*d->GetTable("payments"))->revision, 7);
  expect_kept("another service's table", 7, [&] {
    CacheEntry other;
    other.key = CacheKey::Route("payments");
    other.revision = 8;
    other.value =
        RouteTableToJson(testing::Table("checkout", 8, {Instance("q")}));
    ASSERT_TRUE(writer_->Write(other).ok());
  });
  // The file vanishing keeps the table too.
  ASSERT_TRUE(Env::Default()->RemoveFile(path).ok());
  d->PollNow();
  EXPECT_EQ(SelectId(d.get()), "z");
  // Deleted upstream: a tombstone, no instances.
  WriteRaw(9, "", /*absent=*/true);
  d->PollNow();
  auto picked = d->Select("payments");
  EXPECT_TRUE(absl::IsNotFound(picked.status())) << picked.status();
  EXPECT_TRUE((*d->GetTable("payments"))->instances.empty());
  WriteTable(10, {Instance("back")});
  d->PollNow();
  EXPECT_EQ(SelectId(d.get()), "back");
}

TEST_F(DiscoveryTest, SubscribesThroughTheAgent) {
  auto agent = testing::FakeAgent::Start();
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto d = Make(BaseOptions((*agent)->address()));
  auto picked = d->Select("payments");
  EXPECT_TRUE(absl::IsNotFound(picked.status())) << picked.status();
  ASSERT_TRUE(WaitFor([&] { return (*agent)->posts() >= 1; }, kLong));
  // With this watcher's owner id ("<program>-<pid>-<nonce>").
  EXPECT_TRUE(absl::StrContains((*agent)->last_body(),
                                R"(,"routes":["payments"]})"))
      << (*agent)->last_body();
  EXPECT_TRUE(absl::StrContains((*agent)->last_body(),
                                absl::StrCat("-", getpid(), "-")))
      << (*agent)->last_body();
  // The agent fetched the table.
  WriteTable(1, {Instance("a")});
  ASSERT_TRUE(WaitFor([&] { return SelectId(d.get()) == "a"; }, kLong));
  usleep(100000);
  EXPECT_EQ((*agent)->posts(), 1);  // once, not per poll or per Select
  EXPECT_EQ(d->Select("../etc").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(DiscoveryTest, ReportFailureEjectsWithBackoffAndBringsBack) {
  WriteTable(1, {Instance("a"), Instance("b"), Instance("c")});
  auto d = Make(BaseOptions());
  d->ReportFailure("payments", "a");
  EXPECT_EQ(Count(d.get(), 3000).count("a"), 0u);
  clock_.Advance(999);
  EXPECT_EQ(Count(d.get(), 3000).count("a"), 0u);
  clock_.Advance(1);
  // Back at 10 % of its weight: ~0.1 / 2.1 of the picks.
  int a = Count(d.get(), 6000)["a"];
  EXPECT_GT(a, 100);
  EXPECT_LT(a, 600);
  // Failing again right away: 2 s this time.
  d->ReportFailure("payments", "a");
  clock_.Advance(1999);
  EXPECT_EQ(Count(d.get(), 2000).count("a"), 0u);
  clock_.Advance(1);
  EXPECT_GT(Count(d.get(), 6000)["a"], 0);
  // Successes bring it back to full weight.
  for (int i = 0; i < 3; ++i) d->ReportSuccess("payments", "a");
  a = Count(d.get(), 6000)["a"];
  EXPECT_GT(a, 1500);
  // Everything ejected: still an instance (the least recently ejected).
  d->ReportFailure("payments", "b");
  clock_.Advance(10);
  d->ReportFailure("payments", "c");
  clock_.Advance(10);
  d->ReportFailure("payments", "a");
  EXPECT_EQ(SelectId(d.get()), "b");
  // Unknown services and instances are ignored.
  d->ReportFailure("nope", "a");
  d->ReportFailure("payments", "nope");
}

TEST_F(DiscoveryTest, LocalFirstAndHrwThroughTheOptions) {
  WriteTable(
      1, {Instance("l1", "dc1"), Instance("l2", "dc1"), Instance("r1", "dc2"),
          Instance("r2", "dc2"), Instance("r3", "dc2")});
  Discovery::Options o = BaseOptions();
  o.balancer = "local_first";
  o.local_datacenter = "dc1";
  o.min_local_healthy = 2;
  auto d = Make(o);
  auto counts = Count(d.get(), 2000);
  EXPECT_EQ(counts["l1"] + counts["l2"], 2000);
  d->ReportFailure("payments", "l1");  // 1 local < 2: all datacenters
  counts = Count(d.get(), 2000);
  EXPECT_EQ(counts.count("l1"), 0u);
  EXPECT_GT(counts["r1"] + counts["r2"] + counts["r3"], 1000);

  auto hrw = d->Balancer("hrw");
  ASSERT_TRUE(hrw.ok());
  for (int i = 0; i < 100; ++i) {
    const std::string key = absl::StrCat("user-", i);
    auto first = d->Select("payments", key, **hrw);
    auto again = d->Select("payments", key, **hrw);
    ASSERT_TRUE(first.ok() && again.ok());
    EXPECT_EQ((*first)->id, (*again)->id);
  }

  o.local_datacenter = "";
  EXPECT_EQ(Discovery::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o.balancer = "round_robin";
  EXPECT_EQ(Discovery::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(DiscoveryTest, SelectFromManyThreadsWhileTablesSwap) {
  auto versioned = [](int v) {
    std::vector<RouteInstance> instances;
    for (int i = 0; i < 20 + v % 7; ++i) {
      instances.push_back(Instance(absl::StrCat("v", v, "-", i),
                                   i % 2 ? "dc1" : "dc2", 1 + i * 10));
    }
    return instances;
  };
  WriteTable(1, versioned(1));
  auto d = Make(BaseOptions());
  constexpr int kThreads = 4;
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::atomic<long> picks{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::shared_ptr<const RouteInstance>> held;
      int last_version = 0;
      for (long i = 0; i < 5000000 && !done.load(); ++i) {
        auto picked = d->Select("payments", t % 2 ? absl::StrCat(i) : "");
        if (!picked.ok()) {
          ++bad;
          continue;
        }
        const RouteInstance& instance = **picked;
        // Whole instances only: the address belongs to the id.
        if (instance.address != AddressOf(instance.id)) ++bad;
        const int version = std::stoi(instance.id.substr(1));
        if (version < last_version) ++bad;  // never back in time
        last_version = version;
        if (i % 1000 == 0 && held.size() < 50) held.push_back(*picked);
        ++picks;
      }
      // Instances held across swaps are still intact.
      for (const auto& h : held) {
        if (h->address != AddressOf(h->id)) ++bad;
      }
    });
  }
  for (int v = 2; v <= 60; ++v) {
    WriteTable(v, versioned(v));
    d->PollNow();
    if (v % 5 == 0) d->ReportFailure("payments", absl::StrCat("v", v, "-3"));
  }
  done = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(picks.load(), kThreads);
  EXPECT_EQ((*d->GetTable("payments"))->revision, 60);
}

}  // namespace
}  // namespace sdk
}  // namespace kess
