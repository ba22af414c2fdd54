// The layout, records and revision/change-log protocol against a real
// ZooKeeper: what is written under each path decodes back to what was meant.
#include <memory>

#include "model/route_table.h"
#include "common/testing/wait_for.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/harness/zk_test_base.h"
#include "zk_schema/codec.h"
#include "zk_schema/layout.h"
#include "zk_schema/revision_log.h"
#include "zk_schema/skeleton.h"
#include "zk_schema/testing/real_zk.h"
#include "zk_schema/zk_client.h"
#include "zk_schema/zk_errors.h"

namespace kess {
namespace zk {
namespace {

using ::testing::ElementsAre;

class SchemaZkTest : public kess::testing::ZkTestBase {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<ZkClient>> c =
        ZkClient::Create(testing::TestClientOptions(zk()->ConnectString()));
    ASSERT_TRUE(c.ok()) << c.status();
    client_ = *std::move(c);
  }

  // A fresh tree under /<test name>/kess.
  Layout FreshLayout(int retention = kDefaultChangelogRetention) {
    SchemaInfo info;
    info.set_datacenter("dc1");
    info.set_is_main(true);
    absl::StatusOr<Layout> layout = testing::CreateTestTree(
        *client_,
        ::testing::UnitTest::GetInstance()->current_test_info()->name(), info,
        retention);
    EXPECT_TRUE(layout.ok()) << layout.status();
    NamespaceInfo ns;
    ns.set_namespace_name("ns");
    EXPECT_TRUE(client_->Create(*layout->NamespacePath("ns"), Encode(ns)).ok());
    return *layout;
  }

  // Commits a config put as one multi: record write + revision CAS +
  // change record. Returns the new summary.
  absl::StatusOr<RevisionSummary> CommitConfig(const Layout& layout,
                                               const std::string& key,
                                               const std::string& value,
                                               const RevisionSummary& current,
                                               int current_version) {
    KESS_ASSIGN_OR_RETURN(std::string path, layout.ConfigPath("ns", key));
    ConfigRecord record;
    record.set_namespace_name("ns");
    record.set_key(key);
    record.set_revision(current.revision() + 1);
    record.set_version(1);
    *record.mutable_value() = MakeInlineValue(value);
    *record.mutable_meta() = MakeMeta("alice", "m1");
    ChangeRecord change;
    change.set_kind(CONFIG_PUT);
    change.set_namespace_name("ns");
    change.set_key(key);
    change.set_path(path);
    change.set_value_size(value.size());
    change.set_value_crc32(record.value().crc32());
    *change.mutable_meta() = record.meta();
    MultiOps ops;
    ops.Create(path, Encode(record));
    KESS_ASSIGN_OR_RETURN(
        RevisionSummary next,
        AddCommitOps(layout, current, current_version, change, &ops));
    KESS_RETURN_IF_ERROR(client_->Multi(ops).status());
    return next;
  }

  std::unique_ptr<ZkClient> client_;
};

TEST_F(SchemaZkTest, SkeletonIsIdempotentAndComplete) {
  Layout layout = FreshLayout();
  SchemaInfo info;
  info.set_datacenter("other");  // ignored: the root exists
  ASSERT_TRUE(EnsureSkeleton(*client_, layout, info, 100).ok());
  for (const std::string& path : layout.SkeletonPaths()) {
    absl::StatusOr<std::optional<Stat>> s = client_->Exists(path);
    ASSERT_TRUE(s.ok());
    EXPECT_TRUE(s->has_value()) << path;
  }
  absl::StatusOr<SchemaInfo> root =
      DecodeAs<SchemaInfo>(client_->Get(layout.root())->data, layout.root());
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->schema_version(), kSchemaVersion);
  EXPECT_EQ(root->datacenter(), "dc1");
  absl::StatusOr<std::pair<RevisionSummary, int>> rev =
      ReadRevision(*client_, layout);
  ASSERT_TRUE(rev.ok());
  EXPECT_EQ(rev->first.revision(), 0);
  EXPECT_EQ(rev->first.oldest_retained(), 1);

  // A newer schema in ZK is refused, not misread.
  SchemaInfo newer = *root;
  newer.set_schema_version(kSchemaVersion + 1);
  ASSERT_TRUE(client_->Set(layout.root(), Encode(newer)).ok());
  absl::Status refused = EnsureSkeleton(*client_, layout, info, 100);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.message().find("upgrade this binary"),
            absl::string_view::npos)
      << refused;
  absl::Status read = CheckStoredSchema(*client_, layout, "distributor");
  EXPECT_EQ(read.code(), absl::StatusCode::kFailedPrecondition) << read;

  // So is one older than the oldest this binary reads (0: never valid).
  SchemaInfo older = *root;
  older.set_schema_version(kMinSchemaVersion - 1);
  ASSERT_TRUE(client_->Set(layout.root(), Encode(older)).ok());
  refused = EnsureSkeleton(*client_, layout, info, 100);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.message().find("older than this binary supports"),
            absl::string_view::npos)
      << refused;

  // Every version inside the window is read.
  for (int v = kMinSchemaVersion; v <= kSchemaVersion; ++v) {
    SchemaInfo inside = *root;
    inside.set_schema_version(v);
    ASSERT_TRUE(client_->Set(layout.root(), Encode(inside)).ok());
    EXPECT_TRUE(EnsureSkeleton(*client_, layout, info, 100).ok()) << v;
    EXPECT_TRUE(CheckStoredSchema(*client_, layout, "distributor").ok()) << v;
  }
}

TEST_F(SchemaZkTest, EveryRecordKindRoundTripsAtItsPath) {
  Layout layout = FreshLayout();
  // Namespace and route table.
  absl::StatusOr<NamespaceInfo> ns = DecodeAs<NamespaceInfo>(
      client_->Get(*layout.NamespacePath("ns"))->data, "namespace");
  ASSERT_TRUE(ns.ok());
  EXPECT_EQ(ns->namespace_name(), "ns");
  kess::RouteTable table;
  table.service = "user-svc";
  table.revision = 1;
  kess::RouteInstance instance;
  instance.id = "i1";
  instance.host = "host-1";
  instance.address = "127.0.0.1:8080";
  instance.datacenter = "dc1";
  instance.metadata["zone"] = "a";
  table.instances.push_back(instance);
  RouteRecord route;
  route.set_service("user-svc");
  route.set_revision(1);
  route.set_instance_count(1);
  *route.mutable_value() = MakeInlineValue(kess::RouteTableToJson(table));
  const std::string route_path = *layout.RoutePath("user-svc");
  ASSERT_TRUE(client_->Create(route_path, Encode(route)).ok());
  // Member (ephemeral) and an election candidate.
  MemberInfo member;
  member.set_id("m1");
  member.set_role(MANDATOR);
  member.set_address("127.0.0.1:7100");
  ASSERT_TRUE(client_
                  ->Create(*layout.MemberPath(MANDATOR, "m1"), Encode(member),
                           CreateMode::kEphemeral)
                  .ok());
  absl::StatusOr<std::string> candidate =
      client_->Create(layout.ElectionNodePrefix(), Encode(member),
                      CreateMode::kEphemeralSequential);
  ASSERT_TRUE(candidate.ok());
  std::string candidate_name = candidate->substr(candidate->rfind('/') + 1);
  EXPECT_EQ(*ParseElectionSequence(candidate_name), 0);
  // A config, committed with its change record.
  auto [summary, version] = *ReadRevision(*client_, layout);
  absl::StatusOr<RevisionSummary> next =
      CommitConfig(layout, "db.url", "pg://x", summary, version);
  ASSERT_TRUE(next.ok()) << next.status();

  absl::StatusOr<ConfigRecord> config = DecodeAs<ConfigRecord>(
      client_->Get(*layout.ConfigPath("ns", "db.url"))->data, "config");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->value().inline_data(), "pg://x");
  EXPECT_TRUE(VerifyValue(config->value(), "pg://x", "config").ok());
  EXPECT_EQ(config->meta().author(), "alice");
  absl::StatusOr<ChangeRecord> change = DecodeAs<ChangeRecord>(
      client_->Get(layout.ChangelogPath(1))->data, "change");
  ASSERT_TRUE(change.ok());
  EXPECT_EQ(change->revision(), 1);
  EXPECT_EQ(change->path(), *layout.ConfigPath("ns", "db.url"));
  absl::StatusOr<RouteRecord> route_back =
      DecodeAs<RouteRecord>(client_->Get(route_path)->data, route_path);
  ASSERT_TRUE(route_back.ok());
  absl::StatusOr<kess::RouteTable> table_back =
      kess::RouteTableFromJson(route_back->value().inline_data());
  ASSERT_TRUE(table_back.ok()) << table_back.status();
  EXPECT_EQ(*table_back, table);
  absl::StatusOr<MemberInfo> member_back = DecodeAs<MemberInfo>(
      client_->Get(*layout.MemberPath(MANDATOR, "m1"))->data, "member");
  ASSERT_TRUE(member_back.ok());
  EXPECT_EQ(member_back->address(), "127.0.0.1:7100");
  EXPECT_THAT(client_->GetChildren(layout.ElectionDir())->children,
              ElementsAre(candidate_name));
}

TEST_F(SchemaZkTest, CommitIsOneAtomicMultiAndAStaleCasLeavesNothing) {
  Layout layout = FreshLayout();
  auto [r0, v0] = *ReadRevision(*client_, layout);
  absl::StatusOr<RevisionSummary> r1 = CommitConfig(layout, "a", "1", r0, v0);
  ASSERT_TRUE(r1.ok()) << r1.status();
  EXPECT_EQ(r1->revision(), 1);

  // A second leader still holding the old summary version loses the CAS:
  // neither its record nor its change record nor a revision bump appear.
  absl::StatusOr<RevisionSummary> stale =
      CommitConfig(layout, "b", "2", r0, v0);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(MultiFailedOp(stale.status()), 1);  // the set of /revision
  EXPECT_FALSE(client_->Exists(*layout.ConfigPath("ns", "b"))->has_value());
  EXPECT_FALSE(client_->Exists(layout.ChangelogPath(2))->has_value());
  auto [now, now_version] = *ReadRevision(*client_, layout);
  EXPECT_EQ(now.revision(), 1);

  // With the fresh version the same commit goes through.
  absl::StatusOr<RevisionSummary> r2 =
      CommitConfig(layout, "b", "2", now, now_version);
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_EQ(r2->revision(), 2);
  EXPECT_THAT(client_->GetChildren(layout.ChangelogDir())->children,
              ElementsAre(FormatRevision(1), FormatRevision(2)));
}

TEST_F(SchemaZkTest, ChangelogIsRetainedForABoundedNumberOfRevisions) {
  Layout layout = FreshLayout(/*retention=*/3);
  for (int i = 1; i <= 6; ++i) {
    auto [current, version] = *ReadRevision(*client_, layout);
    absl::StatusOr<RevisionSummary> next =
        CommitConfig(layout, absl::StrCat("k", i), "v", current, version);
    ASSERT_TRUE(next.ok()) << next.status();
  }
  auto [summary, version] = *ReadRevision(*client_, layout);
  EXPECT_EQ(summary.revision(), 6);
  EXPECT_EQ(summary.oldest_retained(), 4);
  absl::StatusOr<int> trimmed = TrimChangelog(*client_, layout, summary, 100);
  ASSERT_TRUE(trimmed.ok()) << trimmed.status();
  EXPECT_EQ(*trimmed, 3);
  EXPECT_THAT(
      client_->GetChildren(layout.ChangelogDir())->children,
      ElementsAre(FormatRevision(4), FormatRevision(5), FormatRevision(6)));
  EXPECT_EQ(PlanCatchUp(3, summary), CatchUp::kIncremental);
  EXPECT_EQ(PlanCatchUp(2, summary), CatchUp::kFullResync);
  EXPECT_EQ(PlanCatchUp(6, summary), CatchUp::kUpToDate);
}

TEST_F(SchemaZkTest, RevisionWatchFiresOnCommit) {
  Layout layout = FreshLayout();
  absl::Mutex mu;
  int fired = 0;
  auto [current, version] =
      *ReadRevision(*client_, layout, [&](const WatchEvent&) {
        absl::MutexLock lock(&mu);
        ++fired;
      });
  absl::StatusOr<RevisionSummary> next =
      CommitConfig(layout, "w", "v", current, version);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_TRUE(::kess::testing::WaitFor(
      [&] {
        absl::MutexLock lock(&mu);
        return fired == 1;
      },
      absl::Seconds(30)));
}

}  // namespace
}  // namespace zk
}  // namespace kess
