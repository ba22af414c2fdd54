// AclStore on the in-memory ZooKeeper: put, replace, get, list and delete
// commit ACL_PUT / ACL_DELETE change records; bad entries are refused.
#include "mandator/core/acl_store.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "mandator/testing/test_util.h"
#include "zk_schema/codec.h"

namespace kess {
namespace mandator {
namespace core {
namespace {

using ::kess::mandator::testing::TestAcl;

class AclStoreTest : public mandator::testing::FakeZkTest {
 protected:
  void SetUp() override {
    FakeZkTest::SetUp();
    store_ = std::make_unique<AclStore>(
        client_.get(), AclStore::Options{*layout_, TestAcl(), "m1", nullptr});
  }

  zk::ChangeRecord Change(int64_t revision) {
    auto node = client_->Get(layout_->ChangelogPath(revision));
    EXPECT_TRUE(node.ok()) << node.status();
    zk::ChangeRecord change;
    if (node.ok()) change.ParseFromString(node->data);
    return change;
  }

  std::unique_ptr<AclStore> store_;
};

TEST_F(AclStoreTest, PutGetListDelete) {
  AclWrite write;
  write.kind = AclKind::kNamespace;
  write.name = "payments";
  write.hosts = {"web-*", "db-01", "web-*"};
  write.identities = {"service/billing"};
  write.author = "alice";
  absl::StatusOr<int64_t> put = store_->Put(write, "");
  ASSERT_TRUE(put.ok()) << put.status();
  zk::ChangeRecord change = Change(*put);
  EXPECT_EQ(change.kind(), zk::ACL_PUT);
  EXPECT_EQ(change.namespace_name(), "payments");
  EXPECT_EQ(change.path(), *layout_->NamespaceAclPath("payments"));
  EXPECT_TRUE(change.has_record());  // small: embedded for followers

  auto got = store_->Get(AclKind::kNamespace, "payments");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->revision(), *put);
  ASSERT_EQ((*got)->hosts_size(), 2);  // sorted, deduplicated
  EXPECT_EQ((*got)->hosts(0), "db-01");
  EXPECT_EQ((*got)->hosts(1), "web-*");
  EXPECT_EQ((*got)->meta().author(), "alice");

  write.hosts = {"api-*"};
  absl::StatusOr<int64_t> replaced = store_->Put(write, "");
  ASSERT_TRUE(replaced.ok()) << replaced.status();
  EXPECT_GT(*replaced, *put);

  AclWrite service;
  service.kind = AclKind::kService;
  service.name = "ledger";
  service.hosts = {"*"};
  ASSERT_TRUE(store_->Put(service, "").ok());
  auto namespaces = store_->List(AclKind::kNamespace);
  ASSERT_TRUE(namespaces.ok());
  ASSERT_EQ(namespaces->size(), 1u);
  EXPECT_EQ(namespaces->front().hosts(0), "api-*");
  auto services = store_->List(AclKind::kService);
  ASSERT_TRUE(services.ok());
  ASSERT_EQ(services->size(), 1u);
  EXPECT_EQ(services->front().service(), "ledger");

  absl::StatusOr<int64_t> deleted =
      store_->Delete(AclKind::kNamespace, "payments", "bob", "");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(Change(*deleted).kind(), zk::ACL_DELETE);
  got = store_->Get(AclKind::kNamespace, "payments");
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->has_value());
  EXPECT_TRUE(absl::IsNotFound(
      store_->Delete(AclKind::kNamespace, "payments", "bob", "").status()));
}

TEST_F(AclStoreTest, RefusesBadNamesAndEntries) {
  AclWrite write;
  write.name = "../x";
  EXPECT_TRUE(absl::IsInvalidArgument(store_->Put(write, "").status()));
  write.name = "ns";
  write.hosts = {"web/1"};
  EXPECT_TRUE(absl::IsInvalidArgument(store_->Put(write, "").status()));
  write.hosts = {};
  write.identities = {"nobody"};
  EXPECT_TRUE(absl::IsInvalidArgument(store_->Put(write, "").status()));
  write.identities = {};
  for (int i = 0; i <= 1000; ++i) write.hosts.push_back(absl::StrCat("a", i));
  EXPECT_TRUE(absl::IsInvalidArgument(store_->Put(write, "").status()));
  auto got = store_->Get(AclKind::kNamespace, "ns");
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->has_value());
}

}  // namespace
}  // namespace core
}  // namespace mandator
}  // namespace kess
