// ConfigClient against a cache written by the real FileCacheWriter and a
// stand-in for the agent's HTTP API: callbacks for new versions, the last
// good value kept when a file turns to garbage, reading without an agent,
// and subscribing once the agent is up.
#include "sdk/config_client.h"

#include <unistd.h>

#include <functional>
#include <memory>
#include <string>
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
#include "sdk/testing/test_util.h"

namespace kess {
namespace sdk {
namespace {

using file_cache::CacheEntry;
using file_cache::CacheKey;
using file_cache::Env;
using file_cache::FileCacheWriter;
using ::kess::testing::WaitFor;
using testing::kLong;
using transport::testing::UnusedPort;

class ConfigClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("sdk");
    ASSERT_FALSE(dir_.empty());
    auto w = FileCacheWriter::Open({dir_});
    ASSERT_TRUE(w.ok());
    writer_ = std::move(w).value();
  }

  void Write(int64_t revision, const std::string& value, bool absent = false,
             const std::string& key = "db.timeout") {
    CacheEntry e;
    e.key = CacheKey::Config("shop", key);
    e.revision = revision;
    e.value = value;
    e.absent = absent;
    ASSERT_TRUE(writer_->Write(e).ok());
  }

  std::unique_ptr<ConfigClient> Client(
      std::string agent_address,
      absl::Duration poll_interval = absl::Milliseconds(20),
      bool watch_directories = true, std::string owner = "") {
    ConfigClient::Options o;
    o.owner = std::move(owner);
    o.cache_dir = dir_;
    o.agent_http_address = std::move(agent_address);
    o.poll_interval = poll_interval;
    o.watch_directories = watch_directories;
    o.subscribe_retry_initial = absl::Milliseconds(20);
    o.subscribe_retry_max = absl::Milliseconds(100);
    o.registry = &registry_;
    auto c = ConfigClient::Create(o);
    EXPECT_TRUE(c.ok()) << c.status();
    return std::move(c).value();
  }

  double Counter(const std::string& name) {
    return registry_.GetCounter(name, "")->Value();
  }

  // Records the callback's versions.
  struct Seen {
    ConfigClient::Callback Callback() {
      return [this](const ConfigValue& v) {
        absl::MutexLock lock(&mu);
        revisions.push_back(v.revision);
        values.push_back(v.value);
      };
    }
    int64_t last() {
      absl::MutexLock lock(&mu);
      return revisions.empty() ? 0 : revisions.back();
    }
    absl::Mutex mu;
    std::vector<int64_t> revisions;
    std::vector<std::string> values;
  };

  const CacheKey key_ = CacheKey::Config("shop", "db.timeout");
  std::string dir_;
  metrics::Registry registry_;
  std::unique_ptr<FileCacheWriter> writer_;
};

// With polling pushed out to an hour, only inotify can bring a new version
// (and the key's directory does not exist yet when the watch starts: the
// agent creates it with the first file). Without inotify the same write is
// not seen: the test can tell the two apart.
TEST_F(ConfigClientTest, NewVersionsArriveThroughInotifyBetweenPolls) {
  auto client = Client("", absl::Hours(1));
  Seen seen;
  auto watch = client->Watch("shop", "db.timeout", seen.Callback());
  ASSERT_TRUE(watch.ok());
  Write(3, "30s");
  ASSERT_TRUE(WaitFor([&] { return seen.last() == 3; }, kLong));
  Write(4, "40s");
  EXPECT_TRUE(WaitFor([&] { return seen.last() == 4; }, kLong));

  auto polling_only = Client("", absl::Hours(1), /*watch_directories=*/false);
  Seen late;
  auto late_watch =
      polling_only->Watch("shop", "db.timeout", late.Callback());
  ASSERT_TRUE(late_watch.ok());
  ASSERT_TRUE(WaitFor([&] { return late.last() == 4; }, kLong));  // at Watch
  Write(5, "50s");
  EXPECT_TRUE(WaitFor([&] { return seen.last() == 5; }, kLong));
  EXPECT_FALSE(
      WaitFor([&] { return late.last() == 5; }, absl::Milliseconds(500)));
}

TEST_F(ConfigClientTest, WorksWithoutAgentAndCallsBackForEveryNewVersion) {
  Write(3, "30s");
  auto client = Client("127.0.0.1:" + std::to_string(UnusedPort()));
  // Get without a watch reads the cache.
  auto v = client->Get("shop", "db.timeout");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->value, "30s");
  EXPECT_EQ(v->revision, 3);

  Seen seen;
  auto watch = client->Watch("shop", "db.timeout", seen.Callback());
  ASSERT_TRUE(watch.ok());
  ASSERT_TRUE(WaitFor([&] { return seen.last() == 3; }, kLong));
  Write(4, "40s");
  ASSERT_TRUE(WaitFor([&] { return seen.last() == 4; }, kLong));
  Write(7, "70s");
  ASSERT_TRUE(WaitFor([&] { return seen.last() == 7; }, kLong));
  EXPECT_EQ(client->Get("shop", "db.timeout")->value, "70s");
  {
    absl::MutexLock lock(&seen.mu);
    EXPECT_EQ(seen.revisions, (std::vector<int64_t>{3, 4, 7}));
    EXPECT_EQ(seen.values.back(), "70s");
  }
  // The agent is down: subscribing is retried, values are still served.
  ASSERT_TRUE(WaitFor(
      [&] { return Counter("kess_sdk_subscribe_errors_total") >= 2; }, kLong));

  // Deleted upstream: a tombstone version.
  Write(9, "", /*absent=*/true);
  ASSERT_TRUE(WaitFor([&] { return seen.last() == 9; }, kLong));
  EXPECT_TRUE(absl::IsNotFound(client->Get("shop", "db.timeout").status()));
  watch->reset();
}

TEST_F(ConfigClientTest, KeepsLastGoodValueWhenTheFileTurnsToGarbage) {
  Write(5, "good");
  auto client = Client("");
  Seen seen;
  auto watch = client->Watch("shop", "db.timeout", seen.Callback());
  ASSERT_TRUE(watch.ok());
  ASSERT_TRUE(WaitFor([&] { return seen.last() == 5; }, kLong));

  const std::string path = dir_ + "/configs/shop/db.timeout.json";
  for (const std::string& garbage :
       {std::string("{\"format\":1,\"type\":"), std::string("\x00\xff", 2),
        std::string("")}) {
    const double before = Counter("kess_sdk_config_read_errors_total");
    ASSERT_TRUE(
        file_cache::WriteFileAtomically(Env::Default(), path, garbage).ok());
    ASSERT_TRUE(WaitFor(
        [&] { return Counter("kess_sdk_config_read_errors_total") > before; },
        kLong));
    auto v = client->Get("shop", "db.timeout");
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_EQ(v->value, "good");
  }
  // A file whose value was flipped (CRC mismatch) is garbage too.
  Write(6, "tampered");  // the writer's revision moves on
  client->PollNow();
  ASSERT_TRUE(WaitFor([&] { return seen.last() == 6; }, kLong));
  auto text = Env::Default()->ReadFile(path);
  std::string flipped = *text;
  flipped.replace(flipped.find("tampered"), 8, "TAMPERED");
  const double before = Counter("kess_sdk_config_read_errors_total");
  ASSERT_TRUE(
      file_cache::WriteFileAtomically(Env::Default(), path, flipped).ok());
  ASSERT_TRUE(WaitFor(
      [&] { return Counter("kess_sdk_config_read_errors_total") > before; },
      kLong));
  EXPECT_EQ(client->Get("shop", "db.timeout")->value, "tampered");
  // The file vanishing keeps the value too.
  ASSERT_TRUE(Env::Default()->RemoveFile(path).ok());
  client->PollNow();
  EXPECT_EQ(client->Get("shop", "db.timeout")->value, "tampered");
  // An older revision never replaces a newer one.
  writer_.reset();
  auto w = FileCacheWriter::Open({dir_});
  ASSERT_TRUE(w.ok());
  writer_ = std::move(w).value();
  Write(2, "older");
  client->PollNow();
  EXPECT_EQ(client->Get("shop", "db.timeout")->value, "tampered");
  EXPECT_EQ(seen.last(), 6);
}

TEST_F(ConfigClientTest, SubscribesThroughTheAgentOnceItIsUp) {
  const int port = UnusedPort();
  auto client = Client("127.0.0.1:" + std::to_string(port));
  Seen seen;
  auto watch = client->Watch("shop", "db.timeout", seen.Callback());
  ASSERT_TRUE(watch.ok());
  EXPECT_TRUE(absl::IsNotFound(client->Get("shop", "db.timeout").status()));
  ASSERT_TRUE(WaitFor(
      [&] { return Counter("kess_sdk_subscribe_errors_total") >= 1; }, kLong));

  // The agent starts; it takes the subscription and writes the file.
  auto agent = testing::FakeAgent::Start(port);
  ASSERT_TRUE(agent.ok()) << agent.status();
  ASSERT_TRUE(WaitFor([&] { return (*agent)->posts() >= 1; }, kLong));
  EXPECT_EQ((*agent)->last_body(),
            absl::StrCat(
                R"({"app":")", client->owner(),
                R"(","configs":[{"namespace":"shop","key":"db.timeout"}]})"));
  EXPECT_TRUE(
      absl::StrContains(client->owner(), absl::StrCat("-", getpid(), "-")))
      << client->owner();
  Write(1, "v1");
  ASSERT_TRUE(WaitFor([&] { return seen.last() == 1; }, kLong));
  usleep(100000);
  EXPECT_EQ((*agent)->posts(), 1);  // subscribed once, not on every poll
}

TEST_F(ConfigClientTest, InvalidNamesAndDroppedWatches) {
  auto client = Client("");
  for (const std::string& bad :
       {std::string(".."), std::string("a/b"), std::string("a\0b", 3)}) {
    EXPECT_EQ(
        client->Watch("shop", bad, [](const ConfigValue&) {}).status().code(),
        absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(client->Get(bad, "k").status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  Write(1, "v1");
  Seen seen;
  auto watch = client->Watch("shop", "db.timeout", seen.Callback());
  ASSERT_TRUE(WaitFor([&] { return seen.last() == 1; }, kLong));
  watch->reset();  // no more callbacks
  Write(2, "v2");
  client->PollNow();
  EXPECT_EQ(seen.last(), 1);
}

// A namespace watch gets the keys the cache has, a key created later (its
// file appears: inotify, with polling out of the way), a tombstone; a file
// of another namespace and a temp file are not keys.
TEST_F(ConfigClientTest, WatchNamespaceGetsEveryKeyIncludingLaterOnes) {
  Write(1, "a1", false, "a");
  auto client = Client("", absl::Hours(1));
  struct Versions {
    absl::Mutex mu;
    std::vector<std::string> seen;
  } versions;
  auto watch = client->WatchNamespace("shop", [&](const ConfigValue& v) {
    absl::MutexLock lock(&versions.mu);
    versions.seen.push_back(absl::StrCat(v.namespace_name, "/", v.key, "@",
                                         v.revision,
                                         v.deleted ? "-" : "=" + v.value));
  });
  ASSERT_TRUE(watch.ok()) << watch.status();
  auto seen = [&] {
    absl::MutexLock lock(&versions.mu);
    return versions.seen;
  };
  ASSERT_TRUE(WaitFor([&] { return seen().size() == 1; }, kLong));
  EXPECT_EQ(seen()[0], "shop/a@1=a1");

  Write(2, "b2", false, "b");  // a key created later
  CacheEntry other;
  other.key = CacheKey::Config("other", "x");
  other.revision = 3;
  ASSERT_TRUE(writer_->Write(other).ok());
  ASSERT_TRUE(Env::Default()
                  ->WriteFileAndSync(dir_ + "/configs/shop/.b.json.tmp-1-1",
                                     "partial")
                  .ok());
  ASSERT_TRUE(WaitFor([&] { return seen().size() == 2; }, kLong));
  EXPECT_EQ(seen()[1], "shop/b@2=b2");
  Write(4, "", /*absent=*/true, "a");  // deleted
  ASSERT_TRUE(WaitFor([&] { return seen().size() == 3; }, kLong));
  EXPECT_EQ(seen()[2], "shop/a@4-");
  client->PollNow();
  EXPECT_EQ(seen().size(), 3u);  // each version once
  EXPECT_EQ(client->WatchNamespace("..", [](const ConfigValue&) {})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  watch->reset();
  Write(5, "b5", false, "b");
  client->PollNow();
  EXPECT_EQ(seen().size(), 3u);
}

// Under inotify a namespace watch learns new keys and versions from the
// events' file names: no directory listing per change (a namespace of
// thousands of keys is not re-read on every write); only the poll_interval
// backstop lists.
TEST_F(ConfigClientTest, NamespaceChangesUnderInotifyAreReadByName) {
  Write(1, "a1", false, "a");
  auto client = Client("", absl::Hours(1));
  absl::Mutex mu;
  std::vector<std::string> seen;
  auto watch = client->WatchNamespace("shop", [&](const ConfigValue& v) {
    absl::MutexLock lock(&mu);
    seen.push_back(absl::StrCat(v.key, "@", v.revision));
  });
  ASSERT_TRUE(watch.ok()) << watch.status();
  auto count = [&] {
    absl::MutexLock lock(&mu);
    return seen.size();
  };
  ASSERT_TRUE(WaitFor([&] { return count() == 1; }, kLong));
  const int64_t listed = client->directory_listings();
  EXPECT_GE(listed, 1);
  constexpr int kKeys = 50;
  for (int i = 0; i < kKeys; ++i) {
    Write(2 + i, absl::StrCat("v", i), false, absl::StrCat("k", i));
  }
  Write(100, "a100", false, "a");
  ASSERT_TRUE(WaitFor([&] { return count() == kKeys + 2; }, kLong));
  EXPECT_EQ(client->directory_listings(), listed);
  {
    absl::MutexLock lock(&mu);
    EXPECT_EQ(seen.back(), "a@100");
  }
  // A full poll (the backstop) lists, and finds nothing new.
  client->PollNow();
  EXPECT_EQ(client->directory_listings(), listed + 1);
  EXPECT_EQ(count(), static_cast<size_t>(kKeys + 2));
}

// The namespace is subscribed with the owner id, and unsubscribed (DELETE)
// only when its last handle goes; so is a key.
TEST_F(ConfigClientTest, UnsubscribesWhenTheLastHandleGoes) {
  auto agent = testing::FakeAgent::Start();
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto client = Client((*agent)->address(), absl::Milliseconds(20), true,
                       "checkout");
  auto first = client->WatchNamespace("shop", [](const ConfigValue&) {});
  auto second = client->WatchNamespace("shop", [](const ConfigValue&) {});
  auto key = client->Watch("pay", "k", [](const ConfigValue&) {});
  ASSERT_TRUE(first.ok() && second.ok() && key.ok());
  // The namespace and the key go in one POST, or in two when the poll
  // thread ran between the Watch calls: each once, with the owner.
  auto posted = [&] {
    std::string all;
    for (const std::string& b : (*agent)->post_bodies()) all += b;
    return all;
  };
  ASSERT_TRUE(WaitFor(
      [&] {
        const std::string all = posted();
        return absl::StrContains(all, R"("namespaces":["shop"])") &&
               absl::StrContains(all, R"({"namespace":"pay","key":"k"})");
      },
      kLong));
  const int subscribe_posts = (*agent)->posts();
  ASSERT_LE(subscribe_posts, 2);
  for (const std::string& body : (*agent)->post_bodies()) {
    EXPECT_TRUE(absl::StrContains(body, R"("app":"checkout")")) << body;
  }
  first->reset();
  usleep(100000);  // several polls
  EXPECT_TRUE((*agent)->delete_bodies().empty());
  second->reset();
  ASSERT_TRUE(
      WaitFor([&] { return (*agent)->delete_bodies().size() == 1; }, kLong));
  EXPECT_EQ((*agent)->delete_bodies()[0],
            R"({"app":"checkout","namespaces":["shop"]})");
  // The last key handle, dropped right before the client goes: the
  // destructor still tells the agent.
  key->reset();
  client.reset();
  ASSERT_EQ((*agent)->delete_bodies().size(), 2u);
  EXPECT_EQ((*agent)->delete_bodies()[1],
            R"({"app":"checkout","configs":[{"namespace":"pay","key":"k"}]})");
  EXPECT_EQ((*agent)->posts(), subscribe_posts);  // never subscribed again
}

// Two clients of one process holding the same key are two owners at the
// agent: dropping one's watch must not remove the other's subscription
// (the agent would unsubscribe upstream and the survivor stop updating).
TEST_F(ConfigClientTest, TwoClientsOfOneProcessAreTwoOwners) {
  auto agent = testing::FakeAgent::Start();
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto one = Client((*agent)->address());
  auto two = Client((*agent)->address());
  EXPECT_NE(one->owner(), two->owner());
  auto w1 = one->Watch("shop", "db.timeout", [](const ConfigValue&) {});
  auto w2 = two->Watch("shop", "db.timeout", [](const ConfigValue&) {});
  ASSERT_TRUE(w1.ok() && w2.ok());
  ASSERT_TRUE(WaitFor([&] { return (*agent)->posts() >= 2; }, kLong));
  w1->reset();
  ASSERT_TRUE(
      WaitFor([&] { return (*agent)->delete_bodies().size() == 1; }, kLong));
  const std::string body = (*agent)->delete_bodies()[0];
  EXPECT_TRUE(absl::StrContains(body, absl::StrCat(R"("app":")", one->owner(),
                                                   R"(")")))
      << body;
  EXPECT_FALSE(absl::StrContains(body, two->owner())) << body;
}

}  // namespace
}  // namespace sdk
}  // namespace kess
