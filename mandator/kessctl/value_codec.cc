#include "mandator/kessctl/value_codec.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace kess {
namespace kessctl {

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

const char* EncodingFor(absl::string_view bytes) {
  if (bytes.find('\0') != absl::string_view::npos) return "base64";
  return IsValidUtf8(bytes) ? "utf8" : "base64";
}

std::string EncodeValue(absl::string_view bytes, absl::string_view encoding) {
  if (encoding == "base64") return absl::Base64Escape(bytes);
  return std::string(bytes);
}

absl::StatusOr<std::string> DecodeValue(const std::string& value,
                                        absl::string_view encoding) {
  if (encoding.empty() || encoding == "utf8") return value;
  if (encoding != "base64") {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown value encoding \"", encoding, "\" (expected utf8 or base64)"));
  }
  std::string out;
  if (!absl::Base64Unescape(value, &out)) {
    return absl::InvalidArgumentError("value is not valid base64");
  }
  return out;
}

}  // namespace kessctl
}  // namespace kess
