// EventHttpServer over TLS (Options::tls): handshake and keep-alive,
// pipelining and long polls answered from another thread, a plaintext
// request at the TLS port, a silent client cut at the header deadline, a
// client of another CA, and certificates reloaded for new connections.
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/http/event_http_server.h"
#include "common/http_client.h"
#include "common/testing/wait_for.h"
#include "common/tls/testing/test_certs.h"
#include "common/tls/tls_context.h"
#include "common/transport/testing/test_util.h"
#include "gtest/gtest.h"

namespace kess {
namespace http {
namespace {

using tls::testing::TestCerts;
using transport::testing::ConnectRaw;
using transport::testing::CounterValue;
using transport::testing::WaitForPeerClose;
using transport::testing::WriteAll;

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                       start)
      .count();
}

// A TLS client on a blocking socket that writes raw bytes (pipelining) and
// reads raw responses.
class RawTlsClient {
 public:
  RawTlsClient(int port, const std::shared_ptr<tls::TlsContext>& client) {
    fd_ = ConnectRaw(port);
    if (fd_ < 0) return;
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ssl_ = client->NewSsl(fd_, "127.0.0.1");
    if (ssl_ != nullptr && SSL_connect(ssl_) != 1) {
      SSL_free(ssl_);
      ssl_ = nullptr;
    }
  }
  ~RawTlsClient() { Close(); }

  bool ok() const { return ssl_ != nullptr; }

  bool Write(const std::string& bytes) {
    return SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size())) ==
           static_cast<int>(bytes.size());
  }

  // Reads until `needle` arrived `count` times, the end, or 5 s.
  std::string ReadUntil(const std::string& needle, int count = 1) {
    std::string in;
    const auto start = std::chrono::steady_clock::now();
    while (SecondsSince(start) < 5) {
      int found = 0;
      for (size_t pos = in.find(needle); pos != std::string::npos;
           pos = in.find(needle, pos + 1)) {
        ++found;
      }
      if (found >= count) break;
      char buffer[4096];
      const int n = SSL_read(ssl_, buffer, sizeof(buffer));
      if (n <= 0) break;
      in.append(buffer, static_cast<size_t>(n));
    }
    return in;
  }

  void Close() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    ssl_ = nullptr;
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  SSL* ssl_ = nullptr;
};

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

void WriteFileOrDie(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::trunc);
  out << content;
  ASSERT_TRUE(out.good()) << path;
}

class EventHttpsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<TestCerts> certs = TestCerts::Create("https");
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = std::make_unique<TestCerts>(*std::move(certs));
  }

  void StartServer(EventHttpServer::Options opts,
                   std::shared_ptr<tls::TlsContext> server_tls = nullptr) {
    opts.registry = &registry_;
    opts.tls = server_tls != nullptr
                   ? server_tls
                   : certs_->ServerTls("mandator", false, &registry_);
    auto server = EventHttpServer::Create(opts);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(server).value();
    server_->Handle("GET", "/echo", [this](const HttpRequest& r) {
      echoed_.fetch_add(1);
      return HttpResponse::Text(
          200, absl::StrCat(r.method, " ", r.path, " x=", r.Query("x"),
                            " tls=", r.tls ? "yes" : "no"));
    });
    server_->Handle("POST", "/echo", [](const HttpRequest& r) {
      return HttpResponse::Text(200, "posted " + r.body);
    });
    server_->Handle("GET", "/big", [](const HttpRequest&) {
      return HttpResponse::Text(200, std::string(3 << 20, 'b'));
    });
    server_->HandleAsync(
        "GET", "/wait", [this](const HttpRequest&, HttpResponder reply) {
          reply.OnCancel([this] { cancelled_.fetch_add(1); });
          absl::MutexLock lock(&mu_);
          waiting_.push_back(reply);
        });
    ASSERT_TRUE(server_->Start().ok());
  }

  std::string Address() const {
    return absl::StrCat("https://127.0.0.1:", server_->port());
  }

  HttpCallOptions Trusting(const std::string& ca) const {
    HttpCallOptions options;
    options.ca_file = ca;
    options.timeout = absl::Seconds(10);
    return options;
  }

  size_t Waiting() {
    absl::MutexLock lock(&mu_);
    return waiting_.size();
  }

  double Handshakes(const std::string& resumed) {
    return CounterValue(registry_, "kess_http_tls_handshakes_total",
                        {{"resumed", resumed}});
  }
  double Failures(const std::string& cause) {
    return CounterValue(registry_, "kess_http_tls_handshake_failures_total",
                        {{"cause", cause}});
  }

  metrics::Registry registry_;
  std::unique_ptr<TestCerts> certs_;
  std::unique_ptr<EventHttpServer> server_;
  std::atomic<int> echoed_{0};
  absl::Mutex mu_;
  std::vector<HttpResponder> waiting_ ABSL_GUARDED_BY(mu_);
  std::atomic<int> cancelled_{0};
};

TEST_F(EventHttpsServerTest, HandshakeRoutesAndKeepAlive) {
  StartServer({});
  absl::StatusOr<HttpReply> r = HttpCall(Address(), "GET", "/echo?x=1", "",
                                         Trusting(certs_->ca()));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "GET /echo x=1 tls=yes");
  r = HttpCall(Address(), "POST", "/echo", "{\"a\":1}", Trusting(certs_->ca()));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "posted {\"a\":1}");
  EXPECT_EQ(Handshakes("false") + Handshakes("true"), 2);

  // The process default CA serves calls that name none.
  SetDefaultHttpsCaFile(certs_->ca());
  r = HttpCall(Address(), "GET", "/healthz");
  SetDefaultHttpsCaFile("");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);

  // Keep-alive: ten requests and a 3 MiB answer (many records, partial
  // writes) on one connection and one handshake.
  const double before = Handshakes("false") + Handshakes("true");
  HttpConnection connection(Address(), Trusting(certs_->ca()));
  for (int i = 0; i < 10; ++i) {
    r = connection.Call("GET", absl::StrCat("/echo?x=", i));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->body, absl::StrCat("GET /echo x=", i, " tls=yes"));
  }
  r = connection.Call("GET", "/big");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body.size(), 3u << 20);
  EXPECT_EQ(connection.connects(), 1);
  EXPECT_EQ(Handshakes("false") + Handshakes("true"), before + 1);
  EXPECT_EQ(server_->connections(), 1u);
}

TEST_F(EventHttpsServerTest, LongPollAnsweredFromAnotherThreadThenPipelined) {
  StartServer({});
  RawTlsClient client(server_->port(), certs_->ClientTls());
  ASSERT_TRUE(client.ok());
  // A long poll with a pipelined request behind it.
  ASSERT_TRUE(client.Write(
      "GET /wait HTTP/1.1\r\nHost: x\r\n\r\nGET /echo?x=after HTTP/1.1\r\n"
      "Host: x\r\n\r\n"));
  ASSERT_TRUE(testing::WaitFor([&] { return Waiting() == 1; },
                               absl::Seconds(5)));
  std::thread([&] {
    absl::MutexLock lock(&mu_);
    waiting_[0].Send(HttpResponse::Text(200, "woken"));
  }).join();
  std::string all = client.ReadUntil("HTTP/1.1 200", 2);
  all += client.ReadUntil("tls=yes");
  const size_t a = all.find("woken"), b = all.find("x=after");
  ASSERT_NE(a, std::string::npos) << all;
  ASSERT_NE(b, std::string::npos) << all;
  EXPECT_LT(a, b);

  // A waiting client that leaves: OnCancel runs.
  ASSERT_TRUE(client.Write("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(testing::WaitFor([&] { return Waiting() == 2; },
                               absl::Seconds(5)));
  client.Close();
  EXPECT_TRUE(testing::WaitFor([&] { return cancelled_.load() == 1; },
                               absl::Seconds(5)));
}

TEST_F(EventHttpsServerTest, PlaintextRequestAtTheTlsPortIsToldAndClosed) {
  StartServer({});
  int fd = ConnectRaw(server_->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(WriteAll(fd,
                       "GET /echo?x=plain HTTP/1.1\r\nHost: x\r\n"
                       "Authorization: Bearer secret\r\n\r\n"));
  std::string answer;
  const auto start = std::chrono::steady_clock::now();
  while (SecondsSince(start) < 5) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buffer[1024];
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n <= 0) break;  // closed
    answer.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  EXPECT_TRUE(absl::StartsWith(answer, "HTTP/1.1 400")) << answer;
  EXPECT_TRUE(absl::StrContains(answer, "https://")) << answer;
  EXPECT_EQ(echoed_.load(), 0) << "a plaintext request reached a route";
  EXPECT_EQ(Failures("not_tls"), 1);
  // Poco's plain client gets the same answer; then HTTPS still works.
  absl::StatusOr<HttpReply> plain = HttpCall(
      absl::StrCat("127.0.0.1:", server_->port()), "GET", "/echo");
  if (plain.ok()) {
    EXPECT_EQ(plain->status, 400);
  }
  EXPECT_EQ(echoed_.load(), 0);
  absl::StatusOr<HttpReply> r =
      HttpCall(Address(), "GET", "/echo", "", Trusting(certs_->ca()));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
}

TEST_F(EventHttpsServerTest, SilentClientsAreCutAtTheHeaderDeadline) {
  EventHttpServer::Options opts;
  opts.read_timeout = absl::Milliseconds(600);
  StartServer(opts);
  const auto start = std::chrono::steady_clock::now();
  // Connects and never starts the handshake.
  int silent = ConnectRaw(server_->port());
  ASSERT_GE(silent, 0);
  // Sends the first bytes of a TLS record and stops.
  int partial = ConnectRaw(server_->port());
  ASSERT_GE(partial, 0);
  ASSERT_TRUE(WriteAll(partial, std::string("\x16\x03\x01\x02\x00\x01", 6)));
  // Completes the handshake and sends no request: a 408, through TLS.
  RawTlsClient idle(server_->port(), certs_->ClientTls());
  ASSERT_TRUE(idle.ok());
  EXPECT_TRUE(WaitForPeerClose(silent, absl::Seconds(3)));
  EXPECT_TRUE(WaitForPeerClose(partial, absl::Seconds(3)));
  const std::string answer = idle.ReadUntil("\r\n\r\n");
  EXPECT_TRUE(absl::StartsWith(answer, "HTTP/1.1 408")) << answer;
  const double seconds = SecondsSince(start);
  EXPECT_GE(seconds, 0.55);
  EXPECT_LT(seconds, 3.0);
  EXPECT_EQ(Failures("timeout"), 2);
  EXPECT_TRUE(testing::WaitFor([&] { return server_->connections() == 0; },
                               absl::Seconds(3)));
  close(silent);
  close(partial);
}

TEST_F(EventHttpsServerTest, ClientsRefuseAServerOfAnotherCaOrName) {
  StartServer({});
  absl::StatusOr<TestCerts> other = TestCerts::Create("other");
  ASSERT_TRUE(other.ok()) << other.status();
  HttpFailure failure;
  HttpCallOptions options = Trusting(other->ca());
  options.failure = &failure;
  options.headers = {{"Authorization", "Bearer secret"}};
  absl::StatusOr<HttpReply> r = HttpCall(Address(), "GET", "/echo", "", options);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(),
                                "certificate is not accepted"))
      << r.status();
  EXPECT_FALSE(failure.sent) << "the request left before verification";
  // The right CA but another name than the certificate carries.
  options = Trusting(certs_->ca());
  options.server_name = "elsewhere.example";
  r = HttpCall(Address(), "GET", "/echo", "", options);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::StrContains(r.status().message(), "mismatch"))
      << r.status();
  // No CA at all: refused before connecting.
  r = HttpCall(Address(), "GET", "/echo", "", HttpCallOptions());
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  EXPECT_EQ(echoed_.load(), 0);
  EXPECT_TRUE(testing::WaitFor(
      [&] { return Failures("peer_alert") + Failures("eof") >= 2; },
      absl::Seconds(3)));
}

TEST_F(EventHttpsServerTest, ReloadedCertificatesApplyToNewConnections) {
  absl::StatusOr<TestCerts> next = TestCerts::Create("next");
  ASSERT_TRUE(next.ok()) << next.status();
  // The server's files, rewritten in place below.
  const std::string cert = certs_->dir() + "/served.pem";
  const std::string key = certs_->dir() + "/served.key";
  WriteFileOrDie(cert, ReadFileOrDie(certs_->cert("mandator")));
  WriteFileOrDie(key, ReadFileOrDie(certs_->key("mandator")));
  tls::TlsOptions server_options = certs_->Options("mandator", &registry_);
  server_options.cert_file = cert;
  server_options.key_file = key;
  absl::StatusOr<std::shared_ptr<tls::TlsContext>> server_tls =
      tls::TlsContext::Create(tls::TlsSide::kServer, server_options);
  ASSERT_TRUE(server_tls.ok()) << server_tls.status();
  StartServer({}, *server_tls);

  HttpConnection kept(Address(), Trusting(certs_->ca()));
  ASSERT_TRUE(kept.Call("GET", "/echo").ok());

  WriteFileOrDie(cert, ReadFileOrDie(next->cert("mandator")));
  WriteFileOrDie(key, ReadFileOrDie(next->key("mandator")));
  ASSERT_TRUE((*server_tls)->Reload().ok());

  // New connections get the new certificate: trusted by the new CA only.
  absl::StatusOr<HttpReply> r =
      HttpCall(Address(), "GET", "/echo", "", Trusting(next->ca()));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  r = HttpCall(Address(), "GET", "/echo", "", Trusting(certs_->ca()));
  EXPECT_FALSE(r.ok());
  // The connection made before keeps its session.
  r = kept.Call("GET", "/echo?x=kept");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "GET /echo x=kept tls=yes");
  EXPECT_EQ(kept.connects(), 1);
}

TEST_F(EventHttpsServerTest, PlainHttpConnectionKeepsAliveToo) {
  // HttpConnection without TLS against a plain server: the benchmark's
  // baseline.
  EventHttpServer::Options opts;
  opts.registry = &registry_;
  auto server = EventHttpServer::Create(opts);
  ASSERT_TRUE(server.ok());
  (*server)->Handle("GET", "/x", [](const HttpRequest& r) {
    return HttpResponse::Text(200, r.tls ? "tls" : "plain");
  });
  ASSERT_TRUE((*server)->Start().ok());
  HttpConnection connection(absl::StrCat("http://127.0.0.1:", (*server)->port()),
                            HttpCallOptions());
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<HttpReply> r = connection.Call("GET", "/x");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->body, "plain");
  }
  EXPECT_EQ(connection.connects(), 1);
}

}  // namespace
}  // namespace http
}  // namespace kess
