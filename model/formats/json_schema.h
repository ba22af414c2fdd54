// JSON Schema (draft 7) checks of config values, for namespaces that attach
// a schema: every JSON or YAML value written to them must satisfy it.
// Validation is Debian's valijson; YAML values are checked as the JSON
// they denote (YAML 1.2 core schema: unquoted 3 is a number, "3" a string,
// true/false/null as in JSON).
//
//   KESS_ASSIGN_OR_RETURN(std::unique_ptr<formats::JsonSchema> schema,
//                         formats::JsonSchema::Compile(schema_text));
//   KESS_ASSIGN_OR_RETURN(std::vector<formats::SchemaViolation> violations,
//                         schema->Validate(formats::Format::kYaml, value));
//
// Limits (hostile values): a YAML value whose aliases would expand past
// kMaxSchemaNodes nodes is refused rather than expanded, and when the
// schema has a "pattern" or "patternProperties", strings (and keys) longer
// than kMaxPatternSubjectBytes are refused: the regular expressions run on
// std::regex, which recurses per character. A schema's remote "$ref"s are
// not fetched (the schema must be self-contained).
//
// Thread-safety: a compiled JsonSchema is immutable; Validate may run on
// several threads at once.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "model/formats/format.h"

namespace kess {
namespace formats {

inline constexpr size_t kMaxSchemaNodes = 1000000;
inline constexpr size_t kMaxPatternSubjectBytes = 4096;
inline constexpr size_t kMaxSchemaBytes = 256 * 1024;

struct SchemaViolation {
  std::string path;     // JSON Pointer of the offending node: "/servers/0/port"
  std::string message;  // valijson's description, printable ASCII
};

class JsonSchema {
 public:
  // InvalidArgument when `schema_json` is not JSON, not a valid draft-7
  // schema, refers to a remote document, or exceeds kMaxSchemaBytes.
  static absl::StatusOr<std::unique_ptr<JsonSchema>> Compile(
      absl::string_view schema_json);

  ~JsonSchema();
  JsonSchema(const JsonSchema&) = delete;
  JsonSchema& operator=(const JsonSchema&) = delete;

  // The violations of `value` (format kJson or kYaml; other formats are
  // InvalidArgument), at most `max_violations` of them; empty when it
  // satisfies the schema. InvalidArgument if the value is not well-formed
  // (run CheckSyntax first for a positioned error) or exceeds the limits.
  absl::StatusOr<std::vector<SchemaViolation>> Validate(
      Format format, absl::string_view value,
      size_t max_violations = 20) const;

 private:
  struct Compiled;
  explicit JsonSchema(std::unique_ptr<Compiled> compiled);
  std::unique_ptr<Compiled> compiled_;
};

}  // namespace formats
}  // namespace kess
