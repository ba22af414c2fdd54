// ZkClient and EphemeralNode against a real standalone ZooKeeper.
#include "zk_schema/zk_client.h"

#include <atomic>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/testing/wait_for.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/harness/zk_ensemble.h"
#include "tests/harness/zk_test_base.h"
#include "zk_schema/ephemeral_node.h"
#include "zk_schema/testing/event_log.h"
#include "zk_schema/testing/real_zk.h"
#include "zk_schema/zk_errors.h"

namespace kess {
namespace zk {
namespace {

using ::kess::testing::WaitFor;
using ::kess::zk::testing::EventLog;
using ::kess::zk::testing::ExpireSession;
using ::kess::zk::testing::TestClientOptions;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr absl::Duration kPatience = absl::Seconds(30);  // "did not hang"

class ZkClientTest : public kess::testing::ZkTestBase {
 protected:
  std::unique_ptr<ZkClient> Connect(ZkClientOptions options) {
    absl::StatusOr<std::unique_ptr<ZkClient>> client =
        ZkClient::Create(std::move(options));
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }
  std::unique_ptr<ZkClient> Connect() {
    return Connect(TestClientOptions(zk()->ConnectString()));
  }
};

TEST_F(ZkClientTest, CrudMapsReturnCodes) {
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Create("/crud", "v0").ok());
  absl::StatusOr<GetResult> got = c->Get("/crud");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->data, "v0");
  EXPECT_EQ(got->stat.version, 0);

  absl::StatusOr<Stat> set = c->Set("/crud", "v1", 0);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->version, 1);
  absl::Status stale = c->Set("/crud", "v2", 0).status();
  EXPECT_EQ(stale.code(), absl::StatusCode::kAborted) << stale;
  EXPECT_THAT(stale.message(), HasSubstr("set /crud"));
  EXPECT_EQ(c->Get("/crud")->data, "v1");

  EXPECT_EQ(c->Create("/crud", "").status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(c->Get("/missing").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(c->Create("/missing/child", "").status().code(),
            absl::StatusCode::kNotFound);
  absl::StatusOr<std::optional<Stat>> exists = c->Exists("/missing");
  ASSERT_TRUE(exists.ok());
  EXPECT_FALSE(exists->has_value());

  ASSERT_TRUE(c->Create("/crud/b", "").ok());
  ASSERT_TRUE(c->Create("/crud/a", "").ok());
  absl::StatusOr<std::string> seq =
      c->Create("/crud/s-", "", CreateMode::kPersistentSequential);
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(*seq, "/crud/s-0000000002");
  absl::StatusOr<ChildrenResult> children = c->GetChildren("/crud");
  ASSERT_TRUE(children.ok());
  EXPECT_THAT(children->children, ElementsAre("a", "b", "s-0000000002"));

  EXPECT_EQ(c->Delete("/crud").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(c->Delete("/crud/a", 5).code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(c->Delete("/crud/a", 0).ok());
  EXPECT_EQ(c->Delete("/crud/a").code(), absl::StatusCode::kNotFound);
}

TEST_F(ZkClientTest, LargestAllowedNodeRoundTripsAndLargerIsRejectedUnsent) {
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  const int64_t session = c->session_id();
  // Just under our ceiling: ZooKeeper takes it (so the margin is real), and
  // the read needs more than the first 64 KiB buffer.
  const std::string path = "/big";
  std::string max_data(kMaxRequestBytes - EstimateCreateBytes(path, 0, {}),
                       'x');
  max_data[12345] = 'y';
  ASSERT_TRUE(c->Create(path, max_data).ok());
  absl::StatusOr<GetResult> got = c->Get(path);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->data, max_data);

  // 1.1 MB would make the server drop the connection; we refuse to send it.
  absl::Status too_big = c->Set(path, std::string(1100 * 1000, 'z')).status();
  EXPECT_EQ(too_big.code(), absl::StatusCode::kInvalidArgument) << too_big;
  EXPECT_THAT(too_big.message(), HasSubstr("chunked_value"));
  EXPECT_FALSE(IsConnectionLoss(too_big));
  MultiOps ops;
  ops.Create("/m1", std::string(600 * 1000, 'a'))
      .Create("/m2", std::string(600 * 1000, 'b'));
  EXPECT_EQ(c->Multi(ops).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(c->Exists("/m1")->has_value());
  // Nothing happened to the session.
  EXPECT_EQ(c->session_id(), session);
  EXPECT_EQ(c->Get(path)->data, max_data);
}

TEST_F(ZkClientTest, WatchesFireOnceOnTheCallbackThread) {
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Create("/w", "0").ok());
  EventLog log;
  ZkClient* client = c.get();
  // The callback reads the node back through the client: this would
  // deadlock if callbacks ran on the library's completion thread.
  ASSERT_TRUE(c->Get("/w", [&log, client](const WatchEvent& e) {
                 absl::StatusOr<GetResult> now = client->Get(e.path);
                 log.Add(absl::StrCat("data ", e.path, " ",
                                      static_cast<int>(e.type), " ",
                                      now.ok() ? "read" : "unreadable"));
               }).ok());
  ASSERT_TRUE(c->GetChildren("/w", [&log](const WatchEvent& e) {
                 log.Add(absl::StrCat("children ", e.path));
               }).ok());
  ASSERT_TRUE(c->Exists("/w/new", [&log](const WatchEvent& e) {
                 log.Add(absl::StrCat("exists ", e.path, " ",
                                      static_cast<int>(e.type)));
               }).ok());
  ASSERT_TRUE(c->Set("/w", "1").ok());
  ASSERT_TRUE(c->Set("/w", "2").ok());  // one-shot: no second data event
  ASSERT_TRUE(c->Create("/w/new", "").ok());
  ASSERT_TRUE(WaitFor([&] { return log.size() >= 3; }, kPatience));
  absl::SleepFor(absl::Milliseconds(300));  // room for a wrong extra event
  std::vector<std::string> entries = log.entries();
  std::sort(entries.begin(), entries.end());
  EXPECT_THAT(
      entries,
      ElementsAre(
          "children /w",
          absl::StrCat("data /w ", static_cast<int>(WatchEventType::kChanged),
                       " read"),
          absl::StrCat("exists /w/new ",
                       static_cast<int>(WatchEventType::kCreated))));
}

TEST_F(ZkClientTest, GetManyAnswersInOrderWithErrorsAndWatches) {
  std::unique_ptr<ZkClient> client = Connect();
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Create("/many", "").ok());
  std::vector<GetRequest> requests;
  for (int i = 0; i < 300; ++i) {
    const std::string path = absl::StrCat("/many/n", i);
    if (i % 3 != 2) {  // every third node is missing
      ASSERT_TRUE(client->Create(path, absl::StrCat("v", i)).ok());
    }
    requests.push_back({path, nullptr});
  }
  // A node above the sync Get's first buffer, in the middle of the batch.
  const std::string big(200 * 1024, 'b');
  ASSERT_TRUE(client->Set("/many/n100", big).ok());
  EventLog fired;
  requests[0].watch = [&](const WatchEvent& e) { fired.Add(e.path); };
  requests[2].watch = [&](const WatchEvent& e) { fired.Add("missing"); };
  std::vector<absl::StatusOr<GetResult>> got =
      client->GetMany(std::move(requests));
  ASSERT_EQ(got.size(), 300u);
  for (int i = 0; i < 300; ++i) {
    if (i % 3 == 2) {
      EXPECT_TRUE(absl::IsNotFound(got[i].status())) << i << got[i].status();
      EXPECT_THAT(std::string(got[i].status().message()),
                  HasSubstr(absl::StrCat("/many/n", i)));
    } else if (i == 100) {
      ASSERT_TRUE(got[i].ok()) << got[i].status();
      EXPECT_EQ(got[i]->data, big);
      EXPECT_EQ(got[i]->stat.version, 1);
    } else {
      ASSERT_TRUE(got[i].ok()) << i << got[i].status();
      EXPECT_EQ(got[i]->data, absl::StrCat("v", i));
      EXPECT_EQ(got[i]->stat.version, 0);
    }
  }
  // The watch on the existing node is set; the one on a missing node is not.
  ASSERT_TRUE(client->Set("/many/n0", "changed").ok());
  ASSERT_TRUE(client->Create("/many/n2", "now").ok());
  ASSERT_TRUE(WaitFor([&] { return fired.size() >= 1; }, kPatience));
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_THAT(fired.entries(), ElementsAre("/many/n0"));
  EXPECT_TRUE(client->GetMany({}).empty());
}

TEST_F(ZkClientTest, GetManyWithoutAServerFailsEveryRequest) {
  std::unique_ptr<ZkClient> client = Connect();
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Create("/gone", "x").ok());
  ASSERT_TRUE(zk()->StopServer(0).ok());
  std::vector<GetRequest> requests = {{"/gone", nullptr}, {"/x", nullptr}};
  std::vector<absl::StatusOr<GetResult>> got =
      client->GetMany(std::move(requests));
  ASSERT_EQ(got.size(), 2u);
  for (const auto& r : got) {
    EXPECT_TRUE(IsConnectionLoss(r.status()) || IsSessionExpired(r.status()))
        << r.status();
  }
  ASSERT_TRUE(zk()->StartServer(0).ok());
}

TEST_F(ZkClientTest, MultiIsAtomicAndNamesTheFailedOp) {
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Create("/multi", "").ok());
  ASSERT_TRUE(c->Create("/multi/cas", "v0").ok());
  MultiOps bad;
  bad.Create("/multi/x", "x")
      .Set("/multi/cas", "v1", /*version=*/5)  // wrong: it is at 0
      .Create("/multi/y", "y");
  absl::StatusOr<std::vector<OpResult>> failed = c->Multi(bad);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(MultiFailedOp(failed.status()), 1);
  EXPECT_THAT(failed.status().message(), HasSubstr("set /multi/cas"));
  EXPECT_FALSE(c->Exists("/multi/x")->has_value());
  EXPECT_FALSE(c->Exists("/multi/y")->has_value());
  EXPECT_EQ(c->Get("/multi/cas")->data, "v0");

  MultiOps good;
  good.Create("/multi/s-", "", CreateMode::kPersistentSequential)
      .Set("/multi/cas", "v1", 0)
      .Check("/multi", 0)
      .Create("/multi/z", "z")
      .Delete("/multi/z");
  absl::StatusOr<std::vector<OpResult>> ok = c->Multi(good);
  ASSERT_TRUE(ok.ok()) << ok.status();
  ASSERT_EQ(ok->size(), 5u);
  EXPECT_EQ((*ok)[0].created_path, "/multi/s-0000000001");
  EXPECT_EQ((*ok)[1].stat.version, 1);
  EXPECT_EQ(c->Get("/multi/cas")->data, "v1");
  EXPECT_FALSE(c->Exists("/multi/z")->has_value());
}

TEST_F(ZkClientTest, ForcedSessionExpiryRecreatesHandleAndEphemerals) {
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Create("/members", "").ok());
  EventLog events;
  c->AddSessionListener([&events](const SessionEvent& e) {
    events.Add(absl::StrCat(SessionEventTypeName(e.type), " ", e.generation));
  });
  absl::StatusOr<std::unique_ptr<EphemeralNode>> member =
      EphemeralNode::Create(c.get(), "/members/m1", "addr");
  ASSERT_TRUE(member.ok()) << member.status();
  const int64_t old_session = c->session_id();
  EXPECT_EQ(c->generation(), 1);
  EXPECT_EQ((*c->Exists("/members/m1"))->ephemeral_owner, old_session);

  absl::StatusOr<SessionCredentials> creds = c->session_credentials();
  ASSERT_TRUE(creds.ok());
  ASSERT_TRUE(ExpireSession(zk()->ConnectString(), *creds).ok());

  ASSERT_TRUE(WaitFor([&] { return c->generation() == 2; }, kPatience))
      << "no new session after forced expiry";
  const int64_t new_session = c->session_id();
  EXPECT_NE(new_session, old_session);
  // The member node is back, owned by the new session.
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::StatusOr<std::optional<Stat>> s = c->Exists("/members/m1");
        return s.ok() && s->has_value() && (*s)->ephemeral_owner == new_session;
      },
      kPatience));
  // The node is visible as soon as the create is applied; the
  // EphemeralNode records the generation when its create returns.
  EXPECT_TRUE(WaitFor([&] { return (*member)->created_generation() == 2; },
                      kPatience))
      << "created_generation " << (*member)->created_generation();
  EXPECT_EQ(c->Get("/members/m1")->data, "addr");
  ASSERT_TRUE(WaitFor([&] { return events.size() >= 2; }, kPatience));
  std::vector<std::string> seen = events.entries();
  EXPECT_NE(std::find(seen.begin(), seen.end(), "session expired 1"),
            seen.end());
  EXPECT_NE(std::find(seen.begin(), seen.end(), "new session 2"), seen.end());

  // Destroying the EphemeralNode deletes the node.
  member->reset();
  EXPECT_FALSE(c->Exists("/members/m1")->has_value());
}

TEST_F(ZkClientTest, ReconnectStartsANewSession) {
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Create("/eph", "", CreateMode::kEphemeral).ok());
  const int64_t old_session = c->session_id();
  ASSERT_TRUE(c->Reconnect().ok());
  EXPECT_EQ(c->generation(), 2);
  EXPECT_NE(c->session_id(), old_session);
  // Closing the old session removed its ephemeral.
  EXPECT_FALSE(c->Exists("/eph")->has_value());
}

TEST_F(ZkClientTest, DigestAclsAreEnforced) {
  ZkClientOptions alice_options = TestClientOptions(zk()->ConnectString());
  alice_options.credentials = {{"alice", "alice-pw"}};
  auto alice = Connect(alice_options);
  ZkClientOptions bob_options = TestClientOptions(zk()->ConnectString());
  bob_options.credentials = {{"bob", "bob-pw"}};
  auto bob = Connect(bob_options);
  auto anonymous = Connect();
  ASSERT_TRUE(alice && bob && anonymous);

  AclList acl = {*DigestAcl("alice", "alice-pw", kPermAll),
                 *DigestAcl("bob", "bob-pw", kPermRead)};
  ASSERT_TRUE(alice->Create("/secure", "s", CreateMode::kPersistent, acl).ok());
  EXPECT_EQ(alice->Get("/secure")->data, "s");
  EXPECT_EQ(bob->Get("/secure")->data, "s");
  EXPECT_EQ(bob->Set("/secure", "b").status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(anonymous->Get("/secure").status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(alice->Set("/secure", "a").ok());
}

TEST_F(ZkClientTest, NoServerIsUnavailableWithinTheConnectTimeout) {
  absl::StatusOr<int> port = kess::testing::PickFreePort();
  ASSERT_TRUE(port.ok());
  ZkClientOptions options =
      TestClientOptions(absl::StrCat("127.0.0.1:", *port));
  options.connect_timeout = absl::Seconds(1);
  const absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<ZkClient>> c = ZkClient::Create(options);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable) << c.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

}  // namespace
}  // namespace zk
}  // namespace kess
