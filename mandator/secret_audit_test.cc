// The audit record of a write to a secret namespace (docs/security.md,
// "Audit log"): the real HttpApi (testing/api_server.h) with an AuditLog on
// the in-memory ZooKeeper. A put or a gray release of a secret namespace's
// value leaves neither a digest nor the size of its plaintext in the log
// (an unsalted SHA-256 would let every reader of the log test guesses), a
// namespace that is not secret keeps both, and a write of a secret value
// forwarded by a follower is recorded the same way by the leader.
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/http_client.h"
#include "common/metrics.h"
#include "gtest/gtest.h"
#include "mandator/auth/audit_log.h"
#include "mandator/auth/secrets.h"
#include "mandator/core/namespace_settings.h"
#include "mandator/testing/api_server.h"
#include "model/secrets/key_dir.h"
#include "model/secrets/key_ring.h"
#include "zk_schema/testing/fake_zk.h"

namespace kess {
namespace mandator {
namespace {

constexpr absl::Duration kTimeout = absl::Seconds(10);
constexpr char kPlain[] = "hunter2-correct-horse";

class SecretAuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    keys_dir_ = ::testing::TempDir() + "/secret_audit_test_keys";
    mkdir(keys_dir_.c_str(), 0700);
    const secrets::KeyRing ring = secrets::AddNewKey({}).value();
    ASSERT_TRUE(
        secrets::WriteKeyRingFile(keys_dir_ + "/vault.key", ring, "vault")
            .ok());
    zk_client_ = std::make_unique<zk::testing::FakeZkClient>(&zk_);
    auth::AuditLog::Options audit;
    audit.datacenter = "dc1";
    audit.member_id = "m1";
    audit.registry = &registry_;
    audit_ = std::make_unique<auth::AuditLog>(zk_client_.get(), audit);
    for (const char* id : {"m1", "m2"}) {
      testing::ApiServer::Options options;
      options.zk = &zk_;
      options.member_id = id;
      options.secret_keys_dir = keys_dir_;
      options.audit = audit_.get();
      absl::StatusOr<std::unique_ptr<testing::ApiServer>> server =
          testing::ApiServer::Start(options);
      ASSERT_TRUE(server.ok()) << server.status();
      servers_.push_back(*std::move(server));
    }
    ASSERT_TRUE(servers_[0]->IsLeader());
    core::NamespaceSettings secret;
    secret.secret = true;
    ASSERT_TRUE(servers_[0]
                    ->store()
                    .namespace_settings()
                    .Set("vault", secret, "admin")
                    .ok());
  }

  void TearDown() override {
    servers_.clear();
    audit_.reset();
    unlink((keys_dir_ + "/vault.key").c_str());
  }

  int Call(int server, const std::string& method, const std::string& uri,
           const std::string& body) {
    absl::StatusOr<HttpReply> reply =
        HttpCall(servers_[server]->address(), method, uri, body, kTimeout);
    EXPECT_TRUE(reply.ok()) << reply.status();
    if (!reply.ok()) return 0;
    EXPECT_EQ(reply->status, 200) << uri << ": " << reply->body;
    return reply->status;
  }

  // The details of the records whose action is `action` and whose
  // "<METHOD> <path>" contains `what`.
  std::vector<std::string> Details(const std::string& action,
                                   const std::string& what) {
    EXPECT_TRUE(audit_->Flush(kTimeout));
    auth::AuditFilter filter;
    filter.what = what;
    absl::StatusOr<auth::AuditPage> page = audit_->List(filter, 100, "");
    EXPECT_TRUE(page.ok()) << page.status();
    std::vector<std::string> details;
    if (!page.ok()) return details;
    for (const auth::AuditRecord& r : page->records) {
      if (r.action == action && absl::StrContains(r.what, what)) {
        details.push_back(r.detail);
      }
    }
    return details;
  }

  std::string keys_dir_;
  metrics::Registry registry_;
  zk::testing::FakeZkServer zk_;
  std::unique_ptr<zk::testing::FakeZkClient> zk_client_;
  std::unique_ptr<auth::AuditLog> audit_;
  std::vector<std::unique_ptr<testing::ApiServer>> servers_;
};

TEST_F(SecretAuditTest, SecretValuesLeaveNoDigestOrSize) {
  const std::string body = absl::StrCat(R"({"value":")", kPlain, R"("})");
  const std::string digest = auth::Sha256Hex(kPlain);
  const std::string size = absl::StrCat("new_size=", sizeof(kPlain) - 1);
  // On the leader, and forwarded by the follower.
  Call(0, "PUT", "/api/v1/configs/vault/db", body);
  Call(1, "PUT", "/api/v1/configs/vault/api", body);
  Call(0, "PUT", "/api/v1/configs/open/db", body);
  Call(0, "POST", "/api/v1/configs/vault/db/gray",
       absl::StrCat(R"({"value":")", kPlain, R"(","hosts":["h1"]})"));

  for (const char* what : {"/configs/vault/db", "/configs/vault/api"}) {
    std::vector<std::string> puts = Details("config.put", what);
    ASSERT_EQ(puts.size(), 1u) << what;
    EXPECT_FALSE(absl::StrContains(puts[0], digest)) << puts[0];
    EXPECT_FALSE(absl::StrContains(puts[0], "new_sha256")) << puts[0];
    EXPECT_FALSE(absl::StrContains(puts[0], size)) << puts[0];
    EXPECT_TRUE(absl::StrContains(puts[0], "value=secret")) << puts[0];
    EXPECT_TRUE(absl::StrContains(puts[0], "revision=")) << puts[0];
  }
  std::vector<std::string> gray = Details("gray.start", "/configs/vault/db");
  ASSERT_EQ(gray.size(), 1u);
  EXPECT_FALSE(absl::StrContains(gray[0], digest)) << gray[0];
  EXPECT_TRUE(absl::StrContains(gray[0], "value=secret")) << gray[0];
  EXPECT_TRUE(absl::StrContains(gray[0], "hosts=1")) << gray[0];
  // The control: a namespace that is not secret keeps the digest and size.
  std::vector<std::string> open = Details("config.put", "/configs/open/db");
  ASSERT_EQ(open.size(), 1u);
  EXPECT_TRUE(absl::StrContains(open[0], "new_sha256=" + digest)) << open[0];
  EXPECT_TRUE(absl::StrContains(open[0], size)) << open[0];
}

}  // namespace
}  // namespace mandator
}  // namespace kess
