#include "zk_schema/skeleton_acl.h"

#include "gtest/gtest.h"
#include "zk_schema/codec.h"
#include "zk_schema/schema.pb.h"
#include "zk_schema/skeleton.h"
#include "zk_schema/testing/fake_zk.h"

namespace kess {
namespace zk {
namespace {

using testing::FakeZkClient;
using testing::FakeZkClientOptions;
using testing::FakeZkServer;

KessAuth Auth() {
  KessAuth auth;
  auth.mandator = {"mandator", "m-pw"};
  auth.reader = {"reader", "r-pw"};
  return auth;
}

class SkeletonAclTest : public ::testing::Test {
 protected:
  void SetUp() override {
    layout_ = *Layout::Create("/kess");
    policy_ = *MandatorSkeletonAclPolicy(Auth(), layout_);
    FakeZkClientOptions m;
    m.credentials = {Auth().mandator};
    m.default_acl = *KessAcl(Auth());
    mandator_ = std::make_unique<FakeZkClient>(&server_, m);
    FakeZkClientOptions r;
    r.credentials = {Auth().reader};
    reader_ = std::make_unique<FakeZkClient>(&server_, r);
    anyone_ = std::make_unique<FakeZkClient>(&server_);
  }

  // The skeleton as a mandator creates it.
  absl::Status Skeleton() {
    return EnsureSkeleton(
        *mandator_, layout_, SchemaInfo(), 100, *KessAcl(Auth()),
        {{*layout_.MembersDir(DISTRIBUTOR), *DistributorMembersAcl(Auth())}});
  }

  FakeZkServer server_;
  Layout layout_;
  SkeletonAclPolicy policy_;
  std::unique_ptr<FakeZkClient> mandator_, reader_, anyone_;
  metrics::Registry registry_;
};

TEST_F(SkeletonAclTest, JudgesEntries) {
  const std::string revision = layout_.RevisionPath();
  const std::string members = *layout_.MembersDir(DISTRIBUTOR);
  EXPECT_EQ(JudgeNodeAcl(revision, policy_.ExpectedAcl(revision), policy_)
                .finding,
            AclFinding::kExpected);
  EXPECT_EQ(JudgeNodeAcl(members, policy_.ExpectedAcl(members), policy_)
                .finding,
            AclFinding::kExpected);
  // The members directory of earlier releases: reader create+delete.
  AclList old = policy_.ExpectedAcl(members);
  old[1].perms |= kPermDelete;
  EXPECT_EQ(JudgeNodeAcl(members, old, policy_).finding,
            AclFinding::kRepairable);
  // World read beside the expected entries: repairable.
  AclList extra = policy_.ExpectedAcl(revision);
  extra.push_back(WorldReadAcl());
  EXPECT_EQ(JudgeNodeAcl(revision, extra, policy_).finding,
            AclFinding::kRepairable);
  // World write: foreign, even beside the expected entries.
  AclList world = policy_.ExpectedAcl(revision);
  world.push_back(OpenAcl()[0]);
  NodeAclAudit audit = JudgeNodeAcl(revision, world, policy_);
  EXPECT_EQ(audit.finding, AclFinding::kForeign);
  EXPECT_NE(audit.why.find("world:anyone:cdrwa"), std::string::npos)
      << audit.why;
  // A user called "mandator" with another password: foreign.
  AclList impostor = {*DigestAcl("mandator", "guess", kPermAll),
                      *DigestAcl("reader", "r-pw", kPermRead)};
  EXPECT_EQ(JudgeNodeAcl(revision, impostor, policy_).finding,
            AclFinding::kForeign);
  // Ids masked (the caller has no ADMIN there): foreign for a mandator.
  AclList masked = {Acl{kPermAll, "digest", "mandator:x"},
                    Acl{kPermRead, "digest", "reader:x"}};
  EXPECT_EQ(JudgeNodeAcl(revision, masked, policy_).finding,
            AclFinding::kForeign);
  // ... but as expected for a reader, which matches names only.
  const SkeletonAclPolicy reader = ReaderSkeletonAclPolicy(layout_);
  EXPECT_EQ(JudgeNodeAcl(revision, masked, reader).finding,
            AclFinding::kExpected);
  EXPECT_EQ(JudgeNodeAcl(revision, world, reader).finding,
            AclFinding::kForeign);
  EXPECT_EQ(JudgeNodeAcl(revision, OpenAcl(), reader).finding,
            AclFinding::kForeign);
}

TEST_F(SkeletonAclTest, AFreshSkeletonPassesForMandatorAndReader) {
  ASSERT_TRUE(Skeleton().ok());
  absl::StatusOr<std::vector<NodeAclAudit>> audits =
      AuditSkeletonAcls(*mandator_, layout_, policy_);
  ASSERT_TRUE(audits.ok()) << audits.status();
  EXPECT_TRUE(audits->empty()) << audits->front().path;
  EXPECT_TRUE(EnforceSkeletonAcls(*mandator_, layout_, policy_, "mandator",
                                  true, &registry_)
                  .ok());
  EXPECT_TRUE(EnforceSkeletonAcls(*reader_, layout_,
                                  ReaderSkeletonAclPolicy(layout_),
                                  "distributor", false, &registry_)
                  .ok());
}

TEST_F(SkeletonAclTest, ASquattedNodeIsRefusedNamingItAndItsAcl) {
  // Someone without credentials creates the election directory first.
  ASSERT_TRUE(anyone_->Create("/kess", "", CreateMode::kPersistent, OpenAcl())
                  .ok());
  ASSERT_TRUE(anyone_->Create("/kess/election", "", CreateMode::kPersistent,
                              OpenAcl())
                  .ok());
  ASSERT_TRUE(anyone_->Create(layout_.ElectionDir(), "",
                              CreateMode::kPersistent, OpenAcl())
                  .ok());
  // The root exists without data: put a SchemaInfo there as a squatter
  // would, so that only the ACLs are wrong.
  SchemaInfo info;
  info.set_schema_version(kSchemaVersion);
  ASSERT_TRUE(anyone_->Set("/kess", Encode(info)).ok());
  absl::Status ensured = Skeleton();
  ASSERT_TRUE(ensured.ok()) << "EnsureSkeleton accepts existing nodes: "
                            << ensured;
  absl::Status refused = EnforceSkeletonAcls(*mandator_, layout_, policy_,
                                             "mandator", true, &registry_);
  ASSERT_TRUE(absl::IsFailedPrecondition(refused)) << refused;
  EXPECT_NE(refused.message().find(layout_.ElectionDir() + " has ACL " +
                                   "[world:anyone:cdrwa]"),
            std::string::npos)
      << refused;
  EXPECT_NE(refused.message().find("docs/operations.md"), std::string::npos);
  // Nothing was repaired on a refusal.
  EXPECT_EQ(*anyone_->GetAcl(layout_.ElectionDir()), OpenAcl());
  EXPECT_EQ(registry_
                .GetCounter("kess_zk_skeleton_acl_refused_total", "",
                            {{"role", "mandator"}})
                ->Value(),
            1);
  // Under --insecure_dev_mode: counted and logged, not refused, not
  // repaired.
  EXPECT_TRUE(EnforceSkeletonAcls(*mandator_, layout_, policy_, "mandator",
                                  true, &registry_, OnForeignAcl::kWarn)
                  .ok());
  EXPECT_EQ(*anyone_->GetAcl(layout_.ElectionDir()), OpenAcl());
  EXPECT_EQ(registry_
                .GetCounter("kess_zk_skeleton_acl_refused_total", "",
                            {{"role", "mandator"}})
                ->Value(),
            2);
  // A reader refuses it as well.
  EXPECT_TRUE(absl::IsFailedPrecondition(
      EnforceSkeletonAcls(*reader_, layout_, ReaderSkeletonAclPolicy(layout_),
                          "distributor", false, &registry_)));
}

TEST_F(SkeletonAclTest, AnOldMembersAclIsRepairedByAMandatorOnly) {
  ASSERT_TRUE(Skeleton().ok());
  const std::string members = *layout_.MembersDir(DISTRIBUTOR);
  AclList old = policy_.ExpectedAcl(members);
  old[1].perms |= kPermDelete;
  ASSERT_TRUE(mandator_->SetAcl(members, old).ok());
  // A reader accepts it and changes nothing (it may not).
  EXPECT_TRUE(EnforceSkeletonAcls(*reader_, layout_,
                                  ReaderSkeletonAclPolicy(layout_),
                                  "distributor", false, &registry_)
                  .ok());
  EXPECT_TRUE(absl::IsPermissionDenied(reader_->SetAcl(members, {})));
  EXPECT_EQ(AuditSkeletonAcls(*mandator_, layout_, policy_)->size(), 1u);
  // A mandator sets the expected ACL.
  ASSERT_TRUE(EnforceSkeletonAcls(*mandator_, layout_, policy_, "mandator",
                                  true, &registry_)
                  .ok());
  EXPECT_EQ(*mandator_->GetAcl(members), policy_.ExpectedAcl(members));
  EXPECT_TRUE(AuditSkeletonAcls(*mandator_, layout_, policy_)->empty());
  EXPECT_EQ(registry_
                .GetCounter("kess_zk_skeleton_acl_repaired_total", "",
                            {{"role", "mandator"}})
                ->Value(),
            1);
}

TEST_F(SkeletonAclTest, GetAclMasksDigestsForCallersWithoutAdmin) {
  ASSERT_TRUE(Skeleton().ok());
  absl::StatusOr<AclList> seen = reader_->GetAcl(layout_.RevisionPath());
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(*seen, (AclList{Acl{kPermAll, "digest", "mandator:x"},
                            Acl{kPermRead, "digest", "reader:x"}}));
  EXPECT_TRUE(absl::IsPermissionDenied(
      anyone_->GetAcl(layout_.RevisionPath()).status()));
  EXPECT_TRUE(absl::IsNotFound(mandator_->GetAcl("/nope").status()));
}

}  // namespace
}  // namespace zk
}  // namespace kess
