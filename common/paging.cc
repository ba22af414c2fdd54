#include "common/paging.h"

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace kess {
namespace {
// A version tag, so that a token of another form is refused, not misread.
constexpr char kTokenTag[] = "k1:";
}  // namespace

absl::StatusOr<size_t> ParseLimit(const HttpRequest& request, size_t fallback,
                                  size_t max) {
  const std::string text = request.Query("limit");
  if (text.empty()) return fallback;
  uint64_t limit = 0;
  if (!absl::SimpleAtoi(text, &limit) || limit < 1 || limit > max) {
    return absl::InvalidArgumentError(absl::StrCat(
        "limit must be a number from 1 to ", max, ", not \"",
        text.substr(0, 32), "\""));
  }
  return static_cast<size_t>(limit);
}

std::string EncodePageToken(const std::string& last_key) {
  return absl::WebSafeBase64Escape(absl::StrCat(kTokenTag, last_key));
}

absl::StatusOr<std::string> DecodePageToken(const std::string& token) {
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw) ||
      !absl::StartsWith(raw, kTokenTag)) {
    return absl::InvalidArgumentError(
        "page_token is not a token of this listing (take next_page_token "
        "from the previous page)");
  }
  return raw.substr(sizeof(kTokenTag) - 1);
}

}  // namespace kess
