// `kessctl secrets` in-process: keygen and drop-key on real files, and
// reencrypt and show against the real mandator HTTP API
// (mandator/testing/api_server.h) whose store seals a secret namespace's
// values with the same key ring directory.
#include "kessctl/secrets_command.h"

#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kessctl/client.h"
#include "kessctl/commands.h"
#include "mandator/core/namespace_settings.h"
#include "mandator/testing/api_server.h"
#include "model/secrets/envelope.h"
#include "model/secrets/key_dir.h"
#include "zk_schema/testing/fake_zk.h"

namespace kess {
namespace kessctl {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct Result {
  int code = -1;
  std::string out;
  std::string err;
};

class SecretsCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    keys_dir_ = ::testing::TempDir() + "/kessctl_secret_keys";
    unlink((keys_dir_ + "/app.key").c_str());
    rmdir(keys_dir_.c_str());
    options_.keys_dir = keys_dir_;
  }

  void StartMandator() {
    mandator::testing::ApiServer::Options o;
    o.zk = &zk_;
    o.main_datacenter = "dc1";
    o.secret_keys_dir = keys_dir_;
    auto server = mandator::testing::ApiServer::Start(o);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(server).value();
    options_.mandators = {server_->address()};
  }

  Result Run(std::vector<std::string> args) {
    std::istringstream in;
    std::ostringstream out, err;
    Result r;
    r.code = RunKessctl(args, options_, {&in, &out, &err});
    r.out = out.str();
    r.err = err.str();
    return r;
  }

  std::string Stored(const std::string& key) {
    absl::StatusOr<mandator::core::Config> c = server_->store().Get("app", key);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? c->value : "";
  }

  std::string keys_dir_;
  Options options_;
  zk::testing::FakeZkServer zk_;
  std::unique_ptr<mandator::testing::ApiServer> server_;
};

TEST_F(SecretsCommandTest, KeygenAndDropKey) {
  Result r = Run({"secrets", "keygen", "app"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("key 1 added"));
  struct stat st;
  ASSERT_EQ(stat(keys_dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700);
  ASSERT_EQ(stat((keys_dir_ + "/app.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  r = Run({"secrets", "keygen", "app"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("key 2 added, 2 keys"));
  absl::StatusOr<secrets::KeyRing> ring =
      secrets::LoadKeyRingFile(keys_dir_ + "/app.key");
  ASSERT_TRUE(ring.ok()) << ring.status();
  EXPECT_EQ(ring->newest().id, 2u);

  r = Run({"secrets", "drop-key", "app", "2"});
  EXPECT_NE(r.code, kExitOk);
  EXPECT_THAT(r.err, HasSubstr("newest"));
  r = Run({"secrets", "drop-key", "app", "1"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  ring = secrets::LoadKeyRingFile(keys_dir_ + "/app.key");
  ASSERT_EQ(ring->keys().size(), 1u);
  EXPECT_EQ(ring->newest().id, 2u);

  EXPECT_EQ(Run({"secrets", "keygen", "../etc"}).code, kExitInvalid);
  EXPECT_EQ(Run({"secrets"}).code, kExitUsage);
  EXPECT_EQ(Run({"secrets", "frobnicate", "app"}).code, kExitUsage);
}

TEST_F(SecretsCommandTest, ReencryptAndShow) {
  ASSERT_EQ(Run({"secrets", "keygen", "app"}).code, kExitOk);
  StartMandator();
  mandator::core::NamespaceSettings settings;
  settings.secret = true;
  ASSERT_TRUE(server_->store().namespace_settings().Set("app", settings, "a")
                  .ok());
  ASSERT_EQ(Run({"config", "put", "app", "db.password", "hunter2"}).code,
            kExitOk);
  ASSERT_EQ(Run({"config", "put", "app", "api.token", "t0ken"}).code,
            kExitOk);
  EXPECT_TRUE(absl::StartsWith(Stored("db.password"), "kess:enc:v1:1:"));
  // The mandator answers only the envelope.
  Result get = Run({"config", "get", "app", "db.password"});
  EXPECT_THAT(get.out, Not(HasSubstr("hunter2")));
  EXPECT_THAT(get.out, HasSubstr("kess:enc:v1:1:"));
  Result show = Run({"secrets", "show", "app", "db.password"});
  ASSERT_EQ(show.code, kExitOk) << show.err;
  EXPECT_EQ(show.out, "hunter2");

  // Rotation: a new key, then every value written back under it.
  ASSERT_EQ(Run({"secrets", "keygen", "app"}).code, kExitOk);
  Result re = Run({"secrets", "reencrypt", "app"});
  ASSERT_EQ(re.code, kExitOk) << re.err;
  EXPECT_THAT(re.out, HasSubstr("2 written back, 0 already under key 2"));
  EXPECT_TRUE(absl::StartsWith(Stored("db.password"), "kess:enc:v1:2:"));
  EXPECT_TRUE(absl::StartsWith(Stored("api.token"), "kess:enc:v1:2:"));
  re = Run({"secrets", "reencrypt", "app"});
  ASSERT_EQ(re.code, kExitOk) << re.err;
  EXPECT_THAT(re.out, HasSubstr("0 written back, 2 already under key 2"));
  // The old key can go; the values still open.
  ASSERT_EQ(Run({"secrets", "drop-key", "app", "1"}).code, kExitOk);
  show = Run({"secrets", "show", "app", "api.token"});
  ASSERT_EQ(show.code, kExitOk) << show.err;
  EXPECT_EQ(show.out, "t0ken");
}

}  // namespace
}  // namespace kessctl
}  // namespace kess
