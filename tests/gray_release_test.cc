// Gray release end to end: gray release of a config through real processes on
// 127.0.0.1: two DCs (ZooKeeper + a mandator each), 2 distributors and 3
// agents (hosts h1..h3) per DC, each agent with its own cache dir. Host ids
// repeat across the DCs, so a gray release to "h2" selects h2 of both DCs
// (and shows that the gray record replicates to the slave DC). Invariant 12
// of docs/design.md.
//  - hosts list: only the gray hosts' cache files get the gray value at
//    r_g; the others keep the old value at r_b (checked after a later
//    unrelated write reached everyone); promote moves everyone to r_p;
//    a second gray release aborted sends its hosts back to the config's
//    content at a newer revision;
//  - percentage: 100 % selects every host; a percentage chosen from the
//    hosts' buckets (zk_schema/gray.h) selects exactly the hosts below it.
// A reader loop over every cache file runs the whole time: no torn read, no
// revision going backwards.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/http_client.h"
#include "common/testing/wait_for.h"
#include "gtest/gtest.h"
#include "model/file_cache/reader.h"
#include "tests/cluster/cache_reader_loop.h"
#include "tests/cluster/cache_tier_cluster.h"
#include "tests/cluster/mandator_cluster.h"
#include "zk_schema/gray.h"

namespace kess {
namespace testing {
namespace {

// Bounds that only mean "did not hang".
constexpr absl::Duration kWait = absl::Seconds(30);
constexpr char kNs[] = "grayapp";

std::vector<std::string> CacheDirs(const std::vector<AgentHost*>& agents) {
  std::vector<std::string> dirs;
  for (const AgentHost* a : agents) dirs.push_back(a->cache_dir());
  return dirs;
}

std::string ValueIn(const AgentHost& agent, const std::string& key) {
  file_cache::FileCacheReader reader(agent.cache_dir());
  auto entry = reader.Read(file_cache::CacheKey::Config(kNs, key));
  return entry.ok() ? entry->value : entry.status().ToString();
}

class GrayReleaseTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto cluster = CacheTierCluster::Start({});
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(cluster).value().release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(cluster_, nullptr); }

  // `method` `uri` at the main DC's leader, retried while there is none;
  // the answer (any status but 503/504).
  static absl::StatusOr<HttpReply> Call(const std::string& method,
                                        const std::string& uri,
                                        const std::string& body) {
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    absl::Status last = absl::UnavailableError("no leader");
    while (absl::Now() < deadline) {
      MandatorProcess* leader =
          WaitLeader(cluster_->dcs().main(), absl::Seconds(10));
      if (leader == nullptr) continue;
      absl::StatusOr<HttpReply> reply = HttpCall(leader->http_address(), method,
                                                 uri, body, absl::Seconds(20));
      if (reply.ok() && reply->status != 503 && reply->status != 504) {
        return reply;
      }
      last = reply.ok() ? absl::UnavailableError(reply->body) : reply.status();
      absl::SleepFor(absl::Milliseconds(100));
    }
    return last;
  }

  // A write that answers {"revision": r}; r.
  static absl::StatusOr<int64_t> Write(const std::string& uri,
                                       const std::string& body) {
    absl::StatusOr<HttpReply> reply = Call("POST", uri, body);
    if (!reply.ok()) return reply.status();
    if (reply->status != 200) {
      return absl::InternalError(
          absl::StrCat(uri, ": HTTP ", reply->status, ": ", reply->body));
    }
    Poco::JSON::Object::Ptr json = JsonBody(reply->body);
    if (!json) return absl::InternalError(uri + ": " + reply->body);
    return json->getValue<int64_t>("revision");
  }
  static std::string GrayUri(const std::string& key,
                             const std::string& suffix = "") {
    return absl::StrCat("/api/v1/configs/", kNs, "/", key, "/gray", suffix);
  }
  static absl::StatusOr<int64_t> StartGray(const std::string& key,
                                           const std::string& fields) {
    return Write(GrayUri(key), absl::StrCat("{", fields, "}"));
  }
  // Polls GET .../gray until it answers 404 (the record is deleted by a
  // second commit after promote/abort).
  static bool WaitNoGray(const std::string& key) {
    return WaitFor(
        [&] {
          auto reply = Call("GET", GrayUri(key), "");
          return reply.ok() && reply->status == 404;
        },
        kWait, absl::Milliseconds(50));  // an HTTP request: polled slowly
  }

  // Agents split by whether `selected` says their host id is gray.
  template <typename F>
  static void Split(F selected, std::vector<AgentHost*>* gray,
                    std::vector<AgentHost*>* others) {
    for (AgentHost* a : cluster_->AllAgents()) {
      (selected(a->host_id()) ? gray : others)->push_back(a);
    }
  }

  // A write to an unrelated key that every agent has cached: whatever was
  // committed before it has been served too.
  static void Barrier() {
    absl::StatusOr<int64_t> r =
        cluster_->Put(kNs, "marker", absl::StrCat("m", ++markers_));
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE(WaitCached(cluster_->AllAgents(), kNs, "marker", *r, kWait));
  }

  static void SubscribeAll(const std::string& key) {
    for (AgentHost* a : cluster_->AllAgents()) {
      ASSERT_TRUE(
          a->Subscribe(ConfigSubscription({{kNs, key}, {kNs, "marker"}})).ok());
    }
  }

  static CacheTierCluster* cluster_;
  static int markers_;
};
CacheTierCluster* GrayReleaseTest::cluster_ = nullptr;
int GrayReleaseTest::markers_ = 0;

TEST_F(GrayReleaseTest, HostsListPromoteThenAbort) {
  const std::vector<AgentHost*> agents = cluster_->AllAgents();
  ASSERT_EQ(agents.size(), 6u);
  SubscribeAll("color");
  CacheReaderLoop reader(CacheDirs(agents));

  absl::StatusOr<int64_t> r_b = cluster_->Put(kNs, "color", "v1");
  ASSERT_TRUE(r_b.ok()) << r_b.status();
  ASSERT_TRUE(WaitCached(agents, kNs, "color", *r_b, kWait));
  for (AgentHost* a : agents) EXPECT_EQ(ValueIn(*a, "color"), "v1");

  // Gray v2 to h2 (one host per DC).
  std::vector<AgentHost*> gray, others;
  Split([](const std::string& h) { return h == "h2"; }, &gray, &others);
  ASSERT_EQ(gray.size(), 2u);
  absl::StatusOr<int64_t> r_g =
      StartGray("color", R"("value":"v2","hosts":["h2"],"comment":"canary")");
  ASSERT_TRUE(r_g.ok()) << r_g.status();
  EXPECT_GT(*r_g, *r_b);
  ASSERT_TRUE(WaitCached(gray, kNs, "color", *r_g, kWait));
  Barrier();
  for (AgentHost* a : gray) {
    EXPECT_EQ(CachedRevision(*a, kNs, "color"), *r_g) << a->host_id();
    EXPECT_EQ(ValueIn(*a, "color"), "v2") << a->host_id();
  }
  for (AgentHost* a : others) {
    EXPECT_EQ(CachedRevision(*a, kNs, "color"), *r_b) << a->host_id();
    EXPECT_EQ(ValueIn(*a, "color"), "v1") << a->host_id();
  }

  // The status, and the writes that are refused while it is active.
  auto status = Call("GET", GrayUri("color"), "");
  ASSERT_TRUE(status.ok()) << status.status();
  ASSERT_EQ(status->status, 200) << status->body;
  Poco::JSON::Object::Ptr json = JsonBody(status->body);
  ASSERT_TRUE(json);
  EXPECT_TRUE(json->getValue<bool>("active"));
  EXPECT_EQ(json->getValue<int64_t>("revision"), *r_g);
  EXPECT_EQ(json->getValue<int64_t>("base_revision"), *r_b);
  EXPECT_EQ(json->getValue<std::string>("value"), "v2");
  auto put = Call("PUT", absl::StrCat("/api/v1/configs/", kNs, "/color"),
                  PutBody("v9"));
  ASSERT_TRUE(put.ok());
  EXPECT_EQ(put->status, 409) << put->body;
  auto second =
      Call("POST", GrayUri("color"), R"({"value":"x","hosts":["h1"]})");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->status, 409) << second->body;

  // Promote: everyone moves to v2 at r_p.
  absl::StatusOr<int64_t> r_p = Write(GrayUri("color", "/promote"), "");
  ASSERT_TRUE(r_p.ok()) << r_p.status();
  EXPECT_GT(*r_p, *r_g);
  ASSERT_TRUE(WaitCached(agents, kNs, "color", *r_p, kWait));
  for (AgentHost* a : agents) {
    EXPECT_EQ(ValueIn(*a, "color"), "v2") << a->host_id();
  }
  ASSERT_TRUE(WaitNoGray("color"));
  auto again = Call("POST", GrayUri("color", "/promote"), "");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->status, 409) << again->body;

  // Gray v3 to h3, then abort: h3 goes back to v2 at a newer revision.
  gray.clear();
  others.clear();
  Split([](const std::string& h) { return h == "h3"; }, &gray, &others);
  absl::StatusOr<int64_t> r_g2 =
      StartGray("color", R"("value":"v3","hosts":["h3"])");
  ASSERT_TRUE(r_g2.ok()) << r_g2.status();
  EXPECT_GT(*r_g2, *r_p);
  ASSERT_TRUE(WaitCached(gray, kNs, "color", *r_g2, kWait));
  Barrier();
  for (AgentHost* a : gray) EXPECT_EQ(ValueIn(*a, "color"), "v3");
  for (AgentHost* a : others) {
    EXPECT_EQ(CachedRevision(*a, kNs, "color"), *r_p) << a->host_id();
    EXPECT_EQ(ValueIn(*a, "color"), "v2") << a->host_id();
  }
  absl::StatusOr<int64_t> r_a = Write(GrayUri("color", "/abort"), "{}");
  ASSERT_TRUE(r_a.ok()) << r_a.status();
  EXPECT_GT(*r_a, *r_g2);
  ASSERT_TRUE(WaitCached(gray, kNs, "color", *r_a, kWait));
  Barrier();
  for (AgentHost* a : gray) {
    EXPECT_GT(CachedRevision(*a, kNs, "color"), *r_g2) << a->host_id();
    EXPECT_EQ(ValueIn(*a, "color"), "v2") << a->host_id();
  }
  for (AgentHost* a : others) {
    EXPECT_GE(CachedRevision(*a, kNs, "color"), *r_p) << a->host_id();
    EXPECT_EQ(ValueIn(*a, "color"), "v2") << a->host_id();
  }
  ASSERT_TRUE(WaitNoGray("color"));

  reader.Stop();
  EXPECT_GT(reader.reads(), 0);
  EXPECT_EQ(reader.torn(), 0) << reader.first_error();
  EXPECT_EQ(reader.backwards(), 0) << reader.first_error();
}

TEST_F(GrayReleaseTest, PercentageSelectsByBucket) {
  const std::vector<AgentHost*> agents = cluster_->AllAgents();
  SubscribeAll("size");
  CacheReaderLoop reader(CacheDirs(agents));

  absl::StatusOr<int64_t> r_b = cluster_->Put(kNs, "size", "small");
  ASSERT_TRUE(r_b.ok()) << r_b.status();
  ASSERT_TRUE(WaitCached(agents, kNs, "size", *r_b, kWait));

  // 100 %: every host.
  absl::StatusOr<int64_t> r_g =
      StartGray("size", R"("value":"all","percentage":100)");
  ASSERT_TRUE(r_g.ok()) << r_g.status();
  ASSERT_TRUE(WaitCached(agents, kNs, "size", *r_g, kWait));
  for (AgentHost* a : agents) EXPECT_EQ(ValueIn(*a, "size"), "all");
  absl::StatusOr<int64_t> r_a = Write(GrayUri("size", "/abort"), "");
  ASSERT_TRUE(r_a.ok()) << r_a.status();
  ASSERT_TRUE(WaitCached(agents, kNs, "size", *r_a, kWait));
  for (AgentHost* a : agents) EXPECT_EQ(ValueIn(*a, "size"), "small");
  ASSERT_TRUE(WaitNoGray("size"));

  // A percentage just above the lowest bucket of h1..h3: the hosts below
  // it, and not all of them (the buckets of this key do not tie).
  std::vector<uint32_t> buckets;
  for (const char* h : {"h1", "h2", "h3"}) {
    buckets.push_back(zk::GrayBucket(h, kNs, "size"));
  }
  const uint32_t pct = *std::min_element(buckets.begin(), buckets.end()) + 1;
  std::vector<AgentHost*> gray, others;
  Split(
      [&](const std::string& h) {
        return zk::GrayBucket(h, kNs, "size") < pct;
      },
      &gray, &others);
  ASSERT_FALSE(gray.empty());
  ASSERT_FALSE(others.empty()) << "h1..h3 share the lowest bucket";
  r_g = StartGray("size", absl::StrCat(R"("value":"some","percentage":)", pct));
  ASSERT_TRUE(r_g.ok()) << r_g.status();
  ASSERT_TRUE(WaitCached(gray, kNs, "size", *r_g, kWait));
  Barrier();
  for (AgentHost* a : gray) EXPECT_EQ(ValueIn(*a, "size"), "some");
  for (AgentHost* a : others) {
    EXPECT_EQ(CachedRevision(*a, kNs, "size"), *r_a) << a->host_id();
    EXPECT_EQ(ValueIn(*a, "size"), "small") << a->host_id();
  }
  absl::StatusOr<int64_t> r_p = Write(GrayUri("size", "/promote"), "");
  ASSERT_TRUE(r_p.ok()) << r_p.status();
  ASSERT_TRUE(WaitCached(agents, kNs, "size", *r_p, kWait));
  for (AgentHost* a : agents) EXPECT_EQ(ValueIn(*a, "size"), "some");
  ASSERT_TRUE(WaitNoGray("size"));

  reader.Stop();
  EXPECT_EQ(reader.torn(), 0) << reader.first_error();
  EXPECT_EQ(reader.backwards(), 0) << reader.first_error();
}

}  // namespace
}  // namespace testing
}  // namespace kess
