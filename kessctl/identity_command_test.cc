// kessctl identity against the real mandator API (mandator/identity_api.h)
// over an in-memory ZooKeeper: issue (printed, or to a 0600 file), list
// without secrets, revoke, and the API's refusals.
#include "kessctl/identity_command.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "common/http_server.h"
#include "common/identity/credential.h"
#include "gtest/gtest.h"
#include "kessctl/client.h"
#include "kessctl/commands.h"
#include "mandator/identity_api.h"
#include "zk_schema/testing/fake_zk.h"

namespace kess {
namespace kessctl {
namespace {

struct Result {
  int code = 0;
  std::string out, err;
};

class IdentityCommandTest : public ::testing::Test {
 protected:
  void SetUp() override { Serve(/*is_main=*/true); }

  void Serve(bool is_main) {
    server_.reset();
    zk_ = std::make_unique<zk::testing::FakeZkClient>(&zk_server_);
    (void)zk_->Create("/kess", "");
    mandator::IdentityApi::Options o;
    o.zk = zk_.get();
    o.layout = *zk::Layout::Create("/kess");
    o.is_main = is_main;
    o.main_datacenter = "dc1";
    api_ = std::make_unique<mandator::IdentityApi>(o);
    HttpServer::Options http;
    auto server = HttpServer::Create(http);
    ASSERT_TRUE(server.ok());
    server_ = std::move(server).value();
    api_->Register(server_.get());
    ASSERT_TRUE(server_->Start().ok());
    Client::Options c;
    c.addresses = {"127.0.0.1:" + std::to_string(server_->port())};
    client_ = *Client::Create(c);
  }

  Result Run(const std::vector<std::string>& args, const Options& options) {
    std::istringstream in;
    std::ostringstream out, err;
    Io io{&in, &out, &err};
    Result r;
    r.code = RunIdentity(args, options, io, *client_);
    r.out = out.str();
    r.err = err.str();
    return r;
  }

  zk::testing::FakeZkServer zk_server_;
  std::unique_ptr<zk::testing::FakeZkClient> zk_;
  std::unique_ptr<mandator::IdentityApi> api_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<Client> client_;
};

TEST_F(IdentityCommandTest, IssueListRevoke) {
  Options options;
  Result r = Run({"issue", "host", "web-17"}, options);
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "kess://host/web-17")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "kess1.")) << "the secret, once";

  // To a file: 0600, a valid --credential_file, not printed.
  const char* tmp = getenv("TEST_TMPDIR");
  options.out_file = std::string(tmp != nullptr ? tmp : "/tmp") + "/m1.json";
  options.principal_dc = "dc1";
  r = Run({"issue", "mandator", "m1"}, options);
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_FALSE(absl::StrContains(r.out, "kess1.")) << r.out;
  struct stat st;
  ASSERT_EQ(stat(options.out_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  auto file = identity::ReadCredentialFile(options.out_file);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->dc, "dc1");

  options.out_file.clear();
  options.principal_dc.clear();
  r = Run({"list"}, options);
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "kess://host/web-17"));
  EXPECT_TRUE(absl::StrContains(r.out, "kess://mandator/dc1/m1"));
  EXPECT_FALSE(absl::StrContains(r.out, "kess1.")) << r.out;

  r = Run({"revoke", "host", "web-17"}, options);
  ASSERT_EQ(r.code, kExitOk) << r.err;
  r = Run({"revoke", "host", "web-17"}, options);
  EXPECT_NE(r.code, kExitOk);  // 404: nothing to revoke
  r = Run({"list"}, options);
  EXPECT_FALSE(absl::StrContains(r.out, "kess://host/web-17")) << r.out;
}

TEST_F(IdentityCommandTest, RefusalsAndUsage) {
  Options options;
  EXPECT_EQ(Run({}, options).code, kExitUsage);
  EXPECT_EQ(Run({"issue", "robot", "x"}, options).code, kExitUsage);
  EXPECT_EQ(Run({"issue", "mandator", "m1"}, options).code, kExitUsage);
  EXPECT_EQ(Run({"issue", "host", "a/b"}, options).code, kExitUsage);
  // A slave DC's mandator refuses to issue or revoke.
  Serve(/*is_main=*/false);
  Result r = Run({"issue", "host", "web-17"}, options);
  EXPECT_NE(r.code, kExitOk);
  EXPECT_TRUE(absl::StrContains(r.err, "main DC")) << r.err;
}

}  // namespace
}  // namespace kessctl
}  // namespace kess
