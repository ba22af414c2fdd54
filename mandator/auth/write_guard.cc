#include "mandator/auth/write_guard.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace kess {
namespace mandator {
namespace auth {
namespace {

// "http://h:p/x" -> "h:p"; "" if it has no scheme.
std::string HostOf(absl::string_view url) {
  const size_t scheme = url.find("://");
  if (scheme == absl::string_view::npos) return "";
  url.remove_prefix(scheme + 3);
  return std::string(url.substr(0, url.find('/')));
}

}  // namespace

absl::Status CheckWriteRequest(const HttpRequest& request) {
  const std::string& m = request.method;
  if (m == "GET" || m == "HEAD" || m == "OPTIONS") return absl::OkStatus();
  const std::string origin = request.Header("origin");
  if (!origin.empty()) {
    const std::string host = request.Header("host");
    if (host.empty() || HostOf(origin) != host) {
      return absl::PermissionDeniedError(absl::StrCat(
          "cross-site request refused: origin ", origin.substr(0, 256),
          " is not this server; nothing was changed"));
    }
  }
  const std::string type = request.Header("content-type");
  // The gate runs before the body is read: its headers tell.
  const std::string length = request.Header("content-length");
  const bool has_body = !request.body.empty() ||
                        (!length.empty() && length != "0") ||
                        !request.Header("transfer-encoding").empty();
  if (has_body || !type.empty()) {
    absl::string_view media = type;
    media = absl::StripAsciiWhitespace(media.substr(0, media.find(';')));
    if (!absl::EqualsIgnoreCase(media, "application/json")) {
      return absl::PermissionDeniedError(absl::StrCat(
          "a write must be sent as Content-Type: application/json (got \"",
          type.substr(0, 128),
          "\"); cross-site request protection, nothing was changed"));
    }
  }
  return absl::OkStatus();
}

}  // namespace auth
}  // namespace mandator
}  // namespace kess
