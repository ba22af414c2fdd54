// The local registration API (services_api.h over LocalServices) in
// process: validation (every bad input gets a 4xx JSON error and changes
// nothing), owners, TTL updates, checks' states in GET, persistence across
// a restart, a corrupt state file, and the same API on a unix socket. The
// mandators are a port nobody listens on (registration with real mandators
// is //tests/discovery:agent_registration_test).
#include "agent/services_api.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/local_services.h"
#include "common/http_client.h"
#include "common/http_server.h"
#include "common/json_util.h"
#include "common/metrics.h"
#include "common/testing/wait_for.h"
#include "common/transport/testing/test_util.h"
#include "gtest/gtest.h"
#include "model/file_cache/env.h"

namespace kess {
namespace agent {
namespace {

using kess::testing::WaitFor;

constexpr absl::Duration kWait = absl::Seconds(20);

class ServicesApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/kess-services-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    HttpServer::Options ho;
    ho.registry = &registry_;
    auto app = HttpServer::Create(ho);
    ASSERT_TRUE(app.ok());
    app_ = std::move(app).value();
    app_->Handle("GET", "/health", [](const HttpRequest&) {
      return HttpResponse::Text(200, "ok");
    });
    ASSERT_TRUE(app_->Start().ok());
    Start();
  }
  void TearDown() override {
    Stop();
    std::system(("rm -rf " + dir_).c_str());
  }

  LocalServicesOptions Options() {
    LocalServicesOptions o;
    o.checks.enable_exec = enable_exec_;
    o.host_id = "web-1";
    o.datacenter = "dc1";
    o.mandators = {absl::StrCat("127.0.0.1:",
                                transport::testing::UnusedPort())};
    o.state_path = dir_ + "/services.json";
    o.heartbeat_interval = absl::Milliseconds(200);
    o.connect_timeout = absl::Milliseconds(200);
    o.call_timeout = absl::Milliseconds(200);
    o.checks.min_interval = absl::Milliseconds(100);
    o.checks.default_failures_before_critical = 1;
    o.registry = &registry_;
    return o;
  }

  void Start(bool unix_socket = true) {
    auto services = LocalServices::Create(Options());
    if (!services.ok()) create_error_ = services.status();
    ASSERT_TRUE(services.ok()) << services.status();
    services_ = std::move(services).value();
    HttpServer::Options o;
    o.registry = &registry_;
    auto server = HttpServer::Create(o);
    ASSERT_TRUE(server.ok());
    server_ = std::move(server).value();
    RegisterServicesApi(server_.get(), services_.get());
    ASSERT_TRUE(server_->Start().ok());
    if (unix_socket) {
      o.unix_socket = dir_ + "/agent.sock";
      auto s = HttpServer::Create(o);
      ASSERT_TRUE(s.ok()) << s.status();
      socket_server_ = std::move(s).value();
      RegisterServicesApi(socket_server_.get(), services_.get());
      ASSERT_TRUE(socket_server_->Start().ok());
    }
  }
  void Stop() {
    socket_server_.reset();
    server_.reset();
    services_.reset();
  }

  HttpReply Call(const std::string& method, const std::string& uri,
                 const std::string& body = "") {
    auto r = HttpCall(absl::StrCat("127.0.0.1:", server_->port()), method, uri,
                      body);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : HttpReply();
  }

  std::string AppUrl(const std::string& path) {
    return absl::StrCat("http://127.0.0.1:", app_->port(), path);
  }

  // The state of the first check of svc/id in GET, "" if none.
  std::string CheckState(const std::string& id) {
    HttpReply r = Call("GET", "/v1/services/web/instances/" + id);
    if (r.status != 200) return "";
    auto json = ParseJsonObject(r.body);
    if (!json.ok()) return "";
    auto checks = (*json)->getArray("checks");
    if (checks.isNull() || checks->size() == 0) return "";
    return checks->getObject(0)->getValue<std::string>("state");
  }

  HttpReply OnSocket(const std::string& method, const std::string& uri,
                     const std::string& body = "") {
    auto r = HttpCall("unix:" + dir_ + "/agent.sock", method, uri, body);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : HttpReply();
  }

  bool enable_exec_ = false;
  absl::Status create_error_;
  metrics::Registry registry_;
  std::string dir_;
  std::unique_ptr<HttpServer> app_;  // the "application" checks call
  std::unique_ptr<LocalServices> services_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<HttpServer> socket_server_;
};

TEST_F(ServicesApiTest, BadInputGetsA4xxAndChangesNothing) {
  const std::string good_check =
      absl::StrCat(R"({"kind":"http","url":")", AppUrl("/health"),
                   R"(","interval":"1s","timeout":"500ms"})");
  ASSERT_EQ(Call("PUT", "/v1/services/web/instances/w-1",
                 R"({"address":"127.0.0.1:8080","owner":"deploy-a","checks":[)" +
                     good_check + "]}")
                .status,
            200);
  const std::string before = Call("GET", "/v1/services").body;
  struct Case {
    std::string uri;
    std::string body;
    int status;
    std::string message;
  } cases[] = {
      {"/v1/services/we..b/instances/w-2", R"({"address":"127.0.0.1:1"})", 400,
       "\"..\""},
      {"/v1/services/web/instances/w$2", R"({"address":"127.0.0.1:1"})", 400,
       "instance id"},
      {"/v1/services/web/instances", R"({"address":"127.0.0.1:1"})", 400,
       "expected /v1/services/"},
      {"/v1/services/web/instances/w-2", R"({"address":"nohostport"})", 400,
       "host:port"},
      {"/v1/services/web/instances/w-2", R"({"address":"h:0"})", 400,
       "host:port"},
      {"/v1/services/web/instances/w-2", R"({})", 400, "\"address\""},
      {"/v1/services/web/instances/w-2",
       R"({"address":"127.0.0.1:1","weight":0})", 400, "weight 0 is outside"},
      {"/v1/services/web/instances/w-2",
       R"({"address":"127.0.0.1:1","weight":10001})", 400, "outside 1..10000"},
      {"/v1/services/web/instances/w-2",
       R"({"address":"127.0.0.1:1","weight":"5"})", 400, "integer"},
      {"/v1/services/web/instances/w-2",
       R"({"address":"127.0.0.1:1","metadata":{"k":1}})", 400, "metadata"},
      {"/v1/services/web/instances/w-2", R"({"adress":"127.0.0.1:1"})", 400,
       "unknown field \"adress\""},
      {"/v1/services/web/instances/w-2",
       R"({"address":"127.0.0.1:1","checks":[{"kind":"grpc"}]})", 400,
       "unknown kind \"grpc\""},
      {"/v1/services/web/instances/w-2",
       R"({"address":"127.0.0.1:1","checks":[{"kind":"exec","args":["/bin/true"]}]})",
       403, "--enable_exec_checks"},
      {"/v1/services/web/instances/w-2", "{not json", 400, ""},
      // Another owner's instance, and a check id another instance uses.
      {"/v1/services/web/instances/w-1", R"({"address":"127.0.0.1:9"})", 409,
       "another owner"},
      {"/v1/services/web/instances/w-2",
       R"({"address":"127.0.0.1:1","checks":[{"id":"web.w-1.1","kind":"tcp"}]})",
       409, "is used by instance web/w-1"},
      {"/v1/services/web/instances/w-2",
       absl::StrCat(R"({"address":"127.0.0.1:1","metadata":{"k":")",
                    std::string(70000, 'x'), "\"}}"),
       413, "larger than"},
  };
  for (const Case& c : cases) {
    HttpReply r = Call("PUT", c.uri, c.body);
    EXPECT_EQ(r.status, c.status) << c.uri << " " << c.body.substr(0, 100)
                                  << " -> " << r.body;
    EXPECT_TRUE(absl::StrContains(r.body, "\"error\"")) << r.body;
    std::string message;
    auto error = ParseJsonObject(r.body);
    if (error.ok() && (*error)->has("error")) {
      message = (*error)->getObject("error")->getValue<std::string>("message");
    }
    EXPECT_TRUE(absl::StrContains(message, c.message))
        << c.body.substr(0, 100) << " -> " << r.body;
  }
  // Deleting with the wrong owner, or something unknown.
  EXPECT_EQ(Call("DELETE", "/v1/services/web/instances/w-1").status, 409);
  EXPECT_EQ(Call("DELETE", "/v1/services/web/instances/nope").status, 404);
  EXPECT_EQ(Call("GET", "/v1/services/web/instances/nope").status, 404);
  // Nothing changed, on the API or in the state file.
  auto state_after = file_cache::Env::Default()->ReadFile(dir_ + "/services.json");
  ASSERT_TRUE(state_after.ok());
  EXPECT_FALSE(absl::StrContains(*state_after, "w-2"));
  const std::string after = Call("GET", "/v1/services").body;
  EXPECT_FALSE(absl::StrContains(after, "w-2")) << after;
  EXPECT_EQ(services_->size(), 1u);

  // The owner may update and delete it.
  EXPECT_EQ(Call("PUT", "/v1/services/web/instances/w-1",
                 R"({"address":"127.0.0.1:8081","owner":"deploy-a"})")
                .status,
            200);
  EXPECT_EQ(Call("DELETE", "/v1/services/web/instances/w-1?owner=deploy-a")
                .status,
            200);
  EXPECT_EQ(services_->size(), 0u);
  (void)before;
}

TEST_F(ServicesApiTest, ChecksStatesTtlAndTheUnixSocket) {
  const std::string body = absl::StrCat(
      R"({"address":"127.0.0.1:8080","weight":50,"metadata":{"v":"1"},"checks":[)",
      R"({"kind":"http","url":")", AppUrl("/health"),
      R"(","interval":"200ms","timeout":"100ms"},)",
      R"({"id":"w1-ttl","kind":"ttl","ttl":"1s"}]})");
  HttpReply put = Call("PUT", "/v1/services/web/instances/w-1", body);
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_TRUE(WaitFor([&] { return CheckState("w-1") == "passing"; }, kWait));
  // The TTL check starts critical: the instance is critical.
  HttpReply get = Call("GET", "/v1/services/web/instances/w-1");
  EXPECT_TRUE(absl::StrContains(get.body, "\"check_status\":\"critical\""))
      << get.body;
  EXPECT_EQ(Call("PUT", "/v1/checks/w1-ttl/pass",
                 R"({"output":"caches warm"})")
                .status,
            200);
  get = Call("GET", "/v1/services/web/instances/w-1");
  EXPECT_TRUE(absl::StrContains(get.body, "\"check_status\":\"passing\""))
      << get.body;
  EXPECT_TRUE(absl::StrContains(get.body, "caches warm")) << get.body;
  EXPECT_EQ(Call("PUT", "/v1/checks/w1-ttl/warn").status, 200);
  EXPECT_TRUE(absl::StrContains(
      Call("GET", "/v1/services/web/instances/w-1").body,
      "\"check_status\":\"warning\""));
  // Not renewed: it expires to critical.
  EXPECT_TRUE(WaitFor(
      [&] {
        return absl::StrContains(
            Call("GET", "/v1/services/web/instances/w-1").body,
            "expired: no update from the application");
      },
      kWait));
  EXPECT_EQ(Call("PUT", "/v1/checks/nope/pass").status, 404);
  EXPECT_EQ(Call("PUT", "/v1/checks/web.w-1.1/pass").status, 409);  // http
  EXPECT_EQ(Call("PUT", "/v1/checks/w1-ttl/maybe").status, 400);

  // The application stops answering: critical.
  app_->Stop();
  EXPECT_TRUE(WaitFor([&] { return CheckState("w-1") == "critical"; }, kWait));

  // The same API over the unix socket.
  const std::string sock = "unix:" + dir_ + "/agent.sock";
  auto list = HttpCall(sock, "GET", "/v1/services");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_TRUE(absl::StrContains(list->body, "\"id\":\"w-1\"")) << list->body;
  auto put2 = HttpCall(sock, "PUT", "/v1/services/web/instances/w-2",
                       R"({"address":"127.0.0.1:8082"})");
  ASSERT_TRUE(put2.ok());
  EXPECT_EQ(put2->status, 200) << put2->body;
  struct stat st;
  ASSERT_EQ(stat((dir_ + "/agent.sock").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  EXPECT_EQ(services_->size(), 2u);
}

TEST_F(ServicesApiTest, RegistrationsSurviveARestartAndACorruptFileIsSetAside) {
  ASSERT_EQ(Call("PUT", "/v1/services/web/instances/w-1",
                 R"({"address":"127.0.0.1:8080","owner":"o1","checks":[{"kind":"tcp","interval":"5s"}]})")
                .status,
            200);
  ASSERT_EQ(Call("PUT", "/v1/services/api/instances/a-1",
                 R"({"address":"127.0.0.1:9090","weight":7})")
                .status,
            200);
  Stop();
  Start();
  EXPECT_EQ(services_->size(), 2u);
  HttpReply w1 = Call("GET", "/v1/services/web/instances/w-1");
  EXPECT_EQ(w1.status, 200);
  // The owner string is never shown (it guards the instance).
  EXPECT_TRUE(absl::StrContains(w1.body, "\"owned\":true")) << w1.body;
  EXPECT_FALSE(absl::StrContains(w1.body, "o1")) << w1.body;
  EXPECT_TRUE(absl::StrContains(w1.body, "\"kind\":\"tcp\"")) << w1.body;
  EXPECT_TRUE(absl::StrContains(Call("GET", "/v1/services/api/instances/a-1").body,
                                "\"weight\":7"));
  // Still owned by o1 after the restart.
  EXPECT_EQ(Call("DELETE", "/v1/services/web/instances/w-1").status, 409);

  Stop();
  ASSERT_TRUE(file_cache::WriteFileAtomically(file_cache::Env::Default(),
                                              dir_ + "/services.json",
                                              "{\"format\":1,\"instances\":[")
                  .ok());
  Start();  // no crash, no registrations
  EXPECT_EQ(services_->size(), 0u);
  // Kept aside under a name with the time: an earlier one is not lost.
  auto names = file_cache::Env::Default()->ListDir(dir_);
  ASSERT_TRUE(names.ok());
  std::string aside_name;
  for (const std::string& n : *names) {
    if (absl::StartsWith(n, "services.json.corrupt-")) aside_name = n;
  }
  ASSERT_FALSE(aside_name.empty());
  auto aside = file_cache::Env::Default()->ReadFile(dir_ + "/" + aside_name);
  ASSERT_TRUE(aside.ok());
  EXPECT_EQ(*aside, "{\"format\":1,\"instances\":[");
  // And it works from there.
  EXPECT_EQ(Call("PUT", "/v1/services/web/instances/w-9",
                 R"({"address":"127.0.0.1:8080"})")
                .status,
            200);

  // One invalid entry is skipped, the others load.
  Stop();
  ASSERT_TRUE(file_cache::WriteFileAtomically(
                  file_cache::Env::Default(), dir_ + "/services.json",
                  R"({"format":1,"instances":[{"service":"web","id":"w-9","address":"127.0.0.1:8080"},)"
                  R"({"service":"web","id":"bad","address":"127.0.0.1:8080","weight":-1}]})")
                  .ok());
  Start();
  EXPECT_EQ(services_->size(), 1u);
  // The invalid one is inactive: listed, and kept in the file by the next
  // write.
  EXPECT_TRUE(absl::StrContains(Call("GET", "/v1/services").body,
                                "\"instance\":\"web/bad\""));
  ASSERT_EQ(Call("PUT", "/v1/services/web/instances/w-10",
                 R"({"address":"127.0.0.1:8080"})")
                .status,
            200);
  auto state = file_cache::Env::Default()->ReadFile(dir_ + "/services.json");
  ASSERT_TRUE(state.ok());
  EXPECT_TRUE(absl::StrContains(*state, "\"bad\"")) << *state;
  // Only its owner may read the file (exec arguments, owners).
  struct stat st;
  ASSERT_EQ(stat((dir_ + "/services.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // A DELETE removes the inactive entry from the file.
  EXPECT_EQ(Call("DELETE", "/v1/services/web/instances/bad").status, 200);
  state = file_cache::Env::Default()->ReadFile(dir_ + "/services.json");
  ASSERT_TRUE(state.ok());
  EXPECT_FALSE(absl::StrContains(*state, "\"bad\"")) << *state;

  // A file that cannot be read (here: a directory) fails start-up instead
  // of being replaced by an empty set at the next PUT.
  Stop();
  ASSERT_EQ(rename((dir_ + "/services.json").c_str(),
                   (dir_ + "/services.json.kept").c_str()),
            0);
  ASSERT_EQ(mkdir((dir_ + "/services.json").c_str(), 0700), 0);
  auto failed = LocalServices::Create(Options());
  EXPECT_FALSE(failed.ok());
  rmdir((dir_ + "/services.json").c_str());
  ASSERT_EQ(rename((dir_ + "/services.json.kept").c_str(),
                   (dir_ + "/services.json").c_str()),
            0);
  Start();
  EXPECT_EQ(services_->size(), 2u);
}

// A restart keeps each check's last status: instances are not sent
// critical (the default initial status) by a rolling agent upgrade.
TEST_F(ServicesApiTest, ChecksKeepTheirStatusAcrossARestart) {
  ASSERT_EQ(Call("PUT", "/v1/services/web/instances/w-1",
                 R"({"address":"127.0.0.1:8080","checks":[{"id":"t","kind":"ttl","ttl":"1h"}]})")
                .status,
            200);
  EXPECT_EQ(CheckState("w-1"), "critical");
  ASSERT_EQ(Call("PUT", "/v1/checks/t/pass").status, 200);
  // Saved within a second of the change.
  ASSERT_TRUE(WaitFor(
      [&] {
        auto state =
            file_cache::Env::Default()->ReadFile(dir_ + "/services.json");
        return state.ok() &&
               absl::StrContains(*state, "\"check_states\":{\"t\":\"passing\"}");
      },
      kWait));
  Stop();
  Start();
  EXPECT_EQ(CheckState("w-1"), "passing");
  EXPECT_TRUE(absl::StrContains(Call("GET", "/v1/services/web/instances/w-1").body,
                                "\"check_status\":\"passing\""));
}

// Exec checks only over the socket from the agent's user; instances
// registered over the socket belong to that uid; TTL updates need the
// owner.
TEST_F(ServicesApiTest, ExecChecksPeerCredentialsAndTtlOwners) {
  Stop();
  enable_exec_ = true;
  Start();
  const std::string exec_body =
      R"({"address":"127.0.0.1:8080","checks":[{"kind":"exec","args":["/bin/true"],"interval":"10s"}]})";
  HttpReply tcp = Call("PUT", "/v1/services/web/instances/e-1", exec_body);
  EXPECT_EQ(tcp.status, 403) << tcp.body;
  EXPECT_TRUE(absl::StrContains(tcp.body, "--api_socket")) << tcp.body;
  EXPECT_EQ(services_->size(), 0u);
  HttpReply sock = OnSocket("PUT", "/v1/services/web/instances/e-1", exec_body);
  EXPECT_EQ(sock.status, 200) << sock.body;
  EXPECT_TRUE(absl::StrContains(sock.body, absl::StrCat("\"owner_uid\":", geteuid())))
      << sock.body;
  // Registered over the socket: TCP clients may not change or delete it.
  EXPECT_EQ(Call("PUT", "/v1/services/web/instances/e-1",
                 R"({"address":"127.0.0.1:8081"})")
                .status,
            403);
  EXPECT_EQ(Call("DELETE", "/v1/services/web/instances/e-1").status, 403);
  EXPECT_EQ(OnSocket("DELETE", "/v1/services/web/instances/e-1").status, 200);

  // TTL updates need the instance's owner.
  ASSERT_EQ(Call("PUT", "/v1/services/web/instances/t-1",
                 R"({"address":"127.0.0.1:8080","owner":"app-1","checks":[{"id":"t1","kind":"ttl","ttl":"1h"}]})")
                .status,
            200);
  EXPECT_EQ(Call("PUT", "/v1/checks/t1/pass").status, 409);
  EXPECT_EQ(Call("PUT", "/v1/checks/t1/pass?owner=app-2").status, 409);
  EXPECT_EQ(CheckState("t-1"), "critical");
  EXPECT_EQ(Call("PUT", "/v1/checks/t1/pass?owner=app-1").status, 200);
  EXPECT_EQ(CheckState("t-1"), "passing");
  EXPECT_FALSE(absl::StrContains(Call("GET", "/v1/services").body, "app-1"));
}

}  // namespace
}  // namespace agent
}  // namespace kess
