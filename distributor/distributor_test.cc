// The distributor as agents see it: a real ZooKeeper, the real transport on
// 127.0.0.1, TestAgents and raw sockets.
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/http_client.h"
#include "common/testing/wait_for.h"
#include "common/transport/frame_codec.h"
#include "common/transport/testing/test_util.h"
#include "distributor/testing/test_fixture.h"
#include "gtest/gtest.h"
#include "zk_schema/codec.h"
#include "zk_schema/layout.h"

namespace kess {
namespace distributor {
namespace testing {
namespace {

using ::kess::testing::WaitFor;

using protocol::Resource;
using protocol::SubscribeResponse;

// GET http://127.0.0.1:<http port of d><uri>.
absl::StatusOr<HttpReply> Get(const Distributor& d, const std::string& uri) {
  return HttpCall(absl::StrCat("127.0.0.1:", d.http_port()), "GET", uri);
}

// A REQUEST frame as a raw agent would send it.
std::string RequestFrame(const std::string& method, const std::string& payload,
                         uint64_t id = 1) {
  transport::Frame frame;
  frame.set_id(id);
  frame.set_kind(transport::Frame::REQUEST);
  frame.set_method(method);
  frame.set_payload(payload);
  return transport::testing::EncodeForTest(frame);
}

class DistributorTest : public DistributorFixture {};

TEST_F(DistributorTest, SubscribeAnswersOnlyWhatIsNewer) {
  const int64_t a = Put("ns", "a", "1");
  Put("ns", "b", "2");
  std::unique_ptr<Distributor> d = Start(Options());
  TestAgent* agent = Agent(*d);
  Resource held;
  *held.mutable_key() = ConfigKey("ns", "a");
  held.set_revision(a);
  held.set_value("1");
  agent->SetHeld(held);

  absl::StatusOr<SubscribeResponse> reply =
      agent->Subscribe({ConfigKey("ns", "a"), ConfigKey("ns", "b")});
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->revision(), ZkRevision());
  EXPECT_FALSE(reply->stale());
  ASSERT_EQ(reply->updates_size(), 1);
  EXPECT_EQ(reply->updates(0).key().key(), "b");
  EXPECT_EQ(reply->updates(0).value(), "2");
  EXPECT_EQ(reply->updates(0).crc32(), zk::Crc32("2"));
  EXPECT_EQ(reply->rejected_size(), 0);

  // A pull with everything current answers nothing.
  absl::StatusOr<SubscribeResponse> pull = agent->Pull();
  ASSERT_TRUE(pull.ok()) << pull.status();
  EXPECT_EQ(pull->updates_size(), 0);
}

// A tree of a ZooKeeper layout version outside this binary's window
// (zk_schema/layout.h) is never followed: the distributor stays unloaded and
// unhealthy, counts the refusal, and follows the tree once it is readable.
TEST_F(DistributorTest, TreeOfUnknownLayoutVersionIsNotFollowed) {
  Put("ns", "a", "1");
  absl::StatusOr<zk::GetResult> root = writer_->Get(layout_->root());
  ASSERT_TRUE(root.ok()) << root.status();
  absl::StatusOr<zk::SchemaInfo> info =
      zk::DecodeAs<zk::SchemaInfo>(root->data, layout_->root());
  ASSERT_TRUE(info.ok()) << info.status();
  ASSERT_EQ(info->schema_version(), zk::kSchemaVersion);
  zk::SchemaInfo newer = *info;
  newer.set_schema_version(zk::kSchemaVersion + 1);
  ASSERT_TRUE(writer_->Set(layout_->root(), zk::Encode(newer)).ok());

  DistributorOptions options = Options();
  metrics::Registry* registry = options.registry;
  absl::StatusOr<std::unique_ptr<Distributor>> d =
      Distributor::Create(std::move(options));
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_TRUE(WaitFor(
      [&] {
        return Counter(registry, "kess_zk_layout_refused_total",
                       {{"role", "distributor"}}) >= 1;
      },
      kWait));
  EXPECT_FALSE((*d)->loaded());
  EXPECT_FALSE((*d)->Health().ok());

  // Back inside the window (as after the binary was upgraded, here the
  // tree): it is followed within the retry interval (5 s).
  ASSERT_TRUE(writer_->Set(layout_->root(), zk::Encode(*info)).ok());
  EXPECT_TRUE(WaitFor([&] { return (*d)->loaded(); }, absl::Seconds(30)));
  EXPECT_TRUE((*d)->Health().ok());
}

TEST_F(DistributorTest, UnknownKeyIsAbsentAndPushedWhenItAppears) {
  std::unique_ptr<Distributor> d = Start(Options());
  TestAgent* agent = Agent(*d);
  absl::StatusOr<SubscribeResponse> reply =
      agent->Subscribe({ConfigKey("ns", "later"), RouteKey("svc")});
  ASSERT_TRUE(reply.ok()) << reply.status();
  ASSERT_EQ(reply->updates_size(), 2);
  for (const Resource& r : reply->updates()) {
    EXPECT_TRUE(r.absent());
    EXPECT_EQ(r.revision(), 0);
  }
  const int64_t put = Put("ns", "later", "here");
  RouteTable table;
  table.service = "svc";
  table.instances.push_back(TestInstance("127.0.0.7:80"));
  ASSERT_TRUE(leader_->PutRoute(table).ok());
  ASSERT_TRUE(WaitFor(
      [&] {
        return agent->RevisionOf(ConfigKey("ns", "later")) == put &&
               agent->RevisionOf(RouteKey("svc")) > put;
      },
      kWait));
  EXPECT_EQ(agent->Get(ConfigKey("ns", "later"))->value(), "here");
  EXPECT_EQ(agent->Get(RouteKey("svc"))->content_type(), "application/json");
  absl::StatusOr<RouteTable> got =
      RouteTableFromJson(agent->Get(RouteKey("svc"))->value());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->instances[0].address, "127.0.0.7:80");

  // A delete is pushed as absent at the delete's revision.
  const int64_t del = Delete("ns", "later");
  ASSERT_TRUE(WaitFor(
      [&] { return agent->RevisionOf(ConfigKey("ns", "later")) == del; },
      kWait));
  EXPECT_TRUE(agent->Get(ConfigKey("ns", "later"))->absent());
}

TEST_F(DistributorTest, PushReachesExactlyTheSubscribersOfAKey) {
  Put("ns", "x", "0");
  Put("ns", "y", "0");
  std::unique_ptr<Distributor> d = Start(Options());
  TestAgent* only_x = Agent(*d, "", "host-x");
  TestAgent* only_y = Agent(*d, "", "host-y");
  TestAgent* both = Agent(*d, "", "host-xy");
  ASSERT_TRUE(only_x->Subscribe({ConfigKey("ns", "x")}).ok());
  ASSERT_TRUE(only_y->Subscribe({ConfigKey("ns", "y")}).ok());
  ASSERT_TRUE(
      both->Subscribe({ConfigKey("ns", "x"), ConfigKey("ns", "y")}).ok());
  EXPECT_EQ(d->hub().subscribers("c/ns/x"), 2u);

  const int64_t x = Put("ns", "x", "1");
  const int64_t y = Put("ns", "y", "1");
  ASSERT_TRUE(WaitFor(
      [&] {
        return both->RevisionOf(ConfigKey("ns", "x")) == x &&
               both->RevisionOf(ConfigKey("ns", "y")) == y &&
               only_x->RevisionOf(ConfigKey("ns", "x")) == x &&
               only_y->RevisionOf(ConfigKey("ns", "y")) == y;
      },
      kWait));
  // Everyone got exactly the pushes of its own keys (the pushes were sent
  // before `both` got its last one; per-connection order is kept).
  EXPECT_EQ(only_x->pushes(), 1);
  EXPECT_EQ(only_y->pushes(), 1);
  EXPECT_FALSE(only_x->Get(ConfigKey("ns", "y")).has_value());
  EXPECT_FALSE(only_y->Get(ConfigKey("ns", "x")).has_value());
  EXPECT_GE(Counter(d->metrics().registry, "kess_distributor_pushes_total"), 3);
}

TEST_F(DistributorTest, PullRepairsALostPush) {
  Put("ns", "x", "0");
  std::unique_ptr<Distributor> d = Start(Options());
  TestAgent* agent = Agent(*d);
  ASSERT_TRUE(agent->Subscribe({ConfigKey("ns", "x")}).ok());
  agent->set_drop_pushes(true);
  const int64_t x = Put("ns", "x", "1");
  ASSERT_TRUE(WaitFor([&] { return d->revision() == x; }, kWait));
  EXPECT_EQ(agent->Get(ConfigKey("ns", "x"))->value(), "0");
  absl::StatusOr<SubscribeResponse> pull = agent->Pull();
  ASSERT_TRUE(pull.ok()) << pull.status();
  ASSERT_EQ(pull->updates_size(), 1);
  EXPECT_EQ(agent->Get(ConfigKey("ns", "x"))->value(), "1");
  EXPECT_EQ(agent->RevisionOf(ConfigKey("ns", "x")), x);
}

TEST_F(DistributorTest, InvalidNamesAreRejectedWithReasonOthersSubscribed) {
  Put("ns", "ok", "1");
  std::unique_ptr<Distributor> d = Start(Options());
  TestAgent* agent = Agent(*d);
  absl::StatusOr<SubscribeResponse> reply = agent->Subscribe(
      {ConfigKey("ns", "ok"), ConfigKey("ns", ".."), ConfigKey("..", "x"),
       ConfigKey("ns", "a/b"), ConfigKey("ns", std::string("n\0ul", 4)),
       RouteKey("../svc")});
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->rejected_size(), 5);
  EXPECT_NE(reply->rejected_reason().find("invalid"), std::string::npos)
      << reply->rejected_reason();
  ASSERT_EQ(reply->updates_size(), 1);
  EXPECT_EQ(reply->updates(0).key().key(), "ok");
  EXPECT_EQ(Counter(d->metrics().registry, "kess_distributor_rejected_total",
                    {{"reason", "invalid_name"}}),
            5);
  const int64_t ok = Put("ns", "ok", "2");
  ASSERT_TRUE(WaitFor(
      [&] { return agent->RevisionOf(ConfigKey("ns", "ok")) == ok; }, kWait));
  // A malformed payload is an error answer, not a closed connection.
  absl::StatusOr<std::string> bad = agent->Call("kess.Subscribe", "\xff\xff");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(agent->Pull().ok());
}

TEST_F(DistributorTest, WrongTokenGetsNothing) {
  Put("ns", "secret", "1");
  DistributorOptions options = Options();
  options.auth_token = "s3cret-token";
  std::unique_ptr<Distributor> d = Start(options);
  TestAgent* intruder = Agent(*d, "guess");
  TestAgent* tokenless = Agent(*d, "");
  TestAgent* agent = Agent(*d, "s3cret-token");

  absl::StatusOr<SubscribeResponse> denied =
      intruder->Subscribe({ConfigKey("ns", "secret")});
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(tokenless->Subscribe({ConfigKey("ns", "secret")}).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(intruder->Pull().status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(intruder->Unsubscribe({ConfigKey("ns", "secret")}).code(),
            absl::StatusCode::kPermissionDenied);
  ASSERT_TRUE(agent->Subscribe({ConfigKey("ns", "secret")}).ok());
  EXPECT_EQ(agent->Get(ConfigKey("ns", "secret"))->value(), "1");

  const int64_t v2 = Put("ns", "secret", "2");
  ASSERT_TRUE(WaitFor(
      [&] { return agent->RevisionOf(ConfigKey("ns", "secret")) == v2; },
      kWait));
  EXPECT_EQ(intruder->pushes(), 0);
  EXPECT_EQ(tokenless->pushes(), 0);
  EXPECT_FALSE(intruder->Get(ConfigKey("ns", "secret")).has_value());
  EXPECT_EQ(Counter(d->metrics().registry, "kess_distributor_rejected_total",
                    {{"reason", "auth"}}),
            4);
}

TEST_F(DistributorTest, MalformedOrOversizedFrameClosesOnlyThatConnection) {
  Put("ns", "x", "0");
  std::unique_ptr<Distributor> d = Start(Options());
  TestAgent* agent = Agent(*d);
  ASSERT_TRUE(agent->Subscribe({ConfigKey("ns", "x")}).ok());

  int garbage = transport::testing::ConnectRaw(d->port());
  ASSERT_GE(garbage, 0);
  ASSERT_TRUE(transport::testing::WriteAll(
      garbage,
      transport::testing::LengthHeader(6) + "\x08\xff\xff\xff\xff\xff"));
  EXPECT_TRUE(transport::testing::WaitForPeerClose(garbage, absl::Seconds(10)));
  close(garbage);

  int oversized = transport::testing::ConnectRaw(d->port());
  ASSERT_GE(oversized, 0);
  ASSERT_TRUE(transport::testing::WriteAll(
      oversized,
      transport::testing::LengthHeader(transport::kDefaultMaxFrameBytes + 1)));
  EXPECT_TRUE(
      transport::testing::WaitForPeerClose(oversized, absl::Seconds(10)));
  close(oversized);

  // Counted right after the close (the peer may see the close first).
  metrics::Registry* registry = d->metrics().registry;
  EXPECT_TRUE(WaitFor(
      [&] {
        return transport::testing::Disconnects(*registry, "server",
                                               "malformed_frame") == 1 &&
               // Before authenticating, frames over 64 KiB are refused.
               transport::testing::Disconnects(
                   *registry, "server", "untrusted_frame_too_large") == 1;
      },
      kWait));
  EXPECT_TRUE(agent->connected());
  const int64_t x = Put("ns", "x", "1");
  ASSERT_TRUE(WaitFor(
      [&] { return agent->RevisionOf(ConfigKey("ns", "x")) == x; }, kWait));
}

TEST_F(DistributorTest, SlowReaderIsDroppedAndCountedOthersServed) {
  DistributorOptions options = Options();
  // The smallest queue the transport allows: one maximal frame.
  options.max_send_queue_bytes = transport::kDefaultMaxFrameBytes + 4;
  options.heartbeat_timeout = absl::Seconds(120);
  std::unique_ptr<Distributor> d = Start(options);
  TestAgent* agent = Agent(*d);
  ASSERT_TRUE(agent->Subscribe({ConfigKey("ns", "big")}).ok());

  // A raw agent that subscribes and then never reads.
  int slow = transport::testing::ConnectRaw(d->port(),
                                            /*receive_buffer_bytes=*/4096);
  ASSERT_GE(slow, 0);
  protocol::SubscribeRequest request;
  *request.add_keys()->mutable_key() = ConfigKey("ns", "big");
  ASSERT_TRUE(transport::testing::WriteAll(
      slow, RequestFrame("kess.Subscribe", request.SerializeAsString())));
  ASSERT_TRUE(
      WaitFor([&] { return d->hub().subscribers("c/ns/big") == 2; }, kWait));

  metrics::Registry* registry = d->metrics().registry;
  auto dropped = [&] {
    return Counter(registry, "kess_distributor_dropped_agents_total",
                   {{"reason", "send_queue_full"}});
  };
  int64_t last = 0;
  for (int i = 0; i < 20 && dropped() == 0; ++i) {
    last = Put("ns", "big", std::string(3 << 20, 'a' + i));
    ASSERT_TRUE(WaitFor([&] { return d->revision() == last; }, kWait));
  }
  ASSERT_TRUE(WaitFor([&] { return dropped() == 1; }, kWait));
  EXPECT_EQ(
      transport::testing::Disconnects(*registry, "server", "send_queue_full"),
      1);
  EXPECT_EQ(d->hub().subscribers("c/ns/big"), 1u);
  ASSERT_TRUE(
      WaitFor([&] { return agent->RevisionOf(ConfigKey("ns", "big")) == last; },
              kWait));
  EXPECT_TRUE(agent->connected());
  close(slow);
}

TEST_F(DistributorTest, LargeAnswerIsSplitIntoFramesAndBudgeted) {
  constexpr int kKeys = 8;
  std::vector<protocol::ResourceKey> keys;
  std::vector<std::string> values;
  for (int i = 0; i < kKeys; ++i) {
    values.push_back(std::string(5 << 20, 'A' + i));
    Put("ns", absl::StrCat("big", i), values.back());
    keys.push_back(ConfigKey("ns", absl::StrCat("big", i)));
  }
  DistributorOptions options = Options();
  // Budget per answer: half the queue, about 2 frames (33 MB).
  options.max_send_queue_bytes = 4 * transport::kDefaultMaxFrameBytes;
  std::unique_ptr<Distributor> d = Start(options);
  TestAgent* agent = Agent(*d);
  absl::StatusOr<SubscribeResponse> reply = agent->Subscribe(keys);
  ASSERT_TRUE(reply.ok()) << reply.status();
  // 40 MB: 3 values fit the response frame, 3 more follow as a push, the
  // last 2 are over the budget and wait for the next pull.
  EXPECT_EQ(reply->updates_size(), 3);
  ASSERT_TRUE(WaitFor([&] { return agent->pushes() == 1; }, kWait));
  EXPECT_EQ(Counter(d->metrics().registry,
                    "kess_distributor_deferred_resources_total"),
            2);
  absl::StatusOr<SubscribeResponse> pull = agent->Pull();
  ASSERT_TRUE(pull.ok()) << pull.status();
  EXPECT_EQ(pull->updates_size(), 2);
  for (int i = 0; i < kKeys; ++i) {
    std::optional<Resource> r = agent->Get(keys[i]);
    ASSERT_TRUE(r.has_value()) << i;
    EXPECT_TRUE(r->value() == values[i]);
    EXPECT_EQ(r->crc32(), zk::Crc32(values[i]));
  }
}

TEST_F(DistributorTest, HttpEndpointsAndMemberRegistration) {
  Put("ns", "a", "1");
  std::unique_ptr<Distributor> d = Start(Options("dist-7"));
  absl::StatusOr<HttpReply> health = Get(*d, "/healthz");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, "ok\n");
  absl::StatusOr<HttpReply> metrics_page = Get(*d, "/metrics");
  ASSERT_TRUE(metrics_page.ok()) << metrics_page.status();
  EXPECT_NE(metrics_page->body.find("kess_distributor_revision 1"),
            std::string::npos);
  EXPECT_NE(metrics_page->body.find("kess_distributor_keys 1"),
            std::string::npos);
  EXPECT_NE(metrics_page->body.find("kess_distributor_connected_agents"),
            std::string::npos);
  absl::StatusOr<HttpReply> status = Get(*d, "/api/v1/status");
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->status, 200);
  EXPECT_NE(status->body.find("\"id\":\"dist-7\""), std::string::npos)
      << status->body;
  EXPECT_NE(status->body.find("\"stale\":false"), std::string::npos);
  EXPECT_NE(status->body.find("\"keys\":1"), std::string::npos);
  EXPECT_NE(status->body.find("\"zk_session_id\":\"0x"), std::string::npos);
  EXPECT_EQ(status->body.find("\"zk_session_id\":\"0x0\""), std::string::npos);

  ASSERT_TRUE(WaitFor([&] { return d->registered(); }, kWait));
  const std::string path = *layout_->MemberPath(zk::DISTRIBUTOR, "dist-7");
  absl::StatusOr<zk::GetResult> node = writer_->Get(path);
  ASSERT_TRUE(node.ok()) << node.status();
  zk::MemberInfo info;
  ASSERT_TRUE(info.ParseFromString(node->data));
  EXPECT_EQ(info.address(), absl::StrCat("127.0.0.1:", d->port()));
  EXPECT_EQ(info.http_address(), absl::StrCat("127.0.0.1:", d->http_port()));
  EXPECT_EQ(info.datacenter(), "dc1");
  EXPECT_NE(node->stat.ephemeral_owner, 0);
  d.reset();
  EXPECT_FALSE(writer_->Exists(path)->has_value());
}

TEST_F(DistributorTest, BeforeTheFirstLoadAgentsGetUnavailable) {
  DistributorOptions options = Options();
  options.zk_connect =
      absl::StrCat("127.0.0.1:", transport::testing::UnusedPort());
  options.zk_connect_timeout = absl::Milliseconds(500);
  absl::StatusOr<std::unique_ptr<Distributor>> d = Distributor::Create(options);
  ASSERT_TRUE(d.ok()) << d.status();
  TestAgent* agent = Agent(**d);
  EXPECT_EQ(agent->Subscribe({ConfigKey("ns", "a")}).status().code(),
            absl::StatusCode::kUnavailable);
  absl::StatusOr<HttpReply> health = Get(**d, "/healthz");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(health->status, 503);
  EXPECT_TRUE((*d)->stale());
}

}  // namespace
}  // namespace testing
}  // namespace distributor
}  // namespace kess
