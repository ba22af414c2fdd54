// How a value's bytes are checked and carried as text, the same everywhere:
// in ZooKeeper records, the mandator HTTP API, kessctl and the agent's file
// cache.
//
// Checksum: CRC-32 as zlib computes it (IEEE 802.3 polynomial, as Python's
// zlib.crc32), so any language can verify a value with its standard library.
// Text: a value that is valid UTF-8 without NUL bytes travels as a JSON
// string as it is ("utf8"); anything else as standard base64 ("base64").
//
// Thread-safe: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "common/status.h"

namespace kess {

// zlib's CRC-32 of `data`; Crc32("123456789") == 0xcbf43926.
uint32_t Crc32(absl::string_view data);

// True when `bytes` is well-formed UTF-8 (no overlong forms, no surrogates,
// nothing above U+10FFFF).
bool IsValidUtf8(absl::string_view bytes);

// True when `bytes` is valid UTF-8 and has no NUL byte: it may travel as a
// JSON string as it is.
bool IsPlainUtf8(absl::string_view bytes);

// "utf8" for IsPlainUtf8 bytes, else "base64".
const char* EncodingFor(absl::string_view bytes);

// `bytes` in the given encoding ("utf8" or "base64").
std::string EncodeValue(absl::string_view bytes, absl::string_view encoding);

// The raw bytes of a value received with `encoding` ("utf8", "base64", or ""
// meaning utf8). InvalidArgument for an unknown encoding or bad base64.
absl::StatusOr<std::string> DecodeValue(absl::string_view text,
                                        absl::string_view encoding);

}  // namespace kess
