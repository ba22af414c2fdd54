// How config values travel in the mandator HTTP API (docs/http-api.md): a
// JSON string with "encoding": "utf8" when the bytes are valid UTF-8, else
// base64 with "encoding": "base64".
//
// Thread-safe: pure functions.
#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "common/status.h"

namespace kess {
namespace kessctl {

// True when `bytes` is well-formed UTF-8 (no overlong forms, no surrogates,
// nothing above U+10FFFF).
bool IsValidUtf8(absl::string_view bytes);

// "utf8" for bytes that can travel as a JSON string as they are, else
// "base64". NUL bytes go as base64 too, so no JSON parser has to carry
// "\u0000" into a C string.
const char* EncodingFor(absl::string_view bytes);

// `bytes` in the given encoding ("utf8" or "base64").
std::string EncodeValue(absl::string_view bytes, absl::string_view encoding);

// The raw bytes of a value received with `encoding` ("utf8", "base64", or ""
// meaning utf8). InvalidArgument for an unknown encoding or bad base64.
absl::StatusOr<std::string> DecodeValue(const std::string& value,
                                        absl::string_view encoding);

}  // namespace kessctl
}  // namespace kess
