// The formats a config value may declare, and the syntax check of each.
//
// A namespace or a key declares its format; the main leader checks every
// write against it before anything reaches ZooKeeper, so a broken JSON or
// YAML value is refused with its line and column instead of being published
// to every host. kessctl runs the same check before it sends.
//
//   KESS_ASSIGN_OR_RETURN(formats::Format format, formats::ParseFormat("yaml"));
//   if (auto error = formats::CheckSyntax(format, value)) {
//     return absl::InvalidArgumentError(error->ToString());
//     // "yaml: line 3, column 7: illegal map value"
//   }
//
// The parsers are Debian's: nlohmann-json for JSON, yaml-cpp for YAML,
// Java properties are checked here (their only syntax error is a
// malformed \uXXXX escape, plus duplicate keys). TOML is not offered:
// Debian's TOML parsers (toml++ 3.3, toml11 3.7) both crashed within
// minutes under this package's fuzzer (README.md); store TOML as text.
//
// Hostile input: every check is bounded. Nesting deeper than
// kMaxNestingDepth is refused before any recursive code sees it, a YAML
// document's aliases are never expanded here, and no check builds a tree
// of the value.
//
// Thread-safety: all functions are thread-safe.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kess {
namespace formats {

enum class Format {
  kText,        // anything: no check
  kJson,        // RFC 8259, UTF-8, one value
  kYaml,        // YAML 1.2, one document, unique keys in every mapping
  kProperties,  // java.util.Properties text, unique keys
};

// Deepest nesting of arrays/objects (JSON), sequences/mappings (YAML)
// accepted. Real configs stay far below it; a value of a million '['
// must not exhaust a thread's stack.
inline constexpr int kMaxNestingDepth = 128;

// "text", "json", "yaml", "properties" (ASCII case-insensitive;
// "yml" is accepted for "yaml"). InvalidArgument names the accepted ones.
absl::StatusOr<Format> ParseFormat(absl::string_view name);
// The canonical name, as ParseFormat accepts it.
absl::string_view FormatName(Format format);
// The content type a value of this format is stored with:
// "text/plain", "application/json", "application/yaml",
// "text/x-java-properties".
absl::string_view FormatContentType(Format format);
// The format a content type implies (parameters such as "; charset=utf-8"
// ignored; the usual aliases, e.g. "application/x-yaml", "text/yaml",
// "+json" suffixes, accepted); kText for anything else.
Format FormatFromContentType(absl::string_view content_type);

// Where and why a value is not well-formed. Lines and columns count from
// 1 (columns in bytes); 0 when the parser did not say.
struct SyntaxError {
  Format format = Format::kText;
  int line = 0;
  int column = 0;
  std::string message;  // printable ASCII, at most ~200 bytes

  // "json: line 2, column 5: <message>" (or "json: <message>").
  std::string ToString() const;
};

// nullopt when `value` is well-formed in `format` (always for kText).
std::optional<SyntaxError> CheckSyntax(Format format, absl::string_view value);

}  // namespace formats
}  // namespace kess
