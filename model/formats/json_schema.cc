#include "model/formats/json_schema.h"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "nlohmann/json.hpp"
#include "yaml-cpp/yaml.h"

// Without this valijson aborts the process on a bad schema.
#define VALIJSON_USE_EXCEPTIONS 1
#include "valijson/adapters/nlohmann_json_adapter.hpp"
#include "valijson/schema.hpp"
#include "valijson/schema_parser.hpp"
#include "valijson/validation_results.hpp"
#include "valijson/validator.hpp"

namespace kess {
namespace formats {

struct JsonSchema::Compiled {
  valijson::Schema schema;
  bool has_patterns = false;
};

namespace {

using Json = nlohmann::json;

std::string Printable(absl::string_view text, size_t limit = 200) {
  std::string out;
  for (char c : text) {
    if (out.size() >= limit) {
      out.append("...");
      break;
    }
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u >= 0x20 && u < 0x7f ? c : '?');
  }
  return out;
}

bool HasPatterns(const Json& node, int depth) {
  if (depth > kMaxNestingDepth) return false;
  if (node.is_object()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (it.key() == "pattern" || it.key() == "patternProperties") return true;
      if (HasPatterns(it.value(), depth + 1)) return true;
    }
  } else if (node.is_array()) {
    for (const Json& item : node) {
      if (HasPatterns(item, depth + 1)) return true;
    }
  }
  return false;
}

// The first string or key longer than `limit`, as a JSON Pointer.
bool FindLongString(const Json& node, size_t limit, std::string* path,
                    int depth) {
  if (depth > kMaxNestingDepth) return false;
  if (node.is_string()) return node.get_ref<const std::string&>().size() > limit;
  if (node.is_object()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (it.key().size() > limit ||
          FindLongString(it.value(), limit, path, depth + 1)) {
        *path = absl::StrCat("/", Printable(it.key(), 40), *path);
        return true;
      }
    }
  } else if (node.is_array()) {
    for (size_t i = 0; i < node.size(); ++i) {
      if (FindLongString(node[i], limit, path, depth + 1)) {
        *path = absl::StrCat("/", i, *path);
        return true;
      }
    }
  }
  return false;
}

// ---- YAML -> JSON, YAML 1.2 core schema ----

bool IsCoreNull(const std::string& s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

bool ParseCoreBool(const std::string& s, bool* out) {
  if (s == "true" || s == "True" || s == "TRUE") {
    *out = true;
    return true;
  }
  if (s == "false" || s == "False" || s == "FALSE") {
    *out = false;
    return true;
  }
  return false;
}

bool AllOf(absl::string_view s, bool (*pred)(unsigned char)) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!pred(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool IsDigit(unsigned char c) { return c >= '0' && c <= '9'; }
bool IsOctal(unsigned char c) { return c >= '0' && c <= '7'; }
bool IsHexDigit(unsigned char c) { return absl::ascii_isxdigit(c); }

// Sets *out to the JSON number a plain YAML scalar denotes, if it is one.
bool ParseCoreNumber(const std::string& s, Json* out) {
  absl::string_view body = s;
  bool negative = false;
  if (!body.empty() && (body[0] == '-' || body[0] == '+')) {
    negative = body[0] == '-';
    body.remove_prefix(1);
  }
  if (AllOf(body, IsDigit)) {
    int64_t i;
    uint64_t u;
    if (absl::SimpleAtoi(s, &i)) {
      *out = i;
    } else if (!negative && absl::SimpleAtoi(body, &u)) {
      *out = u;
    } else {
      *out = std::strtod(s.c_str(), nullptr);
    }
    return true;
  }
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'x')) {
    const absl::string_view digits = absl::string_view(s).substr(2);
    const bool octal = s[1] == 'o';
    if (!AllOf(digits, octal ? IsOctal : IsHexDigit)) return false;
    errno = 0;
    const unsigned long long v =
        std::strtoull(std::string(digits).c_str(), nullptr, octal ? 8 : 16);
    if (errno == ERANGE) return false;
    *out = static_cast<uint64_t>(v);
    return true;
  }
  if (body == ".inf" || body == ".Inf" || body == ".INF") {
    *out = negative ? -std::numeric_limits<double>::infinity()
                    : std::numeric_limits<double>::infinity();
    return true;
  }
  if (s == ".nan" || s == ".NaN" || s == ".NAN") {
    *out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  // [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
  size_t i = 0;
  size_t int_digits = 0, frac_digits = 0;
  while (i < body.size() && IsDigit(body[i])) ++i, ++int_digits;
  if (i < body.size() && body[i] == '.') {
    ++i;
    while (i < body.size() && IsDigit(body[i])) ++i, ++frac_digits;
  }
  if (int_digits == 0 && frac_digits == 0) return false;
  if (i < body.size() && (body[i] == 'e' || body[i] == 'E')) {
    ++i;
    if (i < body.size() && (body[i] == '-' || body[i] == '+')) ++i;
    size_t exp_digits = 0;
    while (i < body.size() && IsDigit(body[i])) ++i, ++exp_digits;
    if (exp_digits == 0) return false;
  }
  if (i != body.size()) return false;
  *out = std::strtod(s.c_str(), nullptr);
  return true;
}

Json ScalarToJson(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  const std::string& tag = node.Tag();
  // "!" marks a quoted (non-plain) scalar; explicit tags say what they are.
  if (tag == "!" || absl::EndsWith(tag, ":str")) return text;
  if (tag != "?" && !tag.empty() && !absl::StartsWith(tag, "tag:yaml.org")) {
    return text;  // an application tag: its text
  }
  if (IsCoreNull(text)) return nullptr;
  bool b;
  if (ParseCoreBool(text, &b)) return b;
  Json number;
  if (ParseCoreNumber(text, &number)) return number;
  return text;
}

class YamlToJson {
 public:
  absl::StatusOr<Json> Convert(const YAML::Node& node, int depth) {
    if (++nodes_ > kMaxSchemaNodes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "yaml: more than ", kMaxSchemaNodes,
          " nodes once aliases are expanded; too large to check against "
          "the schema"));
    }
    if (depth > kMaxNestingDepth) {
      return absl::InvalidArgumentError(
          absl::StrCat("yaml: nested deeper than ", kMaxNestingDepth));
    }
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return Json(nullptr);
      case YAML::NodeType::Scalar:
        return ScalarToJson(node);
      case YAML::NodeType::Sequence: {
        Json array = Json::array();
        for (const YAML::Node& item : node) {
          absl::StatusOr<Json> converted = Convert(item, depth + 1);
          if (!converted.ok()) return converted.status();
          array.push_back(*std::move(converted));
        }
        return array;
      }
      case YAML::NodeType::Map: {
        Json object = Json::object();
        for (const auto& pair : node) {
          if (!pair.first.IsScalar()) {
            return absl::InvalidArgumentError(
                "yaml: a mapping key that is not a scalar has no JSON "
                "equivalent; cannot check it against the schema");
          }
          absl::StatusOr<Json> converted = Convert(pair.second, depth + 1);
          if (!converted.ok()) return converted.status();
          object[pair.first.Scalar()] = *std::move(converted);
        }
        return object;
      }
    }
    return Json(nullptr);
  }

 private:
  size_t nodes_ = 0;
};

absl::StatusOr<Json> ParseValue(Format format, absl::string_view value) {
  if (std::optional<SyntaxError> error = CheckSyntax(format, value)) {
    return absl::InvalidArgumentError(error->ToString());
  }
  if (format == Format::kJson) {
    // Well-formed and within the nesting limit: parse into a tree.
    return Json::parse(value.begin(), value.end());
  }
  try {
    const YAML::Node root = YAML::Load(std::string(value));
    YamlToJson converter;
    return converter.Convert(root, 0);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("yaml: ", Printable(e.what())));
  }
}

// valijson's context: {"<root>", "[servers]", "[0]", ...} -> "/servers/0".
std::string ToJsonPointer(const std::vector<std::string>& context) {
  std::string pointer;
  for (const std::string& part : context) {
    if (part == "<root>") continue;
    absl::string_view token = part;
    if (absl::StartsWith(token, "[") && absl::EndsWith(token, "]")) {
      token = token.substr(1, token.size() - 2);
    }
    absl::StrAppend(&pointer, "/",
                    absl::StrReplaceAll(token, {{"~", "~0"}, {"/", "~1"}}));
  }
  return pointer.empty() ? "/" : Printable(pointer);
}

}  // namespace

JsonSchema::JsonSchema(std::unique_ptr<Compiled> compiled)
    : compiled_(std::move(compiled)) {}

JsonSchema::~JsonSchema() = default;

absl::StatusOr<std::unique_ptr<JsonSchema>> JsonSchema::Compile(
    absl::string_view schema_json) {
  if (schema_json.size() > kMaxSchemaBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "schema: larger than ", kMaxSchemaBytes, " bytes"));
  }
  if (std::optional<SyntaxError> error =
          CheckSyntax(Format::kJson, schema_json)) {
    return absl::InvalidArgumentError(
        absl::StrCat("schema: ", error->ToString()));
  }
  const Json document = Json::parse(schema_json.begin(), schema_json.end());
  if (!document.is_object() && !document.is_boolean()) {
    return absl::InvalidArgumentError(
        "schema: a JSON Schema is an object (or true/false)");
  }
  auto compiled = std::make_unique<Compiled>();
  compiled->has_patterns = HasPatterns(document, 0);
  try {
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::NlohmannJsonAdapter adapter(document);
    // No fetch function: a remote $ref fails here instead of reaching out.
    parser.populateSchema(adapter, compiled->schema);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("schema: ", Printable(e.what())));
  }
  return std::unique_ptr<JsonSchema>(new JsonSchema(std::move(compiled)));
}

absl::StatusOr<std::vector<SchemaViolation>> JsonSchema::Validate(
    Format format, absl::string_view value, size_t max_violations) const {
  if (format != Format::kJson && format != Format::kYaml) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a JSON Schema checks json and yaml values, not ",
        FormatName(format)));
  }
  absl::StatusOr<Json> document = ParseValue(format, value);
  if (!document.ok()) return document.status();
  if (compiled_->has_patterns) {
    std::string path;
    if (FindLongString(*document, kMaxPatternSubjectBytes, &path, 0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          FormatName(format), ": the string at ", path.empty() ? "/" : path,
          " is longer than ", kMaxPatternSubjectBytes,
          " bytes, the most a schema's \"pattern\" is checked against"));
    }
  }
  std::vector<SchemaViolation> violations;
  try {
    valijson::Validator validator;
    valijson::ValidationResults results;
    valijson::adapters::NlohmannJsonAdapter target(*document);
    if (validator.validate(compiled_->schema, target, &results)) {
      return violations;
    }
    valijson::ValidationResults::Error error;
    while (violations.size() < max_violations && results.popError(error)) {
      violations.push_back(SchemaViolation{ToJsonPointer(error.context),
                                           Printable(error.description)});
    }
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("schema check failed: ", Printable(e.what())));
  }
  return violations;
}

}  // namespace formats
}  // namespace kess
