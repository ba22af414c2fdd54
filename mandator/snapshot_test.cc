// Snapshots on the in-memory ZooKeeper: a snapshot restored into another
// tree holds the same configs (every version), gray releases, route tables
// and overrides at revisions above the floor; a read that races a commit is
// read again; a tree that is not empty is refused and left unchanged.
#include "mandator/snapshot.h"

#include <memory>
#include <string>

#include <sys/stat.h>

#include "absl/strings/match.h"
#include "common/json_util.h"
#include "gtest/gtest.h"
#include "mandator/core/config_store.h"
#include "mandator/core/gray_store.h"
#include "mandator/routes/override_store.h"
#include "mandator/routes/route_store.h"
#include "mandator/testing/test_util.h"
#include "model/secrets/envelope.h"
#include "model/secrets/key_dir.h"

namespace kess {
namespace mandator {
namespace {

using ::kess::mandator::testing::FreshLayout;
using ::kess::mandator::testing::HookedZkApi;
using ::kess::mandator::testing::TestAcl;

// One kess tree and the leader's stores on it.
struct Tree {
  Tree(zk::ZkApi* zk, zk::Layout layout, std::string secret_keys_dir = "")
      : layout(std::move(layout)),
        fence(this->layout.ElectionNodePrefix() + "0000000000") {
    // The leader's election node, as the fence of every write.
    EXPECT_TRUE(zk->Create(fence, "").ok());
    core::ConfigStore::Options options{this->layout, TestAcl(), 5, "m1"};
    options.secret_keys_dir = std::move(secret_keys_dir);
    configs = std::move(core::ConfigStore::Create(zk, options)).value();
    gray = std::make_unique<core::GrayStore>(zk, configs.get());
    overrides =
        std::make_unique<routes::OverrideStore>(zk, this->layout, TestAcl());
    route_options.layout = this->layout;
    route_options.acl = TestAcl();
    route_options.writer_id = "m1";
    routes = std::make_unique<routes::RouteStore>(zk, route_options);
    Snapshots::Options s;
    s.zk = zk;
    s.configs = configs.get();
    s.gray = gray.get();
    s.overrides = overrides.get();
    s.routes = route_options;
    s.datacenter = "dc1";
    s.fence = [f = fence] { return f; };
    snapshots = std::make_unique<Snapshots>(s);
  }

  zk::Layout layout;
  std::string fence;
  std::unique_ptr<core::ConfigStore> configs;
  std::unique_ptr<core::GrayStore> gray;
  std::unique_ptr<routes::OverrideStore> overrides;
  routes::RouteStore::Options route_options;
  std::unique_ptr<routes::RouteStore> routes;
  std::unique_ptr<Snapshots> snapshots;
};

core::PutRequest Put(const std::string& ns, const std::string& key,
                     const std::string& value, const std::string& author) {
  core::PutRequest r;
  r.ns = ns;
  r.key = key;
  r.value = value;
  r.author = author;
  r.comment = "by " + author;
  return r;
}

RouteTable Table(const std::string& service, int instances) {
  RouteTable table;
  table.service = service;
  for (int i = 0; i < instances; ++i) {
    RouteInstance instance;
    instance.id = service + "-" + std::to_string(i);
    instance.host = "h" + std::to_string(i);
    instance.address = "127.0.0.1:" + std::to_string(8000 + i);
    instance.datacenter = "dc1";
    table.instances.push_back(instance);
  }
  return table;
}

class SnapshotTest : public mandator::testing::FakeZkTest {
 protected:
  std::unique_ptr<Tree> NewTree(zk::ZkApi* zk = nullptr,
                                const std::string& secret_keys_dir = "") {
    auto layout = FreshLayout(*client_);
    EXPECT_TRUE(layout.ok()) << layout.status();
    return std::make_unique<Tree>(zk != nullptr ? zk : client_.get(),
                                  *std::move(layout), secret_keys_dir);
  }

  // Configs (three versions of one key, a binary value), a gray release,
  // two route tables and an override.
  void Fill(Tree& t) {
    ASSERT_TRUE(t.configs->Put(Put("shop", "price", "1", "alice")).ok());
    ASSERT_TRUE(t.configs->Put(Put("shop", "price", "2", "bob")).ok());
    ASSERT_TRUE(t.configs->Put(Put("shop", "price", "3", "carol")).ok());
    core::PutRequest binary = Put("shop", "blob", std::string("\0\xff\x01", 3),
                                  "alice");
    binary.content_type = "application/octet-stream";
    ASSERT_TRUE(t.configs->Put(binary).ok());
    ASSERT_TRUE(t.configs->Put(Put("search", "k", "v", "dave")).ok());
    core::GrayRequest gray;
    gray.ns = "search";
    gray.key = "k";
    gray.value = "v-gray";
    gray.hosts = {"h1", "h2"};
    gray.percentage = 10;
    gray.author = "erin";
    ASSERT_TRUE(t.gray->Start(gray).ok());
    ASSERT_TRUE(t.routes->Put(Table("api", 2), "").ok());
    ASSERT_TRUE(t.routes->Put(Table("db", 1), "").ok());
    routes::InstanceOverride o;
    o.weight = 7;
    ASSERT_TRUE(t.overrides->Set("api", "api-1", o, t.fence).ok());
  }
};

TEST_F(SnapshotTest, RestoredTreeHoldsTheSameDataAboveTheFloor) {
  auto source = NewTree();
  Fill(*source);
  const int64_t revision = *source->configs->Revision();
  absl::StatusOr<std::string> snapshot = source->snapshots->Take();
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  auto doc = ParseJsonObject(*snapshot);
  ASSERT_TRUE(doc.ok()) << *snapshot;
  EXPECT_EQ((*doc)->getValue<int64_t>("revision"), revision);

  auto target = NewTree();
  absl::StatusOr<RestoreResult> restored =
      target->snapshots->Restore(*snapshot, 500);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(restored->first_revision, 501);
  EXPECT_EQ(restored->configs, 3);
  EXPECT_EQ(restored->versions, 5);
  EXPECT_EQ(restored->gray, 1);
  EXPECT_EQ(restored->routes, 2);
  EXPECT_EQ(restored->overrides, 1);
  EXPECT_EQ(*target->configs->Revision(), restored->revision);
  EXPECT_EQ(restored->revision, 501 + 5 + 1 + 2 - 1);

  // The same values, every one above the floor; history in the same order.
  for (const char* key : {"price", "blob"}) {
    auto a = source->configs->Get("shop", key);
    auto b = target->configs->Get("shop", key);
    ASSERT_TRUE(a.ok() && b.ok()) << key;
    EXPECT_EQ(a->value, b->value) << key;
    EXPECT_EQ(a->record.content_type(), b->record.content_type()) << key;
    EXPECT_GT(b->record.revision(), 500) << key;
  }
  auto history = target->configs->History("shop", "price", 10);
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->size(), 3u);
  EXPECT_EQ((*history)[0].value, "3");
  EXPECT_EQ((*history)[0].record.meta().author(), "carol");
  EXPECT_EQ((*history)[2].value, "1");
  EXPECT_EQ((*history)[2].record.meta().author(), "alice");

  auto gray = target->gray->Get("search", "k");
  ASSERT_TRUE(gray.ok()) << gray.status();
  EXPECT_TRUE(gray->active);
  EXPECT_EQ(gray->value, "v-gray");
  EXPECT_EQ(gray->record.hosts_size(), 2);
  EXPECT_EQ(gray->record.percentage(), 10u);
  EXPECT_EQ(target->configs->Get("search", "k")->value, "v");

  auto tables = target->routes->LoadAll();
  ASSERT_TRUE(tables.ok()) << tables.status();
  ASSERT_EQ(tables->size(), 2u);
  EXPECT_EQ(tables->at("api").instances, Table("api", 2).instances);
  EXPECT_GT(tables->at("api").revision, 500);
  auto overrides = target->overrides->Current();
  ASSERT_TRUE(overrides.ok()) << overrides.status();
  EXPECT_EQ(overrides->at("api").at("api-1").weight, 7);

  // A snapshot of the restored tree holds what the first one did.
  absl::StatusOr<std::string> again = target->snapshots->Take();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(absl::StrContains(*again, "\"v-gray\""));
}

TEST_F(SnapshotTest, WithoutAFloorTheRestoreStartsAboveTheSnapshot) {
  auto source = NewTree();
  Fill(*source);
  const int64_t revision = *source->configs->Revision();
  auto snapshot = source->snapshots->Take();
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  auto target = NewTree();
  auto restored = target->snapshots->Restore(*snapshot, 0);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(restored->first_revision, revision + 1);
}

TEST_F(SnapshotTest, AReadThatRacesACommitIsReadAgain) {
  HookedZkApi hooked(client_.get());
  auto source = NewTree(&hooked);
  Fill(*source);
  int commits = 0;
  core::ConfigStore::Options options{source->layout, TestAcl(), 5, "m2"};
  auto other = std::move(core::ConfigStore::Create(client_.get(), options))
                   .value();
  hooked.set_hook([&](zk::testing::FaultSpec::Op, const std::string& path) {
    // While the first read is in the route tables: a commit.
    if (commits == 0 && absl::StrContains(path, "/routes")) {
      ++commits;
      ASSERT_TRUE(other->Put(Put("shop", "late", "x", "frank")).ok());
    }
  });
  auto snapshot = source->snapshots->Take();
  hooked.set_hook(nullptr);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(commits, 1);
  auto doc = ParseJsonObject(*snapshot);
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ((*doc)->getValue<int64_t>("revision"),
            *source->configs->Revision());
  EXPECT_TRUE(absl::StrContains(*snapshot, "\"late\""))
      << "the second read has the raced commit";
}

TEST_F(SnapshotTest, ATreeThatIsNotEmptyIsRefusedAndLeftAlone) {
  auto source = NewTree();
  Fill(*source);
  auto snapshot = source->snapshots->Take();
  ASSERT_TRUE(snapshot.ok());
  auto target = NewTree();
  ASSERT_TRUE(target->configs->Put(Put("x", "y", "z", "gina")).ok());
  const int64_t before = *target->configs->Revision();
  auto refused = target->snapshots->Restore(*snapshot, 0);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition)
      << refused.status();
  EXPECT_EQ(*target->configs->Revision(), before);

  auto garbage = NewTree()->snapshots->Restore("{\"configs\":[]}", 0);
  EXPECT_EQ(garbage.status().code(), absl::StatusCode::kInvalidArgument);
}

// A secret namespace's snapshot holds envelopes only; it restores into a
// tree whose namespace is marked secret first (with a ring that opens
// them), and a tree where it is not refuses the envelopes and stays empty
// (docs/operations.md, "Rotating a secret namespace's key").
TEST_F(SnapshotTest, SecretNamespaceRestoresOnceMarkedSecret) {
  const std::string keys = ::testing::TempDir() + "/snapshot_test_keys";
  mkdir(keys.c_str(), 0700);
  ASSERT_TRUE(secrets::WriteKeyRingFile(keys + "/vault.key",
                                        secrets::AddNewKey({}).value(),
                                        "vault")
                  .ok());
  core::NamespaceSettings secret;
  secret.secret = true;
  auto source = NewTree(nullptr, keys);
  ASSERT_TRUE(source->configs->namespace_settings().Set("vault", secret, "a")
                  .ok());
  ASSERT_TRUE(source->configs->Put(Put("vault", "pw", "plain-1", "a")).ok());
  ASSERT_TRUE(source->configs->Put(Put("vault", "pw", "plain-2", "a")).ok());
  absl::StatusOr<std::string> snapshot = source->snapshots->Take();
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_FALSE(absl::StrContains(*snapshot, "plain-"));
  EXPECT_TRUE(absl::StrContains(*snapshot, "kess:enc:v1:1:"));

  auto unmarked = NewTree(nullptr, keys);
  auto refused = unmarked->snapshots->Restore(*snapshot, 0);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument)
      << refused.status();
  EXPECT_TRUE(absl::IsNotFound(unmarked->configs->Get("vault", "pw").status()));

  auto target = NewTree(nullptr, keys);
  ASSERT_TRUE(target->configs->namespace_settings().Set("vault", secret, "a")
                  .ok());
  auto restored = target->snapshots->Restore(*snapshot, 0);
  ASSERT_TRUE(restored.ok()) << restored.status();
  absl::StatusOr<core::Config> pw = target->configs->Get("vault", "pw");
  ASSERT_TRUE(pw.ok());
  EXPECT_EQ(secrets::Open(*secrets::LoadKeyRingFile(keys + "/vault.key"),
                          "vault", "pw", pw->value)
                .value_or("<no>"),
            "plain-2");
}

}  // namespace
}  // namespace mandator
}  // namespace kess
