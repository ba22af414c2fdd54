// libFuzzer target for the file-cache format (scripts/fuzz.sh; CI replay:
// :format_fuzz_test). The input is a cache file's content for DecodeEntry.
// Properties: an accepted entry has a valid key whose RelativePath stays
// inside the cache directory (no empty, "." or ".." segment), a value whose
// CRC-32 matched the file (checked by re-encoding: EncodeEntry writes the CRC
// of the value, and decoding that gives back the same entry — a round trip);
// and the raw input used as a value (any bytes, NUL and invalid UTF-8 included)
// and as a content type (when it is UTF-8) survives EncodeEntry -> DecodeEntry
// unchanged.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "model/file_cache/format.h"
#include "common/fuzz_check.h"
#include "common/value_encoding.h"

namespace {

using kess::file_cache::CacheEntry;

void CheckSame(const CacheEntry& a, const CacheEntry& b) {
  FUZZ_CHECK(a.key == b.key);
  FUZZ_CHECK(a.revision == b.revision);
  FUZZ_CHECK(a.absent == b.absent);
  FUZZ_CHECK(a.value == b.value);
  FUZZ_CHECK(a.content_type == b.content_type);
  FUZZ_CHECK(a.mtime_ms == b.mtime_ms);
  FUZZ_CHECK(a.written_ms == b.written_ms);
}

void CheckRoundTrip(const CacheEntry& entry) {
  const std::string text = kess::file_cache::EncodeEntry(entry);
  absl::StatusOr<CacheEntry> again = kess::file_cache::DecodeEntry(text);
  FUZZ_CHECK(again.ok());
  CheckSame(entry, *again);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<CacheEntry> entry = kess::file_cache::DecodeEntry(text);
  if (entry.ok()) {
    FUZZ_CHECK(kess::file_cache::ValidateKey(entry->key).ok());
    const std::string path = kess::file_cache::RelativePath(entry->key);
    // No segment that could leave the cache directory ("a..json", from a
    // key ending in '.', is a plain file name).
    const std::vector<std::string> segments = absl::StrSplit(path, '/');
    FUZZ_CHECK(segments.size() ==
               (entry->key.type == kess::file_cache::CacheKey::Type::kConfig
                    ? 3u
                    : 2u));
    FUZZ_CHECK(segments[0] == "configs" || segments[0] == "routes");
    for (const std::string& segment : segments) {
      FUZZ_CHECK(!segment.empty() && segment != "." && segment != "..");
    }
    CheckRoundTrip(*entry);
  } else {
    FUZZ_CHECK(entry.status().code() == absl::StatusCode::kDataLoss);
  }

  // Any bytes as a value.
  CacheEntry raw;
  raw.key = kess::file_cache::CacheKey::Config("fuzz", "value.bin");
  raw.revision = static_cast<int64_t>(size) * 7919;
  raw.value = text;
  // Content types arrive as JSON strings (HTTP API), so they are UTF-8.
  if (kess::IsValidUtf8(text) && text.size() <= 256) raw.content_type = text;
  CheckRoundTrip(raw);
  return 0;
}
