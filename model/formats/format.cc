#include "model/formats/format.h"

#include <cstddef>
#include <sstream>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "model/formats/prescan.h"
#include "nlohmann/json.hpp"
#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/yaml.h"


namespace kess {
namespace formats {
namespace {

constexpr size_t kMaxMessageBytes = 200;

// ---- JSON ----

// Counts only; nlohmann's SAX parser is iterative, so nothing here
// recurses, and no DOM is built.
class JsonDepthSax : public nlohmann::json_sax<nlohmann::json> {
 public:
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    error_position = position;
    error_message = ex.what();
    return false;
  }

  size_t error_position = 0;
  std::string error_message;
};

// nlohmann's messages read "[json.exception.parse_error.101] parse error
// at line 1, column 2: syntax error while parsing value - ..."; the
// position is ours, the rest is kept.
std::string JsonReason(absl::string_view what) {
  const size_t colon = what.find(": ");
  if (absl::StartsWith(what, "[json.exception.") &&
      colon != absl::string_view::npos) {
    what.remove_prefix(colon + 2);
  }
  return std::string(what);
}

std::optional<SyntaxError> CheckJson(absl::string_view value) {
  const std::optional<size_t> too_deep =
      FindJsonNestingPastLimit(value, kMaxNestingDepth);
  if (too_deep.has_value()) {
    const TextPosition at = PositionOf(value, *too_deep);
    return SyntaxError{Format::kJson, at.line, at.column,
                       absl::StrCat("nested deeper than ", kMaxNestingDepth,
                                    " arrays/objects")};
  }
  JsonDepthSax sax;
  const bool ok = nlohmann::json::sax_parse(value.begin(), value.end(), &sax);
  if (ok) return std::nullopt;
  // The reported position is the count of bytes read, the offending one
  // included.
  const size_t offset = sax.error_position == 0 ? 0 : sax.error_position - 1;
  const TextPosition at = PositionOf(value, offset);
  return SyntaxError{Format::kJson, at.line, at.column,
                     JsonReason(sax.error_message)};
}

// ---- YAML ----

// Walks the parser's events: no tree is built and aliases are not
// expanded. Refuses a mapping key seen twice (YAML requires unique keys;
// yaml-cpp itself keeps the last silently) and nesting past the limit.
class YamlChecker : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override {
    Leaf(mark, nullptr);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override {
    Leaf(mark, nullptr);
  }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string& value) override {
    Leaf(mark, &value);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&,
                       YAML::anchor_t, YAML::EmitterStyle::value) override {
    Open(mark, /*is_map=*/false);
  }
  void OnSequenceEnd() override { Close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Open(mark, /*is_map=*/true);
  }
  void OnMapEnd() override { Close(); }

 private:
  struct Level {
    bool is_map = false;
    bool expecting_key = true;  // maps: the next node is a key
    absl::flat_hash_set<std::string> keys;
  };

  // A scalar, null or alias: a whole node at once.
  void Leaf(const YAML::Mark& mark, const std::string* scalar) {
    if (!levels_.empty() && levels_.back().is_map &&
        levels_.back().expecting_key && scalar != nullptr &&
        !levels_.back().keys.insert(*scalar).second) {
      std::string shown = scalar->substr(0, 60);
      throw YAML::ParserException(
          mark, absl::StrCat("duplicate mapping key \"", shown, "\""));
    }
    Completed();
  }

  void Open(const YAML::Mark& mark, bool is_map) {
    if (static_cast<int>(levels_.size()) >= kMaxNestingDepth) {
      throw YAML::ParserException(
          mark, absl::StrCat("nested deeper than ", kMaxNestingDepth,
                             " sequences/mappings"));
    }
    levels_.push_back(Level{is_map, true, {}});
  }

  void Close() {
    levels_.pop_back();
    Completed();
  }

  // A node of the current level is complete: in a map, keys and values
  // alternate.
  void Completed() {
    if (!levels_.empty() && levels_.back().is_map) {
      levels_.back().expecting_key = !levels_.back().expecting_key;
    }
  }

  std::vector<Level> levels_;
};

std::optional<SyntaxError> CheckYaml(absl::string_view value) {
  // yaml-cpp descends recursively, but it reports each level as it enters
  // it, so YamlChecker stops it at kMaxNestingDepth (and yaml-cpp's own
  // depth guard is a second bound).
  std::istringstream in{std::string(value)};
  try {
    YAML::Parser parser(in);
    YamlChecker checker;
    int documents = 0;
    while (parser.HandleNextDocument(checker)) {
      if (++documents > 1) {
        return SyntaxError{Format::kYaml, 0, 0,
                           "more than one YAML document (\"---\"); a value "
                           "holds exactly one"};
      }
    }
  } catch (const YAML::Exception& e) {
    // yaml-cpp counts lines and columns from 0; -1 when unknown.
    const bool known = e.mark.line >= 0 && e.mark.column >= 0;
    return SyntaxError{Format::kYaml, known ? e.mark.line + 1 : 0,
                       known ? e.mark.column + 1 : 0, e.msg};
  }
  return std::nullopt;
}

// ---- properties ----

bool IsHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
         (c >= 'A' && c <= 'F');
}

// java.util.Properties.load: logical lines (a line ending in an odd number
// of backslashes continues on the next, whose leading white space is
// dropped), comments starting with '#' or '!', a key ending at the first
// unescaped '=', ':' or white space. The loader's only error is a
// malformed \uXXXX escape; kess also refuses a key given twice (the loader
// keeps the last silently, which is how a config loses a setting).
std::optional<SyntaxError> CheckProperties(absl::string_view value) {
  absl::flat_hash_set<std::string> keys;
  size_t pos = 0;
  while (pos < value.size()) {
    const size_t line_start = pos;
    // Skip leading white space of the natural line.
    while (pos < value.size() &&
           (value[pos] == ' ' || value[pos] == '\t' || value[pos] == '\f')) {
      ++pos;
    }
    if (pos >= value.size()) break;
    if (value[pos] == '\n' || value[pos] == '\r') {
      ++pos;
      continue;
    }
    const bool comment = value[pos] == '#' || value[pos] == '!';
    // Read the logical line: key then value, unescaping as the loader does.
    std::string key;
    bool in_key = !comment;
    bool key_done = false;
    while (pos < value.size()) {
      const char c = value[pos];
      if (c == '\n' || c == '\r') {
        ++pos;
        if (c == '\r' && pos < value.size() && value[pos] == '\n') ++pos;
        break;
      }
      if (c == '\\') {
        if (pos + 1 >= value.size()) {  // a backslash at the very end
          ++pos;
          break;
        }
        const char next = value[pos + 1];
        if (next == '\n' || next == '\r') {
          // Continuation (also inside comments the loader only continues
          // non-comment lines; a comment ends at its natural line).
          if (comment) {
            pos += 2;
            if (next == '\r' && pos < value.size() && value[pos] == '\n') ++pos;
            break;
          }
          pos += 2;
          if (next == '\r' && pos < value.size() && value[pos] == '\n') ++pos;
          while (pos < value.size() && (value[pos] == ' ' ||
                                        value[pos] == '\t' ||
                                        value[pos] == '\f')) {
            ++pos;
          }
          continue;
        }
        if (next == 'u' && !comment) {
          bool ok = pos + 5 < value.size();
          for (size_t i = 2; ok && i < 6; ++i) ok = IsHex(value[pos + i]);
          if (!ok) {
            const TextPosition at = PositionOf(value, pos);
            return SyntaxError{Format::kProperties, at.line, at.column,
                               "malformed \\uXXXX escape (four hex digits "
                               "expected)"};
          }
          if (in_key) key.append(value.data() + pos, 6);
          pos += 6;
          continue;
        }
        if (in_key) key.append(value.data() + pos, 2);
        pos += 2;
        continue;
      }
      if (in_key && (c == '=' || c == ':' || c == ' ' || c == '\t' ||
                     c == '\f')) {
        in_key = false;
        key_done = true;
      } else if (in_key) {
        key.push_back(c);
      }
      ++pos;
    }
    if (!comment && (key_done || !key.empty())) {
      if (!keys.insert(key).second) {
        const TextPosition at = PositionOf(value, line_start);
        return SyntaxError{Format::kProperties, at.line, at.column,
                           absl::StrCat("duplicate key \"",
                                        key.substr(0, 60), "\"")};
      }
    }
  }
  return std::nullopt;
}

std::string Printable(absl::string_view text) {
  std::string out;
  for (char c : text) {
    if (out.size() >= kMaxMessageBytes) {
      out.append("...");
      break;
    }
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u >= 0x20 && u < 0x7f ? c : '?');
  }
  return out;
}

}  // namespace

absl::StatusOr<Format> ParseFormat(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "text") return Format::kText;
  if (lower == "json") return Format::kJson;
  if (lower == "yaml" || lower == "yml") return Format::kYaml;
  if (lower == "properties") return Format::kProperties;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown format \"", Printable(name.substr(0, 40)),
      "\"; one of text, json, yaml, properties"));
}

absl::string_view FormatName(Format format) {
  switch (format) {
    case Format::kText: return "text";
    case Format::kJson: return "json";
    case Format::kYaml: return "yaml";
    case Format::kProperties: return "properties";
  }
  return "text";
}

absl::string_view FormatContentType(Format format) {
  switch (format) {
    case Format::kText: return "text/plain";
    case Format::kJson: return "application/json";
    case Format::kYaml: return "application/yaml";
    case Format::kProperties: return "text/x-java-properties";
  }
  return "text/plain";
}

Format FormatFromContentType(absl::string_view content_type) {
  absl::string_view type = content_type.substr(0, content_type.find(';'));
  type = absl::StripAsciiWhitespace(type);
  const std::string lower = absl::AsciiStrToLower(type);
  if (lower == "application/json" || lower == "text/json" ||
      absl::EndsWith(lower, "+json")) {
    return Format::kJson;
  }
  if (lower == "application/yaml" || lower == "application/x-yaml" ||
      lower == "text/yaml" || lower == "text/x-yaml" ||
      absl::EndsWith(lower, "+yaml")) {
    return Format::kYaml;
  }
  if (lower == "text/x-java-properties" || lower == "text/x-properties") {
    return Format::kProperties;
  }
  return Format::kText;
}

std::string SyntaxError::ToString() const {
  if (line > 0) {
    return absl::StrCat(FormatName(format), ": line ", line, ", column ",
                        column, ": ", message);
  }
  return absl::StrCat(FormatName(format), ": ", message);
}

std::optional<SyntaxError> CheckSyntax(Format format, absl::string_view value) {
  std::optional<SyntaxError> error;
  switch (format) {
    case Format::kText: return std::nullopt;
    case Format::kJson: error = CheckJson(value); break;
    case Format::kYaml: error = CheckYaml(value); break;
    case Format::kProperties: error = CheckProperties(value); break;
  }
  if (error.has_value()) error->message = Printable(error->message);
  return error;
}

}  // namespace formats
}  // namespace kess
