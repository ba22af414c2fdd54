// libFuzzer target for CheckSyntax (scripts/fuzz.sh; CI replay:
// :config_format_fuzz_test). Byte 0 picks the format, the rest is the value.
// Properties: no crash, hang or stack exhaustion on any input; an error has
// a line and column inside the value (or 0 when the parser gave none) and a
// printable, bounded message; text is always accepted.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "common/fuzz_check.h"
#include "model/formats/format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const auto format = static_cast<kess::formats::Format>(data[0] % 4);
  const std::string value(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::optional<kess::formats::SyntaxError> error =
      kess::formats::CheckSyntax(format, value);
  if (format == kess::formats::Format::kText) {
    FUZZ_CHECK(!error.has_value());
    return 0;
  }
  if (!error.has_value()) return 0;
  FUZZ_CHECK(error->line >= 0 && error->column >= 0);
  size_t lines = 1;
  for (char c : value) lines += c == '\n';
  FUZZ_CHECK(static_cast<size_t>(error->line) <= lines + 1);
  FUZZ_CHECK(error->message.size() <= 210);
  for (char c : error->message) {
    const auto u = static_cast<unsigned char>(c);
    FUZZ_CHECK(u >= 0x20 && u < 0x7f);
  }
  return 0;
}
