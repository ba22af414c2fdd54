// Unit tests (no ZooKeeper) for the size checks, error mapping and ACLs.
#include "zk_schema/zk_api.h"

#include <zookeeper/zookeeper.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "zk_schema/zk_acl.h"
#include "zk_schema/zk_errors.h"

namespace kess {
namespace zk {
namespace {

using ::testing::HasSubstr;

TEST(SizeCheckTest, RejectsWhatZooKeeperWouldDropTheConnectionFor) {
  const std::string path = "/kess/configs/ns/key";
  EXPECT_TRUE(CheckRequestSize(EstimateSetBytes(path, 900 * 1000), "x").ok());
  absl::Status big =
      CheckRequestSize(EstimateSetBytes(path, kJuteMaxBuffer), "set x");
  EXPECT_EQ(big.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(big.message(), HasSubstr("set x"));
  EXPECT_THAT(big.message(), HasSubstr("nothing was written"));
  // The estimate is an upper bound: a value of exactly kMaxRequestBytes
  // never passes, whatever its path.
  EXPECT_FALSE(
      CheckRequestSize(EstimateSetBytes("", kMaxRequestBytes), "").ok());
  EXPECT_FALSE(
      CheckRequestSize(EstimateCreateBytes("", kMaxRequestBytes, {}), "").ok());
}

TEST(SizeCheckTest, MultiCountsEveryOp) {
  MultiOps ops;
  ops.Set("/a", std::string(600 * 1000, 'x'));
  EXPECT_TRUE(CheckRequestSize(ops.EstimatedRequestBytes(), "m").ok());
  ops.Create("/b", std::string(600 * 1000, 'y'));
  EXPECT_FALSE(CheckRequestSize(ops.EstimatedRequestBytes(), "m").ok());
  EXPECT_EQ(ops.size(), 2u);
}

TEST(PathTest, AcceptsWhatTheCClientAccepts) {
  for (const char* ok : {"/", "/a", "/a/b", "/.a", "/a.", "/a..b", "/a/...",
                         "/\x1f", "/\x7f"}) {
    EXPECT_TRUE(IsValidZkPath(ok, false)) << ok;
  }
  for (const char* bad : {"", "a", "/a/", "//", "/a//b", "/.", "/..", "/a/./b",
                          "/a/../b", "/a\x01"}) {
    EXPECT_FALSE(IsValidZkPath(bad, false)) << bad;
  }
  // A sequential create may end in '/' or '.': the suffix follows.
  EXPECT_TRUE(IsValidZkPath("/a/", true));
  EXPECT_TRUE(IsValidZkPath("/a/.", true));
  EXPECT_FALSE(IsValidZkPath("/a/./", true));
  MultiOps ops;
  ops.Create("/q/", "", CreateMode::kPersistentSequential).Set("/a", "");
  EXPECT_FALSE(FirstInvalidPath(ops).has_value());
  ops.Create("/q/", "").Delete("x");
  EXPECT_EQ(FirstInvalidPath(ops), 2u);
}

TEST(MultiOpsTest, DescribesOps) {
  MultiOps ops;
  ops.Create("/a", "1").Set("/b", "2", 4).Delete("/c").Check("/d", 0);
  EXPECT_EQ(ops.Describe(0), "op #0 (create /a)");
  EXPECT_EQ(ops.Describe(1), "op #1 (set /b, version 4)");
  EXPECT_EQ(ops.Describe(2), "op #2 (delete /c, any version)");
  EXPECT_EQ(ops.Describe(3), "op #3 (check /d, version 0)");
}

TEST(ZkErrorsTest, MapsCodes) {
  EXPECT_TRUE(ZkStatus(ZOK, "x").ok());
  EXPECT_EQ(ZkStatus(ZNONODE, "get /a").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ZkStatus(ZNODEEXISTS, "c").code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ZkStatus(ZBADVERSION, "s").code(), absl::StatusCode::kAborted);
  EXPECT_EQ(ZkStatus(ZNOAUTH, "s").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ZkStatus(ZNOTEMPTY, "d").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(ZkStatus(ZNONODE, "get /a").message(), HasSubstr("get /a"));
  EXPECT_EQ(ZkErrorCode(ZkStatus(ZNONODE, "x")), ZNONODE);
  EXPECT_FALSE(ZkErrorCode(absl::NotFoundError("x")).has_value());
}

TEST(ZkErrorsTest, TellsConnectionLossFromExpiry) {
  for (int rc : {ZCONNECTIONLOSS, ZOPERATIONTIMEOUT}) {
    absl::Status s = ZkStatus(rc, "set /a");
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
    EXPECT_TRUE(IsConnectionLoss(s));
    EXPECT_FALSE(IsSessionExpired(s));
  }
  for (int rc : {ZSESSIONEXPIRED, ZINVALIDSTATE}) {
    absl::Status s = ZkStatus(rc, "set /a");
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
    EXPECT_TRUE(IsSessionExpired(s));
    EXPECT_FALSE(IsConnectionLoss(s));
  }
  absl::Status throttled = ZkStatus(ZTHROTTLEDOP, "get /a");
  EXPECT_TRUE(IsThrottled(throttled));
  EXPECT_THAT(throttled.message(), HasSubstr("back off"));
  EXPECT_FALSE(IsSessionExpired(absl::UnavailableError("x")));
}

TEST(ZkErrorsTest, MultiFailedOpPayload) {
  absl::Status s = WithMultiFailedOp(ZkStatus(ZBADVERSION, "multi"), 2);
  EXPECT_EQ(MultiFailedOp(s), 2);
  EXPECT_EQ(ZkErrorCode(s), ZBADVERSION);
  EXPECT_FALSE(MultiFailedOp(ZkStatus(ZBADVERSION, "x")).has_value());
}

TEST(ZkErrorsTest, MultiStatusNamesTheFailedOp) {
  MultiOps ops;
  ops.Create("/a", "").Set("/b", "", 3).Delete("/c");
  absl::Status s = MultiStatus(ZBADVERSION, {ZOK, ZBADVERSION,
                                             ZRUNTIMEINCONSISTENCY},
                               ops, "multi of 3 ops");
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(MultiFailedOp(s), 1);
  EXPECT_EQ(s.message(),
            "multi of 3 ops: op #1 (set /b, version 3) failed, so none was "
            "applied: version mismatch (compare-and-set lost) (ZK -103)");
  // No op failed on its own: the request as a whole did.
  absl::Status lost = MultiStatus(ZCONNECTIONLOSS, {ZOK, ZOK, ZOK}, ops, "m");
  EXPECT_TRUE(IsConnectionLoss(lost));
  EXPECT_FALSE(MultiFailedOp(lost).has_value());
  EXPECT_TRUE(MultiStatus(ZOK, {}, ops, "m").ok());
}

TEST(ZkErrorsTest, NoSessionCountsAsExpired) {
  absl::Status s = NoSessionStatus("get /a");
  EXPECT_TRUE(IsSessionExpired(s));
  EXPECT_THAT(s.message(), HasSubstr("get /a (no live session)"));
}

TEST(SizeCheckTest, EmptyAclIsCountedAsTheDefault) {
  const AclList big_default(20, Acl{kPermAll, "digest",
                                    std::string(100, 'u')});
  const size_t data = kMaxRequestBytes - EstimateCreateBytes("/a", 0, OpenAcl());
  EXPECT_TRUE(CheckCreateSize("/a", data, {}, OpenAcl(), "create /a").ok());
  EXPECT_FALSE(CheckCreateSize("/a", data, {}, big_default, "create /a").ok());
  EXPECT_FALSE(CheckCreateSize("/a", data + 1, {}, OpenAcl(), "c").ok());
}

TEST(AclTest, DigestMatchesZooKeeper) {
  // From: java -cp zookeeper.jar
  //   org.apache.zookeeper.server.auth.DigestAuthenticationProvider
  //   alice:secret
  EXPECT_EQ(*DigestId("alice", "secret"), "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=");
  absl::StatusOr<Acl> acl = DigestAcl("alice", "secret", kPermRead);
  ASSERT_TRUE(acl.ok());
  EXPECT_EQ(AclToString(*acl), "digest:alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=:r");
  EXPECT_FALSE(DigestId("a:b", "x").ok());
  EXPECT_FALSE(DigestId("", "x").ok());
  EXPECT_EQ(AclToString(OpenAcl()[0]), "world:anyone:cdrwa");
  EXPECT_EQ(kPermRead, ZOO_PERM_READ);
  EXPECT_EQ(kPermAll, ZOO_PERM_ALL);
  EXPECT_EQ(kPermCreate, ZOO_PERM_CREATE);
}

}  // namespace
}  // namespace zk
}  // namespace kess
