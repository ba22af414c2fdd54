#include "model/file_cache/format.h"

#include <string>

#include "gtest/gtest.h"

namespace kess {
namespace file_cache {
namespace {

CacheEntry Sample(std::string value) {
  CacheEntry e;
  e.key = CacheKey::Config("shop", "db.timeout");
  e.revision = 42;
  e.value = std::move(value);
  e.content_type = "text/plain";
  e.mtime_ms = 1700000000000;
  e.written_ms = 1700000000123;
  return e;
}

TEST(Crc32Test, MatchesZlib) {
  EXPECT_EQ(Crc32(""), 0u);
  EXPECT_EQ(Crc32("123456789"), 0xcbf43926u);
}

TEST(FormatTest, RoundTripUtf8) {
  CacheEntry e = Sample("30s \"quoted\" \\ <tag> & ü € 😀\n\ttab\x01");
  std::string text = EncodeEntry(e);
  EXPECT_NE(text.find("\"encoding\":\"utf8\""), std::string::npos) << text;
  auto back = DecodeEntry(text);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->key, e.key);
  EXPECT_EQ(back->revision, 42);
  EXPECT_FALSE(back->absent);
  EXPECT_EQ(back->value, e.value);
  EXPECT_EQ(back->content_type, "text/plain");
  EXPECT_EQ(back->mtime_ms, e.mtime_ms);
  EXPECT_EQ(back->written_ms, e.written_ms);
}

TEST(FormatTest, RoundTripBinaryIsBase64) {
  std::string binary;
  for (int i = 0; i < 256; ++i) binary.push_back(static_cast<char>(i));
  CacheEntry e = Sample(binary);
  e.key = CacheKey::Route("payments");
  std::string text = EncodeEntry(e);
  EXPECT_NE(text.find("\"encoding\":\"base64\""), std::string::npos);
  EXPECT_NE(text.find("\"service\":\"payments\""), std::string::npos);
  auto back = DecodeEntry(text);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->value, binary);
  EXPECT_EQ(back->key, e.key);
}

TEST(FormatTest, NulAndBadUtf8AreBase64) {
  EXPECT_FALSE(IsPlainUtf8(std::string("a\0b", 3)));
  EXPECT_FALSE(IsPlainUtf8("\xc3"));          // truncated
  EXPECT_FALSE(IsPlainUtf8("\xc0\x80"));      // overlong
  EXPECT_FALSE(IsPlainUtf8("\xed\xa0\x80"));  // surrogate
  EXPECT_TRUE(IsPlainUtf8("h\xc3\xa9llo"));
  EXPECT_TRUE(IsPlainUtf8(""));
}

TEST(FormatTest, TombstoneRoundTrip) {
  CacheEntry e = Sample("");
  e.absent = true;
  auto back = DecodeEntry(EncodeEntry(e));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->absent);
  EXPECT_EQ(back->revision, 42);
}

TEST(FormatTest, CrcMismatchDetected) {
  std::string text = EncodeEntry(Sample("value-1"));
  size_t pos = text.find("value-1");
  text[pos + 6] = '2';
  auto back = DecodeEntry(text);
  ASSERT_FALSE(back.ok());
  EXPECT_EQ(back.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(back.status().message().find("crc32"), std::string::npos);
}

TEST(FormatTest, GarbageIsDataLoss) {
  std::string good = EncodeEntry(Sample("v"));
  for (std::string bad :
       {std::string(""), std::string("{"), good.substr(0, good.size() / 2),
        std::string("[1,2]"), std::string("{\"format\":2}"),
        std::string("{\"format\":1,\"type\":\"config\"}")}) {
    auto back = DecodeEntry(bad);
    ASSERT_FALSE(back.ok()) << bad;
    EXPECT_EQ(back.status().code(), absl::StatusCode::kDataLoss) << bad;
  }
}

TEST(FormatTest, InvalidNameInsideFileIsDataLoss) {
  std::string text = EncodeEntry(Sample("v"));
  size_t pos = text.find("db.timeout");
  text.replace(pos, 10, "../../etc");
  auto back = DecodeEntry(text);
  ASSERT_FALSE(back.ok());
  EXPECT_EQ(back.status().code(), absl::StatusCode::kDataLoss);
}

TEST(FormatTest, PathsAndValidation) {
  EXPECT_EQ(RelativePath(CacheKey::Config("shop", "db.timeout")),
            "configs/shop/db.timeout.json");
  EXPECT_EQ(RelativePath(CacheKey::Route("pay")), "routes/pay.json");
  auto path = PathFor("/c", CacheKey::Config("a", "b"));
  ASSERT_TRUE(path.ok());
  EXPECT_EQ(*path, "/c/configs/a/b.json");
  for (const CacheKey& bad :
       {CacheKey::Config("..", "k"), CacheKey::Config("ns", ".."),
        CacheKey::Config("ns", "a/b"), CacheKey::Config("a/../b", "k"),
        CacheKey::Config("ns", std::string("a\0b", 3)),
        CacheKey::Config("ns", ""), CacheKey::Route("../x"),
        CacheKey::Route("a..b"), CacheKey::Route(std::string("\0", 1))}) {
    auto p = PathFor("/c", bad);
    ASSERT_FALSE(p.ok()) << bad.ToString();
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace file_cache
}  // namespace kess
