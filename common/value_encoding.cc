#include "common/value_encoding.h"

#include <zlib.h>

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace kess {

uint32_t Crc32(absl::string_view data) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths; feed large values in pieces.
  while (!data.empty()) {
    uInt n = static_cast<uInt>(std::min<size_t>(data.size(), 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data.data()), n);
    data.remove_prefix(n);
  }
  return static_cast<uint32_t>(crc);
}

bool IsValidUtf8(absl::string_view bytes) {
  size_t i = 0;
  const size_t n = bytes.size();
  while (i < n) {
    const unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    unsigned int cp;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;  // continuation byte, 0xc0/0xc1 or above 0xf4
    }
    if (n - i < len) return false;
    for (size_t k = 1; k < len; ++k) {
      const unsigned char cc = static_cast<unsigned char>(bytes[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return false;
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

bool IsPlainUtf8(absl::string_view bytes) {
  return bytes.find('\0') == absl::string_view::npos && IsValidUtf8(bytes);
}

const char* EncodingFor(absl::string_view bytes) {
  return IsPlainUtf8(bytes) ? "utf8" : "base64";
}

std::string EncodeValue(absl::string_view bytes, absl::string_view encoding) {
  if (encoding == "base64") return absl::Base64Escape(bytes);
  return std::string(bytes);
}

absl::StatusOr<std::string> DecodeValue(absl::string_view text,
                                        absl::string_view encoding) {
  if (encoding.empty() || encoding == "utf8") return std::string(text);
  if (encoding != "base64") {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown value encoding \"", encoding, "\" (expected utf8 or base64)"));
  }
  std::string out;
  if (!absl::Base64Unescape(text, &out)) {
    return absl::InvalidArgumentError("value is not valid base64");
  }
  return out;
}

}  // namespace kess
