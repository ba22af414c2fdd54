#include "zk_schema/kess_auth.h"

#include <cstdio>
#include <fstream>

#include "gtest/gtest.h"

namespace kess {
namespace zk {
namespace {

TEST(KessAuthTest, ParsesBothUsersWithCommentsAndBlankLines) {
  absl::StatusOr<KessAuth> auth =
      ParseKessAuth("# kess\n\nmandator:m-secret\nreader:r:with:colons\n");
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ(auth->mandator.user, "mandator");
  EXPECT_EQ(auth->mandator.password, "m-secret");
  EXPECT_EQ(auth->reader.user, "reader");
  EXPECT_EQ(auth->reader.password, "r:with:colons");
}

TEST(KessAuthTest, MissingOrBadLinesAreRejectedWithoutTheSecret) {
  EXPECT_FALSE(ParseKessAuth("").ok());
  EXPECT_FALSE(ParseKessAuth("mandator:x\n").ok());
  EXPECT_FALSE(ParseKessAuth("reader:x\n").ok());
  EXPECT_FALSE(ParseKessAuth("mandator:\nreader:x\n").ok());
  absl::StatusOr<KessAuth> bad =
      ParseKessAuth("mandator:x\nreader:y\nadmin:topsecret\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("line 3"), std::string::npos);
  EXPECT_EQ(bad.status().message().find("topsecret"), std::string::npos);
  absl::StatusOr<KessAuth> no_colon = ParseKessAuth("mandatorsecret\n");
  ASSERT_FALSE(no_colon.ok());
  EXPECT_EQ(no_colon.status().message().find("secret"), std::string::npos);
}

TEST(KessAuthTest, AclGivesMandatorAllAndReaderRead) {
  absl::StatusOr<KessAuth> auth = ParseKessAuth("mandator:a\nreader:b\n");
  ASSERT_TRUE(auth.ok());
  absl::StatusOr<AclList> acl = KessAcl(*auth);
  ASSERT_TRUE(acl.ok()) << acl.status();
  ASSERT_EQ(acl->size(), 2u);
  EXPECT_EQ((*acl)[0], *DigestAcl("mandator", "a", kPermAll));
  EXPECT_EQ((*acl)[1], *DigestAcl("reader", "b", kPermRead));
}

TEST(KessAuthTest, ReaderOnlyFilesForDistributors) {
  absl::StatusOr<KessAuth> auth =
      ParseKessAuth("reader:r\n", AuthNeeds::kReaderOnly);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ(auth->reader.password, "r");
  EXPECT_TRUE(auth->mandator.user.empty());
  EXPECT_FALSE(ParseKessAuth("mandator:m\n", AuthNeeds::kReaderOnly).ok());
  EXPECT_FALSE(ParseKessAuth("reader:\n", AuthNeeds::kReaderOnly).ok());
}

TEST(KessAuthTest, DistributorMembersAclLetsReadersRegisterButNotDelete) {
  absl::StatusOr<KessAuth> auth = ParseKessAuth("mandator:a\nreader:b\n");
  ASSERT_TRUE(auth.ok());
  absl::StatusOr<AclList> acl = DistributorMembersAcl(*auth);
  ASSERT_TRUE(acl.ok()) << acl.status();
  ASSERT_EQ(acl->size(), 2u);
  EXPECT_EQ((*acl)[0], *DigestAcl("mandator", "a", kPermAll));
  EXPECT_EQ((*acl)[1], *DigestAcl("reader", "b", kPermRead | kPermCreate));
}

TEST(KessAuthTest, DistributorMemberNodeAclIsReadOnly) {
  absl::StatusOr<AclList> acl = DistributorMemberNodeAcl({"reader", "b"});
  ASSERT_TRUE(acl.ok()) << acl.status();
  ASSERT_EQ(acl->size(), 2u);
  EXPECT_EQ((*acl)[0], *DigestAcl("reader", "b", kPermRead));
  EXPECT_EQ((*acl)[1], WorldReadAcl());
}

TEST(KessAuthTest, LoadsAFileAndRefusesAMissingOne) {
  const std::string dir =
      getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp";
  const std::string path = dir + "/kess_auth_test.auth";
  {
    std::ofstream out(path);
    out << "mandator:m\nreader:r\n";
  }
  EXPECT_TRUE(LoadKessAuthFile(path).ok());
  EXPECT_FALSE(LoadKessAuthFile(path + ".missing").ok());
  EXPECT_FALSE(LoadKessAuthFile("").ok());
  std::remove(path.c_str());
}

}  // namespace
}  // namespace zk
}  // namespace kess
