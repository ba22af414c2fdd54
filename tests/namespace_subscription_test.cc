// Namespace subscriptions end to end: two DCs of real processes (ZooKeeper,
// a mandator, 2 distributors and 3 agents per DC) on 127.0.0.1.
//  - two agents of each DC subscribe the whole namespace "shop" through
//    POST /v1/subscriptions {"namespaces":["shop"]}; a key written before
//    and one written after reach every one of them (and not the third
//    agent, which did not subscribe); a delete arrives as a tombstone;
//  - an agent killed while a new key of the namespace is written gets it
//    after its restart (its subscriptions.json, with owners, is reloaded);
//  - ownership: an agent subscribed by two applications stays updated
//    after one of them unsubscribes (DELETE /v1/subscriptions), and stops
//    being updated after the last one does, also across a restart; its
//    cache files stay as they were.
#include <string>
#include <vector>

#include "Poco/JSON/Array.h"
#include "absl/strings/str_cat.h"
#include "common/http_client.h"
#include "common/json_util.h"
#include "common/testing/wait_for.h"
#include "gtest/gtest.h"
#include "model/file_cache/reader.h"
#include "tests/cluster/cache_tier_cluster.h"
#include "tests/cluster/mandator_cluster.h"

namespace kess {
namespace testing {
namespace {

using file_cache::CacheKey;

// Bounds that only mean "did not hang".
constexpr absl::Duration kWait = absl::Seconds(30);
constexpr char kNs[] = "shop";

// The cached entry of shop/<key> in `agent`, or its read error.
absl::StatusOr<file_cache::CacheEntry> Cached(const AgentHost& agent,
                                              const std::string& key) {
  return file_cache::FileCacheReader(agent.cache_dir())
      .Read(CacheKey::Config(kNs, key));
}

bool WaitTombstone(const std::vector<AgentHost*>& agents,
                   const std::string& key, int64_t revision) {
  return WaitFor(
      [&] {
        for (const AgentHost* a : agents) {
          auto e = Cached(*a, key);
          if (!e.ok() || !e->absent || e->revision < revision) return false;
        }
        return true;
      },
      kWait, absl::Milliseconds(20));
}

absl::StatusOr<int64_t> Delete(CacheTierCluster* cluster,
                               const std::string& key) {
  MandatorProcess* leader = WaitLeader(cluster->dcs().main(), kWait);
  if (leader == nullptr) return absl::UnavailableError("no leader");
  KESS_ASSIGN_OR_RETURN(
      HttpReply reply,
      HttpCall(leader->http_address(), "DELETE",
               absl::StrCat("/api/v1/configs/", kNs, "/", key), "",
               absl::Seconds(20)));
  if (reply.status != 200) {
    return absl::InternalError(
        absl::StrCat("DELETE: HTTP ", reply.status, ": ", reply.body));
  }
  Poco::JSON::Object::Ptr body = JsonBody(reply.body);
  if (!body) return absl::InternalError("DELETE answer: " + reply.body);
  return body->getValue<int64_t>("revision");
}

// POST or DELETE /v1/subscriptions of the namespace for `app`; the answer.
absl::StatusOr<Poco::JSON::Object::Ptr> Namespace(const AgentHost& agent,
                                                  const std::string& method,
                                                  const std::string& app) {
  KESS_ASSIGN_OR_RETURN(
      HttpReply reply,
      agent.Call(method, "/v1/subscriptions",
                 absl::StrCat(R"({"namespaces":[")", kNs, R"("],"app":")",
                              app, R"("})")));
  if (reply.status != 200) {
    return absl::InternalError(absl::StrCat(method, " /v1/subscriptions: HTTP ",
                                            reply.status, ": ", reply.body));
  }
  return ParseJsonObject(reply.body);
}

// The owners of the namespace in GET /v1/subscriptions; "?" if unreadable.
std::string NamespaceOwners(const AgentHost& agent) {
  absl::StatusOr<HttpReply> reply = agent.Call("GET", "/v1/subscriptions");
  if (!reply.ok() || reply->status != 200) return "?";
  Poco::JSON::Object::Ptr body = JsonBody(reply->body);
  if (!body) return "?";
  std::string out;
  Poco::JSON::Array::Ptr namespaces = body->getArray("namespaces");
  for (size_t i = 0; namespaces && i < namespaces->size(); ++i) {
    Poco::JSON::Object::Ptr ns = namespaces->getObject(i);
    Poco::JSON::Array::Ptr owners = ns->getArray("owners");
    absl::StrAppend(&out, ns->getValue<std::string>("namespace"), ":");
    for (size_t j = 0; owners && j < owners->size(); ++j) {
      absl::StrAppend(&out, j ? "," : "", owners->getElement<std::string>(j));
    }
    absl::StrAppend(&out, ";");
  }
  return out;
}

TEST(NamespaceSubscriptionTest, WholeNamespaceInBothDcsWithOwners) {
  // The last owner's DELETE unsubscribes at once (the agents' default
  // keeps it subscribed for a grace period: agent_test covers that).
  CacheTierClusterOptions options;
  options.agent_flags = {"--unsubscribe_grace_ms=0"};
  auto started = CacheTierCluster::Start(options);
  ASSERT_TRUE(started.ok()) << started.status();
  CacheTierCluster* cluster = started->get();
  // Agents 0 and 1 of each DC subscribe; agent 2 does not.
  std::vector<AgentHost*> subscribed;
  std::vector<AgentHost*> others;
  for (CacheTierDc* dc : {&cluster->main(), &cluster->slave()}) {
    ASSERT_EQ(dc->agents.size(), 3u);
    subscribed.push_back(dc->agents[0].get());
    subscribed.push_back(dc->agents[1].get());
    others.push_back(dc->agents[2].get());
  }
  AgentHost* shared = cluster->main().agents[0].get();  // two owners
  AgentHost* victim = cluster->main().agents[1].get();  // killed

  absl::StatusOr<int64_t> before = cluster->Put(kNs, "before", "b1");
  ASSERT_TRUE(before.ok()) << before.status();
  // An agent subscribed first to a key of the namespace on its own: it
  // gets the namespace's other keys too, the key once.
  ASSERT_TRUE(others[0]->Subscribe(ConfigSubscription({{kNs, "before"}})).ok());
  for (AgentHost* a : subscribed) {
    auto answer = Namespace(*a, "POST", "app-a");
    ASSERT_TRUE(answer.ok()) << answer.status();
  }
  auto second = Namespace(*shared, "POST", "app-b");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(NamespaceOwners(*shared), "shop:app-a,app-b;");
  EXPECT_EQ(NamespaceOwners(*victim), "shop:app-a;");

  absl::StatusOr<int64_t> after = cluster->Put(kNs, "after", "a1");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_TRUE(WaitCached(subscribed, kNs, "before", *before, kWait));
  EXPECT_TRUE(WaitCached(subscribed, kNs, "after", *after, kWait));
  EXPECT_EQ(Cached(*subscribed.back(), "after")->value, "a1");
  // The agents that did not subscribe the namespace have no file of the
  // new key (they had every chance: the others already have it).
  EXPECT_TRUE(WaitCached({others[0]}, kNs, "before", *before, kWait));
  for (AgentHost* a : others) {
    EXPECT_TRUE(absl::IsNotFound(Cached(*a, "after").status()))
        << a->host_id() << ": " << Cached(*a, "after").status();
  }

  // A delete: a tombstone everywhere the namespace is subscribed.
  absl::StatusOr<int64_t> deleted = Delete(cluster, "before");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_TRUE(WaitTombstone(subscribed, "before", *deleted));

  // Killed while a new key is written: it arrives after the restart.
  victim->Kill();
  absl::StatusOr<int64_t> while_down = cluster->Put(kNs, "while-down", "w1");
  ASSERT_TRUE(while_down.ok()) << while_down.status();
  // The others get it while the victim is down.
  std::vector<AgentHost*> alive;
  for (AgentHost* a : subscribed) {
    if (a != victim) alive.push_back(a);
  }
  EXPECT_TRUE(WaitCached(alive, kNs, "while-down", *while_down, kWait));
  EXPECT_TRUE(absl::IsNotFound(Cached(*victim, "while-down").status()));
  ASSERT_TRUE(victim->Restart().ok());
  EXPECT_TRUE(WaitCached({victim}, kNs, "while-down", *while_down, kWait));
  EXPECT_EQ(NamespaceOwners(*victim), "shop:app-a;");  // reloaded

  // One owner leaves: the namespace stays subscribed for the other.
  auto left = Namespace(*shared, "DELETE", "app-a");
  ASSERT_TRUE(left.ok()) << left.status();
  EXPECT_EQ((*left)->getObject("unsubscribed")->getArray("namespaces")->size(),
            0u);
  EXPECT_EQ(NamespaceOwners(*shared), "shop:app-b;");
  absl::StatusOr<int64_t> still = cluster->Put(kNs, "still", "s1");
  ASSERT_TRUE(still.ok()) << still.status();
  EXPECT_TRUE(WaitCached(subscribed, kNs, "still", *still, kWait));

  // The last owner leaves: no more updates, the files stay.
  left = Namespace(*shared, "DELETE", "app-b");
  ASSERT_TRUE(left.ok()) << left.status();
  EXPECT_EQ((*left)->getObject("unsubscribed")->getArray("namespaces")->size(),
            1u);
  EXPECT_EQ(NamespaceOwners(*shared), "");
  absl::StatusOr<file_cache::CacheEntry> after_then = Cached(*shared, "after");
  ASSERT_TRUE(after_then.ok()) << after_then.status();
  absl::StatusOr<int64_t> gone = cluster->Put(kNs, "unseen", "u1");
  absl::StatusOr<int64_t> changed = cluster->Put(kNs, "after", "a2");
  ASSERT_TRUE(gone.ok() && changed.ok());
  std::vector<AgentHost*> rest;
  for (AgentHost* a : subscribed) {
    if (a != shared) rest.push_back(a);
  }
  // Every other subscriber has both changes; the unsubscribed agent has
  // neither, and its files are as they were.
  EXPECT_TRUE(WaitCached(rest, kNs, "after", *changed, kWait));
  EXPECT_TRUE(WaitCached(rest, kNs, "unseen", *gone, kWait));
  auto check_untouched = [&] {
    EXPECT_TRUE(absl::IsNotFound(Cached(*shared, "unseen").status()));
    absl::StatusOr<file_cache::CacheEntry> now = Cached(*shared, "after");
    ASSERT_TRUE(now.ok()) << now.status();
    EXPECT_EQ(now->revision, after_then->revision);
    EXPECT_EQ(now->value, "a1");
    absl::StatusOr<file_cache::CacheEntry> tomb = Cached(*shared, "before");
    ASSERT_TRUE(tomb.ok()) << tomb.status();
    EXPECT_TRUE(tomb->absent);
    EXPECT_TRUE(Cached(*shared, "still").ok());
  };
  check_untouched();
  // Not subscribed again by its restart although the files are there.
  ASSERT_TRUE(shared->Restart().ok());
  ASSERT_TRUE(WaitFor(
      [&] {
        Poco::JSON::Object::Ptr status = shared->Status();
        return status && status->getValue<bool>("connected");
      },
      kWait, absl::Milliseconds(50)));
  absl::StatusOr<int64_t> later = cluster->Put(kNs, "after", "a3");
  ASSERT_TRUE(later.ok()) << later.status();
  EXPECT_TRUE(WaitCached(rest, kNs, "after", *later, kWait));
  check_untouched();
  EXPECT_EQ(NamespaceOwners(*shared), "");
}

}  // namespace
}  // namespace testing
}  // namespace kess
