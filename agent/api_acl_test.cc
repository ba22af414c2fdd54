// ApiAcl: the file's parsing (hostile lines, unknown names), the decisions
// for TCP and socket peers, and SO_PEERCRED through a real unix-socket
// EventHttpServer with a client process of another uid (when the test runs
// as root; skipped with the reason otherwise).
#include "agent/api_acl.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/http/event_http_server.h"
#include "common/http_client.h"
#include "gtest/gtest.h"

namespace kess {
namespace agent {
namespace {

constexpr uid_t kAlice = 1001;
constexpr uid_t kBob = 1002;
constexpr uid_t kNobody = 65534;
constexpr gid_t kPayments = 2001;

std::optional<uid_t> Users(const std::string& name) {
  if (name == "alice") return kAlice;
  if (name == "bob") return kBob;
  return std::nullopt;
}

std::optional<gid_t> Groups(const std::string& name) {
  if (name == "payments") return kPayments;
  return std::nullopt;
}

std::unique_ptr<ApiAcl> Make(const std::string& text) {
  auto acl = ApiAcl::Parse(text, Users, Groups);
  EXPECT_TRUE(acl.ok()) << acl.status();
  if (!acl.ok()) return nullptr;
  // bob is a supplementary member of payments.
  (*acl)->groups_of = [](uid_t uid, gid_t gid) {
    std::vector<gid_t> g = {gid};
    if (uid == kBob) g.push_back(kPayments);
    return g;
  };
  return std::move(acl).value();
}

HttpRequest Get(const std::string& path, std::optional<uid_t> uid,
                const std::string& query = "") {
  HttpRequest r;
  r.method = "GET";
  r.path = path;
  r.query_string = query;
  if (uid.has_value()) {
    r.peer = HttpRequest::PeerCredentials{*uid, *uid, 1};
  }
  return r;
}

int StatusOf(const ApiAcl& acl, const HttpRequest& r) {
  std::optional<HttpResponse> refused = acl.Admit(r);
  return refused.has_value() ? refused->status : 200;
}

TEST(ApiAclTest, ParsesRulesAndRefusesBadLines) {
  auto acl = Make(
      "# comment\n"
      "namespace payments alice,@payments   # trailing comment\n"
      "\n"
      "service ledger bob\n");
  ASSERT_NE(acl, nullptr);
  EXPECT_EQ(acl->restricted(), 2u);
  for (const std::string& bad : std::vector<std::string>{
           "namespace payments", "namespace ../x alice", "space x alice",
        "namespace x mallory", "namespace x @nogroup", "namespace x alice bob",
        "service a/b alice", std::string("namespace x ") + std::string(300, 'a'),
        "namespace " + std::string(200, 'n') + " alice"}) {
    EXPECT_FALSE(ApiAcl::Parse(bad, Users, Groups).ok()) << bad;
  }
  std::string many = "namespace x ";
  for (int i = 0; i < 1001; ++i) many += "alice,";
  EXPECT_FALSE(ApiAcl::Parse(many, Users, Groups).ok());
}

TEST(ApiAclTest, SocketPeersByUserAndGroupTcpNever) {
  auto acl = Make("namespace payments alice,@payments\nservice ledger bob\n");
  ASSERT_NE(acl, nullptr);
  const std::string key = "/v1/configs/payments/db";
  EXPECT_EQ(StatusOf(*acl, Get(key, kAlice)), 200);
  EXPECT_EQ(StatusOf(*acl, Get(key, kBob)), 200);  // via @payments
  EXPECT_EQ(StatusOf(*acl, Get(key, 0)), 200);     // root
  EXPECT_EQ(StatusOf(*acl, Get(key, geteuid())), 200);  // the agent's user
  EXPECT_EQ(StatusOf(*acl, Get(key, kNobody)), 403);
  EXPECT_EQ(StatusOf(*acl, Get(key, std::nullopt)), 403);  // TCP
  // Unrestricted namespaces: everyone, TCP too.
  EXPECT_EQ(StatusOf(*acl, Get("/v1/configs/open/k", std::nullopt)), 200);
  EXPECT_EQ(StatusOf(*acl, Get("/v1/configs/open/k", kNobody)), 200);
  // Route tables.
  EXPECT_EQ(StatusOf(*acl, Get("/v1/routes/ledger", kBob)), 200);
  EXPECT_EQ(StatusOf(*acl, Get("/v1/routes/ledger", kAlice)), 403);
  EXPECT_EQ(StatusOf(*acl, Get("/v1/routes/shop", kAlice)), 200);
  // A watch of anything restricted.
  EXPECT_EQ(StatusOf(*acl, Get("/v1/watch", kNobody, "namespace=payments")),
            403);
  EXPECT_EQ(
      StatusOf(*acl, Get("/v1/watch", kNobody, "config=open/k&config=payments/x")),
      403);
  EXPECT_EQ(StatusOf(*acl, Get("/v1/watch", kNobody, "service=ledger")), 403);
  EXPECT_EQ(StatusOf(*acl, Get("/v1/watch", kNobody, "namespace=open")), 200);
  EXPECT_EQ(StatusOf(*acl, Get("/v1/watch", kAlice, "namespace=payments")),
            200);
}

// Secret namespaces (the agent holds their values in 0600 files) are
// restricted without any rule: root and the agent's user over the socket;
// a rule adds its users and groups; TCP never.
TEST(ApiAclTest, SecretNamespacesAreRestrictedByDefault) {
  for (const std::string& file :
       {std::string(""), std::string("namespace payroll alice\n")}) {
    SCOPED_TRACE(file);
    auto acl = Make(file);
    ASSERT_NE(acl, nullptr);
    acl->is_secret = [](const std::string& ns) { return ns == "payroll"; };
    const std::string key = "/v1/configs/payroll/db_password";
    EXPECT_EQ(StatusOf(*acl, Get(key, std::nullopt)), 403);  // TCP
    EXPECT_EQ(StatusOf(*acl, Get(key, kNobody)), 403);
    EXPECT_EQ(StatusOf(*acl, Get(key, kBob)), 403);
    EXPECT_EQ(StatusOf(*acl, Get(key, 0)), 200);
    EXPECT_EQ(StatusOf(*acl, Get(key, geteuid())), 200);
    EXPECT_EQ(StatusOf(*acl, Get(key, kAlice)), file.empty() ? 403 : 200);
    // Watches that return values; without values only rules apply.
    EXPECT_EQ(StatusOf(*acl, Get("/v1/watch", std::nullopt,
                                 "namespace=payroll")),
              403);
    EXPECT_EQ(StatusOf(*acl, Get("/v1/watch", kNobody,
                                 "config=open/k&config=payroll/db_password")),
              403);
    EXPECT_EQ(StatusOf(*acl, Get("/v1/watch", kNobody,
                                 "namespace=payroll&values=false")),
              file.empty() ? 200 : 403);
    EXPECT_EQ(StatusOf(*acl, Get("/v1/watch", 0, "namespace=payroll")), 200);
    // Other namespaces are not affected.
    EXPECT_EQ(StatusOf(*acl, Get("/v1/configs/open/k", std::nullopt)), 200);
    EXPECT_EQ(StatusOf(*acl, Get("/v1/watch", kNobody, "namespace=open")),
              200);
  }
}

TEST(ApiAclTest, PrepareCacheLocksTheNamespaceDirectory) {
  auto acl = Make("namespace payments alice\n");
  ASSERT_NE(acl, nullptr);
  const std::string dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/cache");
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  ASSERT_TRUE(acl->PrepareCache(dir).ok());
  struct stat st;
  ASSERT_EQ(::stat((dir + "/configs/payments").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0750u);
  EXPECT_EQ(st.st_gid, getegid());
}

// The real server: SO_PEERCRED of a client process running as `nobody`.
TEST(ApiAclTest, RealSocketRefusesAnotherUid) {
  if (geteuid() != 0) {
    GTEST_SKIP() << "needs root to run a client as another uid (setuid); "
                    "the decisions are covered by the tests above";
  }
  {
    // Root in a user namespace (a sandbox) may have no other uid mapped.
    pid_t probe = fork();
    ASSERT_GE(probe, 0);
    if (probe == 0) _exit(setgid(kNobody) == 0 && setuid(kNobody) == 0 ? 0 : 1);
    int status = 0;
    ASSERT_EQ(waitpid(probe, &status, 0), probe);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      GTEST_SKIP() << "root here cannot become uid " << kNobody
                   << " (a user namespace without it mapped); the decisions "
                      "are covered by the tests above";
    }
  }
  auto acl = Make("namespace payments alice\n");
  ASSERT_NE(acl, nullptr);
  // A short path (sun_path), that nobody can reach.
  char made[] = "/tmp/kess-api-acl-XXXXXX";
  ASSERT_NE(mkdtemp(made), nullptr);
  const std::string dir = made;
  ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);
  const std::string socket = dir + "/agent.sock";
  http::EventHttpServer::Options options;
  options.unix_socket = socket;
  options.unix_socket_mode = 0666;
  const ApiAcl* a = acl.get();
  options.admit = [a](const HttpRequest& r) { return a->Admit(r); };
  auto server = http::EventHttpServer::Create(options);
  ASSERT_TRUE(server.ok()) << server.status();
  (*server)->HandlePrefix("GET", "/v1/configs/", [](const HttpRequest&) {
    return HttpResponse::Json(200, "{\"value\":\"secret\"}");
  });
  ASSERT_TRUE((*server)->Start().ok());

  // Root (this process): served.
  absl::StatusOr<HttpReply> root =
      HttpCall("unix:" + socket, "GET", "/v1/configs/payments/db");
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(root->status, 200);

  // A child that drops to nobody: refused, and sees no value.
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (setgid(kNobody) != 0 || setuid(kNobody) != 0) _exit(10);
    absl::StatusOr<HttpReply> r =
        HttpCall("unix:" + socket, "GET", "/v1/configs/payments/db");
    if (!r.ok()) _exit(11);
    if (r->body.find("secret") != std::string::npos) _exit(12);
    _exit(r->status == 403 ? 0 : 13);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "10: setuid failed, 11: no answer, 12: value leaked, 13: not 403";
  server->reset();
  ::unlink(socket.c_str());
  ::rmdir(dir.c_str());
}

// The reproduction of a secret read by another local user: an empty ACL
// file (or none), a namespace holding secret values, a client running as
// `nobody` over loopback TCP and over the unix socket: both refused, and
// root over the socket served.
TEST(ApiAclTest, RealServersRefuseSecretsToAnotherUid) {
  if (geteuid() != 0) {
    GTEST_SKIP() << "needs root to run a client as another uid (setuid); "
                    "the decisions are covered by the tests above";
  }
  {
    pid_t probe = fork();
    ASSERT_GE(probe, 0);
    if (probe == 0) _exit(setgid(kNobody) == 0 && setuid(kNobody) == 0 ? 0 : 1);
    int status = 0;
    ASSERT_EQ(waitpid(probe, &status, 0), probe);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      GTEST_SKIP() << "root here cannot become uid " << kNobody;
    }
  }
  auto acl = Make("");
  ASSERT_NE(acl, nullptr);
  acl->is_secret = [](const std::string& ns) { return ns == "payroll"; };
  char made[] = "/tmp/kess-api-acl-XXXXXX";
  ASSERT_NE(mkdtemp(made), nullptr);
  const std::string dir = made;
  ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);
  const std::string socket = dir + "/agent.sock";
  const ApiAcl* a = acl.get();
  auto serve = [a](http::EventHttpServer::Options options) {
    options.admit = [a](const HttpRequest& r) { return a->Admit(r); };
    auto server = http::EventHttpServer::Create(options);
    EXPECT_TRUE(server.ok()) << server.status();
    if (!server.ok()) return std::unique_ptr<http::EventHttpServer>();
    (*server)->HandlePrefix("GET", "/v1/configs/", [](const HttpRequest&) {
      return HttpResponse::Json(200, "{\"value\":\"hunter2\"}");
    });
    EXPECT_TRUE((*server)->Start().ok());
    return std::move(server).value();
  };
  http::EventHttpServer::Options tcp;
  tcp.host = "127.0.0.1";
  tcp.port = 0;
  http::EventHttpServer::Options unix_socket;
  unix_socket.unix_socket = socket;
  unix_socket.unix_socket_mode = 0666;
  auto tcp_server = serve(tcp);
  auto socket_server = serve(unix_socket);
  ASSERT_NE(tcp_server, nullptr);
  ASSERT_NE(socket_server, nullptr);
  const std::string tcp_address =
      absl::StrCat("127.0.0.1:", tcp_server->port());
  const std::string path = "/v1/configs/payroll/db_password";

  absl::StatusOr<HttpReply> root = HttpCall("unix:" + socket, "GET", path);
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(root->status, 200);

  for (const std::string& address : {tcp_address, "unix:" + socket}) {
    SCOPED_TRACE(address);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      if (setgid(kNobody) != 0 || setuid(kNobody) != 0) _exit(10);
      absl::StatusOr<HttpReply> r = HttpCall(address, "GET", path);
      if (!r.ok()) _exit(11);
      if (r->body.find("hunter2") != std::string::npos) _exit(12);
      _exit(r->status == 403 ? 0 : 13);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0)
        << "10: setuid failed, 11: no answer, 12: value leaked, 13: not 403";
  }
  tcp_server.reset();
  socket_server.reset();
  ::unlink(socket.c_str());
  ::rmdir(dir.c_str());
}

}  // namespace
}  // namespace agent
}  // namespace kess
