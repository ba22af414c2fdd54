// The principal a handler sees (transport::Request::principal): from a
// verified client certificate's kess:// URI SAN with mutual TLS, from a
// credential with kess.Authenticate, or anonymous; a wrong credential and
// a revoked one close the connection.
#include <memory>
#include <string>

#include "common/identity/credential.h"
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

constexpr absl::Duration kLong = absl::Seconds(30);

class IdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loop = EventLoop::Create("client-loop");
    ASSERT_TRUE(loop.ok()) << loop.status();
    client_loop_ = std::move(loop).value();
    absl::StatusOr<TestCerts> certs = TestCerts::Create();
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = std::make_unique<TestCerts>(*std::move(certs));
    credentials_ = std::make_shared<identity::CredentialRegistry>();
  }

  void TearDown() override {
    client_.reset();
    server_.reset();
    client_loop_.reset();
  }

  // A server whose "whoami" answers the request's principal URI
  // ("anonymous" for none).
  void StartServer(std::shared_ptr<tls::TlsContext> tls) {
    ServerOptions options;
    options.registry = &registry_;
    options.tls = std::move(tls);
    options.credentials = credentials_;
    HandlerMap handlers;
    handlers["whoami"] = [](Request request, Responder responder) {
      responder.Respond(request.principal->anonymous()
                            ? std::string("anonymous")
                            : request.principal->Uri());
    };
    auto server = Server::Create(options, std::move(handlers));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(server).value();
  }

  void Connect(std::shared_ptr<tls::TlsContext> tls,
               std::shared_ptr<const identity::CredentialFile> credential =
                   nullptr) {
    ClientOptions options;
    options.port = server_->port();
    options.registry = &registry_;
    options.tls = std::move(tls);
    options.credential = std::move(credential);
    ClientCallbacks callbacks;
    callbacks.on_disconnect = [this](const char*, const absl::Status&) {
      disconnected_ = true;
    };
    auto client = Client::Create(client_loop_.get(), options, callbacks);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(client).value();
    ASSERT_TRUE(client_->WaitConnected(kLong).ok());
  }

  absl::StatusOr<std::string> WhoAmI() {
    return client_->CallSync("whoami", "", kLong);
  }

  // A certificate for `uri` signed by the test CA, as a client context.
  std::shared_ptr<tls::TlsContext> ClientWithUri(const std::string& uri) {
    tls::PrincipalCertOptions o;
    absl::StatusOr<identity::Principal> p = identity::ParsePrincipalUri(uri);
    EXPECT_TRUE(p.ok());
    o.dir = certs_->dir();
    o.kind = identity::KindName(p->kind);
    o.name = p->name;
    o.dc = p->dc;
    absl::StatusOr<std::vector<std::string>> files =
        tls::IssuePrincipalCert(o);
    EXPECT_TRUE(files.ok()) << files.status();
    tls::TlsOptions options;
    options.cert_file = (*files)[0];
    options.key_file = (*files)[1];
    options.ca_file = certs_->ca();
    options.reload_interval = absl::ZeroDuration();
    auto context = tls::TlsContext::Create(tls::TlsSide::kClient, options);
    EXPECT_TRUE(context.ok()) << context.status();
    return *context;
  }

  double Auth(const char* result) {
    return registry_
        .GetCounter("kess_transport_authentications_total", "",
                    {{"result", result}})
        ->Value();
  }

  metrics::Registry registry_;
  std::unique_ptr<EventLoop> client_loop_;
  std::unique_ptr<TestCerts> certs_;
  std::shared_ptr<identity::CredentialRegistry> credentials_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<Client> client_;
  std::atomic<bool> disconnected_{false};
};

TEST_F(IdentityTest, PlaintextAndServerOnlyTlsAreAnonymous) {
  StartServer(nullptr);
  Connect(nullptr);
  EXPECT_EQ(*WhoAmI(), "anonymous");
  client_.reset();
  server_.reset();
  StartServer(certs_->ServerTls("mandator"));
  Connect(certs_->ClientTls());
  EXPECT_EQ(*WhoAmI(), "anonymous");
}

TEST_F(IdentityTest, ClientCertificateNamesThePrincipal) {
  StartServer(certs_->ServerTls("mandator", /*require_client_cert=*/true));
  Connect(ClientWithUri("kess://host/web-17"));
  EXPECT_EQ(*WhoAmI(), "kess://host/web-17");
  // The role certificates of `certs init`: the mandator's names one, the
  // agent's (shared by every host) none.
  Connect(certs_->ClientTls("mandator"));
  EXPECT_EQ(*WhoAmI(), "kess://mandator/any/mandator");
  Connect(certs_->ClientTls("agent"));
  EXPECT_EQ(*WhoAmI(), "anonymous");
}

TEST_F(IdentityTest, CredentialBindsItsPrincipal) {
  StartServer(certs_->ServerTls("mandator"));
  identity::IssuedCredential issued =
      *identity::IssueCredential(identity::Kind::kService, "shop", "");
  credentials_->Put(issued.record);
  Connect(certs_->ClientTls(),
          std::make_shared<identity::CredentialFile>(identity::CredentialFile{
              identity::Kind::kService, "shop", "", issued.secret}));
  // The first call already carries it (queued behind kess.Authenticate).
  EXPECT_EQ(*WhoAmI(), "kess://service/shop");
  EXPECT_EQ(Auth("ok"), 1);
}

TEST_F(IdentityTest, WrongCredentialIsRefusedAndClosed) {
  StartServer(nullptr);
  identity::IssuedCredential issued =
      *identity::IssueCredential(identity::Kind::kHost, "web-17", "");
  credentials_->Put(issued.record);
  identity::IssuedCredential other =
      *identity::IssueCredential(identity::Kind::kHost, "web-17", "");
  Connect(nullptr,
          std::make_shared<identity::CredentialFile>(identity::CredentialFile{
              identity::Kind::kHost, "web-17", "", other.secret}));
  absl::StatusOr<std::string> who = WhoAmI();
  EXPECT_FALSE(who.ok() && *who != "anonymous") << *who;
  EXPECT_TRUE(WaitFor([&] { return disconnected_.load(); }, kLong));
  EXPECT_EQ(Auth("failed"), 1);
  EXPECT_EQ(Auth("ok"), 0);
}

TEST_F(IdentityTest, RevokedCredentialIsClosedAtItsNextRequest) {
  StartServer(nullptr);
  identity::IssuedCredential issued =
      *identity::IssueCredential(identity::Kind::kHost, "web-17", "");
  credentials_->Put(issued.record);
  Connect(nullptr,
          std::make_shared<identity::CredentialFile>(identity::CredentialFile{
              identity::Kind::kHost, "web-17", "", issued.secret}));
  EXPECT_EQ(*WhoAmI(), "kess://host/web-17");
  credentials_->Remove(identity::Kind::kHost, "web-17", "");
  absl::StatusOr<std::string> who = WhoAmI();
  EXPECT_TRUE(absl::IsUnauthenticated(who.status())) << who.status();
  EXPECT_TRUE(WaitFor([&] { return disconnected_.load(); }, kLong));
  EXPECT_EQ(Auth("revoked"), 1);
}

}  // namespace
}  // namespace transport
}  // namespace kess
