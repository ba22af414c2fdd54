// The scheduler over the real transport on 127.0.0.1 (ephemeral port):
// the five methods, bad input rejected with counters while other
// connections and the table stay as they were.
#include "mandator/scheduler/scheduler.h"

#include <unistd.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "common/testing/wait_for.h"
#include "common/transport/client.h"
#include "common/transport/event_loop.h"
#include "common/transport/protocol_version.h"
#include "common/transport/testing/test_util.h"
#include "gtest/gtest.h"
#include "model/protocol/discovery.pb.h"
#include "model/protocol/discovery_methods.h"
#include "model/protocol/distribution.pb.h"

namespace kess {
namespace mandator {
namespace scheduler {
namespace {

using transport::testing::CounterValue;

constexpr absl::Duration kCall = absl::Seconds(10);  // "did not hang" only

protocol::InstanceInfo Info(const std::string& id) {
  protocol::InstanceInfo info;
  info.set_service("checkout");
  info.set_id(id);
  info.set_host("web-1");
  info.set_address("127.0.0.1:8080");
  info.set_datacenter("dc1");
  info.set_weight(100);
  info.set_health("up");
  return info;
}

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SchedulerOptions o;
    o.mandator_id = "m1";
    o.datacenter = "dc1";
    o.max_batch = 10;
    o.registry = &registry_;
    auto s = Scheduler::Create(o);
    ASSERT_TRUE(s.ok()) << s.status();
    scheduler_ = std::move(s).value();
    auto loop = transport::EventLoop::Create("test-client");
    ASSERT_TRUE(loop.ok());
    loop_ = std::move(loop).value();
    client_ = Connect();
  }
  void TearDown() override {
    client_.reset();
    scheduler_.reset();
  }

  std::unique_ptr<transport::Client> Connect() {
    transport::ClientOptions o;
    o.port = scheduler_->port();
    o.registry = &registry_;
    auto c = transport::Client::Create(loop_.get(), o);
    EXPECT_TRUE(c.ok());
    EXPECT_TRUE((*c)->WaitConnected(kCall).ok());
    return std::move(c).value();
  }

  absl::StatusOr<std::string> Call(const std::string& method,
                                   const google::protobuf::Message& m,
                                   transport::Client* client = nullptr) {
    if (client == nullptr) client = client_.get();
    return client->CallSync(method, m.SerializeAsString(), kCall);
  }

  absl::Status Register(std::vector<protocol::InstanceInfo> infos) {
    protocol::RegisterRequest r;
    for (auto& i : infos) *r.add_instances() = i;
    return Call(protocol::kRegisterMethod, r).status();
  }

  protocol::PartialTable Table() {
    protocol::PartialTableRequest r;
    r.set_requester_id("test");
    auto reply = Call(protocol::kGetPartialTableMethod, r);
    EXPECT_TRUE(reply.ok()) << reply.status();
    protocol::PartialTable t;
    EXPECT_TRUE(reply.ok() && t.ParseFromString(*reply));
    return t;
  }

  double Rejected(const std::string& reason) {
    return CounterValue(registry_, "kess_scheduler_rejected_total",
                        {{"reason", reason}});
  }

  metrics::Registry registry_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<transport::EventLoop> loop_;
  std::unique_ptr<transport::Client> client_;
};

TEST_F(SchedulerTest, RegisterHeartbeatDeregisterAndTable) {
  protocol::RegisterRequest reg;
  *reg.add_instances() = Info("c-1");
  *reg.add_instances() = Info("c-2");
  auto reply = Call(protocol::kRegisterMethod, reg);
  ASSERT_TRUE(reply.ok()) << reply.status();
  protocol::RegisterResponse reg_response;
  ASSERT_TRUE(reg_response.ParseFromString(*reply));
  EXPECT_EQ(reg_response.heartbeat_interval_ms(), 5000);

  protocol::HeartbeatRequest hb;
  hb.add_instances()->set_service("checkout");
  hb.mutable_instances(0)->set_id("c-1");
  hb.add_instances()->set_service("checkout");
  hb.mutable_instances(1)->set_id("never");
  hb.set_health("warming_up");
  reply = Call(protocol::kHeartbeatMethod, hb);
  ASSERT_TRUE(reply.ok()) << reply.status();
  protocol::HeartbeatResponse hb_response;
  ASSERT_TRUE(hb_response.ParseFromString(*reply));
  ASSERT_EQ(hb_response.unknown_size(), 1);
  EXPECT_EQ(hb_response.unknown(0).id(), "never");

  protocol::DeregisterRequest dereg;
  *dereg.add_instances() = hb.instances(0);
  ASSERT_TRUE(Call(protocol::kDeregisterMethod, dereg).ok());

  protocol::HostHeartbeat host;
  host.set_host_id("web-1");
  host.set_datacenter("dc1");
  ASSERT_TRUE(Call(protocol::kHostHeartbeatMethod, host).ok());

  protocol::PartialTable t = Table();
  EXPECT_EQ(t.mandator_id(), "m1");
  EXPECT_EQ(t.datacenter(), "dc1");
  EXPECT_GE(t.uptime_ms(), 0);
  ASSERT_EQ(t.instances_size(), 2);
  EXPECT_EQ(t.instances(0).info().id(), "c-1");
  EXPECT_TRUE(t.instances(0).deregistered());
  EXPECT_EQ(t.instances(0).info().health(), "warming_up");
  EXPECT_FALSE(t.instances(1).deregistered());
  ASSERT_EQ(t.hosts_size(), 1);
  EXPECT_EQ(t.hosts(0).host_id(), "web-1");

  EXPECT_EQ(CounterValue(registry_, "kess_scheduler_registrations_total", {}),
            2);
  EXPECT_EQ(CounterValue(registry_, "kess_scheduler_heartbeats_total", {}), 1);
  EXPECT_EQ(
      CounterValue(registry_, "kess_scheduler_unknown_heartbeats_total", {}),
      1);
  EXPECT_EQ(CounterValue(registry_, "kess_scheduler_deregistrations_total", {}),
            1);
  EXPECT_EQ(CounterValue(registry_, "kess_scheduler_host_heartbeats_total", {}),
            1);
  const std::string text = registry_.RenderText();
  EXPECT_NE(text.find("kess_scheduler_instances 1"), std::string::npos);
  EXPECT_NE(text.find("kess_scheduler_tombstones 1"), std::string::npos);
  EXPECT_NE(text.find("kess_scheduler_hosts 1"), std::string::npos);
}

// What the agent's RegistrationPool sends: one kess.Heartbeat carrying many
// instances (here max_batch = 10 of them), from a peer of the current
// protocol version and from one of the oldest in the window alike. Known
// ones are refreshed, only the others come back unknown (they alone
// re-register); one more than max_batch is refused whole, refreshing
// nothing, which the pool answers by sending halves.
TEST_F(SchedulerTest, BatchedHeartbeatRefreshesKnownAndNamesOnlyUnknown) {
  std::vector<protocol::InstanceInfo> known;
  for (int i = 0; i < 5; ++i) known.push_back(Info(absl::StrCat("k", i)));
  ASSERT_TRUE(Register(known).ok());

  protocol::HeartbeatRequest hb;
  for (int i = 0; i < 10; ++i) {
    protocol::InstanceRef* ref = hb.add_instances();
    ref->set_service("checkout");
    ref->set_id(i % 2 == 0 ? absl::StrCat("k", i / 2) : absl::StrCat("u", i));
  }
  transport::ClientOptions old_options;
  old_options.port = scheduler_->port();
  old_options.registry = &registry_;
  old_options.protocol_version = transport::kMinProtocolVersion;
  auto old_peer = transport::Client::Create(loop_.get(), old_options);
  ASSERT_TRUE(old_peer.ok());
  ASSERT_TRUE((*old_peer)->WaitConnected(kCall).ok());
  for (transport::Client* peer : {client_.get(), old_peer->get()}) {
    const double refreshed_before =
        CounterValue(registry_, "kess_scheduler_heartbeats_total", {});
    auto reply = Call(protocol::kHeartbeatMethod, hb, peer);
    ASSERT_TRUE(reply.ok()) << reply.status();
    protocol::HeartbeatResponse response;
    ASSERT_TRUE(response.ParseFromString(*reply));
    ASSERT_EQ(response.unknown_size(), 5);
    for (const protocol::InstanceRef& u : response.unknown()) {
      EXPECT_EQ(u.service(), "checkout");
      EXPECT_EQ(u.id()[0], 'u') << u.id();
    }
    EXPECT_EQ(CounterValue(registry_, "kess_scheduler_heartbeats_total", {}) -
                  refreshed_before,
              5);
  }

  const double refreshed_before =
      CounterValue(registry_, "kess_scheduler_heartbeats_total", {});
  hb.add_instances()->set_service("checkout");
  hb.mutable_instances(10)->set_id("k0");
  EXPECT_EQ(Call(protocol::kHeartbeatMethod, hb).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Rejected("too_many"), 1);
  EXPECT_EQ(CounterValue(registry_, "kess_scheduler_heartbeats_total", {}),
            refreshed_before);
}

TEST_F(SchedulerTest, InvalidInstancesAreRejectedAndChangeNothing) {
  ASSERT_TRUE(Register({Info("good")}).ok());
  const std::string before = Table().instances(0).SerializeAsString();

  for (int weight : {-1, 0, 10001, 2147483647}) {
    protocol::InstanceInfo bad = Info("good");  // would replace "good"
    bad.set_weight(weight);
    absl::Status s = Register({Info("other"), bad});
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << weight;
    EXPECT_NE(s.message().find("weight"), std::string::npos) << s;
  }
  EXPECT_EQ(Rejected("invalid_weight"), 4);

  protocol::InstanceInfo bad = Info("x");
  bad.set_service("../etc");
  EXPECT_EQ(Register({bad}).code(), absl::StatusCode::kInvalidArgument);
  bad = Info("a/b");
  EXPECT_EQ(Register({bad}).code(), absl::StatusCode::kInvalidArgument);
  bad = Info("x");
  bad.set_host(std::string("h\0st", 4));
  EXPECT_EQ(Register({bad}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Rejected("invalid_name"), 3);

  bad = Info("x");
  bad.set_address("no-port");
  EXPECT_EQ(Register({bad}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Rejected("invalid_instance"), 1);

  bad = Info("x");
  bad.set_datacenter("dc2");
  EXPECT_EQ(Register({bad}).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Rejected("wrong_datacenter"), 1);

  std::vector<protocol::InstanceInfo> eleven;
  for (int i = 0; i < 11; ++i) eleven.push_back(Info(absl::StrCat("n", i)));
  EXPECT_EQ(Register(eleven).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Rejected("too_many"), 1);

  protocol::HeartbeatRequest hb;
  hb.add_instances()->set_service("checkout");
  hb.mutable_instances(0)->set_id("..");
  EXPECT_EQ(Call(protocol::kHeartbeatMethod, hb).status().code(),
            absl::StatusCode::kInvalidArgument);
  hb.mutable_instances(0)->set_id("good");
  hb.set_health("Not A Word");
  EXPECT_EQ(Call(protocol::kHeartbeatMethod, hb).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Rejected("invalid_health"), 1);
  protocol::HostHeartbeat host;
  host.set_host_id("../../etc");
  EXPECT_EQ(Call(protocol::kHostHeartbeatMethod, host).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Rejected("invalid_name"), 5);

  // Nothing changed: one instance, exactly as before, and no host.
  protocol::PartialTable t = Table();
  ASSERT_EQ(t.instances_size(), 1);
  protocol::InstanceSeen now = t.instances(0);
  protocol::InstanceSeen was;
  ASSERT_TRUE(was.ParseFromString(before));
  EXPECT_EQ(now.info().SerializeAsString(), was.info().SerializeAsString());
  EXPECT_EQ(t.hosts_size(), 0);
}

TEST_F(SchedulerTest, MalformedPayloadsAreRejectedOnTheSameConnection) {
  for (const char* method :
       {protocol::kRegisterMethod, protocol::kHeartbeatMethod,
        protocol::kDeregisterMethod, protocol::kHostHeartbeatMethod,
        protocol::kGetPartialTableMethod}) {
    auto reply = client_->CallSync(method, "\xff\xff\xff garbage", kCall);
    EXPECT_EQ(reply.status().code(), absl::StatusCode::kInvalidArgument)
        << method << ": " << reply.status();
  }
  EXPECT_EQ(Rejected("malformed"), 5);
  // The connection is still good.
  EXPECT_TRUE(Register({Info("after")}).ok());
  EXPECT_EQ(client_->state(), transport::ClientState::kConnected);
}

TEST_F(SchedulerTest, MalformedFramesCloseOnlyThatConnection) {
  ASSERT_TRUE(Register({Info("kept")}).ok());
  // Unparsable frame, over-limit length, zero length: each closes its own
  // raw connection.
  const std::pair<std::string, std::string> cases[] = {
      {transport::testing::LengthHeader(16) + std::string(16, '\xff'),
       "malformed_frame"},
      // Before a connection's first request the limit is 1 MiB.
      {transport::testing::LengthHeader(0xffffffffu),
       "untrusted_frame_too_large"},
      {transport::testing::LengthHeader(0), "zero_length_frame"},
  };
  for (const auto& [bytes, reason] : cases) {
    const int fd = transport::testing::ConnectRaw(scheduler_->port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(transport::testing::WriteAll(fd, bytes));
    EXPECT_TRUE(transport::testing::WaitForPeerClose(fd, kCall)) << reason;
    close(fd);
    EXPECT_TRUE(kess::testing::WaitFor(
        [&, reason = reason] {  // C++17 lambdas cannot capture a binding
          return transport::testing::Disconnects(registry_, "server", reason) ==
                 1;
        },
        kCall))
        << reason;
  }
  // The well-behaved connection and the table are untouched.
  EXPECT_EQ(client_->state(), transport::ClientState::kConnected);
  protocol::PartialTable t = Table();
  ASSERT_EQ(t.instances_size(), 1);
  EXPECT_EQ(t.instances(0).info().id(), "kept");
  EXPECT_TRUE(Register({Info("still-works")}).ok());
}

TEST_F(SchedulerTest, RemembersWhenAnotherDcsLeaderLastCollected) {
  EXPECT_FALSE(scheduler_->SinceCollectedFromAnotherDc().has_value());
  Table();  // no requester_dc: an old leader, or a test
  protocol::PartialTableRequest own;
  own.set_requester_id("m2");
  own.set_requester_dc("dc1");
  ASSERT_TRUE(Call(protocol::kGetPartialTableMethod, own).ok());
  EXPECT_FALSE(scheduler_->SinceCollectedFromAnotherDc().has_value())
      << "its own DC's leader does not count";
  protocol::PartialTableRequest main;
  main.set_requester_id("m1");
  main.set_requester_dc("main-dc");
  ASSERT_TRUE(Call(protocol::kGetPartialTableMethod, main).ok());
  std::optional<absl::Duration> since =
      scheduler_->SinceCollectedFromAnotherDc();
  ASSERT_TRUE(since.has_value());
  EXPECT_GE(*since, absl::ZeroDuration());
  EXPECT_LT(*since, absl::Minutes(1));
}

TEST_F(SchedulerTest, UnknownMethodIsUnimplemented) {
  EXPECT_EQ(client_->CallSync("kess.Nope", "", kCall).status().code(),
            absl::StatusCode::kUnimplemented);
}

TEST(SchedulerOptionsTest, RejectsNonsense) {
  SchedulerOptions o;
  o.heartbeat_interval = absl::ZeroDuration();
  EXPECT_EQ(Scheduler::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SchedulerExpiryTest, SweeperForgetsSilentInstances) {
  metrics::Registry registry;
  ManualClock clock;
  SchedulerOptions o;
  // Sweeps every 10 ms (real time).
  o.heartbeat_interval = absl::Milliseconds(10);
  o.expire_heartbeat_intervals = 10;
  o.clock = &clock;
  o.registry = &registry;
  auto s = Scheduler::Create(o);
  ASSERT_TRUE(s.ok()) << s.status();
  google::protobuf::RepeatedPtrField<protocol::InstanceInfo> infos;
  *infos.Add() = Info("a");
  ASSERT_TRUE((*s)->table().Register(infos).ok());
  clock.Advance(101);  // > 10 x 10 ms on the scheduler's clock
  EXPECT_TRUE(kess::testing::WaitFor(
      [&] { return (*s)->table().instance_count() == 0; }, kCall));
  EXPECT_EQ(CounterValue(registry, "kess_scheduler_expired_total",
                         {{"what", "instance"}}),
            1);
}

}  // namespace
}  // namespace scheduler
}  // namespace mandator
}  // namespace kess
