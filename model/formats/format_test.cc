#include "model/formats/format.h"

#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace kess {
namespace formats {
namespace {

std::optional<SyntaxError> Check(Format format, const std::string& value) {
  return CheckSyntax(format, value);
}

TEST(FormatNames, ParseAndName) {
  for (Format f : {Format::kText, Format::kJson, Format::kYaml,
                   Format::kProperties}) {
    absl::StatusOr<Format> parsed = ParseFormat(FormatName(f));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, f);
    EXPECT_EQ(FormatFromContentType(FormatContentType(f)), f);
  }
  EXPECT_EQ(*ParseFormat("YML"), Format::kYaml);
  EXPECT_FALSE(ParseFormat("toml").ok());  // see format.h
  absl::StatusOr<Format> bad = ParseFormat("xml\x01");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("one of text, json, yaml"),
            std::string::npos);
  EXPECT_EQ(bad.status().message().find('\x01'), std::string::npos);
}

TEST(FormatNames, ContentTypeAliases) {
  EXPECT_EQ(FormatFromContentType("application/json; charset=utf-8"),
            Format::kJson);
  EXPECT_EQ(FormatFromContentType("application/vnd.kess+json"), Format::kJson);
  EXPECT_EQ(FormatFromContentType("Application/X-YAML"), Format::kYaml);
  EXPECT_EQ(FormatFromContentType("text/plain"), Format::kText);
  EXPECT_EQ(FormatFromContentType(""), Format::kText);
  EXPECT_EQ(FormatFromContentType("application/octet-stream"), Format::kText);
}

TEST(Text, AnythingGoes) {
  EXPECT_FALSE(Check(Format::kText, std::string("\0\xff{[", 4)).has_value());
}

TEST(Json, WellFormed) {
  EXPECT_FALSE(Check(Format::kJson, R"({"a": [1, 2.5, "x", null, true]})"));
  EXPECT_FALSE(Check(Format::kJson, "42"));
  EXPECT_FALSE(Check(Format::kJson, " \"s\" \n"));
}

TEST(Json, ErrorHasLineAndColumn) {
  std::optional<SyntaxError> e = Check(Format::kJson, "{\n  \"a\": 1,\n  \"b\" 2\n}");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->line, 3);
  EXPECT_EQ(e->column, 7);
  EXPECT_NE(e->ToString().find("json: line 3, column 7: "), std::string::npos)
      << e->ToString();
}

TEST(Json, Refusals) {
  EXPECT_TRUE(Check(Format::kJson, ""));
  EXPECT_TRUE(Check(Format::kJson, "{\"a\":1} trailing"));
  EXPECT_TRUE(Check(Format::kJson, "{'a': 1}"));
  EXPECT_TRUE(Check(Format::kJson, "[1,]"));
  EXPECT_TRUE(Check(Format::kJson, "\"\xff\xfe\""));  // not UTF-8
  EXPECT_TRUE(Check(Format::kJson, "{\"a\": 1 // comment\n}"));
}

TEST(Json, DeepNestingRefusedWithPosition) {
  std::string deep(1000000, '[');
  std::optional<SyntaxError> e = Check(Format::kJson, deep);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->line, 1);
  EXPECT_EQ(e->column, kMaxNestingDepth + 1);
  EXPECT_NE(e->message.find("nested deeper"), std::string::npos);
  // Exactly at the limit is fine.
  std::string ok = std::string(kMaxNestingDepth, '[') +
                   std::string(kMaxNestingDepth, ']');
  EXPECT_FALSE(Check(Format::kJson, ok));
  // Brackets inside strings do not count.
  EXPECT_FALSE(Check(Format::kJson, "\"" + std::string(1000, '[') + "\\\"\""));
}

TEST(Yaml, WellFormed) {
  EXPECT_FALSE(Check(Format::kYaml, "a: 1\nb:\n  - x\n  - y\nc: {d: e}\n"));
  EXPECT_FALSE(Check(Format::kYaml, ""));
  EXPECT_FALSE(Check(Format::kYaml, "just a string"));
  EXPECT_FALSE(Check(Format::kYaml, "base: &b {x: 1}\nother: *b\n"));
}

TEST(Yaml, ErrorHasLineAndColumn) {
  // A tab-free but wrongly indented mapping value.
  std::optional<SyntaxError> e =
      Check(Format::kYaml, "server:\n  port: 80\n   host: a: b\n");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->line, 3) << e->ToString();
  EXPECT_GT(e->column, 0);
  EXPECT_NE(e->ToString().find("yaml: line 3, column "), std::string::npos);

  e = Check(Format::kYaml, "a: [1, 2\nb: 3\n");
  ASSERT_TRUE(e.has_value());
  EXPECT_GT(e->line, 0);
}

TEST(Yaml, DuplicateKeyRefused) {
  std::optional<SyntaxError> e =
      Check(Format::kYaml, "a: 1\nnested:\n  x: 1\n  x: 2\n");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->line, 4);
  EXPECT_EQ(e->column, 3);
  EXPECT_NE(e->message.find("duplicate mapping key \"x\""), std::string::npos);
  // The same key in different mappings, and as a value, is fine.
  EXPECT_FALSE(Check(Format::kYaml, "a: {x: 1}\nb: {x: x}\nx: a\n"));
  // Keys of a sequence of maps.
  EXPECT_FALSE(Check(Format::kYaml, "- {k: 1}\n- {k: 2}\n"));
}

TEST(Yaml, OneDocumentOnly) {
  std::optional<SyntaxError> e = Check(Format::kYaml, "a: 1\n---\nb: 2\n");
  ASSERT_TRUE(e.has_value());
  EXPECT_NE(e->message.find("more than one"), std::string::npos);
}

TEST(Yaml, DeepNestingRefused) {
  std::optional<SyntaxError> e = Check(Format::kYaml, std::string(100000, '['));
  ASSERT_TRUE(e.has_value());
  std::string block;
  for (int i = 0; i < kMaxNestingDepth + 5; ++i) {
    block += std::string(i, ' ') + "k:\n";
  }
  e = Check(Format::kYaml, block);
  ASSERT_TRUE(e.has_value());
  EXPECT_NE(e->message.find("nested deeper"), std::string::npos);
}

TEST(Yaml, BillionLaughsNotExpanded) {
  std::string value = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 12; ++i) {
    value += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) {
      value += (j ? ", *a" : "*a") + std::to_string(i - 1);
    }
    value += "]\n";
  }
  EXPECT_FALSE(Check(Format::kYaml, value));  // well-formed, checked quickly
}

TEST(Properties, WellFormed) {
  EXPECT_FALSE(Check(Format::kProperties,
                     "# comment\n! also\na=1\nb : 2\nc 3\nd\\=e=4\n"
                     "multi = one \\\n    two\nuni=\\u00e9\n\n   \n"));
  EXPECT_FALSE(Check(Format::kProperties, ""));
  EXPECT_FALSE(Check(Format::kProperties, "a=1\r\nb=2\r\n"));
}

TEST(Properties, MalformedEscape) {
  std::optional<SyntaxError> e =
      Check(Format::kProperties, "a=1\nb=x\\u12G4\n");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->line, 2);
  EXPECT_EQ(e->column, 4);
  EXPECT_TRUE(Check(Format::kProperties, "a=\\u12"));  // cut short at the end
  // In a comment, the loader never unescapes: fine.
  EXPECT_FALSE(Check(Format::kProperties, "# \\uZZZZ\n"));
}

TEST(Properties, DuplicateKey) {
  std::optional<SyntaxError> e =
      Check(Format::kProperties, "a=1\nb=2\n  a = 3\n");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->line, 3);
  EXPECT_NE(e->message.find("duplicate key \"a\""), std::string::npos);
  // A continued line is one entry, not two.
  EXPECT_FALSE(Check(Format::kProperties, "a=1 \\\n a=2\n"));
}

TEST(Messages, PrintableAndBounded) {
  std::string hostile = "{\"" + std::string(5000, '\x01') + "\": 1}";
  for (Format f : {Format::kJson, Format::kYaml, Format::kProperties}) {
    std::optional<SyntaxError> e = Check(f, hostile + "\x02]]");
    if (!e.has_value()) continue;
    EXPECT_LE(e->message.size(), 210u) << FormatName(f);
    for (char c : e->message) {
      EXPECT_TRUE(c >= 0x20 && c < 0x7f) << FormatName(f);
    }
  }
}

// The mandator checks values on its HTTP worker threads: a hostile value
// must not exhaust a thread's stack there.
TEST(Bounds, DeepValuesOnAWorkerThread) {
  std::thread worker([] {
    for (Format f : {Format::kJson, Format::kYaml}) {
      EXPECT_TRUE(Check(f, std::string(1 << 20, '[')).has_value());
      EXPECT_TRUE(Check(f, std::string(1 << 20, '{')).has_value());
    }
  });
  worker.join();
}

}  // namespace
}  // namespace formats
}  // namespace kess
