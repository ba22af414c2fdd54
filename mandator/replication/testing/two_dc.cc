#include "mandator/replication/testing/two_dc.h"

#include <random>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "model/route_table.h"
#include "common/testing/wait_for.h"
#include "mandator/replication/record_sync.h"
#include "mandator/testing/test_util.h"
#include "zk_schema/chunked_value.h"
#include "zk_schema/codec.h"
#include "zk_schema/revision_log.h"
#include "zk_schema/skeleton.h"

namespace kess {
namespace mandator {
namespace replication {
namespace testing {
namespace {

std::vector<std::string> Children(zk::ZkApi& zk, const std::string& path) {
  absl::StatusOr<zk::ChildrenResult> c = zk.GetChildren(path);
  return c.ok() ? c->children : std::vector<std::string>{};
}

// Compares one node of both trees; `kind` says how.
::testing::AssertionResult SameNode(zk::ZkApi& main, zk::ZkApi& local,
                                    const zk::Layout& layout, RecordKind kind,
                                    const std::string& path) {
  absl::StatusOr<zk::GetResult> m = main.Get(path);
  absl::StatusOr<zk::GetResult> l = local.Get(path);
  if (!m.ok() || !l.ok()) {
    return ::testing::AssertionFailure()
           << path << ": main " << m.status() << ", local " << l.status();
  }
  absl::StatusOr<std::string> mn = NormalizedRecord(kind, m->data, path);
  absl::StatusOr<std::string> ln = NormalizedRecord(kind, l->data, path);
  if (!mn.ok() || !ln.ok() || *mn != *ln) {
    return ::testing::AssertionFailure() << path << ": records differ";
  }
  if (kind == RecordKind::kNamespace) return ::testing::AssertionSuccess();
  auto value_of = [&](const std::string& data) -> zk::StoredValue {
    if (kind == RecordKind::kConfig) {
      return zk::DecodeAs<zk::ConfigRecord>(data, path)->value();
    }
    return zk::DecodeAs<zk::RouteRecord>(data, path)->value();
  };
  zk::ChunkedValueStore main_store(&main, layout);
  zk::ChunkedValueStore local_store(&local, layout);
  absl::StatusOr<std::string> mv = main_store.Load(value_of(m->data), path);
  absl::StatusOr<std::string> lv = local_store.Load(value_of(l->data), path);
  if (!mv.ok() || !lv.ok() || *mv != *lv) {
    return ::testing::AssertionFailure()
           << path << ": values differ (main " << mv.status() << ", local "
           << lv.status() << ")";
  }
  return ::testing::AssertionSuccess();
}

}  // namespace

std::unique_ptr<zk::testing::FakeZkClient> TwoDcTest::Connect(
    zk::testing::FakeZkServer* zk) {
  return mandator::testing::FakeMandator(zk);
}

void TwoDcTest::SetUp() {
  main_ = Connect(&main_zk_);
  local_ = Connect(&slave_zk_);
  InitTrees(100);
}

void TwoDcTest::InitTrees(int retention, const std::string& suffix) {
  const std::string name =
      ::testing::UnitTest::GetInstance()->current_test_info()->name();
  absl::StatusOr<zk::Layout> layout =
      zk::Layout::Create(absl::StrCat("/", name, suffix, "/kess"));
  ASSERT_TRUE(layout.ok()) << layout.status();
  layout_ = *layout;
  zk::SchemaInfo info;
  info.set_datacenter("dc1");
  info.set_is_main(true);
  ASSERT_TRUE(zk::EnsureSkeleton(*main_, layout_, info, retention,
                                 mandator::testing::TestAcl())
                  .ok());
  info.set_datacenter("dc2");
  info.set_is_main(false);
  ASSERT_TRUE(zk::EnsureSkeleton(*local_, layout_, info, retention,
                                 mandator::testing::TestAcl())
                  .ok());
  core::ConfigStore::Options options{layout_, mandator::testing::TestAcl(),
                                     /*history_limit=*/3, "m1"};
  auto store = core::ConfigStore::Create(main_.get(), options);
  ASSERT_TRUE(store.ok()) << store.status();
  store_ = *std::move(store);
  routes_ = std::make_unique<zk::testing::TestLeader>(
      main_.get(), layout_, mandator::testing::TestAcl(), "m1");
}

int64_t TwoDcTest::Put(const std::string& ns, const std::string& key,
                       const std::string& value) {
  core::PutRequest request;
  request.ns = ns;
  request.key = key;
  request.value = value;
  request.content_type = "text/plain";
  request.author = "test";
  absl::StatusOr<core::CommitResult> result = store_->Put(request);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? result->revision : -1;
}

int64_t TwoDcTest::Delete(const std::string& ns, const std::string& key) {
  core::DeleteRequest request;
  request.ns = ns;
  request.key = key;
  request.author = "test";
  absl::StatusOr<core::CommitResult> result = store_->Delete(request);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? result->revision : -1;
}

int64_t TwoDcTest::PutRoute(const std::string& service, int instances) {
  RouteTable table;
  table.service = service;
  for (int i = 0; i < instances; ++i) {
    RouteInstance instance;
    instance.id = absl::StrCat("i", 100000 + i);  // sorted as numbers
    instance.host = absl::StrCat("host-", i);
    instance.address = absl::StrCat("10.0.", i / 250, ".", i % 250, ":80");
    instance.datacenter = "dc1";
    table.instances.push_back(std::move(instance));
  }
  absl::StatusOr<int64_t> revision = routes_->PutRoute(table);
  EXPECT_TRUE(revision.ok()) << revision.status();
  return revision.ok() ? *revision : -1;
}

int64_t TwoDcTest::DeleteRoute(const std::string& service) {
  absl::StatusOr<int64_t> revision = routes_->DeleteRoute(service);
  EXPECT_TRUE(revision.ok()) << revision.status();
  return revision.ok() ? *revision : -1;
}

Replicator::Options TwoDcTest::ReplicatorOptions(const std::string& dc) {
  Replicator::Options options;
  options.datacenter = dc;
  options.layout = layout_;
  options.acl = mandator::testing::TestAcl();
  options.poll_interval = absl::Milliseconds(200);
  options.min_backoff = absl::Milliseconds(50);
  options.max_backoff = absl::Milliseconds(500);
  options.registry = &registry_;
  return options;
}

std::unique_ptr<Replicator> TwoDcTest::StartReplicator(
    zk::ZkApi* main, zk::ZkApi* local, Replicator::Options options) {
  auto r = Replicator::Create(main, local, std::move(options));
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return nullptr;
  (*r)->Start();
  return *std::move(r);
}

bool TwoDcTest::WaitForRevision(const Replicator& r, int64_t revision,
                                absl::Duration timeout) {
  return ::kess::testing::WaitFor(
      [&] { return r.progress().local_revision >= revision; }, timeout);
}

::testing::AssertionResult TwoDcTest::SameContent() {
  const std::vector<std::string> main_ns =
      Children(*main_, layout_.ConfigsDir());
  if (main_ns != Children(*local_, layout_.ConfigsDir())) {
    return ::testing::AssertionFailure() << "namespace lists differ";
  }
  for (const std::string& ns : main_ns) {
    const std::string ns_path = *layout_.NamespacePath(ns);
    auto same =
        SameNode(*main_, *local_, layout_, RecordKind::kNamespace, ns_path);
    if (!same) return same;
    const std::vector<std::string> keys = Children(*main_, ns_path);
    if (keys != Children(*local_, ns_path)) {
      return ::testing::AssertionFailure() << ns_path << ": key lists differ";
    }
    for (const std::string& key : keys) {
      same = SameNode(*main_, *local_, layout_, RecordKind::kConfig,
                      *layout_.ConfigPath(ns, key));
      if (!same) return same;
    }
  }
  const std::vector<std::string> routes = Children(*main_, layout_.RoutesDir());
  if (routes != Children(*local_, layout_.RoutesDir())) {
    return ::testing::AssertionFailure() << "route lists differ";
  }
  for (const std::string& service : routes) {
    auto same = SameNode(*main_, *local_, layout_, RecordKind::kRoute,
                         *layout_.RoutePath(service));
    if (!same) return same;
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult TwoDcTest::ChangelogMatchesMain(int64_t from,
                                                           int64_t to) {
  for (int64_t r = from; r <= to; ++r) {
    const std::string path = layout_.ChangelogPath(r);
    absl::StatusOr<zk::GetResult> m = main_->Get(path);
    absl::StatusOr<zk::GetResult> l = local_->Get(path);
    if (!m.ok() || !l.ok()) {
      return ::testing::AssertionFailure()
             << path << ": main " << m.status() << ", local " << l.status();
    }
    if (m->data != l->data) {
      return ::testing::AssertionFailure() << path << " differs from main's";
    }
  }
  return ::testing::AssertionSuccess();
}

std::map<std::string, std::pair<int, int64_t>> TwoDcTest::LocalNodeVersions() {
  std::map<std::string, std::pair<int, int64_t>> out;
  auto note = [&](const std::string& path) {
    absl::StatusOr<zk::GetResult> node = local_->Get(path);
    if (node.ok()) out[path] = {node->stat.version, node->stat.mzxid};
  };
  for (const std::string& ns : Children(*local_, layout_.ConfigsDir())) {
    const std::string ns_path = *layout_.NamespacePath(ns);
    note(ns_path);
    for (const std::string& key : Children(*local_, ns_path)) {
      note(ns_path + "/" + key);
    }
  }
  for (const std::string& service : Children(*local_, layout_.RoutesDir())) {
    note(layout_.RoutesDir() + "/" + service);
  }
  return out;
}

LocalHead TwoDcTest::Head() {
  absl::StatusOr<LocalHead> head = ReadLocalHead(*local_, layout_);
  EXPECT_TRUE(head.ok()) << head.status();
  return head.ok() ? *head : LocalHead();
}

zk::ConfigRecord TwoDcTest::LocalConfig(const std::string& ns,
                                        const std::string& key) {
  const std::string path = *layout_.ConfigPath(ns, key);
  absl::StatusOr<zk::GetResult> node = local_->Get(path);
  EXPECT_TRUE(node.ok()) << node.status();
  if (!node.ok()) return {};
  return *zk::DecodeAs<zk::ConfigRecord>(node->data, path);
}

int64_t TwoDcTest::LocalRevision() {
  auto read = zk::ReadRevision(*local_, layout_);
  return read.ok() ? read->first.revision() : -1;
}

double TwoDcTest::CounterValue(const std::string& name,
                               const metrics::Labels& labels) {
  return registry_.GetCounter(name, "", labels)->Value();
}

std::string RandomValue(size_t size, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(size, '\0');
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<char>(rng());
  return out;
}

absl::Status DeleteTree(zk::ZkApi& zk, const std::string& path) {
  absl::StatusOr<zk::ChildrenResult> children = zk.GetChildren(path);
  if (absl::IsNotFound(children.status())) return absl::OkStatus();
  KESS_RETURN_IF_ERROR(children.status());
  for (const std::string& child : children->children) {
    KESS_RETURN_IF_ERROR(DeleteTree(zk, path + "/" + child));
  }
  absl::Status deleted = zk.Delete(path);
  return absl::IsNotFound(deleted) ? absl::OkStatus() : deleted;
}

}  // namespace testing
}  // namespace replication
}  // namespace mandator
}  // namespace kess
