#include "zk_schema/identities.h"

#include <memory>

#include "common/identity/credential.h"
#include "gtest/gtest.h"
#include "zk_schema/testing/fake_zk.h"

namespace kess {
namespace zk {
namespace {

using identity::CredentialRegistry;
using testing::FakeZkClient;
using testing::FakeZkServer;
using identity::IssueCredential;
using identity::Kind;

class IdentitiesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    layout_ = *Layout::Create("/kess");
    main_ = std::make_unique<FakeZkClient>(&main_server_);
    slave_ = std::make_unique<FakeZkClient>(&slave_server_);
    ASSERT_TRUE(main_->Create("/kess", "").ok());
    ASSERT_TRUE(slave_->Create("/kess", "").ok());
  }

  FakeZkServer main_server_, slave_server_;
  Layout layout_;
  std::unique_ptr<FakeZkClient> main_, slave_;
};

TEST_F(IdentitiesTest, PutReadDeleteAndReissue) {
  EXPECT_EQ(ReadIdentities(*main_, layout_)->cversion, -1);
  auto web17 = *IssueCredential(Kind::kHost, "web-17", "");
  auto m1 = *IssueCredential(Kind::kMandator, "m1", "dc1");
  ASSERT_TRUE(PutIdentity(*main_, layout_, web17.record, {}).ok());
  ASSERT_TRUE(PutIdentity(*main_, layout_, m1.record, {}).ok());
  EXPECT_EQ(IdentityPath(layout_, Kind::kMandator, "m1", "dc1"),
            "/kess/identities/mandator:dc1:m1");
  auto snapshot = ReadIdentities(*main_, layout_);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  ASSERT_EQ(snapshot->records.size(), 2u);
  const int32_t before = snapshot->cversion;

  // Issuing again replaces the node and moves the children version.
  auto again = *IssueCredential(Kind::kHost, "web-17", "");
  ASSERT_TRUE(PutIdentity(*main_, layout_, again.record, {}).ok());
  snapshot = ReadIdentities(*main_, layout_);
  EXPECT_GT(snapshot->cversion, before);
  CredentialRegistry registry;
  registry.Replace(snapshot->records);
  EXPECT_FALSE(registry.Authenticate(Kind::kHost, "web-17", "", web17.secret).ok());
  EXPECT_TRUE(registry.Authenticate(Kind::kHost, "web-17", "", again.secret).ok());

  EXPECT_TRUE(DeleteIdentity(*main_, layout_, Kind::kHost, "web-17", "").ok());
  EXPECT_TRUE(absl::IsNotFound(
      DeleteIdentity(*main_, layout_, Kind::kHost, "web-17", "")));
  EXPECT_EQ(ReadIdentities(*main_, layout_)->records.size(), 1u);
}

TEST_F(IdentitiesTest, WatcherFollowsIssueAndRevocation) {
  auto registry = std::make_shared<CredentialRegistry>();
  IdentityWatcher::Options o;
  o.layout = layout_;
  o.interval = absl::Hours(1);  // polled by hand
  IdentityWatcher watcher(main_.get(), registry, o);
  EXPECT_EQ(registry->size(), 0u);
  auto web17 = *IssueCredential(Kind::kHost, "web-17", "");
  ASSERT_TRUE(PutIdentity(*main_, layout_, web17.record, {}).ok());
  watcher.PollOnce();
  auto principal =
      registry->Authenticate(Kind::kHost, "web-17", "", web17.secret);
  ASSERT_TRUE(principal.ok()) << principal.status();
  ASSERT_TRUE(DeleteIdentity(*main_, layout_, Kind::kHost, "web-17", "").ok());
  watcher.PollOnce();
  EXPECT_FALSE(registry->StillValid(**principal));
  EXPECT_EQ(registry->size(), 0u);
}

TEST_F(IdentitiesTest, MirrorMakesTheSlaveEqual) {
  auto a = *IssueCredential(Kind::kHost, "a", "");
  auto b = *IssueCredential(Kind::kService, "b", "");
  auto stale = *IssueCredential(Kind::kHost, "gone", "");
  ASSERT_TRUE(PutIdentity(*main_, layout_, a.record, {}).ok());
  ASSERT_TRUE(PutIdentity(*main_, layout_, b.record, {}).ok());
  ASSERT_TRUE(PutIdentity(*slave_, layout_, stale.record, {}).ok());
  EXPECT_EQ(*MirrorIdentities(*main_, *slave_, layout_, {}), 3);
  EXPECT_EQ(*MirrorIdentities(*main_, *slave_, layout_, {}), 0);
  CredentialRegistry registry;
  registry.Replace(ReadIdentities(*slave_, layout_)->records);
  EXPECT_EQ(registry.size(), 2u);
  EXPECT_TRUE(registry.Authenticate(Kind::kHost, "a", "", a.secret).ok());
  EXPECT_FALSE(registry.Authenticate(Kind::kHost, "gone", "", stale.secret).ok());
  // A revocation in the main DC reaches the slave with the next mirror.
  ASSERT_TRUE(DeleteIdentity(*main_, layout_, Kind::kHost, "a", "").ok());
  EXPECT_EQ(*MirrorIdentities(*main_, *slave_, layout_, {}), 1);
  registry.Replace(ReadIdentities(*slave_, layout_)->records);
  EXPECT_FALSE(registry.Authenticate(Kind::kHost, "a", "", a.secret).ok());
}

}  // namespace
}  // namespace zk
}  // namespace kess
