#include "agent/watch_registry.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "Poco/JSON/Array.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "agent/watch_api.h"
#include "common/http/event_http_server.h"
#include "common/http_client.h"
#include "common/json_util.h"
#include "common/metrics.h"
#include "common/testing/wait_for.h"
#include "gtest/gtest.h"

namespace kess {
namespace agent {
namespace {

using file_cache::CacheEntry;
using file_cache::CacheKey;

CacheEntry Config(const std::string& ns, const std::string& key,
                  int64_t revision, const std::string& value = "v") {
  CacheEntry e;
  e.key = CacheKey::Config(ns, key);
  e.revision = revision;
  e.value = value;
  return e;
}

CacheEntry Route(const std::string& service, int64_t revision) {
  CacheEntry e;
  e.key = CacheKey::Route(service);
  e.revision = revision;
  e.value = "{}";
  return e;
}

// Collects the answer of one Watch.
struct Box {
  absl::Mutex mu;
  std::optional<WatchAnswer> answer ABSL_GUARDED_BY(mu);
  WatchRegistry::Callback Callback() {
    return [this](WatchAnswer a) {
      absl::MutexLock lock(&mu);
      answer = std::move(a);
    };
  }
  bool Has() {
    absl::MutexLock lock(&mu);
    return answer.has_value();
  }
  WatchAnswer Get() {
    absl::MutexLock lock(&mu);
    return *answer;
  }
};

WatchRequest Request(const std::string& epoch, uint64_t index,
                     absl::Duration timeout = absl::Seconds(30)) {
  WatchRequest r;
  r.epoch = epoch;
  r.index = index;
  r.timeout = timeout;
  return r;
}

WatchRegistry::Options Fixed() {
  WatchRegistry::Options o;
  o.epoch = "e1";
  return o;
}

TEST(WatchRegistryTest, IndexCountsDurableVersionsAndIgnoresOlderOnes) {
  WatchRegistry registry(Fixed());
  EXPECT_EQ(registry.index(), 1u);  // the cache as found at start-up
  registry.Publish(Config("shop", "a", 5));
  registry.Publish(Config("shop", "a", 4));  // older: ignored
  registry.Publish(Config("shop", "a", 5));  // same: ignored
  registry.Publish(Config("shop", "b", 6));
  EXPECT_EQ(registry.index(), 3u);
  // A random epoch per registry (= per agent process).
  WatchRegistry a({}), b({});
  EXPECT_EQ(a.epoch().size(), 16u);
  EXPECT_NE(a.epoch(), b.epoch());
}

TEST(WatchRegistryTest, FullAnswerForIndexZeroNewEpochOrUnknownIndex) {
  WatchRegistry registry(Fixed());
  registry.Publish(Config("shop", "a", 5));
  for (WatchRequest r : {Request("e1", 0), Request("old-epoch", 2),
                         Request("", 2), Request("e1", 99)}) {
    r.selection.namespaces.insert("shop");
    Box box;
    auto id = registry.Watch(r, box.Callback());
    ASSERT_TRUE(id.ok());
    EXPECT_EQ(*id, 0u);  // answered at once
    ASSERT_TRUE(box.Has());
    EXPECT_TRUE(box.Get().full);
    EXPECT_EQ(box.Get().epoch, "e1");
    EXPECT_EQ(box.Get().index, 2u);
  }
}

TEST(WatchRegistryTest, CatchUpReturnsOnlyNewerChangesOfTheSelection) {
  WatchRegistry registry(Fixed());
  registry.Publish(Config("shop", "a", 5));     // index 2
  registry.Publish(Config("shop", "b", 6));     // 3
  registry.Publish(Config("other", "x", 7));    // 4
  registry.Publish(Route("payments", 8));       // 5
  registry.Publish(Config("shop", "a", 9, "new"));  // 6
  WatchRequest r = Request("e1", 2);
  r.selection.configs.insert({"shop", "a"});
  r.selection.services.insert("payments");
  Box box;
  ASSERT_TRUE(registry.Watch(r, box.Callback()).ok());
  ASSERT_TRUE(box.Has());
  WatchAnswer a = box.Get();
  EXPECT_FALSE(a.full);
  EXPECT_EQ(a.index, 6u);
  ASSERT_EQ(a.changes.size(), 2u);  // payments (5), then shop/a's newest (6)
  EXPECT_EQ(a.changes[0]->key.service, "payments");
  EXPECT_EQ(a.changes[1]->key.key, "a");
  EXPECT_EQ(a.changes[1]->revision, 9);
  // No value kept: the caller reads the file.
  EXPECT_TRUE(a.without_values);
  EXPECT_EQ(a.changes[1]->value, "");
}

TEST(WatchRegistryTest, WaitsUntilAMatchingChange) {
  WatchRegistry registry(Fixed());
  registry.Publish(Config("shop", "a", 5));
  WatchRequest r = Request("e1", 2);
  r.selection.namespaces.insert("shop");
  Box box;
  auto id = registry.Watch(r, box.Callback());
  ASSERT_TRUE(id.ok());
  EXPECT_NE(*id, 0u);
  EXPECT_EQ(registry.waiters(), 1u);
  registry.Publish(Config("other", "a", 6));  // not selected
  registry.Publish(Route("shop", 7));         // a service named like it: no
  EXPECT_EQ(registry.waiters(), 1u);
  EXPECT_FALSE(box.Has());
  registry.Publish(Config("shop", "z", 8));
  ASSERT_TRUE(testing::WaitFor([&] { return box.Has(); }, absl::Seconds(5)));
  WatchAnswer a = box.Get();
  EXPECT_EQ(a.index, 5u);
  ASSERT_EQ(a.changes.size(), 1u);
  EXPECT_EQ(a.changes[0]->key.key, "z");
  EXPECT_EQ(registry.waiters(), 0u);
}

TEST(WatchRegistryTest, TimeoutAnswersWithTheSameIndexAndNoChanges) {
  WatchRegistry registry(Fixed());
  registry.Publish(Config("shop", "a", 5));
  registry.Publish(Config("shop", "b", 6));
  WatchRequest r = Request("e1", 3, absl::Milliseconds(150));
  r.selection.configs.insert({"shop", "a"});
  Box box;
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(registry.Watch(r, box.Callback()).ok());
  ASSERT_TRUE(testing::WaitFor([&] { return box.Has(); }, absl::Seconds(5)));
  double seconds = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - start)
                       .count();
  EXPECT_GE(seconds, 0.14);
  EXPECT_LT(seconds, 5.0);  // generous: a loaded machine
  WatchAnswer a = box.Get();
  EXPECT_TRUE(a.timed_out);
  EXPECT_EQ(a.index, 3u);
  EXPECT_TRUE(a.changes.empty());
  // A later, earlier-expiring waiter is not held up by a long one.
  WatchRequest longer = Request("e1", 3, absl::Seconds(30));
  longer.selection.services.insert("s");
  Box long_box, short_box;
  ASSERT_TRUE(registry.Watch(longer, long_box.Callback()).ok());
  WatchRequest shorter = Request("e1", 3, absl::Milliseconds(100));
  shorter.selection.services.insert("s");
  ASSERT_TRUE(registry.Watch(shorter, short_box.Callback()).ok());
  ASSERT_TRUE(
      testing::WaitFor([&] { return short_box.Has(); }, absl::Seconds(2)));
  EXPECT_FALSE(long_box.Has());
}

// Watches that started together with one timeout do not all come back
// together: each gets up to timeout/16 more at random.
TEST(WatchRegistryTest, TimeoutsAreJittered) {
  WatchRegistry registry(Fixed());
  constexpr int kWaiters = 32;
  absl::Mutex mu;
  std::vector<double> at;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kWaiters; ++i) {
    WatchRequest r = Request("e1", 1, absl::Milliseconds(800));
    r.selection.services.insert("s");
    ASSERT_TRUE(registry
                    .Watch(r,
                           [&](WatchAnswer) {
                             absl::MutexLock lock(&mu);
                             at.push_back(std::chrono::duration<double>(
                                              std::chrono::steady_clock::now() -
                                              start)
                                              .count());
                           })
                    .ok());
  }
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        absl::MutexLock lock(&mu);
        return at.size() == kWaiters;
      },
      absl::Seconds(10)));
  absl::MutexLock lock(&mu);
  auto [low, high] = std::minmax_element(at.begin(), at.end());
  EXPECT_GE(*low, 0.79);
  EXPECT_GE(*high - *low, 0.010);  // up to 50 ms of jitter
}

// Publish is called by the cache writer: it only hands woken waiters over,
// and a slow answer does not hold it up.
TEST(WatchRegistryTest, PublishDoesNotWaitForTheAnswers) {
  WatchRegistry registry(Fixed());
  absl::Notification release;
  std::atomic<bool> answered{false};
  WatchRequest r = Request("e1", 1);
  r.selection.configs.insert({"shop", "a"});
  ASSERT_TRUE(registry
                  .Watch(r,
                         [&](WatchAnswer) {
                           release.WaitForNotificationWithTimeout(
                               absl::Seconds(20));
                           answered = true;
                         })
                  .ok());
  const auto start = std::chrono::steady_clock::now();
  registry.Publish(Config("shop", "a", 2));
  const double seconds = std::chrono::duration<double>(
                             std::chrono::steady_clock::now() - start)
                             .count();
  release.Notify();
  EXPECT_LT(seconds, 5.0);
  ASSERT_TRUE(
      testing::WaitFor([&] { return answered.load(); }, absl::Seconds(10)));
}

TEST(WatchRegistryTest, CancelAndLimits) {
  WatchRegistry::Options o = Fixed();
  o.max_waiters = 2;
  WatchRegistry registry(o);
  WatchRequest r = Request("e1", 0);
  EXPECT_TRUE(absl::IsInvalidArgument(
      registry.Watch(r, [](WatchAnswer) {}).status()));  // empty selection
  registry.Publish(Config("shop", "a", 1));
  r = Request("e1", 2);
  r.selection.namespaces.insert("shop");
  Box a, b, c;
  auto ida = registry.Watch(r, a.Callback());
  ASSERT_TRUE(ida.ok());
  ASSERT_TRUE(registry.Watch(r, b.Callback()).ok());
  EXPECT_TRUE(absl::IsResourceExhausted(
      registry.Watch(r, c.Callback()).status()));
  registry.Cancel(*ida);
  registry.Cancel(*ida);  // no-op
  EXPECT_EQ(registry.waiters(), 1u);
  registry.Publish(Config("shop", "a", 2));
  EXPECT_TRUE(testing::WaitFor([&] { return b.Has(); }, absl::Seconds(5)));
  EXPECT_FALSE(a.Has());
  EXPECT_FALSE(c.Has());
}

TEST(WatchRegistryTest, OneChangeWakesFiveThousandWaitersWithOneMemo) {
  WatchRegistry registry(Fixed());
  registry.Publish(Config("shop", "a", 1));
  constexpr int kWaiters = 5000;
  std::atomic<int> woken{0};
  absl::Mutex mu;
  std::set<WatchRenderMemo*> memos;
  for (int i = 0; i < kWaiters; ++i) {
    WatchRequest r = Request("e1", 2);
    r.selection.configs.insert({"shop", "a"});
    ASSERT_TRUE(registry
                    .Watch(r,
                           [&](WatchAnswer a) {
                             absl::MutexLock lock(&mu);
                             memos.insert(a.memo.get());
                             if (a.changes.size() == 1 && a.index == 3) {
                               woken.fetch_add(1);
                             }
                           })
                    .ok());
  }
  // One unrelated waiter stays.
  WatchRequest other = Request("e1", 2);
  other.selection.services.insert("payments");
  Box box;
  ASSERT_TRUE(registry.Watch(other, box.Callback()).ok());
  registry.Publish(Config("shop", "a", 2));
  EXPECT_EQ(registry.waiters(), 1u);  // at once
  ASSERT_TRUE(testing::WaitFor([&] { return woken.load() == kWaiters; },
                               absl::Seconds(10)));
  absl::MutexLock lock(&mu);
  EXPECT_EQ(memos.size(), 1u);
  EXPECT_EQ(registry.waiters(), 1u);
  EXPECT_FALSE(box.Has());
}

// ---- GET /v1/watch over EventHttpServer ----

class WatchApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    http::EventHttpServer::Options opts;
    opts.registry = &metrics_;
    auto server = http::EventHttpServer::Create(opts);
    ASSERT_TRUE(server.ok());
    server_ = std::move(server).value();
    RegisterWatchApi(server_.get(), &registry_,
                     [this](const WatchSelection& s) {
                       std::vector<CacheEntry> out;
                       absl::MutexLock lock(&mu_);
                       for (const CacheEntry& e : current_) {
                         if (s.Matches(e.key)) out.push_back(e);
                       }
                       return out;
                     });
    ASSERT_TRUE(server_->Start().ok());
  }

  absl::StatusOr<HttpReply> Get(const std::string& uri,
                                absl::Duration timeout = absl::Seconds(10)) {
    return HttpCall(absl::StrCat("127.0.0.1:", server_->port()), "GET", uri,
                    "", timeout);
  }

  void Write(const CacheEntry& e) {
    {
      absl::MutexLock lock(&mu_);
      current_.push_back(e);
    }
    registry_.Publish(e);
  }

  metrics::Registry metrics_;
  WatchRegistry registry_{Fixed()};
  absl::Mutex mu_;
  std::vector<CacheEntry> current_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<http::EventHttpServer> server_;
};

TEST_F(WatchApiTest, FullThenBlockingThenTimeout) {
  Write(Config("shop", "db.timeout", 41, "30s"));
  Write(Config("other", "x", 42));
  auto r = Get("/v1/watch?config=shop/db.timeout&service=payments");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->Header("x-kess-epoch"), "e1");
  EXPECT_EQ(r->Header("x-kess-index"), "3");
  auto json = ParseJsonObject(r->body);
  ASSERT_TRUE(json.ok()) << r->body;
  EXPECT_TRUE((*json)->getValue<bool>("full"));
  auto changes = (*json)->getArray("changes");
  ASSERT_EQ(changes->size(), 1u);
  auto change = changes->getObject(0);
  EXPECT_EQ(change->getValue<std::string>("value"), "30s");
  EXPECT_EQ(change->getValue<int64_t>("revision"), 41);
  EXPECT_EQ(change->getValue<int64_t>("format"), 1);
  EXPECT_TRUE(change->has("crc32"));

  // A waiting watch, answered when the change arrives.
  std::optional<absl::StatusOr<HttpReply>> waited;
  std::thread waiter([&] {
    waited = Get("/v1/watch?config=shop/db.timeout&service=payments"
                 "&index=3&epoch=e1&timeout=20s");
  });
  ASSERT_TRUE(testing::WaitFor([&] { return registry_.waiters() == 1; },
                               absl::Seconds(5)));
  Write(Route("payments", 43));
  waiter.join();
  ASSERT_TRUE(waited->ok());
  json = ParseJsonObject((*waited)->body);
  ASSERT_TRUE(json.ok());
  EXPECT_FALSE((*json)->getValue<bool>("full"));
  EXPECT_EQ((*json)->getValue<int64_t>("index"), 4);
  EXPECT_EQ((*json)->getArray("changes")->getObject(0)->getValue<std::string>(
                "service"),
            "payments");

  // values=false: keys and revisions only; timeout: same index, nothing.
  r = Get("/v1/watch?service=payments&index=3&epoch=e1&values=false");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body,
            "{\"epoch\":\"e1\",\"index\":4,\"full\":false,\"timed_out\":false,"
            "\"changes\":[{\"type\":\"route\",\"service\":\"payments\","
            "\"revision\":43,\"absent\":false}]}\n");
  r = Get("/v1/watch?service=payments&index=4&epoch=e1&timeout=200ms");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->body,
            "{\"epoch\":\"e1\",\"index\":4,\"full\":false,\"timed_out\":true,"
            "\"changes\":[]}\n");
}

// A catch-up answer reads the values from the files (the registry keeps
// none); values=false needs no read.
TEST_F(WatchApiTest, CatchUpReadsTheValues) {
  Write(Config("shop", "a", 41, "one"));
  Write(Config("shop", "b", 42, "two"));
  Write(Config("shop", "a", 43, "three"));
  auto r = Get("/v1/watch?namespace=shop&index=2&epoch=e1");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->status, 200) << r->body;
  auto json = ParseJsonObject(r->body);
  ASSERT_TRUE(json.ok()) << r->body;
  EXPECT_FALSE((*json)->getValue<bool>("full"));
  auto changes = (*json)->getArray("changes");
  ASSERT_EQ(changes->size(), 2u) << r->body;  // b (3), then a's newest (4)
  EXPECT_EQ(changes->getObject(0)->getValue<std::string>("value"), "two");
  EXPECT_EQ(changes->getObject(1)->getValue<std::string>("value"), "three");
  EXPECT_EQ(changes->getObject(1)->getValue<int64_t>("revision"), 43);
}

TEST_F(WatchApiTest, BadRequests) {
  for (const std::string uri :
       {"/v1/watch", "/v1/watch?config=noslash", "/v1/watch?config=a/..",
        "/v1/watch?service=../etc", "/v1/watch?namespace=a%2Fb",
        "/v1/watch?service=s&index=x", "/v1/watch?service=s&timeout=-1s",
        "/v1/watch?service=s&timeout=soon", "/v1/watch?service=s&values=1",
        "/v1/watch?service=s&bogus=1"}) {
    auto r = Get(uri);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 400) << uri << " " << r->body;
  }
}

TEST_F(WatchApiTest, ClientLeavingCancelsItsWaiter) {
  Write(Config("shop", "a", 1));
  auto r = Get("/v1/watch?namespace=shop&index=2&epoch=e1&timeout=30s",
               absl::Milliseconds(300));
  EXPECT_FALSE(r.ok());  // the client gave up
  ASSERT_TRUE(testing::WaitFor([&] { return registry_.waiters() == 0; },
                               absl::Seconds(5)));
}

// A full answer is read on FullAnswers' thread: while one read is slow
// (thousands of files), the HTTP loop still answers other requests.
TEST(FullAnswersTest, ASlowFullReadDoesNotBlockTheLoop) {
  absl::Notification entered, release;
  FullAnswers full(
      [&](const WatchSelection&) {
        entered.Notify();
        release.WaitForNotificationWithTimeout(absl::Seconds(30));
        return std::vector<CacheEntry>{Config("shop", "a", 7)};
      },
      {});
  WatchRegistry registry(Fixed());
  metrics::Registry metrics;
  http::EventHttpServer::Options opts;
  opts.registry = &metrics;
  auto server = http::EventHttpServer::Create(opts);
  ASSERT_TRUE(server.ok());
  RegisterWatchApi(server->get(), &registry, &full);
  ASSERT_TRUE((*server)->Start().ok());
  const std::string address = absl::StrCat("127.0.0.1:", (*server)->port());

  std::optional<absl::StatusOr<HttpReply>> slow;
  std::thread t([&] {
    slow = HttpCall(address, "GET", "/v1/watch?namespace=shop", "",
                    absl::Seconds(30));
  });
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(absl::Seconds(10)));
  // A watch that times out at once needs the loop thread.
  auto quick = HttpCall(address, "GET",
                        "/v1/watch?namespace=shop&epoch=e1&index=1&timeout=50ms",
                        "", absl::Seconds(5));
  const bool quick_ok = quick.ok() && quick->status == 200;
  release.Notify();
  t.join();
  EXPECT_TRUE(quick_ok) << (quick.ok() ? quick->body
                                       : quick.status().ToString());
  ASSERT_TRUE(slow.has_value() && slow->ok());
  EXPECT_EQ((*slow)->status, 200);
  EXPECT_TRUE(absl::StrContains((*slow)->body, "\"full\":true"))
      << (*slow)->body;
  EXPECT_TRUE(absl::StrContains((*slow)->body, "\"revision\":7"))
      << (*slow)->body;
  (*server)->Stop();
}

// Identical selections waiting together share one read; a full queue is
// refused.
TEST(FullAnswersTest, IdenticalSelectionsShareOneRead) {
  absl::Notification started, release;
  std::atomic<int> calls{0};
  FullAnswers::Options options;
  options.threads = 1;
  options.max_queued = 2;
  FullAnswers full(
      [&](const WatchSelection&) {
        if (calls.fetch_add(1) == 0) {
          started.Notify();
          release.WaitForNotificationWithTimeout(absl::Seconds(30));
        }
        return std::vector<CacheEntry>{Config("shop", "a", 7)};
      },
      options);
  WatchSelection a, b, c, d;
  a.namespaces.insert("first");
  b.namespaces.insert("shop");
  c.services.insert("payments");
  d.configs.insert({"x", "y"});
  std::atomic<int> answered{0};
  auto done = [&](FullAnswers::Entries e) {
    EXPECT_EQ(e->size(), 1u);
    answered.fetch_add(1);
  };
  ASSERT_TRUE(full.Read(a, done).ok());
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(absl::Seconds(10)));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(full.Read(b, done).ok());
  ASSERT_TRUE(full.Read(c, done).ok());
  EXPECT_TRUE(absl::IsUnavailable(full.Read(d, done)));  // 2 queued already
  EXPECT_TRUE(full.Read(c, done).ok());  // joins a queued read
  release.Notify();
  ASSERT_TRUE(
      testing::WaitFor([&] { return answered.load() == 8; }, absl::Seconds(10)));
  EXPECT_EQ(full.reads(), 3);
  EXPECT_EQ(calls.load(), 3);
  full.Stop();
  EXPECT_TRUE(absl::IsUnavailable(full.Read(a, done)));
}

// A value the gate refuses (a namespace found secret after the watch was
// admitted) is rendered without its value; other entries keep theirs.
TEST(RenderWatchAnswerTest, GateWithholdsValuesOfRefusedNamespaces) {
  WatchAnswer a;
  a.epoch = "e";
  a.index = 3;
  auto secret = std::make_shared<CacheEntry>();
  secret->key = CacheKey::Config("payroll", "db_password");
  secret->revision = 2;
  secret->value = "hunter2";
  secret->file_mode = 0600;
  auto open = std::make_shared<CacheEntry>();
  open->key = CacheKey::Config("open", "k");
  open->revision = 3;
  open->value = "visible";
  a.changes = {secret, open};
  const std::string all = RenderWatchAnswer(a, true, nullptr);
  EXPECT_TRUE(absl::StrContains(all, "hunter2")) << all;
  std::function<bool(const std::string&)> show =
      [](const std::string& ns) { return ns != "payroll"; };
  const std::string gated = RenderWatchAnswer(a, true, nullptr, show);
  EXPECT_FALSE(absl::StrContains(gated, "hunter2")) << gated;
  EXPECT_TRUE(absl::StrContains(gated, "db_password")) << gated;
  EXPECT_TRUE(absl::StrContains(gated, "visible")) << gated;
  std::vector<CacheEntry> full = {*secret};
  a.changes.clear();
  const std::string full_gated = RenderWatchAnswer(a, true, &full, show);
  EXPECT_FALSE(absl::StrContains(full_gated, "hunter2")) << full_gated;
}

}  // namespace
}  // namespace agent
}  // namespace kess
