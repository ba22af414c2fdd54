// Byte offsets to lines and columns, and the bounded scans that run before
// a parser sees a value (format.h's limits).
#pragma once

#include <cstddef>
#include <optional>

#include "absl/strings/string_view.h"

namespace kess {
namespace formats {

struct TextPosition {
  int line = 1;    // from 1
  int column = 1;  // from 1, in bytes
};

// The line and column of the byte at `offset` (clamped to the text's end).
TextPosition PositionOf(absl::string_view text, size_t offset);

// The offset of the first '[' or '{' that opens level `limit` + 1 of a
// JSON text, outside strings; nullopt if the text never nests that deep.
// One pass, no allocation; malformed text is scanned as well as it goes
// (the parser reports the syntax error).
std::optional<size_t> FindJsonNestingPastLimit(absl::string_view text,
                                               int limit);

}  // namespace formats
}  // namespace kess
