#include "common/value_encoding.h"

#include <string>

#include "gtest/gtest.h"

namespace kess {
namespace {

TEST(IsValidUtf8Test, AcceptsWellFormed) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("h\xc3\xa9llo"));      // é
  EXPECT_TRUE(IsValidUtf8("\xe2\x98\x83"));      // U+2603
  EXPECT_TRUE(IsValidUtf8("\xf0\x9f\x98\x80"));  // U+1F600
  EXPECT_TRUE(IsValidUtf8("\xf4\x8f\xbf\xbf"));  // U+10FFFF
}

TEST(IsValidUtf8Test, RejectsMalformed) {
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("\x80"));              // lone continuation
  EXPECT_FALSE(IsValidUtf8("\xc3"));              // truncated
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\xaf"));      // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate D800
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("ok\xe2\x98"));        // truncated at the end
}

TEST(Crc32Test, MatchesZlib) {
  EXPECT_EQ(Crc32("123456789"), 0xcbf43926u);
  EXPECT_EQ(Crc32(""), 0u);
}

TEST(EncodingTest, ChoosesBase64ForBinaryAndNul) {
  EXPECT_STREQ(EncodingFor("250"), "utf8");
  EXPECT_STREQ(EncodingFor("h\xc3\xa9llo"), "utf8");
  EXPECT_STREQ(EncodingFor(std::string("a\0b", 3)), "base64");
  EXPECT_STREQ(EncodingFor("\xff\xfe"), "base64");
}

TEST(EncodingTest, RoundTrips) {
  const std::string binary("\x00\xff\x01 bin\n", 8);
  std::string encoded = EncodeValue(binary, "base64");
  EXPECT_EQ(encoded, "AP8BIGJpbgo=");
  auto decoded = DecodeValue(encoded, "base64");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, binary);
  EXPECT_EQ(EncodeValue("text", "utf8"), "text");
  EXPECT_EQ(*DecodeValue("text", "utf8"), "text");
  EXPECT_EQ(*DecodeValue("text", ""), "text");
}

TEST(EncodingTest, RejectsBadInput) {
  EXPECT_EQ(DecodeValue("!!!", "base64").status().code(),
            absl::StatusCode::kInvalidArgument);
  auto unknown = DecodeValue("x", "rot13");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("rot13"), std::string::npos);
}

}  // namespace
}  // namespace kess
