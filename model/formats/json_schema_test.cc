#include "model/formats/json_schema.h"

#include <memory>
#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace kess {
namespace formats {
namespace {

constexpr char kServerSchema[] = R"({
  "type": "object",
  "required": ["port"],
  "properties": {
    "port": {"type": "integer", "minimum": 1, "maximum": 65535},
    "name": {"type": "string", "pattern": "^[a-z]+$"},
    "tags": {"type": "array", "items": {"type": "string"}},
    "debug": {"type": "boolean"}
  },
  "additionalProperties": false
})";

std::unique_ptr<JsonSchema> MustCompile(const std::string& text) {
  absl::StatusOr<std::unique_ptr<JsonSchema>> schema =
      JsonSchema::Compile(text);
  EXPECT_TRUE(schema.ok()) << schema.status();
  return schema.ok() ? *std::move(schema) : nullptr;
}

TEST(JsonSchema, JsonValues) {
  std::unique_ptr<JsonSchema> schema = MustCompile(kServerSchema);
  ASSERT_NE(schema, nullptr);
  auto ok = schema->Validate(Format::kJson, R"({"port": 80, "name": "web"})");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_TRUE(ok->empty());

  auto bad = schema->Validate(Format::kJson, R"({"port": 0, "extra": 1})");
  ASSERT_TRUE(bad.ok()) << bad.status();
  ASSERT_FALSE(bad->empty());
  bool saw_port = false;
  for (const SchemaViolation& v : *bad) {
    if (v.path == "/port") saw_port = true;
  }
  EXPECT_TRUE(saw_port);
}

TEST(JsonSchema, YamlValuesTypedByCoreSchema) {
  std::unique_ptr<JsonSchema> schema = MustCompile(kServerSchema);
  ASSERT_NE(schema, nullptr);
  auto ok = schema->Validate(Format::kYaml,
                             "port: 8080\nname: web\ntags: [a, b]\n"
                             "debug: false\n");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_TRUE(ok->empty()) << (*ok)[0].path << " " << (*ok)[0].message;

  // Quoted: a string, so not an integer.
  auto quoted = schema->Validate(Format::kYaml, "port: \"8080\"\n");
  ASSERT_TRUE(quoted.ok());
  ASSERT_FALSE(quoted->empty());
  EXPECT_EQ((*quoted)[0].path, "/port");

  auto hex = schema->Validate(Format::kYaml, "port: 0x50\n");
  ASSERT_TRUE(hex.ok());
  EXPECT_TRUE(hex->empty());

  auto missing = schema->Validate(Format::kYaml, "name: web\n");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->empty());
}

TEST(JsonSchema, NestedPathIsAJsonPointer) {
  std::unique_ptr<JsonSchema> schema = MustCompile(kServerSchema);
  ASSERT_NE(schema, nullptr);
  auto bad = schema->Validate(Format::kJson, R"({"port": 1, "tags": ["a", 2]})");
  ASSERT_TRUE(bad.ok());
  bool saw = false;
  for (const SchemaViolation& v : *bad) saw |= v.path == "/tags/1";
  EXPECT_TRUE(saw);
}

TEST(JsonSchema, BadSchemasRefused) {
  EXPECT_FALSE(JsonSchema::Compile("{").ok());
  EXPECT_FALSE(JsonSchema::Compile("[1, 2]").ok());
  EXPECT_FALSE(JsonSchema::Compile(R"({"type": 42})").ok());
  absl::StatusOr<std::unique_ptr<JsonSchema>> remote = JsonSchema::Compile(
      R"({"$ref": "http://example.invalid/schema.json"})");
  EXPECT_FALSE(remote.ok());
  EXPECT_FALSE(JsonSchema::Compile(std::string(kMaxSchemaBytes + 1, ' ')).ok());
  EXPECT_FALSE(JsonSchema::Compile(std::string(100000, '[')).ok());
}

TEST(JsonSchema, OtherFormatsAndMalformedValuesRefused) {
  std::unique_ptr<JsonSchema> schema = MustCompile(kServerSchema);
  ASSERT_NE(schema, nullptr);
  EXPECT_FALSE(schema->Validate(Format::kProperties, "port=1").ok());
  absl::StatusOr<std::vector<SchemaViolation>> broken =
      schema->Validate(Format::kJson, "{\"port\": }");
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.status().message().find("json: line 1"), std::string::npos);
}

TEST(JsonSchema, LongStringsUnderAPatternRefused) {
  std::unique_ptr<JsonSchema> schema = MustCompile(kServerSchema);
  ASSERT_NE(schema, nullptr);
  const std::string name(kMaxPatternSubjectBytes + 1, 'a');
  auto long_name = schema->Validate(
      Format::kJson, "{\"port\": 1, \"name\": \"" + name + "\"}");
  ASSERT_FALSE(long_name.ok());
  EXPECT_NE(long_name.status().message().find("/name"), std::string::npos);
  // Without a pattern in the schema, long strings are fine.
  std::unique_ptr<JsonSchema> plain = MustCompile(R"({"type": "object"})");
  auto ok = plain->Validate(Format::kJson, "{\"s\": \"" + name + "\"}");
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok->empty());
}

TEST(JsonSchema, PatternAtTheLimitOnAWorkerThread) {
  std::unique_ptr<JsonSchema> schema =
      MustCompile(R"({"properties": {"s": {"pattern": "^(a|b)*$"}}})");
  ASSERT_NE(schema, nullptr);
  std::thread worker([&] {
    const std::string s(kMaxPatternSubjectBytes, 'a');
    auto result = schema->Validate(Format::kJson, "{\"s\": \"" + s + "\"}");
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_TRUE(result->empty());
  });
  worker.join();
}

TEST(JsonSchema, AliasExpansionBounded) {
  std::unique_ptr<JsonSchema> schema = MustCompile(R"({"type": "object"})");
  ASSERT_NE(schema, nullptr);
  std::string value = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; ++i) {
    value += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) {
      value += (j ? ", *a" : "*a") + std::to_string(i - 1);
    }
    value += "]\n";
  }
  auto result = schema->Validate(Format::kYaml, value);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("aliases"), std::string::npos);
}

TEST(JsonSchema, ViolationCountCapped) {
  std::unique_ptr<JsonSchema> schema =
      MustCompile(R"({"type": "array", "items": {"type": "string"}})");
  ASSERT_NE(schema, nullptr);
  std::string many = "[";
  for (int i = 0; i < 1000; ++i) many += i ? ",1" : "1";
  many += "]";
  auto result = schema->Validate(Format::kJson, many, 5);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->size(), 5u);
}

}  // namespace
}  // namespace formats
}  // namespace kess
