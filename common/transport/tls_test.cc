// The transport over TLS: round trips, large frames, many connections,
// every way a handshake can fail (each closed cleanly and counted), mutual
// TLS, session resumption, the pre-authentication limits, and a certificate
// reload during traffic.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "common/metrics.h"
#include "common/testing/wait_for.h"
#include "common/tls/cert_gen.h"
#include "common/tls/testing/test_certs.h"
#include "common/transport/client.h"
#include "common/transport/event_loop.h"
#include "common/transport/server.h"
#include "common/transport/testing/test_util.h"
#include "gtest/gtest.h"

namespace kess {
namespace transport {
namespace {

using ::kess::testing::WaitFor;
using tls::testing::TestCerts;
using testing::CounterValue;
using testing::Disconnects;

constexpr absl::Duration kLong = absl::Seconds(30);

class TlsTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loop = EventLoop::Create("client-loop");
    ASSERT_TRUE(loop.ok()) << loop.status();
    client_loop_ = std::move(loop).value();
    absl::StatusOr<TestCerts> certs = TestCerts::Create();
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = std::make_unique<TestCerts>(*std::move(certs));
  }

  void TearDown() override {
    clients_.clear();
    server_.reset();
    client_loop_.reset();
  }

  // A TLS echo server (plain with `tls` nullptr).
  void StartServer(std::shared_ptr<tls::TlsContext> tls,
                   ServerOptions options = {}) {
    options.registry = &registry_;
    options.tls = std::move(tls);
    HandlerMap handlers;
    handlers["echo"] = [](Request request, Responder responder) {
      responder.Respond(std::move(request.payload));
    };
    handlers["id"] = [](Request request, Responder responder) {
      responder.Respond(std::to_string(request.connection_id));
    };
    auto server = Server::Create(options, std::move(handlers));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(server).value();
  }

  ClientOptions Options(std::shared_ptr<tls::TlsContext> tls) {
    ClientOptions options;
    options.port = server_->port();
    options.registry = &registry_;
    options.tls = std::move(tls);
    return options;
  }

  // Creates a client and waits for its connect (and handshake) to end.
  absl::Status Connect(ClientOptions options, Client** out = nullptr) {
    auto client = Client::Create(client_loop_.get(), options);
    if (!client.ok()) return client.status();
    absl::Status status = (*client)->WaitConnected(kLong);
    if (out != nullptr) *out = client->get();
    clients_.push_back(*std::move(client));
    return status;
  }

  double HandshakeFailures(const std::string& role, const std::string& cause) {
    return CounterValue(registry_,
                        "kess_transport_tls_handshake_failures_total",
                        {{"role", role}, {"cause", cause}});
  }
  double Handshakes(const std::string& role, bool resumed) {
    return CounterValue(registry_, "kess_transport_tls_handshakes_total",
                        {{"role", role}, {"resumed", resumed ? "true" : "false"}});
  }

  // The test CA's key and certificate.
  absl::StatusOr<tls::KeyAndCert> ReadCa() {
    tls::KeyAndCert ca;
    for (auto [path, out] : {std::pair{certs_->ca(), &ca.cert_pem},
                             std::pair{certs_->dir() + "/ca.key", &ca.key_pem}}) {
      std::ifstream in(path);
      std::stringstream text;
      text << in.rdbuf();
      if (text.str().empty()) return absl::NotFoundError(path);
      *out = text.str();
    }
    return ca;
  }

  metrics::Registry registry_;
  std::unique_ptr<TestCerts> certs_;
  std::unique_ptr<EventLoop> client_loop_;
  std::unique_ptr<Server> server_;
  std::vector<std::unique_ptr<Client>> clients_;
};

TEST_F(TlsTransportTest, RoundTrip) {
  StartServer(certs_->ServerTls());
  Client* client = nullptr;
  ASSERT_TRUE(Connect(Options(certs_->ClientTls()), &client).ok());
  absl::StatusOr<std::string> reply = client->CallSync("echo", "hello", kLong);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(*reply, "hello");
  EXPECT_EQ(Handshakes("client", false), 1);
  EXPECT_TRUE(WaitFor([&] { return Handshakes("server", false) == 1; }, kLong));
}

TEST_F(TlsTransportTest, ByHostName) {
  StartServer(certs_->ServerTls());
  ClientOptions options = Options(certs_->ClientTls());
  options.host = "localhost";
  Client* client = nullptr;
  absl::Status status = Connect(options, &client);
  if (absl::IsInvalidArgument(status)) GTEST_SKIP() << "no localhost";
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_TRUE(client->CallSync("echo", "x", kLong).ok());
}

TEST_F(TlsTransportTest, LargeFramesBothWays) {
  StartServer(certs_->ServerTls());
  Client* client = nullptr;
  ASSERT_TRUE(Connect(Options(certs_->ClientTls()), &client).ok());
  std::string big(12 << 20, 'x');
  for (size_t i = 0; i < big.size(); i += 4093) big[i] = 'a' + (i % 26);
  absl::StatusOr<std::string> reply = client->CallSync("echo", big, kLong);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_TRUE(*reply == big);
}

TEST_F(TlsTransportTest, ManySmallFramesPipelined) {
  StartServer(certs_->ServerTls());
  Client* client = nullptr;
  ASSERT_TRUE(Connect(Options(certs_->ClientTls()), &client).ok());
  constexpr int kCalls = 5000;
  std::atomic<int> ok{0}, wrong{0};
  for (int i = 0; i < kCalls; ++i) {
    const std::string payload = std::to_string(i);
    client->Call("echo", payload, kLong,
                 [&, payload](absl::StatusOr<std::string> reply) {
                   (reply.ok() && *reply == payload ? ok : wrong)++;
                 });
  }
  EXPECT_TRUE(WaitFor([&] { return ok + wrong == kCalls; }, kLong));
  EXPECT_EQ(wrong.load(), 0);
}

TEST_F(TlsTransportTest, ManyConnectionsResumeSessions) {
  ServerOptions options;
  options.num_loops = 2;
  options.max_connections_per_peer = 0;
  StartServer(certs_->ServerTls(), options);
  std::shared_ptr<tls::TlsContext> client_tls = certs_->ClientTls();
  // One full handshake that leaves a session ticket behind.
  Client* first = nullptr;
  ASSERT_TRUE(Connect(Options(client_tls), &first).ok());
  ASSERT_TRUE(first->CallSync("echo", "x", kLong).ok());

  // In waves of 30 connecting at once, as agents reconnecting after a
  // distributor restart do.
  constexpr int kClients = 300;
  constexpr int kWave = 30;
  std::vector<std::unique_ptr<Client>> clients;
  std::atomic<int> answered{0};
  for (int i = 0; i < kClients; ++i) {
    auto client = Client::Create(client_loop_.get(), Options(client_tls));
    ASSERT_TRUE(client.ok());
    (*client)->Call("echo", std::to_string(i), kLong,
                    [&](absl::StatusOr<std::string> reply) {
                      if (reply.ok()) answered++;
                    });
    clients.push_back(*std::move(client));
    if ((i + 1) % kWave == 0) {
      ASSERT_TRUE(WaitFor([&] { return answered == i + 1; }, kLong));
    }
  }
  EXPECT_TRUE(WaitFor([&] { return answered == kClients; }, kLong));
  EXPECT_EQ(server_->connection_count(), kClients + 1u);
  // Most resumed from the first connection's ticket.
  EXPECT_GE(Handshakes("client", true), kClients / 2);
  clients.clear();
}

// A connection that ends without the client's close_notify (here the
// server closes it: the client's reason is "peer_closed") must not spoil
// the session ticket it left behind: after a network blip every agent
// reconnects, and they should all resume.
TEST_F(TlsTransportTest, SessionResumesAfterTheServerClosed) {
  StartServer(certs_->ServerTls());
  std::shared_ptr<tls::TlsContext> client_tls = certs_->ClientTls();
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(round);
    Client* client = nullptr;
    ASSERT_TRUE(Connect(Options(client_tls), &client).ok());
    // The reply comes after the server's ticket.
    absl::StatusOr<std::string> id = client->CallSync("id", "", kLong);
    ASSERT_TRUE(id.ok()) << id.status();
    EXPECT_EQ(Handshakes("client", true), round);
    uint64_t connection_id = 0;
    ASSERT_TRUE(absl::SimpleAtoi(*id, &connection_id)) << *id;
    server_->Disconnect(connection_id);
    ASSERT_TRUE(WaitFor(
        [&] { return client->state() == ClientState::kClosed; }, kLong));
    EXPECT_EQ(Disconnects(registry_, "client", "peer_closed"), round + 1);
  }
  Client* last = nullptr;
  ASSERT_TRUE(Connect(Options(client_tls), &last).ok());
  EXPECT_TRUE(last->CallSync("echo", "x", kLong).ok());
  EXPECT_EQ(Handshakes("client", true), 3);
  EXPECT_EQ(Handshakes("client", false), 1);
}

// Servers reached under one certificate name (--tls_server_name) on the
// same port of different addresses keep their own tickets: a ticket is
// only offered to the address that issued it.
TEST_F(TlsTransportTest, SessionsAreKeptPerServerAddress) {
  StartServer(certs_->ServerTls());
  ServerOptions other_options;
  other_options.host = "127.0.0.2";
  other_options.port = server_->port();
  other_options.registry = &registry_;
  other_options.tls = certs_->ServerTls();
  HandlerMap handlers;
  handlers["echo"] = [](Request request, Responder responder) {
    responder.Respond(std::move(request.payload));
  };
  auto other = Server::Create(other_options, std::move(handlers));
  if (!other.ok()) GTEST_SKIP() << "no 127.0.0.2:port: " << other.status();
  std::shared_ptr<tls::TlsContext> client_tls = certs_->ClientTls();
  auto connect = [&](const std::string& host) {
    ClientOptions options = Options(client_tls);
    options.host = host;
    options.tls_server_name = "localhost";
    Client* client = nullptr;
    ASSERT_TRUE(Connect(options, &client).ok()) << host;
    // The reply comes after the server's ticket.
    EXPECT_TRUE(client->CallSync("echo", "x", kLong).ok()) << host;
  };
  connect("127.0.0.1");
  connect("127.0.0.2");  // its own full handshake, its own ticket
  EXPECT_EQ(Handshakes("client", false), 2);
  connect("127.0.0.1");  // the first server's ticket, still there
  connect("127.0.0.2");
  EXPECT_EQ(Handshakes("client", true), 2);
  EXPECT_EQ(Handshakes("client", false), 2);
  clients_.clear();
}

TEST_F(TlsTransportTest, WrongCaFailsCleanly) {
  StartServer(certs_->ServerTls());
  absl::StatusOr<TestCerts> other = TestCerts::Create("other");
  ASSERT_TRUE(other.ok());
  absl::Status status = Connect(Options(other->ClientTls()));
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("untrusted_cert"), std::string::npos)
      << status;
  EXPECT_EQ(HandshakeFailures("client", "untrusted_cert"), 1);
  EXPECT_EQ(Disconnects(registry_, "client", "tls_handshake_failed"), 1);
  // The server hears the client's alert.
  EXPECT_TRUE(WaitFor(
      [&] { return HandshakeFailures("server", "peer_alert") == 1; }, kLong));
  EXPECT_TRUE(WaitFor([&] { return server_->connection_count() == 0; }, kLong));
}

TEST_F(TlsTransportTest, ExpiredServerCertificateFails) {
  ASSERT_TRUE(certs_->WriteExpired("expired").ok());
  tls::TlsOptions options = certs_->Options("expired");
  auto server_tls = tls::TlsContext::Create(tls::TlsSide::kServer, options);
  ASSERT_TRUE(server_tls.ok()) << server_tls.status();
  StartServer(*server_tls);
  absl::Status status = Connect(Options(certs_->ClientTls()));
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(HandshakeFailures("client", "cert_expired"), 1) << status;
}

// The agent's and kessctl's certificates are on every host: a server
// presenting one (clientAuth only, no host name) is refused by clients.
TEST_F(TlsTransportTest, ClientOnlyCertificateCannotServe) {
  double refused = 0;
  for (const char* role : {"agent", "client"}) {
    SCOPED_TRACE(role);
    auto server_tls =
        tls::TlsContext::Create(tls::TlsSide::kServer, certs_->Options(role));
    ASSERT_TRUE(server_tls.ok()) << server_tls.status();
    StartServer(*server_tls);
    absl::Status status = Connect(Options(certs_->ClientTls()));
    EXPECT_FALSE(status.ok());
    EXPECT_GE(Disconnects(registry_, "client", "tls_handshake_failed"),
              ++refused)
        << status;
    refused = Disconnects(registry_, "client", "tls_handshake_failed");
    EXPECT_EQ(Handshakes("client", false), 0);
    server_.reset();
  }
  // The purpose check on its own: a client-only certificate with the
  // right host name is refused too.
  tls::CertSpec spec;
  spec.common_name = "client-only";
  spec.ip_addresses = {"127.0.0.1"};
  spec.server_auth = false;
  absl::StatusOr<tls::KeyAndCert> ca_pair = ReadCa();
  ASSERT_TRUE(ca_pair.ok()) << ca_pair.status();
  absl::StatusOr<tls::KeyAndCert> pair = tls::IssueCert(*ca_pair, spec);
  ASSERT_TRUE(pair.ok()) << pair.status();
  const std::string base = certs_->dir() + "/client-only";
  ASSERT_TRUE(tls::WriteFileAtomically(base + ".pem", pair->cert_pem, 0644).ok());
  ASSERT_TRUE(tls::WriteFileAtomically(base + ".key", pair->key_pem, 0600).ok());
  auto server_tls = tls::TlsContext::Create(tls::TlsSide::kServer,
                                            certs_->Options("client-only"));
  ASSERT_TRUE(server_tls.ok()) << server_tls.status();
  StartServer(*server_tls);
  const double untrusted = HandshakeFailures("client", "untrusted_cert");
  EXPECT_FALSE(Connect(Options(certs_->ClientTls())).ok());
  EXPECT_GT(HandshakeFailures("client", "untrusted_cert"), untrusted);
  EXPECT_EQ(Handshakes("client", false), 0);
  // The same name with serverAuth: accepted (the test itself is sound).
  spec.server_auth = true;
  pair = tls::IssueCert(*ca_pair, spec);
  ASSERT_TRUE(pair.ok()) << pair.status();
  ASSERT_TRUE(tls::WriteFileAtomically(base + ".pem", pair->cert_pem, 0644).ok());
  ASSERT_TRUE(tls::WriteFileAtomically(base + ".key", pair->key_pem, 0600).ok());
  server_.reset();
  server_tls = tls::TlsContext::Create(tls::TlsSide::kServer,
                                       certs_->Options("client-only"));
  ASSERT_TRUE(server_tls.ok()) << server_tls.status();
  StartServer(*server_tls);
  EXPECT_TRUE(Connect(Options(certs_->ClientTls())).ok());
  EXPECT_EQ(Handshakes("client", false), 1);
}

TEST_F(TlsTransportTest, HostNameMismatchFails) {
  StartServer(certs_->ServerTls());
  ClientOptions options = Options(certs_->ClientTls());
  options.tls_server_name = "other.example";
  absl::Status status = Connect(options);
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(HandshakeFailures("client", "name_mismatch"), 1) << status;
  // An IP the certificate does not name.
  options.tls_server_name = "127.0.0.9";
  EXPECT_FALSE(Connect(options).ok());
  EXPECT_EQ(HandshakeFailures("client", "name_mismatch"), 2);
}

TEST_F(TlsTransportTest, PlainClientToTlsPortFails) {
  StartServer(certs_->ServerTls());
  Client* client = nullptr;
  // TCP connects; the first frame is not a TLS hello.
  ASSERT_TRUE(Connect(Options(nullptr), &client).ok());
  absl::StatusOr<std::string> reply = client->CallSync("echo", "x", kLong);
  EXPECT_FALSE(reply.ok());
  EXPECT_TRUE(WaitFor(
      [&] { return HandshakeFailures("server", "not_tls") == 1; }, kLong));
  // An HTTP request, raw.
  int fd = testing::ConnectRaw(server_->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(testing::WriteAll(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_TRUE(testing::WaitForPeerClose(fd, kLong));
  close(fd);
  EXPECT_TRUE(WaitFor(
      [&] { return HandshakeFailures("server", "not_tls") == 2; }, kLong));
  EXPECT_TRUE(WaitFor([&] { return server_->connection_count() == 0; }, kLong));
}

TEST_F(TlsTransportTest, TlsClientToPlainPortFails) {
  StartServer(nullptr);
  absl::Status status = Connect(Options(certs_->ClientTls()));
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(Disconnects(registry_, "client", "tls_handshake_failed"), 1)
      << status;
  // The plain server saw a frame length it refuses.
  EXPECT_TRUE(WaitFor([&] { return server_->connection_count() == 0; }, kLong));
}

TEST_F(TlsTransportTest, SilentPeerHitsFirstFrameTimeout) {
  ServerOptions options;
  options.first_frame_timeout = absl::Milliseconds(200);
  StartServer(certs_->ServerTls(), options);
  int fd = testing::ConnectRaw(server_->port());
  ASSERT_GE(fd, 0);
  // Half a hello, then nothing.
  ASSERT_TRUE(testing::WriteAll(fd, std::string("\x16\x03\x01\x02\x00", 5)));
  EXPECT_TRUE(testing::WaitForPeerClose(fd, kLong));
  close(fd);
  EXPECT_EQ(Disconnects(registry_, "server", "first_frame_timeout"), 1);
}

TEST_F(TlsTransportTest, UntrustedFrameLimitHoldsOverTls) {
  ServerOptions options;
  options.untrusted_max_frame_bytes = 1024;
  StartServer(certs_->ServerTls(), options);
  Client* client = nullptr;
  ASSERT_TRUE(Connect(Options(certs_->ClientTls()), &client).ok());
  EXPECT_TRUE(client->CallSync("echo", std::string(100, 'x'), kLong).ok());
  EXPECT_FALSE(client->CallSync("echo", std::string(4096, 'x'), kLong).ok());
  EXPECT_TRUE(WaitFor(
      [&] {
        return Disconnects(registry_, "server", "untrusted_frame_too_large") ==
               1;
      },
      kLong));
}

TEST_F(TlsTransportTest, MutualTlsRequiresAClientCertificate) {
  StartServer(certs_->ServerTls("distributor", /*require_client_cert=*/true));
  // With one: works.
  Client* with_cert = nullptr;
  ASSERT_TRUE(Connect(Options(certs_->ClientTls("agent")), &with_cert).ok());
  EXPECT_TRUE(with_cert->CallSync("echo", "x", kLong).ok());

  // Without: the server refuses it (with TLS 1.3 the client may see its
  // handshake finish and the refusal only on its first read).
  Client* without = nullptr;
  absl::Status status = Connect(Options(certs_->ClientTls()), &without);
  if (status.ok()) {
    EXPECT_FALSE(without->CallSync("echo", "x", kLong).ok());
  }
  EXPECT_TRUE(WaitFor(
      [&] { return HandshakeFailures("server", "no_client_cert") == 1; },
      kLong));

  // One from another CA: refused too.
  absl::StatusOr<TestCerts> other = TestCerts::Create("other");
  ASSERT_TRUE(other.ok());
  tls::TlsOptions foreign = other->Options("agent");
  foreign.ca_file = certs_->ca();  // trusts the server, presents a stranger
  auto foreign_tls = tls::TlsContext::Create(tls::TlsSide::kClient, foreign);
  ASSERT_TRUE(foreign_tls.ok());
  Client* stranger = nullptr;
  status = Connect(Options(*foreign_tls), &stranger);
  if (status.ok()) {
    EXPECT_FALSE(stranger->CallSync("echo", "x", kLong).ok());
  }
  EXPECT_TRUE(WaitFor(
      [&] { return HandshakeFailures("server", "untrusted_cert") == 1; },
      kLong));
  EXPECT_TRUE(with_cert->CallSync("echo", "still", kLong).ok());
}

TEST_F(TlsTransportTest, ReloadDuringTrafficKeepsOldConnections) {
  std::shared_ptr<tls::TlsContext> server_tls = certs_->ServerTls();
  StartServer(server_tls);
  Client* old_client = nullptr;
  ASSERT_TRUE(Connect(Options(certs_->ClientTls()), &old_client).ok());

  // Traffic on the old connection throughout the reload.
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::thread traffic([&] {
    for (int i = 0; i < 100000 && !stop; ++i) {
      (old_client->CallSync("echo", std::to_string(i), kLong).ok() ? ok
                                                                   : failed)++;
    }
  });

  // A new CA and new certificates in the same files.
  const std::string old_ca_copy = certs_->dir() + "/old-ca.pem";
  ASSERT_EQ(link(certs_->ca().c_str(), old_ca_copy.c_str()), 0);
  tls::ClusterCertOptions rewrite;
  rewrite.dir = certs_->dir();
  rewrite.cluster = "test-rotated";
  rewrite.force = true;
  ASSERT_TRUE(tls::WriteClusterCerts(rewrite).ok());
  ASSERT_TRUE(server_tls->ReloadIfChanged().ok());
  EXPECT_EQ(server_tls->generation(), 2u);

  // New connections get the new certificate: a client trusting only the
  // old CA is refused, one trusting the new CA gets in.
  tls::TlsOptions old_trust = certs_->Options("");
  old_trust.ca_file = old_ca_copy;
  auto old_trust_tls = tls::TlsContext::Create(tls::TlsSide::kClient, old_trust);
  ASSERT_TRUE(old_trust_tls.ok());
  EXPECT_FALSE(Connect(Options(*old_trust_tls)).ok());
  Client* new_client = nullptr;
  ASSERT_TRUE(Connect(Options(certs_->ClientTls()), &new_client).ok());
  EXPECT_TRUE(new_client->CallSync("echo", "new", kLong).ok());

  EXPECT_TRUE(WaitFor([&] { return ok > 50; }, kLong));
  stop = true;
  traffic.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_TRUE(old_client->CallSync("echo", "after", kLong).ok());
}

}  // namespace
}  // namespace transport
}  // namespace kess
