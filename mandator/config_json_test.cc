#include "mandator/config_json.h"

#include "gtest/gtest.h"

namespace kess {
namespace mandator {
namespace {

TEST(ConfigJsonTest, PutBodyWithEverySupportedField) {
  core::PutRequest r;
  ASSERT_TRUE(ParsePutBody(R"({"value":"250","content_type":"text/plain",
      "expected_revision":3,"author":"alice","comment":"c"})",
                           &r)
                  .ok());
  EXPECT_EQ(r.value, "250");
  EXPECT_EQ(r.content_type, "text/plain");
  EXPECT_EQ(r.expected_revision, 3);
  EXPECT_EQ(r.author, "alice");
  EXPECT_EQ(r.comment, "c");

  core::PutRequest b;
  ASSERT_TRUE(
      ParsePutBody(R"({"value":"AAEC/w==","encoding":"base64"})", &b).ok());
  EXPECT_EQ(b.value, std::string("\x00\x01\x02\xff", 4));
  EXPECT_FALSE(b.expected_revision.has_value());
}

TEST(ConfigJsonTest, BadBodiesAreInvalidArgument) {
  for (const char* body : {"", "{", "[1]", "{\"value\":1}", "{}",
                           "{\"value\":\"x\",\"encoding\":"
                           "\"rot13\"}",
                           "{\"value\":\"!!\",\"encoding\":\"base64\"}",
                           "{\"value\":\"x\",\"expected_revision\":-1}",
                           "{\"value\":\"x\",\"expected_revision\":\"3\"}",
                           "{\"value\":\"x\",\"author\":7}"}) {
    core::PutRequest r;
    absl::Status s = ParsePutBody(body, &r);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << body;
  }
  core::RollbackRequest rb;
  EXPECT_FALSE(ParseRollbackBody("{}", &rb).ok());
  ASSERT_TRUE(ParseRollbackBody(R"({"to_revision":5})", &rb).ok());
  EXPECT_EQ(rb.to_revision, 5);
  EXPECT_FALSE(ParseNonNegative("limit", "x").ok());
  EXPECT_FALSE(ParseNonNegative("limit", "-1").ok());
  EXPECT_EQ(*ParseNonNegative("limit", "12"), 12);
}

TEST(ConfigJsonTest, ConfigObjectUsesBase64ForBinary) {
  core::Config c;
  c.record.set_namespace_name("ns");
  c.record.set_key("k");
  c.record.set_revision(4);
  c.value = std::string("\xff\x00", 2);
  const std::string json = ConfigToJson(c);
  EXPECT_NE(json.find("\"encoding\":\"base64\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"value\":\"/wA=\""), std::string::npos) << json;
  EXPECT_EQ(CommitToJson(core::CommitResult{7, 2}, true, true),
            "{\"revision\":7,\"version\":2,\"coalesced\":true}");
  EXPECT_EQ(CommitToJson(core::CommitResult{8, 0}, false, false),
            "{\"revision\":8}");
}

}  // namespace
}  // namespace mandator
}  // namespace kess
