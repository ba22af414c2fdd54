#include "model/formats/prescan.h"

#include <algorithm>

namespace kess {
namespace formats {

TextPosition PositionOf(absl::string_view text, size_t offset) {
  offset = std::min(offset, text.size());
  TextPosition at;
  size_t line_start = 0;
  for (size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++at.line;
      line_start = i + 1;
    }
  }
  at.column = static_cast<int>(offset - line_start) + 1;
  return at;
}

std::optional<size_t> FindJsonNestingPastLimit(absl::string_view text,
                                               int limit) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character cannot end the string
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > limit) return i;
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return std::nullopt;
}

}  // namespace formats
}  // namespace kess
