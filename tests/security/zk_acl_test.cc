// The ZooKeeper side of the abuse suite, against one real ZooKeeper server
// and the real daemons: who may create the kess skeleton first, and what
// the distributors' shared `reader` credential may do to other
// distributors' member nodes (zk_schema/skeleton_acl.h, kess_auth.h).
//
// Each test uses a tree of its own (--zk_root) on the one server.
#include <sys/stat.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/http_client.h"
#include "common/testing/wait_for.h"
#include "glog/logging.h"
#include "gtest/gtest.h"
#include "tests/cluster/distributor_process.h"
#include "tests/cluster/mandator_process.h"
#include "tests/harness/zk_ensemble.h"
#include "zk_schema/codec.h"
#include "zk_schema/kess_auth.h"
#include "zk_schema/layout.h"
#include "zk_schema/members.h"
#include "zk_schema/schema.pb.h"
#include "zk_schema/zk_client.h"

namespace kess {
namespace {

using testing::DistributorProcess;
using testing::DistributorProcessOptions;
using testing::MandatorProcess;
using testing::MandatorProcessOptions;

zk::KessAuth Auth() {
  zk::KessAuth auth;
  auth.mandator = {"mandator", "zk-acl-test-mandator"};
  auth.reader = {"reader", "zk-acl-test-reader"};
  return auth;
}

std::string TmpDir() {
  const char* dir = getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

std::string ReadFile(const std::string& path) {
  std::string out;
  FILE* f = fopen(path.c_str(), "r");
  if (f == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  fclose(f);
  return out;
}

class ZkAclTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto ensemble = testing::ZkEnsemble::Start({.name = "zk_acl"});
    ASSERT_TRUE(ensemble.ok()) << ensemble.status();
    ensemble_ = ensemble->release();
    auto auth_file =
        testing::WriteAuthFile(TmpDir(), Auth());
    ASSERT_TRUE(auth_file.ok()) << auth_file.status();
    auth_file_ = new std::string(*auth_file);
    // The bootstrap admin's password: a mandator given none runs in
    // --insecure_dev_mode (tests/cluster/mandator_process.h), which starts
    // on a squatted tree on purpose; these mandators must be the real
    // thing.
    admin_password_file_ = new std::string(TmpDir() + "/zk_acl_admin_password");
    FILE* f = fopen(admin_password_file_->c_str(), "w");
    ASSERT_NE(f, nullptr);
    fputs("zk-acl-test-admin-password\n", f);
    fclose(f);
    chmod(admin_password_file_->c_str(), 0600);
  }
  static void TearDownTestSuite() {
    delete ensemble_;
    delete auth_file_;
    delete admin_password_file_;
  }

  // A client as `credential` (none: unauthenticated).
  static std::unique_ptr<zk::ZkClient> Client(
      std::optional<zk::DigestCredential> credential = std::nullopt) {
    zk::ZkClientOptions o;
    o.connect_string = ensemble_->ConnectString();
    if (credential) o.credentials.push_back(*credential);
    auto client = zk::ZkClient::Create(o);
    CHECK(client.ok()) << client.status();
    return *std::move(client);
  }

  static MandatorProcessOptions Mandator(const std::string& root) {
    MandatorProcessOptions o;
    o.id = "m1";
    o.datacenter = "dc1";
    o.zk = ensemble_->ConnectString();
    o.zk_root = root;
    o.auth_file = *auth_file_;
    o.extra_flags.push_back("--admin_password_file=" + *admin_password_file_);
    o.log_name =
        absl::StrCat("mandator", absl::StrReplaceAll(root, {{"/", "_"}}));
    return o;
  }

  static DistributorProcessOptions Distributor(const std::string& root,
                                               const std::string& id) {
    DistributorProcessOptions o;
    o.id = id;
    o.datacenter = "dc1";
    o.zk = ensemble_->ConnectString();
    o.zk_root = root;
    o.zk_auth_file = *auth_file_;
    return o;
  }

  static testing::ZkEnsemble* ensemble_;
  static std::string* auth_file_;
  static std::string* admin_password_file_;
};

testing::ZkEnsemble* ZkAclTest::ensemble_ = nullptr;
std::string* ZkAclTest::auth_file_ = nullptr;
std::string* ZkAclTest::admin_password_file_ = nullptr;

TEST_F(ZkAclTest, ASquattedSkeletonNodeMakesMandatorAndDistributorRefuse) {
  // Someone who reaches ZooKeeper before the mandators creates the tree's
  // top and the election directory, writable by anyone.
  const std::string root = "/squat/kess";
  std::unique_ptr<zk::ZkClient> anyone = Client();
  zk::SchemaInfo info;
  info.set_schema_version(zk::kSchemaVersion);
  info.set_datacenter("dc1");
  info.set_is_main(true);
  ASSERT_TRUE(anyone->Create("/squat", "", zk::CreateMode::kPersistent,
                             zk::OpenAcl()).ok());
  ASSERT_TRUE(anyone->Create(root, zk::Encode(info),
                             zk::CreateMode::kPersistent, zk::OpenAcl()).ok());
  ASSERT_TRUE(anyone->Create(root + "/election", "",
                             zk::CreateMode::kPersistent, zk::OpenAcl()).ok());
  ASSERT_TRUE(anyone->Create(root + "/election/mandators", "",
                             zk::CreateMode::kPersistent, zk::OpenAcl()).ok());

  MandatorProcessOptions m = Mandator(root);
  m.ready_timeout = absl::Seconds(20);
  auto refused = MandatorProcess::Start(m);
  ASSERT_FALSE(refused.ok()) << "the mandator started on a squatted tree";
  const std::string log = ReadFile(
      absl::StrCat(TmpDir(), "/", m.log_name, ".log"));
  EXPECT_TRUE(absl::StrContains(
      log, root + "/election/mandators has ACL [world:anyone:cdrwa]"))
      << log.substr(log.size() > 4000 ? log.size() - 4000 : 0);
  EXPECT_TRUE(absl::StrContains(log, root + " has ACL [world:anyone:cdrwa]"));
  EXPECT_TRUE(absl::StrContains(log, "docs/operations.md"));
  EXPECT_TRUE(absl::StrContains(log, "mandator failed to start"));
  // Nothing was taken over: the nodes keep the squatter's ACL (a refusal
  // repairs nothing) and no election node was created.
  EXPECT_EQ(*anyone->GetAcl(root + "/election/mandators"), zk::OpenAcl());
  EXPECT_TRUE(anyone->GetChildren(root + "/election/mandators")
                  ->children.empty());

  // A distributor (reader credential) does not follow that tree either.
  DistributorProcessOptions d = Distributor(root, "dsquat");
  d.ready_timeout = absl::Seconds(8);
  auto distributor = DistributorProcess::Start(d);
  EXPECT_FALSE(distributor.ok()) << "the distributor loaded a squatted tree";
  const std::string dlog = ReadFile(
      absl::StrCat(TmpDir(), "/distributor-dc1-dsquat.log"));
  EXPECT_TRUE(absl::StrContains(dlog, "not following ZooKeeper")) << dlog;
  EXPECT_TRUE(absl::StrContains(
      dlog, root + "/election/mandators has ACL [world:anyone:cdrwa]"));

  // The operator's repair (docs/operations.md): set the kess ACL on every
  // node the squatter created (here the squatter left them writable).
  const zk::AclList kess_acl = *zk::KessAcl(Auth());
  for (const std::string& path : {root, root + "/election",
                                  root + "/election/mandators"}) {
    ASSERT_TRUE(anyone->SetAcl(path, kess_acl).ok()) << path;
  }
  auto started = MandatorProcess::Start(m);
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_TRUE(absl::IsPermissionDenied(
      anyone->Create(root + "/election/mandators/n_", "",
                     zk::CreateMode::kEphemeralSequential).status()));
}

TEST_F(ZkAclTest, ReaderCannotDeleteOrRewriteAnotherDistributorsMemberNode) {
  const std::string root = "/members/kess";
  auto m = MandatorProcess::Start(Mandator(root));
  ASSERT_TRUE(m.ok()) << m.status();
  auto d1 = DistributorProcess::Start(Distributor(root, "d1"));
  ASSERT_TRUE(d1.ok()) << d1.status();
  auto d2 = DistributorProcess::Start(Distributor(root, "d2"));
  ASSERT_TRUE(d2.ok()) << d2.status();
  zk::Layout layout = *zk::Layout::Create(root);
  const std::string d1_path = *layout.MemberPath(zk::DISTRIBUTOR, "d1");
  const std::string d2_path = *layout.MemberPath(zk::DISTRIBUTOR, "d2");
  std::unique_ptr<zk::ZkClient> reader =
      Client(Auth().reader);
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto members = zk::ListMembers(*reader, layout, zk::DISTRIBUTOR);
        return members.ok() && members->size() == 2;
      },
      absl::Seconds(20)));

  // What one distributor's credential could do to another's registration.
  absl::Status deleted = reader->Delete(d2_path);
  EXPECT_TRUE(absl::IsPermissionDenied(deleted)) << deleted;
  absl::Status rewritten =
      reader->Set(d2_path, zk::Encode(zk::MemberInfo())).status();
  EXPECT_TRUE(absl::IsPermissionDenied(rewritten)) << rewritten;
  absl::Status reacl = reader->SetAcl(d2_path, zk::OpenAcl());
  EXPECT_TRUE(absl::IsPermissionDenied(reacl)) << reacl;
  EXPECT_TRUE(reader->Exists(d2_path)->has_value());
  EXPECT_EQ(*reader->GetAcl(d2_path),
            (zk::AclList{zk::Acl{zk::kPermRead, "digest", "reader:x"},
                         zk::WorldReadAcl()}));

  // A distributor stopped in order leaves by closing its session (it may
  // not delete its node); started again, it registers again.
  (*d1)->Stop();
  EXPECT_TRUE(testing::WaitFor(
      [&] { return !reader->Exists(d1_path)->has_value(); },
      absl::Seconds(10)));
  ASSERT_TRUE((*d1)->Restart().ok());
  EXPECT_TRUE(testing::WaitFor(
      [&] { return reader->Exists(d1_path)->has_value(); },
      absl::Seconds(20)));
  // Killed, its node stays until its session expires (4 s); the new
  // process registers after that.
  (*d2)->Kill();
  ASSERT_TRUE((*d2)->Restart().ok());
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        absl::StatusOr<std::optional<zk::Stat>> stat = reader->Exists(d2_path);
        if (!stat.ok() || !stat->has_value()) return false;
        auto status = HttpCall((*d2)->http_address(), "GET", "/api/v1/status");
        return status.ok() &&
               absl::StrContains(status->body, "\"registered\":true");
      },
      absl::Seconds(30), absl::Milliseconds(200)));
}

TEST_F(ZkAclTest, AnOlderReleasesMembersAclIsRepairedByTheMandator) {
  const std::string root = "/old/kess";
  MandatorProcessOptions o = Mandator(root);
  auto m = MandatorProcess::Start(o);
  ASSERT_TRUE(m.ok()) << m.status();
  zk::Layout layout = *zk::Layout::Create(root);
  const std::string members = *layout.MembersDir(zk::DISTRIBUTOR);
  const zk::KessAuth auth = Auth();
  std::unique_ptr<zk::ZkClient> admin = Client(auth.mandator);
  const zk::AclList current = *zk::DistributorMembersAcl(auth);
  EXPECT_EQ(*admin->GetAcl(members), current);

  // The ACL releases before this one gave the members directory: the
  // reader may also delete there.
  (*m)->Stop();
  zk::AclList old = current;
  old[1].perms |= zk::kPermDelete;
  ASSERT_TRUE(admin->SetAcl(members, old).ok());
  ASSERT_TRUE((*m)->Restart().ok());
  EXPECT_EQ(*admin->GetAcl(members), current);
  const std::string log = ReadFile((*m)->log_path());
  EXPECT_TRUE(absl::StrContains(
      log, "repaired the ACL of ZooKeeper node " + members))
      << log.substr(log.size() > 4000 ? log.size() - 4000 : 0);
  auto metrics = HttpCall((*m)->http_address(), "GET", "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_TRUE(absl::StrContains(
      metrics->body,
      "kess_zk_skeleton_acl_repaired_total{role=\"mandator\"} 1"))
      << metrics->body.substr(0, 2000);
  // A reader may no longer delete there.
  std::unique_ptr<zk::ZkClient> reader = Client(auth.reader);
  ASSERT_TRUE(reader->Create(members + "/probe", "",
                             zk::CreateMode::kEphemeral).ok());
  EXPECT_TRUE(absl::IsPermissionDenied(reader->Delete(members + "/probe")));
}

}  // namespace
}  // namespace kess
