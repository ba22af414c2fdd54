#include "tests/wan/wan_link.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
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
using ::kess::wan::testing::PatternBytes;
using ::kess::wan::testing::TcpClient;
using ::kess::wan::testing::TcpTestServer;
using SteadyClock = std::chrono::steady_clock;

// Generous: only a hung link fails these.
constexpr absl::Duration kTimeout = absl::Seconds(30);

absl::Duration Since(SteadyClock::time_point start) {
  return absl::FromChrono(SteadyClock::now() - start);
}

LinkProfile Profile(const std::string& text) {
  absl::StatusOr<LinkProfile> p = ParseLinkProfile(text);
  CHECK(p.ok()) << p.status();
  return *p;
}

std::unique_ptr<WanLink> StartLink(const std::string& upstream,
                                   const std::string& forward,
                                   const std::string& reverse) {
  WanLink::Options o;
  o.upstream = upstream;
  o.forward = Profile(forward);
  o.reverse = Profile(reverse);
  o.name = "test";
  o.seed = 42;
  absl::StatusOr<std::unique_ptr<WanLink>> link = WanLink::Start(o);
  CHECK(link.ok()) << link.status();
  return *std::move(link);
}

std::unique_ptr<TcpTestServer> StartServer(TcpTestServer::Mode mode) {
  auto server = TcpTestServer::Start(mode);
  CHECK(server.ok()) << server.status();
  return *std::move(server);
}

std::unique_ptr<TcpClient> ConnectTo(const WanLink& link) {
  auto client = TcpClient::Connect(link.address());
  CHECK(client.ok()) << client.status();
  return *std::move(client);
}

// One echo round trip of `message`; its duration.
absl::Duration RoundTrip(TcpClient* client, const std::string& message) {
  const auto start = SteadyClock::now();
  EXPECT_TRUE(client->SendAll(message, kTimeout).ok());
  absl::StatusOr<std::string> reply =
      client->ReadExactly(message.size(), kTimeout);
  EXPECT_TRUE(reply.ok()) << reply.status();
  if (reply.ok()) {
    EXPECT_EQ(*reply, message);
  }
  return Since(start);
}

TEST(WanLinkTest, PlainRelayForwardsBothWaysAndCounts) {
  auto echo = StartServer(TcpTestServer::Mode::kEcho);
  auto link = StartLink(echo->address(), "none", "none");
  EXPECT_EQ(link->address(), absl::StrCat("127.0.0.1:", link->port()));
  auto client = ConnectTo(*link);
  RoundTrip(client.get(), "hello");
  // Counted right after the write that delivered them: maybe after we read.
  EXPECT_TRUE(
      WaitFor([&] { return link->stats().reverse.bytes == 5; }, kTimeout));
  const WanLink::Stats s = link->stats();
  EXPECT_EQ(s.forward.bytes, 5);
  EXPECT_EQ(s.forward.bytes_held, 0);
  EXPECT_EQ(s.connections_accepted, 1);
  EXPECT_EQ(s.connections_open, 1);
  client.reset();
  EXPECT_TRUE(
      WaitFor([&] { return link->stats().connections_open == 0; }, kTimeout));
}

TEST(WanLinkTest, RoundTripTakesAtLeastTwiceTheOneWayDelay) {
  auto echo = StartServer(TcpTestServer::Mode::kEcho);
  auto link = StartLink(echo->address(), "delay=50ms", "delay=50ms");
  auto client = ConnectTo(*link);
  for (int i = 0; i < 5; ++i) {
    const absl::Duration rtt = RoundTrip(client.get(), absl::StrCat("m", i));
    EXPECT_GE(rtt, absl::Milliseconds(100)) << i;
    EXPECT_LT(rtt, absl::Seconds(5)) << i;
  }
}

TEST(WanLinkTest, ProfileChangesApplyToLaterBytes) {
  auto echo = StartServer(TcpTestServer::Mode::kEcho);
  auto link = StartLink(echo->address(), "none", "none");
  auto client = ConnectTo(*link);
  RoundTrip(client.get(), "fast");
  ASSERT_TRUE(
      link->SetProfile(Profile("delay=40ms"), Profile("delay=30ms")).ok());
  EXPECT_GE(RoundTrip(client.get(), "slow"), absl::Milliseconds(70));
  ASSERT_TRUE(
      link->SetProfile(Direction::kReverse, Profile("delay=80ms")).ok());
  EXPECT_EQ(link->profile(Direction::kForward), Profile("delay=40ms"));
  EXPECT_EQ(link->profile(Direction::kReverse), Profile("delay=80ms"));
  EXPECT_GE(RoundTrip(client.get(), "slower"), absl::Milliseconds(120));
  LinkProfile bad;
  bad.loss = 3;
  EXPECT_EQ(link->SetProfile(bad, bad).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(link->profile(Direction::kForward), Profile("delay=40ms"));
}

TEST(WanLinkTest, LossStallsLikeARetransmission) {
  auto echo = StartServer(TcpTestServer::Mode::kEcho);
  // Every forward segment is lost once: 10 ms + the 200 ms minimum RTO.
  auto link = StartLink(echo->address(), "delay=10ms,loss=1", "none");
  auto client = ConnectTo(*link);
  EXPECT_GE(RoundTrip(client.get(), "x"), absl::Milliseconds(210));
  EXPECT_EQ(link->stats().forward.segments_lost, 1);
  EXPECT_EQ(link->stats().reverse.segments_lost, 0);
}

TEST(WanLinkTest, JitterAndLossNeverReorderOrLoseBytes) {
  auto echo = StartServer(TcpTestServer::Mode::kEcho);
  auto link = StartLink(echo->address(), "delay=5ms,jitter=20ms,loss=0.05",
                        "delay=5ms,jitter=20ms,loss=0.05");
  auto client = ConnectTo(*link);
  const std::string data = PatternBytes(2 << 20);
  absl::Status sent;
  std::thread writer([&] { sent = client->SendAll(data, kTimeout); });
  absl::StatusOr<std::string> got = client->ReadExactly(data.size(), kTimeout);
  writer.join();
  ASSERT_TRUE(sent.ok()) << sent;
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), data.size());
  size_t first_difference = 0;
  while (first_difference < data.size() &&
         (*got)[first_difference] == data[first_difference]) {
    ++first_difference;
  }
  EXPECT_EQ(first_difference, data.size()) << "streams differ from there";
  EXPECT_TRUE(WaitFor(
      [&] {
        return link->stats().reverse.bytes == static_cast<int64_t>(data.size());
      },
      kTimeout));
  const WanLink::Stats s = link->stats();
  EXPECT_EQ(s.forward.bytes, data.size());
  EXPECT_GE(s.forward.segments, data.size() / kSegmentBytes);
  EXPECT_GT(s.forward.segments_lost, 0);
  EXPECT_GT(s.reverse.segments_lost, 0);
  EXPECT_EQ(s.forward.bytes_dropped, 0);
}

TEST(WanLinkTest, BandwidthCapsThroughputAndFinFollowsTheData) {
  auto sink = StartServer(TcpTestServer::Mode::kSink);
  auto link = StartLink(sink->address(), "bw=8mbit", "none");
  auto client = ConnectTo(*link);
  const std::string data = PatternBytes(1 << 20);
  const auto start = SteadyClock::now();
  ASSERT_TRUE(client->SendAll(data, kTimeout).ok());
  client->CloseWrite();
  ASSERT_TRUE(WaitFor([&] { return sink->received_eof(0); }, kTimeout));
  const absl::Duration took = Since(start);
  // 8 Mbit/s is 1 MB/s: 1 MiB needs 1.05 s on the wire.
  EXPECT_GE(took, absl::Milliseconds(900));
  EXPECT_LT(took, kTimeout);
  ASSERT_EQ(sink->received().size(), 1u);
  EXPECT_TRUE(sink->received()[0] == data);
  // The sink closes after our half-close; the link passes that on too.
  EXPECT_TRUE(client->ReadToEof(kTimeout).ok());
}

TEST(WanLinkTest, CutClosesConnectionsAndRefusesNewOnes) {
  auto echo = StartServer(TcpTestServer::Mode::kEcho);
  auto link = StartLink(echo->address(), "delay=5ms", "delay=5ms");
  auto before = ConnectTo(*link);
  RoundTrip(before.get(), "up");
  link->SetState(LinkState::kCut);
  EXPECT_EQ(link->state(), LinkState::kCut);
  EXPECT_TRUE(before->ReadToEof(kTimeout).ok());

  auto during = ConnectTo(*link);  // the kernel accepts, the link closes
  EXPECT_TRUE(during->ReadToEof(kTimeout).ok());
  EXPECT_EQ(echo->connections(), 1);
  EXPECT_GE(link->stats().connections_refused, 1);

  link->SetState(LinkState::kOpen);
  auto after = ConnectTo(*link);
  RoundTrip(after.get(), "healed");
  EXPECT_EQ(echo->connections(), 2);
}

TEST(WanLinkTest, DiscardedBytesGiveTheirLinkTimeBack) {
  auto echo = StartServer(TcpTestServer::Mode::kEcho);
  // 1 MiB at 256 kbit/s reserves 33 s of the link.
  auto link = StartLink(echo->address(), "bw=256kbit", "none");
  auto bulk = ConnectTo(*link);
  ASSERT_TRUE(bulk->SendAll(std::string(1 << 20, 'b'), kTimeout).ok());
  ASSERT_TRUE(WaitFor(
      [&] { return link->stats().forward.bytes_held >= (1 << 20) - 1448; },
      kTimeout));
  link->SetState(LinkState::kCut);
  EXPECT_TRUE(bulk->ReadToEof(kTimeout).ok());
  // The EOF can come from the reverse direction's abort, a moment before
  // the forward one has discarded its bytes (and given their time back).
  EXPECT_TRUE(WaitFor(
      [&] { return link->stats().forward.bytes_dropped >= (1 << 20) - 1448; },
      kTimeout));
  link->SetState(LinkState::kOpen);
  auto client = ConnectTo(*link);
  // Without the time back, this would wait for the discarded megabyte.
  EXPECT_LT(RoundTrip(client.get(), "ping"), absl::Seconds(10));
}

// The first difference between `got` and the start of `want`, or
// got.size() if `got` is a prefix of `want`.
size_t FirstDifference(const std::string& got, const std::string& want) {
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  return i;
}

TEST(WanLinkTest, BlackholeHoldsBytesAndDeliversThemInOrderAfterReopen) {
  auto echo = StartServer(TcpTestServer::Mode::kEcho);
  auto link = StartLink(echo->address(), "delay=300ms", "delay=50ms");
  auto client = ConnectTo(*link);
  RoundTrip(client.get(), "one");
  const std::string data = PatternBytes(256 << 10);
  // In flight (due 300 ms later) when the blackhole starts: held back too.
  ASSERT_TRUE(client->SendAll(data.substr(0, 1000), kTimeout).ok());
  link->SetState(LinkState::kBlackhole);
  ASSERT_TRUE(client->SendAll(data.substr(1000), kTimeout).ok());
  EXPECT_TRUE(WaitFor(
      [&] {
        return link->stats().forward.bytes_held ==
               static_cast<int64_t>(data.size());
      },
      kTimeout));
  // A 1 s blackhole: nothing either way, the connection stays open.
  auto quiet = client->ReadFor(absl::Seconds(1));
  EXPECT_EQ(quiet.bytes.size(), 0u);
  EXPECT_FALSE(quiet.eof);
  EXPECT_EQ(echo->connections(), 1);
  EXPECT_EQ(link->stats().forward.bytes, 3);
  EXPECT_EQ(link->stats().forward.bytes_dropped, 0);

  const auto reopen = SteadyClock::now();
  link->SetState(LinkState::kOpen);
  absl::StatusOr<std::string> got = client->ReadExactly(data.size(), kTimeout);
  const absl::Duration took = Since(reopen);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(FirstDifference(*got, data), data.size())
      << "streams differ from there";
  // Sent again from the reopen: 300 ms there, 50 ms back, at the earliest.
  EXPECT_GE(took, absl::Milliseconds(350));
  EXPECT_LT(took, kTimeout);
  EXPECT_TRUE(WaitFor(
      [&] {
        return link->stats().reverse.bytes ==
               static_cast<int64_t>(3 + data.size());
      },
      kTimeout));
  const WanLink::Stats s = link->stats();
  EXPECT_EQ(s.forward.bytes, static_cast<int64_t>(3 + data.size()));
  EXPECT_EQ(s.forward.bytes_held, 0);
  EXPECT_EQ(s.forward.bytes_dropped, 0);
  EXPECT_EQ(s.reverse.bytes_dropped, 0);
  RoundTrip(client.get(), "two");  // and the stream goes on
}

TEST(WanLinkTest, ConnectionOpenedDuringBlackholeReachesUpstreamAtReopen) {
  auto echo = StartServer(TcpTestServer::Mode::kEcho);
  auto link = StartLink(echo->address(), "delay=20ms", "delay=20ms");
  link->SetState(LinkState::kBlackhole);
  auto held = ConnectTo(*link);  // the kernel accepts; upstream not yet
  ASSERT_TRUE(held->SendAll("held-hello", kTimeout).ok());
  auto quiet = held->ReadFor(absl::Milliseconds(300));
  EXPECT_EQ(quiet.bytes, "");
  EXPECT_FALSE(quiet.eof);
  EXPECT_EQ(echo->connections(), 0);
  EXPECT_EQ(link->stats().connections_open, 1);
  EXPECT_TRUE(WaitFor([&] { return link->stats().forward.bytes_held == 10; },
                      kTimeout));

  const auto reopen = SteadyClock::now();
  link->SetState(LinkState::kOpen);
  absl::StatusOr<std::string> reply = held->ReadExactly(10, kTimeout);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply, "held-hello");
  EXPECT_GE(Since(reopen), absl::Milliseconds(40));
  EXPECT_EQ(echo->connections(), 1);
  RoundTrip(held.get(), "after");
  EXPECT_EQ(link->stats().forward.bytes_dropped, 0);
}

TEST(WanLinkTest, CloseDuringBlackholeFollowsTheHeldBytesAtReopen) {
  auto sink = StartServer(TcpTestServer::Mode::kSink);
  auto link = StartLink(sink->address(), "delay=20ms", "delay=20ms");
  auto client = ConnectTo(*link);
  ASSERT_TRUE(client->SendAll("before", kTimeout).ok());
  ASSERT_TRUE(WaitFor(
      [&] {
        const auto r = sink->received();
        return r.size() == 1 && r[0] == "before";
      },
      kTimeout));
  link->SetState(LinkState::kBlackhole);
  ASSERT_TRUE(client->SendAll("during", kTimeout).ok());
  client->CloseWrite();
  // Connected and closed during the blackhole: upstream sees it at reopen.
  auto late = ConnectTo(*link);
  ASSERT_TRUE(late->SendAll("late", kTimeout).ok());
  late->CloseWrite();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(sink->received(), std::vector<std::string>{"before"});
  EXPECT_FALSE(sink->received_eof(0));
  EXPECT_EQ(sink->connections(), 1);

  link->SetState(LinkState::kOpen);
  ASSERT_TRUE(
      WaitFor([&] { return sink->received_eof(0) && sink->received_eof(1); },
              kTimeout));
  EXPECT_EQ(sink->received(),
            (std::vector<std::string>{"beforeduring", "late"}));
  // The sink closes after the FIN; that comes back as well.
  EXPECT_TRUE(client->ReadToEof(kTimeout).ok());
  EXPECT_TRUE(late->ReadToEof(kTimeout).ok());
  EXPECT_EQ(link->stats().forward.bytes_dropped, 0);
}

TEST(WanLinkTest, HeldBytesArePacedByTheBandwidthAfterReopen) {
  auto sink = StartServer(TcpTestServer::Mode::kSink);
  auto link = StartLink(sink->address(), "bw=8mbit", "none");
  auto client = ConnectTo(*link);
  link->SetState(LinkState::kBlackhole);
  const std::string data = PatternBytes(512 << 10);
  ASSERT_TRUE(client->SendAll(data, kTimeout).ok());
  ASSERT_TRUE(WaitFor(
      [&] {
        return link->stats().forward.bytes_held ==
               static_cast<int64_t>(data.size());
      },
      kTimeout));
  const auto reopen = SteadyClock::now();
  link->SetState(LinkState::kOpen);
  ASSERT_TRUE(WaitFor(
      [&] {
        const auto r = sink->received();
        return r.size() == 1 && r[0].size() == data.size();
      },
      kTimeout));
  // 512 KiB at 1 MB/s: 0.52 s on the wire, from the reopen.
  EXPECT_GE(Since(reopen), absl::Milliseconds(450));
  EXPECT_TRUE(sink->received()[0] == data);
}

TEST(WanLinkTest, LongBlackholeBackpressuresTheSenders) {
  auto sink = StartServer(TcpTestServer::Mode::kSink);
  WanLink::Options o;
  o.upstream = sink->address();
  o.max_held_bytes = 256 << 10;
  auto started = WanLink::Start(o);
  ASSERT_TRUE(started.ok()) << started.status();
  WanLink& link = **started;
  auto before = ConnectTo(link);
  // Its upstream connection exists before the blackhole.
  ASSERT_TRUE(WaitFor([&] { return sink->connections() == 1; }, kTimeout));
  link.SetState(LinkState::kBlackhole);
  auto during = ConnectTo(link);  // held without one
  const std::string data = PatternBytes(64 << 20);
  // The link stops reading at the cap, the kernel buffers fill, the
  // senders block.
  absl::Status sent[2];
  std::thread writer(
      [&] { sent[1] = during->SendAll(data, absl::Seconds(2)); });
  sent[0] = before->SendAll(data, absl::Seconds(2));
  writer.join();
  EXPECT_EQ(sent[0].code(), absl::StatusCode::kDeadlineExceeded) << sent[0];
  EXPECT_EQ(sent[1].code(), absl::StatusCode::kDeadlineExceeded) << sent[1];
  WanLink::Stats s = link.stats();
  EXPECT_GE(s.forward.bytes_held, 2 * (256 << 10));
  EXPECT_LE(s.forward.bytes_held, 2 * ((256 << 10) + (64 << 10)));
  EXPECT_EQ(s.forward.bytes, 0);
  EXPECT_EQ(s.forward.bytes_dropped, 0);
  EXPECT_EQ(sink->connections(), 1);
  EXPECT_EQ(sink->received(), std::vector<std::string>{""});

  // Reopened: everything the senders got in arrives, in order, then the
  // FINs.
  before->CloseWrite();
  during->CloseWrite();
  link.SetState(LinkState::kOpen);
  ASSERT_TRUE(
      WaitFor([&] { return sink->received_eof(0) && sink->received_eof(1); },
              kTimeout));
  const std::vector<std::string> received = sink->received();
  ASSERT_EQ(received.size(), 2u);
  int64_t total = 0;
  for (const std::string& r : received) {
    EXPECT_GE(r.size(), 256u << 10);
    EXPECT_EQ(FirstDifference(r, data), r.size()) << "differ from there";
    total += static_cast<int64_t>(r.size());
  }
  s = link.stats();
  EXPECT_EQ(s.forward.bytes, total);
  EXPECT_EQ(s.forward.bytes_held, 0);
  EXPECT_EQ(s.forward.bytes_dropped, 0);
}

TEST(WanLinkTest, CutAfterBlackholeDropsTheHeldBytes) {
  auto echo = StartServer(TcpTestServer::Mode::kEcho);
  auto link = StartLink(echo->address(), "delay=5ms", "delay=5ms");
  auto client = ConnectTo(*link);
  RoundTrip(client.get(), "one");
  link->SetState(LinkState::kBlackhole);
  ASSERT_TRUE(client->SendAll("doomed", kTimeout).ok());
  auto held = ConnectTo(*link);
  ASSERT_TRUE(held->SendAll("doomed too", kTimeout).ok());
  ASSERT_TRUE(WaitFor([&] { return link->stats().forward.bytes_held == 16; },
                      kTimeout));
  link->SetState(LinkState::kCut);
  EXPECT_TRUE(client->ReadToEof(kTimeout).ok());
  EXPECT_TRUE(held->ReadToEof(kTimeout).ok());
  EXPECT_TRUE(WaitFor([&] { return link->stats().forward.bytes_dropped == 16; },
                      kTimeout));
  EXPECT_EQ(link->stats().forward.bytes_held, 0);
  EXPECT_EQ(echo->connections(), 1);
}

TEST(WanLinkTest, BackpressureBoundsHeldBytesAndDestructorIsPrompt) {
  auto sink = StartServer(TcpTestServer::Mode::kSink);
  WanLink::Options o;
  o.upstream = sink->address();
  o.forward = Profile("delay=60s");
  o.max_held_bytes = 256 << 10;
  auto link = WanLink::Start(o);
  ASSERT_TRUE(link.ok()) << link.status();
  auto client = ConnectTo(**link);
  // The link stops reading, the kernel buffers fill, the sender blocks.
  const absl::Status sent =
      client->SendAll(std::string(64 << 20, 'x'), absl::Seconds(2));
  EXPECT_EQ(sent.code(), absl::StatusCode::kDeadlineExceeded) << sent;
  const int64_t held = (*link)->stats().forward.bytes_held;
  EXPECT_GE(held, 256 << 10);
  EXPECT_LE(held, (256 << 10) + (64 << 10));
  EXPECT_EQ(sink->received()[0].size(), 0u);
  const auto start = SteadyClock::now();
  link->reset();
  EXPECT_LT(Since(start), absl::Seconds(5));
}

TEST(WanLinkTest, UnreachableUpstreamClosesTheClient) {
  // A port nobody listens on: bind one, then close it.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(fd);
  auto link = StartLink(absl::StrCat("127.0.0.1:", ntohs(addr.sin_port)),
                        "none", "none");
  auto client = ConnectTo(*link);
  EXPECT_TRUE(client->ReadToEof(kTimeout).ok());
}

// A connected pair on loopback: the client, and the server's end as
// accepted by a listener of the test's own (as wan_emulator's transparent
// listener accepts one).
std::pair<std::unique_ptr<TcpClient>, int> AcceptedPair() {
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  CHECK_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  CHECK_EQ(listen(listener, 1), 0);
  CHECK_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  auto client =
      TcpClient::Connect(absl::StrCat("127.0.0.1:", ntohs(addr.sin_port)));
  CHECK(client.ok()) << client.status();
  const int accepted = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  CHECK_GE(accepted, 0);
  close(listener);
  return {*std::move(client), accepted};
}

sockaddr_in Loopback(const std::string& address) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int port = 0;
  CHECK(absl::SimpleAtoi(address.substr(address.rfind(':') + 1), &port));
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return addr;
}

TEST(WanLinkTest, WithoutListenerServesAcceptedConnectionsToTheirUpstream) {
  auto echo = StartServer(TcpTestServer::Mode::kEcho);
  WanLink::Options o;
  o.listen = false;  // and no upstream
  o.forward = Profile("delay=30ms");
  o.reverse = Profile("delay=20ms");
  o.name = "virtual";
  auto started = WanLink::Start(o);
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<WanLink> link = *std::move(started);
  EXPECT_EQ(link->address(), "");
  EXPECT_EQ(link->port(), 0);

  auto [client, fd] = AcceptedPair();
  link->ServeAccepted(fd, Loopback(echo->address()));
  EXPECT_GE(RoundTrip(client.get(), "hello"), absl::Milliseconds(50));
  EXPECT_TRUE(
      WaitFor([&] { return link->stats().reverse.bytes == 5; }, kTimeout));
  EXPECT_EQ(link->stats().forward.bytes, 5);
  EXPECT_EQ(link->stats().connections_accepted, 1);

  // The link's state applies: a cut closes the open connection and the
  // next one at once, without contacting upstream.
  link->SetState(LinkState::kCut);
  EXPECT_TRUE(client->ReadToEof(kTimeout).ok());
  auto [refused, refused_fd] = AcceptedPair();
  link->ServeAccepted(refused_fd, Loopback(echo->address()));
  EXPECT_TRUE(refused->ReadToEof(kTimeout).ok());
  EXPECT_EQ(link->stats().connections_refused, 1);
  EXPECT_EQ(echo->connections(), 1);
}

TEST(WanLinkTest, StartRefusesBadOptions) {
  WanLink::Options o;
  for (const char* upstream :
       {"", "127.0.0.1", "127.0.0.1:", ":80", "127.0.0.1:0", "127.0.0.1:65536",
        "127.0.0.1:x"}) {
    o.upstream = upstream;
    EXPECT_EQ(WanLink::Start(o).status().code(),
              absl::StatusCode::kInvalidArgument)
        << upstream;
  }
  o.upstream = "127.0.0.1:1";
  o.forward.loss = 1.5;
  EXPECT_EQ(WanLink::Start(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o.forward = LinkProfile();
  o.listen_port = 70000;
  EXPECT_EQ(WanLink::Start(o).status().code(),
            absl::StatusCode::kInvalidArgument);

  // A port that is taken.
  o.listen_port = 0;
  auto first = WanLink::Start(o);
  ASSERT_TRUE(first.ok()) << first.status();
  o.listen_port = (*first)->port();
  EXPECT_FALSE(WanLink::Start(o).ok());
}

TEST(WanLinkTest, StateNamesRoundTrip) {
  for (LinkState s :
       {LinkState::kOpen, LinkState::kCut, LinkState::kBlackhole}) {
    EXPECT_EQ(*ParseLinkState(LinkStateName(s)), s);
  }
  EXPECT_EQ(ParseLinkState("closed").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace wan
}  // namespace kess
