// Paging of the HTTP APIs' listings (docs/http-api.md, "Paging"): a limit
// and an opaque page token that names the last item served (not a
// position), so that the next page continues after it even when items were
// added or removed meanwhile.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string>

#include "common/http_server.h"
#include "common/status.h"

namespace kess {

// The request's `limit`: `fallback` when absent; INVALID_ARGUMENT unless
// 1..max.
absl::StatusOr<size_t> ParseLimit(const HttpRequest& request, size_t fallback,
                                  size_t max);

// The sort key of the last item served, as a URL-safe token, and back
// (INVALID_ARGUMENT for a token this did not make).
std::string EncodePageToken(const std::string& last_key);
absl::StatusOr<std::string> DecodePageToken(const std::string& token);

}  // namespace kess
