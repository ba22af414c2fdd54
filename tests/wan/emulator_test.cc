#include "tests/wan/emulator.h"

#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/testing/wait_for.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/wan/testing/tcp_peer.h"

namespace kess {
namespace wan {
namespace {

using ::kess::testing::WaitFor;
using ::kess::wan::testing::TcpClient;
using ::kess::wan::testing::TcpTestServer;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
using SteadyClock = std::chrono::steady_clock;

constexpr absl::Duration kTimeout = absl::Seconds(30);

class WanEmulatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto* server : {&echo1_, &echo2_}) {
      auto s = TcpTestServer::Start(TcpTestServer::Mode::kEcho);
      ASSERT_TRUE(s.ok()) << s.status();
      *server = *std::move(s);
    }
    auto config = ParseEmulatorConfig(absl::StrCat(
        "pair dc1 dc2 delay=20ms\n"
        "pair dc1 dc3 delay=5ms\n"
        "link to_dc2 dc1 dc2 0 ",
        echo2_->address(), "\n", "link to_dc1 dc2 dc1 0 ", echo1_->address(),
        "\n", "link local dc1 dc1 0 ", echo1_->address(), "\n"));
    ASSERT_TRUE(config.ok()) << config.status();
    WanEmulator::Options options;
    options.seed = 7;
    auto emulator = WanEmulator::Start(*config, options);
    ASSERT_TRUE(emulator.ok()) << emulator.status();
    emulator_ = *std::move(emulator);
  }

  // One echo round trip through link `name`; its duration.
  absl::Duration RoundTrip(const std::string& name) {
    auto client = TcpClient::Connect(emulator_->link(name)->address());
    EXPECT_TRUE(client.ok()) << client.status();
    if (!client.ok()) return absl::ZeroDuration();
    const auto start = SteadyClock::now();
    EXPECT_TRUE((*client)->SendAll("ping", kTimeout).ok());
    auto reply = (*client)->ReadExactly(4, kTimeout);
    EXPECT_TRUE(reply.ok()) << reply.status();
    return absl::FromChrono(SteadyClock::now() - start);
  }

  LinkState StateOf(const std::string& name) {
    return emulator_->link(name)->state();
  }

  std::unique_ptr<TcpTestServer> echo1_;
  std::unique_ptr<TcpTestServer> echo2_;
  std::unique_ptr<WanEmulator> emulator_;
};

TEST_F(WanEmulatorTest, LinksGetTheProfilesOfTheirDcPairs) {
  ASSERT_EQ(emulator_->Addresses().size(), 3u);
  EXPECT_EQ(emulator_->Addresses()[0].first, "to_dc2");
  EXPECT_EQ(emulator_->link("to_dc2")->profile(Direction::kForward).ToString(),
            "delay=20ms");
  EXPECT_EQ(emulator_->link("to_dc2")->profile(Direction::kReverse).ToString(),
            "delay=20ms");
  EXPECT_EQ(emulator_->link("local")->profile(Direction::kForward).ToString(),
            "none");
  EXPECT_EQ(emulator_->link("nope"), nullptr);
  EXPECT_GE(RoundTrip("to_dc2"), absl::Milliseconds(40));
  EXPECT_LT(RoundTrip("local"), kTimeout);
}

TEST_F(WanEmulatorTest, PairProfileChangesMatchingDirections) {
  auto changed = emulator_->SetPairProfile(
      "dc1", "dc2", *ParseLinkProfile("delay=50ms,jitter=1ms"));
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_THAT(*changed, UnorderedElementsAre("to_dc2", "to_dc1"));
  EXPECT_EQ(emulator_->link("to_dc2")->profile(Direction::kForward).ToString(),
            "delay=50ms,jitter=1ms");
  EXPECT_EQ(emulator_->link("to_dc2")->profile(Direction::kReverse).ToString(),
            "delay=20ms");
  EXPECT_EQ(emulator_->link("to_dc1")->profile(Direction::kReverse).ToString(),
            "delay=50ms,jitter=1ms");
  EXPECT_EQ(emulator_->link("to_dc1")->profile(Direction::kForward).ToString(),
            "delay=20ms");
  EXPECT_GE(RoundTrip("to_dc2"), absl::Milliseconds(69));
  EXPECT_THAT(emulator_->LinksJson(),
              HasSubstr("{\"from\":\"dc1\",\"to\":\"dc2\",\"profile\":"
                        "\"delay=50ms,jitter=1ms\"}"));
  // A pair without links still lands in the table.
  auto none = emulator_->SetPairProfile("dc3", "dc1", LinkProfile());
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(
      emulator_->SetPairProfile("dc9", "dc1", LinkProfile()).status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST_F(WanEmulatorTest, StateAppliesToTheChosenDirections) {
  auto cut = emulator_->SetState("dc1", "dc2", Ways::kAToB, LinkState::kCut);
  ASSERT_TRUE(cut.ok()) << cut.status();
  EXPECT_THAT(*cut, UnorderedElementsAre("to_dc2"));
  EXPECT_EQ(StateOf("to_dc2"), LinkState::kCut);
  EXPECT_EQ(StateOf("to_dc1"), LinkState::kOpen);

  auto back =
      emulator_->SetState("dc1", "dc2", Ways::kBToA, LinkState::kBlackhole);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_THAT(*back, UnorderedElementsAre("to_dc1"));
  EXPECT_EQ(StateOf("to_dc1"), LinkState::kBlackhole);

  auto both = emulator_->SetState("dc2", "dc1", Ways::kBoth, LinkState::kOpen);
  ASSERT_TRUE(both.ok()) << both.status();
  EXPECT_THAT(*both, UnorderedElementsAre("to_dc2", "to_dc1"));
  EXPECT_EQ(StateOf("to_dc2"), LinkState::kOpen);
  EXPECT_EQ(StateOf("local"), LinkState::kOpen);

  EXPECT_EQ(emulator_->SetState("dc1", "dcX", Ways::kBoth, LinkState::kCut)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  auto no_link =
      emulator_->SetState("dc1", "dc3", Ways::kBoth, LinkState::kCut);
  EXPECT_EQ(no_link.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(no_link.status().message()),
              HasSubstr("no link has its client in dc1 and its server in dc3"));
}

TEST_F(WanEmulatorTest, FlapTogglesAndEndsOpen) {
  // 3 toggles round down to 2: cut for 200 ms, then open.
  auto flap =
      emulator_->Flap("dc1", "dc2", Ways::kAToB, absl::Milliseconds(200), 3);
  ASSERT_TRUE(flap.ok()) << flap.status();
  EXPECT_THAT(*flap, UnorderedElementsAre("to_dc2"));
  EXPECT_TRUE(
      WaitFor([&] { return StateOf("to_dc2") == LinkState::kCut; }, kTimeout));
  EXPECT_TRUE(
      WaitFor([&] { return !emulator_->Flapping("to_dc2"); }, kTimeout));
  EXPECT_EQ(StateOf("to_dc2"), LinkState::kOpen);
  EXPECT_EQ(StateOf("to_dc1"), LinkState::kOpen);
}

TEST_F(WanEmulatorTest, StateCancelsARunningFlap) {
  ASSERT_TRUE(
      emulator_->Flap("dc1", "dc2", Ways::kBoth, absl::Milliseconds(50), 1000)
          .ok());
  EXPECT_TRUE(emulator_->Flapping("to_dc1"));
  ASSERT_TRUE(
      emulator_->SetState("dc2", "dc1", Ways::kAToB, LinkState::kBlackhole)
          .ok());
  EXPECT_FALSE(emulator_->Flapping("to_dc1"));
  EXPECT_FALSE(emulator_->Flapping("to_dc2"));  // the same flap
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(StateOf("to_dc1"), LinkState::kBlackhole);
  const LinkState other = StateOf("to_dc2");  // where the flap left it
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(StateOf("to_dc2"), other);
}

TEST_F(WanEmulatorTest, FlapRefusesBadArguments) {
  EXPECT_EQ(emulator_->Flap("dc1", "dc2", Ways::kBoth, absl::Milliseconds(1), 4)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(emulator_->Flap("dc1", "dc2", Ways::kBoth, absl::Seconds(1), 1)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(emulator_->Flap("dc1", "dc4", Ways::kBoth, absl::Seconds(1), 2)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(WanEmulatorTest, JsonAndMetricsShowCounters) {
  RoundTrip("to_dc2");
  ASSERT_TRUE(
      emulator_->SetState("dc1", "dc2", Ways::kAToB, LinkState::kCut).ok());
  const std::string json = emulator_->LinksJson();
  EXPECT_THAT(json, HasSubstr("\"name\":\"to_dc2\",\"client_dc\":\"dc1\","
                              "\"server_dc\":\"dc2\""));
  EXPECT_THAT(json, HasSubstr("\"state\":\"cut\""));
  EXPECT_THAT(json, HasSubstr("\"forward_stats\":{\"bytes\":4,"));
  ASSERT_TRUE(WaitFor(
      [&] { return emulator_->link("to_dc2")->stats().reverse.bytes == 4; },
      kTimeout));
  const std::string metrics = emulator_->MetricsText();
  EXPECT_THAT(metrics, HasSubstr("# TYPE kess_wan_bytes_total counter\n"));
  EXPECT_THAT(metrics, HasSubstr("kess_wan_bytes_total{link=\"to_dc2\","
                                 "direction=\"forward\"} 4\n"));
  EXPECT_THAT(metrics, HasSubstr("kess_wan_bytes_total{link=\"to_dc2\","
                                 "direction=\"reverse\"} 4\n"));
  EXPECT_THAT(metrics, HasSubstr("kess_wan_segments_lost_total{link=\"to_dc2\","
                                 "direction=\"forward\"} 0\n"));
  EXPECT_THAT(metrics, HasSubstr("kess_wan_delay_seconds{link=\"to_dc2\","
                                 "direction=\"forward\"} 0.02\n"));
  EXPECT_THAT(
      metrics,
      HasSubstr("kess_wan_link_state{link=\"to_dc2\",state=\"cut\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("kess_wan_connections{link=\"local\"} 0\n"));
}

TEST(WanEmulatorStartTest, AFailingLinkFailsTheStartAndIsNamed) {
  auto echo = TcpTestServer::Start(TcpTestServer::Mode::kEcho);
  ASSERT_TRUE(echo.ok());
  auto first = ParseEmulatorConfig(
      absl::StrCat("link a dc1 dc1 0 ", (*echo)->address(), "\n"));
  ASSERT_TRUE(first.ok()) << first.status();
  auto running = WanEmulator::Start(*first, {});
  ASSERT_TRUE(running.ok()) << running.status();
  const int taken = (*running)->link("a")->port();
  auto second = ParseEmulatorConfig(absl::StrCat(
      "link ok dc1 dc1 0 ", (*echo)->address(), "\nlink busy dc1 dc1 ", taken,
      " ", (*echo)->address(), "\n"));
  ASSERT_TRUE(second.ok()) << second.status();
  auto failed = WanEmulator::Start(*second, {});
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(std::string(failed.status().message()), HasSubstr("link busy: "));
}

// The transparent mode's routing needs an nft redirect (SO_ORIGINAL_DST):
// wan_router_test.sh covers it end to end. Here: its virtual links, the
// control operations on them, and a connection that was not redirected.
TEST(WanEmulatorTransparentTest, VirtualLinksPerDcPair) {
  auto echo = TcpTestServer::Start(TcpTestServer::Mode::kEcho);
  ASSERT_TRUE(echo.ok());
  auto config =
      ParseEmulatorConfig(absl::StrCat("dc dc1 10.77.1.0/24\n"
                                       "dc dc2 10.77.2.0/24\n"
                                       "dc dc3 10.77.3.0/24\n"
                                       "pair dc1 dc2 delay=20ms\n"
                                       "pair dc2 dc1 delay=30ms\n"
                                       "pair dc1 dc3 delay=5ms\n"
                                       "link to_dc2 dc1 dc2 0 ",
                                       (*echo)->address(), "\n"));
  ASSERT_TRUE(config.ok()) << config.status();
  WanEmulator::Options options;
  options.transparent_port = 0;
  auto started = WanEmulator::Start(*config, options);
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<WanEmulator> emulator = *std::move(started);

  // Addresses() has the listener links only.
  ASSERT_EQ(emulator->Addresses().size(), 1u);
  EXPECT_EQ(emulator->Addresses()[0].first, "to_dc2");
  EXPECT_THAT(emulator->TransparentAddress(), HasSubstr("127.0.0.1:"));
  // One virtual link per ordered pair with a pair line; none for dc2-dc3.
  ASSERT_NE(emulator->link("dc1->dc2"), nullptr);
  EXPECT_EQ(emulator->link("dc1->dc2")->address(), "");
  EXPECT_EQ(emulator->link("dc1->dc2")->profile(Direction::kForward).ToString(),
            "delay=20ms");
  EXPECT_EQ(emulator->link("dc1->dc2")->profile(Direction::kReverse).ToString(),
            "delay=30ms");
  EXPECT_EQ(emulator->link("dc2->dc1")->profile(Direction::kForward).ToString(),
            "delay=30ms");
  EXPECT_NE(emulator->link("dc1->dc3"), nullptr);
  EXPECT_NE(emulator->link("dc3->dc1"), nullptr);
  EXPECT_EQ(emulator->link("dc2->dc3"), nullptr);
  EXPECT_EQ(emulator->link("dc1->dc1"), nullptr);

  // DC-pair operations reach them like any link.
  auto changed = emulator->SetState("dc1", "dc2", Ways::kAToB, LinkState::kCut);
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_THAT(*changed, UnorderedElementsAre("to_dc2", "dc1->dc2"));
  EXPECT_EQ(emulator->link("dc1->dc2")->state(), LinkState::kCut);
  EXPECT_EQ(emulator->link("dc2->dc1")->state(), LinkState::kOpen);
  changed =
      emulator->SetPairProfile("dc3", "dc1", *ParseLinkProfile("delay=9ms"));
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_THAT(*changed, UnorderedElementsAre("dc3->dc1", "dc1->dc3"));
  EXPECT_EQ(emulator->link("dc1->dc3")->profile(Direction::kReverse).ToString(),
            "delay=9ms");
  EXPECT_EQ(emulator->SetState("dc2", "dc3", Ways::kBoth, LinkState::kCut)
                .status()
                .code(),
            absl::StatusCode::kNotFound);

  // A connection made to the port itself (no redirect): closed, counted.
  auto client = TcpClient::Connect(emulator->TransparentAddress());
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE((*client)->ReadToEof(kTimeout).ok());
  ASSERT_TRUE(WaitFor(
      [&] {
        return emulator->MetricsText().find(
                   "kess_wan_transparent_refused_total 1\n") !=
               std::string::npos;
      },
      kTimeout));
  const std::string json = emulator->LinksJson();
  EXPECT_THAT(json, HasSubstr("\"transparent\":true,\"listen\":"));
  EXPECT_THAT(json, HasSubstr("\"upstream\":\"original destination\""));
  EXPECT_THAT(json, HasSubstr("\"refused\":1,\"subnets\":[{\"dc\":\"dc1\","
                              "\"subnet\":\"10.77.1.0/24\"}"));
  EXPECT_THAT(
      emulator->MetricsText(),
      HasSubstr("kess_wan_link_state{link=\"dc1->dc2\",state=\"cut\"} 1"));
  EXPECT_EQ((*echo)->connections(), 0);
}

TEST(WanEmulatorTransparentTest, NeedsDcLines) {
  auto config = ParseEmulatorConfig("pair dc1 dc2 delay=1ms\n");
  ASSERT_TRUE(config.ok()) << config.status();
  WanEmulator::Options options;
  options.transparent_port = 0;
  auto started = WanEmulator::Start(*config, options);
  ASSERT_FALSE(started.ok());
  EXPECT_THAT(std::string(started.status().message()), HasSubstr("dc <name>"));
  // Without the transparent mode, no virtual link and no listener.
  config = ParseEmulatorConfig(
      "dc dc1 10.0.1.0/24\ndc dc2 10.0.2.0/24\n"
      "pair dc1 dc2 delay=1ms\n");
  ASSERT_TRUE(config.ok()) << config.status();
  started = WanEmulator::Start(*config, {});
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ((*started)->link("dc1->dc2"), nullptr);
  EXPECT_EQ((*started)->TransparentAddress(), "");
  EXPECT_THAT((*started)->LinksJson(), HasSubstr("\"transparent\":null"));
}

}  // namespace
}  // namespace wan
}  // namespace kess
