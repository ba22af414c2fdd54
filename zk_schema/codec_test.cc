#include "zk_schema/codec.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kess {
namespace zk {
namespace {

using ::testing::HasSubstr;

TEST(Crc32Test, MatchesZlib) {
  // Check values of CRC-32/ISO-HDLC, as zlib.crc32 in Python.
  EXPECT_EQ(Crc32(""), 0u);
  EXPECT_EQ(Crc32("123456789"), 0xcbf43926u);
  EXPECT_EQ(Crc32("kess"), 0x4e61ac66u);
}

TEST(CodecTest, RoundTripsEveryRecordKind) {
  ConfigRecord config;
  config.set_namespace_name("payments");
  config.set_key("db.url");
  config.set_revision(42);
  config.set_version(3);
  *config.mutable_value() = MakeInlineValue("postgres://db:5432");
  *config.mutable_meta() =
      MakeMeta("alice", "m1", absl::FromUnixMillis(1700000000000), "move db");
  absl::StatusOr<ConfigRecord> decoded =
      DecodeAs<ConfigRecord>(Encode(config), "/kess/configs/payments/db.url");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->SerializeAsString(), config.SerializeAsString());
  EXPECT_EQ(decoded->meta().mtime_ms(), 1700000000000);
  EXPECT_EQ(decoded->value().inline_data(), "postgres://db:5432");

  RevisionSummary summary;
  summary.set_revision(9);
  summary.set_oldest_retained(1);
  summary.set_last_kind(ROUTE_PUT);
  absl::StatusOr<RevisionSummary> s =
      DecodeAs<RevisionSummary>(Encode(summary), "/kess/revision");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->revision(), 9);
  EXPECT_EQ(s->last_kind(), ROUTE_PUT);
}

TEST(CodecTest, GarbageIsDataLossNamingThePlace) {
  absl::StatusOr<ConfigRecord> decoded =
      DecodeAs<ConfigRecord>("\xff\xff\xff\xff", "/kess/configs/a/b");
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(decoded.status().message(), HasSubstr("/kess/configs/a/b"));
  EXPECT_THAT(decoded.status().message(), HasSubstr("kess.zk.ConfigRecord"));
}

TEST(CodecTest, VerifyValueCatchesSizeAndChecksum) {
  StoredValue stored = MakeInlineValue("hello");
  EXPECT_EQ(stored.size(), 5u);
  EXPECT_TRUE(VerifyValue(stored, "hello", "x").ok());
  EXPECT_EQ(VerifyValue(stored, "hellO", "x").code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(VerifyValue(stored, "hell", "x").code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace zk
}  // namespace kess
