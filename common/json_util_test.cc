#include "common/json_util.h"

#include "gtest/gtest.h"

namespace kess {
namespace {

TEST(JsonQuoteTest, EscapesWhatJsonAndHtmlNeed) {
  EXPECT_EQ(JsonQuote("plain"), "\"plain\"");
  EXPECT_EQ(JsonQuote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(JsonQuote("l1\nl2\t"), "\"l1\\nl2\\t\"");
  EXPECT_EQ(JsonQuote(std::string("\x01", 1)), "\"\\u0001\"");
  EXPECT_EQ(JsonQuote("<script>&"), "\"\\u003cscript\\u003e\\u0026\"");
  EXPECT_EQ(JsonQuote("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
}

TEST(JsonQuoteTest, RoundTripsThroughParser) {
  std::string tricky = "q\"\\\n<b>\x02 caf\xc3\xa9";
  auto obj = ParseJsonObject("{\"v\":" + JsonQuote(tricky) + "}");
  ASSERT_TRUE(obj.ok()) << obj.status();
  EXPECT_EQ((*obj)->getValue<std::string>("v"), tricky);
}

TEST(ParseJsonObjectTest, RejectsMalformedAndNonObjects) {
  EXPECT_EQ(ParseJsonObject("{\"a\":").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseJsonObject("[1,2]").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseJsonObject("").status().code(),
            absl::StatusCode::kInvalidArgument);
  auto ok = ParseJsonObject("{\"a\":1}");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ToJson(*ok), "{\"a\":1}");
}

}  // namespace
}  // namespace kess
