// CacheUpdater (coalescing, revisions, disk faults with retry) and
// SubscriptionSet (parsing, validation, persistence) on a temp directory.
#include "agent/cache_updater.h"

#include <errno.h>
#include <stdlib.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/subscription_set.h"
#include "common/metrics.h"
#include "common/value_encoding.h"
#include "gtest/gtest.h"
#include "model/file_cache/env.h"
#include "model/file_cache/reader.h"
#include "model/file_cache/testing/fault_injection_env.h"
#include "model/file_cache/writer.h"
#include "model/route_delta.h"
#include "model/route_table.h"

namespace kess {
namespace agent {
namespace {

using file_cache::CacheEntry;
using file_cache::Env;
using file_cache::FileCacheReader;
using file_cache::FileCacheWriter;
using file_cache::testing::FaultInjectionEnv;

constexpr absl::Duration kLong = absl::Seconds(30);  // "did not hang"

std::string TempDir() {
  std::string base = getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp";
  std::string tmpl = base + "/agentXXXXXX";
  EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
  return tmpl;
}

CacheEntry Entry(const CacheKey& key, int64_t revision, std::string value) {
  CacheEntry e;
  e.key = key;
  e.revision = revision;
  e.value = std::move(value);
  return e;
}

class CacheUpdaterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempDir();
    auto w = FileCacheWriter::Open({dir_, &env_});
    ASSERT_TRUE(w.ok()) << w.status();
    writer_ = std::move(w).value();
    CacheUpdater::Options options;
    options.retry_initial = absl::Milliseconds(10);
    options.retry_max = absl::Milliseconds(50);
    options.registry = &registry_;
    updater_ = std::make_unique<CacheUpdater>(writer_.get(), options);
  }

  double WriteErrors(const std::string& err) {
    return registry_
        .GetCounter("kess_agent_cache_write_errors_total", "", {{"errno", err}})
        ->Value();
  }

  const CacheKey a_ = CacheKey::Config("shop", "a");
  const CacheKey b_ = CacheKey::Config("shop", "b");
  std::string dir_;
  FaultInjectionEnv env_{Env::Default()};
  metrics::Registry registry_;
  std::unique_ptr<FileCacheWriter> writer_;
  std::unique_ptr<CacheUpdater> updater_;
};

// The family is there at 0 before any failure (the cache-write-errors alert
// of deploy/prometheus/kess-rules.yml needs it on a healthy agent).
TEST_F(CacheUpdaterTest, WriteErrorsAreExposedAtZeroFromTheStart) {
  EXPECT_NE(registry_.RenderText().find(
                "kess_agent_cache_write_errors_total{errno=\"other\"} 0"),
            std::string::npos)
      << registry_.RenderText();
}

TEST_F(CacheUpdaterTest, WritesNewerOnly) {
  EXPECT_TRUE(updater_->Submit(Entry(a_, 3, "three")));
  ASSERT_TRUE(updater_->WaitIdle(kLong));
  EXPECT_EQ(updater_->OnDisk(a_), 3);
  EXPECT_FALSE(updater_->Submit(Entry(a_, 3, "again")));
  EXPECT_FALSE(updater_->Submit(Entry(a_, 2, "older")));
  EXPECT_TRUE(updater_->Submit(Entry(a_, 5, "five")));
  ASSERT_TRUE(updater_->WaitIdle(kLong));
  EXPECT_EQ(FileCacheReader(dir_).Read(a_)->value, "five");
  EXPECT_EQ(updater_->max_revision(), 5);
}

// on_written hands over the written_ms the file has (docs/file-cache.md:
// when the agent wrote it), on the Env's clock, not a later reading.
TEST_F(CacheUpdaterTest, OnWrittenCarriesTheFilesWrittenMs) {
  env_.SetNowMs(1700000000123);
  absl::Mutex mu;
  std::vector<CacheEntry> seen;
  CacheUpdater::Options options;
  options.registry = &registry_;
  options.on_written = [&](const CacheEntry& e) {
    absl::MutexLock lock(&mu);
    seen.push_back(e);
  };
  updater_.reset();
  updater_ = std::make_unique<CacheUpdater>(writer_.get(), options);
  ASSERT_TRUE(updater_->Submit(Entry(a_, 7, "seven")));
  ASSERT_TRUE(updater_->WaitIdle(kLong));
  absl::StatusOr<CacheEntry> file = FileCacheReader(dir_).Read(a_);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->written_ms, 1700000000123);
  absl::MutexLock lock(&mu);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].revision, 7);
  EXPECT_EQ(seen[0].written_ms, file->written_ms);
}

TEST_F(CacheUpdaterTest, FailingKeyIsRetriedWithoutBlockingOthers) {
  ASSERT_TRUE(updater_->Submit(Entry(a_, 1, "a-old")));
  ASSERT_TRUE(updater_->WaitIdle(kLong));

  env_.SetPathFilter("a.json");  // the temp file is ".a.json.tmp-..."
  env_.FailWrites(ENOSPC);
  EXPECT_TRUE(updater_->Submit(Entry(a_, 2, "a-new")));
  EXPECT_TRUE(updater_->Submit(Entry(b_, 3, "b")));
  // b is written while a keeps failing.
  for (int i = 0; i < 3000 && updater_->OnDisk(b_) != 3; ++i) usleep(10000);
  EXPECT_EQ(updater_->OnDisk(b_), 3);
  for (int i = 0; i < 3000 && WriteErrors("ENOSPC") < 3; ++i) usleep(10000);
  EXPECT_GE(WriteErrors("ENOSPC"), 3);  // retried
  EXPECT_EQ(updater_->failing(), 1u);
  EXPECT_EQ(updater_->OnDisk(a_), 1);
  EXPECT_EQ(updater_->Known(a_), 2);  // pending counts as known
  EXPECT_EQ(FileCacheReader(dir_).Read(a_)->value, "a-old");  // intact

  // A newer version replaces the pending one; then the disk recovers.
  EXPECT_TRUE(updater_->Submit(Entry(a_, 4, "a-newest")));
  env_.FailWrites(0);
  env_.FailSyncs(EIO);
  for (int i = 0; i < 3000 && WriteErrors("EIO") < 1; ++i) usleep(10000);
  EXPECT_GE(WriteErrors("EIO"), 1);
  EXPECT_EQ(FileCacheReader(dir_).Read(a_)->value, "a-old");
  env_.Heal();
  ASSERT_TRUE(updater_->WaitIdle(kLong));
  EXPECT_EQ(FileCacheReader(dir_).Read(a_)->value, "a-newest");
  EXPECT_EQ(updater_->failing(), 0u);
}

TEST(SubscriptionSetTest, ParseValidatesNames) {
  auto keys = ParseKeyList(
      R"({"configs":[{"namespace":"shop","key":"db.timeout"}],"routes":["pay"]})");
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0], CacheKey::Config("shop", "db.timeout"));
  EXPECT_EQ((*keys)[1], CacheKey::Route("pay"));
  for (const char* bad :
       {R"({"configs":[{"namespace":"..","key":"k"}]})",
        R"({"configs":[{"namespace":"ns","key":"a/b"}]})",
        R"({"configs":[{"namespace":"ns","key":"a\u0000b"}]})",
        R"({"configs":[{"namespace":"ns","key":"../../etc/passwd"}]})",
        R"({"routes":["a..b"]})", R"({"routes":[1]})",
        R"({"configs":[{"namespace":"ns"}]})", R"({"configs":"x"})",
        "not json"}) {
    auto r = ParseKeyList(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  auto nul = ParseKeyList(R"({"routes":["a\u0000b"]})");
  EXPECT_NE(nul.status().message().find("not allowed"), std::string::npos)
      << nul.status();
}

TEST(SubscriptionSetTest, PersistsAcrossLoads) {
  std::string dir = TempDir();
  auto set = SubscriptionSet::Load(Env::Default(), dir);
  ASSERT_TRUE(set.ok()) << set.status();
  Subscription both;
  both.keys = {CacheKey::Config("shop", "a"), CacheKey::Route("p")};
  auto added = (*set)->Add(kDefaultOwner, both);
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(added->size(), 2u);
  Subscription p;
  p.keys = {CacheKey::Route("p")};
  EXPECT_TRUE((*set)->Add(kDefaultOwner, p)->empty());
  auto again = SubscriptionSet::Load(Env::Default(), dir);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->size(), 2u);
  EXPECT_TRUE((*again)->Contains(CacheKey::Config("shop", "a")));
}

TEST(SubscriptionSetTest, WriteFailureAddsNothing) {
  std::string dir = TempDir();
  FaultInjectionEnv env(Env::Default());
  auto set = SubscriptionSet::Load(&env, dir);
  ASSERT_TRUE(set.ok());
  env.FailSyncs(EIO);
  Subscription p;
  p.keys = {CacheKey::Route("p")};
  p.namespaces = {"shop"};
  EXPECT_FALSE((*set)->Add("app", p).ok());
  EXPECT_FALSE((*set)->ContainsNamespace("shop"));
  EXPECT_EQ((*set)->size(), 0u);
}

TEST(SubscriptionSetTest, ParsesNamespaces) {
  auto s = ParseSubscription(
      R"({"namespaces":["shop","shop","pay"],"routes":["r"],"app":"x"})");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->namespaces, (std::set<std::string>{"pay", "shop"}));
  EXPECT_EQ(s->keys, (std::set<CacheKey>{CacheKey::Route("r")}));
  for (const char* bad : {R"({"namespaces":["../x"]})",
                          R"({"namespaces":"shop"})", R"({"namespaces":[1]})",
                          R"({"namespaces":["a/b"]})"}) {
    auto r = ParseSubscription(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(ValidateOwner("checkout-1234").ok());
  EXPECT_FALSE(ValidateOwner("").ok());
  EXPECT_FALSE(ValidateOwner("a/b").ok());
  EXPECT_FALSE(ValidateOwner(std::string(200, 'a')).ok());
}

// Two owners share a key and a namespace: only the last one to leave
// unsubscribes them, and the owners survive a reload.
TEST(SubscriptionSetTest, OwnersReferenceCountAndPersist) {
  std::string dir = TempDir();
  auto set = SubscriptionSet::Load(Env::Default(), dir);
  ASSERT_TRUE(set.ok());
  EXPECT_FALSE((*set)->loaded_from_file());
  Subscription shop;
  shop.namespaces = {"shop"};
  shop.keys = {CacheKey::Config("pay", "k")};
  EXPECT_EQ(*(*set)->Add("a", shop), shop);  // new for the host
  EXPECT_TRUE((*set)->Add("b", shop)->empty());  // already held by a
  EXPECT_TRUE((*set)->Contains(CacheKey::Config("shop", "any")));
  EXPECT_FALSE((*set)->Contains(CacheKey::Config("other", "any")));
  EXPECT_EQ((*set)->OwnersOfNamespace("shop"),
            (std::vector<std::string>{"a", "b"}));

  auto again = SubscriptionSet::Load(Env::Default(), dir);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE((*again)->loaded_from_file());
  EXPECT_EQ((*again)->Owners(), (*set)->Owners());

  EXPECT_TRUE((*set)->Remove("a", shop)->empty());  // b still holds both
  EXPECT_TRUE((*set)->ContainsNamespace("shop"));
  EXPECT_TRUE((*set)->Remove("nobody", shop)->empty());
  EXPECT_EQ(*(*set)->Remove("b", shop), shop);  // the last owner
  EXPECT_FALSE((*set)->ContainsNamespace("shop"));
  EXPECT_EQ((*set)->size(), 0u);
  again = SubscriptionSet::Load(Env::Default(), dir);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->size(), 0u);
  EXPECT_TRUE((*again)->Owners().empty());
}

// With a grace period, what the last owner drops lingers: still subscribed
// (Keys, Contains), reused without an upstream subscribe when an owner takes
// it again, released by Expire once due; the deadline survives a reload,
// and a reload after it releases it.
TEST(SubscriptionSetTest, GracePeriodLingersReusesAndPersists) {
  std::string dir = TempDir();
  FaultInjectionEnv env(Env::Default());
  env.SetNowMs(1000000);
  const absl::Duration grace = absl::Seconds(60);
  auto set = SubscriptionSet::Load(&env, dir, grace);
  ASSERT_TRUE(set.ok());
  Subscription shop;
  shop.namespaces = {"shop"};
  shop.keys = {CacheKey::Route("pay")};
  EXPECT_EQ(*(*set)->Add("a", shop), shop);
  EXPECT_EQ((*set)->NextExpiryMs(), 0);

  // The last owner leaves: released for the API, but still subscribed.
  EXPECT_EQ(*(*set)->Remove("a", shop), shop);
  EXPECT_TRUE((*set)->Owners().empty());
  EXPECT_TRUE((*set)->ContainsNamespace("shop"));
  EXPECT_TRUE((*set)->Contains(CacheKey::Config("shop", "x")));
  EXPECT_EQ((*set)->Keys().count(CacheKey::Route("pay")), 1u);
  EXPECT_EQ((*set)->Lingering(), shop);
  EXPECT_EQ((*set)->NextExpiryMs(), 1060000);
  env.SetNowMs(1059999);
  EXPECT_TRUE((*set)->Expire()->empty());  // not due yet

  // Taken again within the grace period: nothing to subscribe upstream.
  EXPECT_TRUE((*set)->Add("b", shop)->empty());
  EXPECT_TRUE((*set)->Lingering().empty());
  EXPECT_EQ((*set)->NextExpiryMs(), 0);
  EXPECT_EQ((*set)->OwnersOfNamespace("shop"), (std::vector<std::string>{"b"}));

  // Dropped again; a restarted agent keeps it until the deadline.
  env.SetNowMs(2000000);
  EXPECT_EQ(*(*set)->Remove("b", shop), shop);
  env.SetNowMs(2030000);
  auto reloaded = SubscriptionSet::Load(&env, dir, grace);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ((*reloaded)->Lingering(), shop);
  EXPECT_EQ((*reloaded)->NextExpiryMs(), 2060000);
  EXPECT_TRUE((*reloaded)->ContainsNamespace("shop"));
  // ... and releases it once due (persisted).
  env.SetNowMs(2060000);
  EXPECT_EQ(*(*reloaded)->Expire(), shop);
  EXPECT_FALSE((*reloaded)->ContainsNamespace("shop"));
  EXPECT_EQ((*reloaded)->size(), 0u);
  auto after = SubscriptionSet::Load(&env, dir, grace);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ((*after)->size(), 0u);

  // A reload after the deadline (the agent was down through it) drops it.
  ASSERT_TRUE((*set)->Add("c", shop).ok());
  env.SetNowMs(3000000);
  ASSERT_TRUE((*set)->Remove("c", shop).ok());
  env.SetNowMs(3060001);
  auto late = SubscriptionSet::Load(&env, dir, grace);
  ASSERT_TRUE(late.ok());
  EXPECT_EQ((*late)->size(), 0u);
  EXPECT_TRUE((*late)->Lingering().empty());

  // Without a grace period nothing lingers.
  auto none = SubscriptionSet::Load(&env, TempDir());
  ASSERT_TRUE(none.ok());
  ASSERT_TRUE((*none)->Add("a", shop).ok());
  EXPECT_EQ(*(*none)->Remove("a", shop), shop);
  EXPECT_EQ((*none)->size(), 0u);
  EXPECT_EQ((*none)->NextExpiryMs(), 0);
}

// A subscriptions.json from before owners (no "owners", no "namespaces")
// loads as the default owner's; the file written now still carries the
// union at the top for an older agent.
TEST(SubscriptionSetTest, OldFileLoadsAsDefaultOwner) {
  std::string dir = TempDir();
  ASSERT_TRUE(file_cache::WriteFileAtomically(
                  Env::Default(), dir + "/subscriptions.json",
                  R"({"configs":[{"namespace":"shop","key":"a"}],)"
                  R"("routes":["p"]})")
                  .ok());
  auto set = SubscriptionSet::Load(Env::Default(), dir);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ((*set)->OwnersOf(CacheKey::Route("p")),
            (std::vector<std::string>{kDefaultOwner}));
  Subscription ns;
  ns.namespaces = {"shop"};
  ASSERT_TRUE((*set)->Add("app", ns).ok());
  auto text = Env::Default()->ReadFile(dir + "/subscriptions.json");
  ASSERT_TRUE(text.ok());
  auto old_view = ParseKeyList(*text);  // what an older agent reads
  ASSERT_TRUE(old_view.ok()) << old_view.status();
  EXPECT_EQ(old_view->size(), 2u);
  auto union_view = ParseSubscription(*text);
  ASSERT_TRUE(union_view.ok());
  EXPECT_EQ(union_view->namespaces, ns.namespaces);
  // A corrupt owners section refuses to load.
  ASSERT_TRUE(file_cache::WriteFileAtomically(
                  Env::Default(), dir + "/subscriptions.json",
                  R"({"owners":{"a":{"namespaces":["../x"]}}})")
                  .ok());
  EXPECT_EQ(SubscriptionSet::Load(Env::Default(), dir).status().code(),
            absl::StatusCode::kDataLoss);
}

// Route deltas: applied to the version on disk or pending, written whole;
// a delta that does not fit or gives another CRC-32 is counted and reported
// (the agent then pulls the whole table), and the old file stays.
class CacheUpdaterDeltaTest : public CacheUpdaterTest {
 protected:
  void SetUp() override {
    CacheUpdaterTest::SetUp();
    updater_.reset();
    CacheUpdater::Options options;
    options.registry = &registry_;
    options.on_delta_failed = [this](const CacheKey& key) {
      absl::MutexLock lock(&mu_);
      failed_.push_back(key.ToString());
    };
    updater_ = std::make_unique<CacheUpdater>(writer_.get(), options);
    for (int64_t revision : {10, 11, 12, 13}) {
      RouteTable t;
      t.service = "checkout";
      t.revision = revision;
      for (int n = 0; n < 50; ++n) {
        RouteInstance in;
        in.id = "i-" + std::to_string(100 + n);
        in.host = "h";
        in.address = "127.0.0.1:" + std::to_string(1000 + n);
        in.datacenter = "dc1";
        in.weight = n == 7 ? static_cast<int>(revision) : 100;
        t.instances.push_back(in);
      }
      tables_[revision] = t;
    }
  }

  CacheEntry Whole(int64_t revision) {
    return Entry(route_, revision, RouteTableToJson(tables_[revision]));
  }
  bool SubmitDelta(int64_t from, int64_t to, uint32_t crc_xor = 0) {
    CacheEntry e = Entry(route_, to, "");
    return updater_->SubmitDelta(
        e, Crc32(RouteTableToJson(tables_[to])) ^ crc_xor,
        std::make_shared<const RouteDelta>(
            ComputeRouteDelta(tables_[from], tables_[to])));
  }
  std::string OnDiskValue() { return FileCacheReader(dir_).Read(route_)->value; }
  std::vector<std::string> Failed() {
    absl::MutexLock lock(&mu_);
    return failed_;
  }
  double Failures(const std::string& reason) {
    return registry_
        .GetCounter("kess_agent_route_delta_failures_total", "",
                    {{"reason", reason}})
        ->Value();
  }

  const CacheKey route_ = CacheKey::Route("checkout");
  std::map<int64_t, RouteTable> tables_;
  absl::Mutex mu_;
  std::vector<std::string> failed_ ABSL_GUARDED_BY(mu_);
};

TEST_F(CacheUpdaterDeltaTest, AppliesToTheFileAndToWhatIsPending) {
  ASSERT_TRUE(updater_->Submit(Whole(10)));
  ASSERT_TRUE(updater_->WaitIdle(kLong));
  ASSERT_TRUE(SubmitDelta(10, 11));  // on the file
  ASSERT_TRUE(updater_->WaitIdle(kLong));
  EXPECT_EQ(updater_->OnDisk(route_), 11);
  EXPECT_EQ(OnDiskValue(), RouteTableToJson(tables_[11]));
  // Two deltas queued behind each other before the writer gets to them.
  bool queued = SubmitDelta(11, 12) && SubmitDelta(12, 13);
  EXPECT_TRUE(queued);
  EXPECT_EQ(updater_->Known(route_), 13);
  ASSERT_TRUE(updater_->WaitIdle(kLong));
  EXPECT_EQ(OnDiskValue(), RouteTableToJson(tables_[13]));
  EXPECT_GE(updater_->deltas_applied(), 2);
  EXPECT_FALSE(SubmitDelta(12, 13));  // not newer
  EXPECT_TRUE(Failed().empty());
  EXPECT_EQ(updater_->delta_failures(), 0);
}

// The table last written is applied to from memory; without that memory
// it is read back from its file.
TEST_F(CacheUpdaterDeltaTest, AppliesToTheTableInMemoryNotTheFile) {
  ASSERT_TRUE(updater_->Submit(Whole(10)));
  ASSERT_TRUE(updater_->WaitIdle(kLong));
  const std::string path = dir_ + "/routes/checkout.json";
  auto garble = [&] {
    FILE* f = fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    fputs("garbage", f);
    fclose(f);
  };
  garble();
  ASSERT_TRUE(SubmitDelta(10, 11));
  ASSERT_TRUE(updater_->WaitIdle(kLong));
  EXPECT_EQ(OnDiskValue(), RouteTableToJson(tables_[11]));
  EXPECT_EQ(updater_->delta_failures(), 0);

  // No memory: the garbled file is no base.
  updater_.reset();
  CacheUpdater::Options options;
  options.registry = &registry_;
  options.route_memory_bytes = 0;
  updater_ = std::make_unique<CacheUpdater>(writer_.get(), options);
  ASSERT_TRUE(updater_->Submit(Whole(12)));
  ASSERT_TRUE(updater_->WaitIdle(kLong));
  ASSERT_TRUE(SubmitDelta(12, 13));  // the file is read back: fine
  ASSERT_TRUE(updater_->WaitIdle(kLong));
  EXPECT_EQ(OnDiskValue(), RouteTableToJson(tables_[13]));
  EXPECT_EQ(Failures("no_base"), 0);
}

TEST_F(CacheUpdaterDeltaTest, AMismatchOrAMissingBaseAsksForTheWholeTable) {
  ASSERT_TRUE(updater_->Submit(Whole(10)));
  ASSERT_TRUE(updater_->WaitIdle(kLong));
  // The CRC-32 of the result is not the one the leader wrote.
  ASSERT_TRUE(SubmitDelta(10, 11, /*crc_xor=*/1));
  ASSERT_TRUE(updater_->WaitIdle(kLong));
  EXPECT_EQ(Failures("crc_mismatch"), 1);
  EXPECT_EQ(updater_->OnDisk(route_), 10);  // the old file stays
  EXPECT_EQ(OnDiskValue(), RouteTableToJson(tables_[10]));
  // A base this host does not hold.
  EXPECT_FALSE(SubmitDelta(12, 13));
  EXPECT_EQ(Failures("no_base"), 1);
  EXPECT_EQ(Failed(), (std::vector<std::string>{route_.ToString(),
                                                route_.ToString()}));
  EXPECT_EQ(updater_->delta_failures(), 2);
  // The whole table then arrives and is written.
  ASSERT_TRUE(updater_->Submit(Whole(13)));
  ASSERT_TRUE(updater_->WaitIdle(kLong));
  EXPECT_EQ(OnDiskValue(), RouteTableToJson(tables_[13]));
}

}  // namespace
}  // namespace agent
}  // namespace kess
