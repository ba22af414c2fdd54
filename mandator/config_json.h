// The JSON shapes of docs/http-api.md for configs: request bodies in,
// config objects and listings out.
//
// Values: "encoding" is "utf8" (the JSON string is the value) or "base64".
// Answers use "utf8" when the value is valid UTF-8 and "base64" otherwise.
//
// Thread-safe: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/status.h"
#include "mandator/core/config_store.h"
#include "mandator/core/gray_store.h"

namespace kess {
namespace mandator {

// The body of PUT /api/v1/configs/{ns}/{key} into `request` (ns and key
// are set by the caller). InvalidArgument for malformed JSON, a missing
// or mistyped field, an unknown encoding or bad base64.
absl::Status ParsePutBody(const std::string& body, core::PutRequest* request);
// The body of POST .../rollback.
absl::Status ParseRollbackBody(const std::string& body,
                               core::RollbackRequest* request);
// The body of POST .../gray: the put fields plus "hosts" (array of host
// ids) and "percentage" (0..100).
absl::Status ParseGrayBody(const std::string& body, core::GrayRequest* request);
// The body of POST .../gray/promote and .../gray/abort ("author",
// "comment"; may be empty).
absl::Status ParseGrayEndBody(const std::string& body,
                              core::GrayEndRequest* request);
// GET .../gray: {"namespace","key","active","revision","base_revision",
// "config_revision","hosts","percentage","value","encoding",
// "content_type","size","crc32","author","comment","mtime_ms"}
std::string GrayToJson(const core::GrayInfo& gray);

// A query parameter holding a revision (expected_revision) or a count
// (limit): a non-negative integer. InvalidArgument naming `name` otherwise.
absl::StatusOr<int64_t> ParseNonNegative(absl::string_view name,
                                         absl::string_view text);

// {"namespace", "key", "revision", "version", "value", "encoding",
//  "content_type", "size", "crc32", "author", "comment", "mtime_ms"}
std::string ConfigToJson(const core::Config& config);
// {"namespace": ns, "keys": [{"key", "revision", "version", "size"}]}
std::string KeysToJson(const std::string& ns,
                       const std::vector<core::KeyInfo>& keys);
// {"namespaces": [...]}
std::string NamespacesToJson(const std::vector<std::string>& namespaces);
// {"versions": [config object, ...]}
std::string HistoryToJson(const std::vector<core::Config>& versions);
// {"revision": r, "version": v[, "coalesced": true]}; no version for
// deletes (with_version false).
std::string CommitToJson(const core::CommitResult& result, bool with_version,
                         bool coalesced);

}  // namespace mandator
}  // namespace kess
