// The on-disk format of the agent's file cache (docs/file-cache.md is the
// user-facing description; this is its one implementation).
//
//   <cache_dir>/configs/<namespace>/<key>.json   one config value
//   <cache_dir>/routes/<service>.json            one service's route table
//
// Each file is one JSON object (format 1):
//
//   {"format":1,"type":"config","namespace":"shop","key":"db.timeout",
//    "revision":42,"absent":false,"crc32":2768625435,"encoding":"utf8",
//    "value":"30s","content_type":"text/plain","mtime_ms":...,
//    "written_ms":...}
//
// Route files carry "service" instead of "namespace"/"key". `crc32` is the
// zlib CRC-32 of the raw value bytes (after base64 decoding when
// "encoding" is "base64"; the UTF-8 bytes of the string otherwise). A
// deleted resource is a tombstone: "absent": true, empty value, the
// revision of the deletion.
//
// Thread-safe: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "common/status.h"
#include "common/value_encoding.h"

namespace kess {
namespace file_cache {

inline constexpr int kFormatVersion = 1;

// What a cache file is about: a config (namespace + key) or a service's
// route table.
struct CacheKey {
  enum class Type { kConfig, kRoute };
  Type type = Type::kConfig;
  std::string namespace_name;  // kConfig
  std::string key;             // kConfig
  std::string service;         // kRoute

  static CacheKey Config(std::string ns, std::string key);
  static CacheKey Route(std::string service);

  // "config shop/db.timeout" or "route payments", for logs and errors.
  std::string ToString() const;
  bool operator<(const CacheKey& o) const;
  bool operator==(const CacheKey& o) const;
};

// OK if every name of `key` passes model/names.h; else InvalidArgument
// with the validator's message. Every path is built from a validated key,
// so nothing can escape the cache directory.
absl::Status ValidateKey(const CacheKey& key);

// The file of `key`, relative to the cache directory
// ("configs/shop/db.timeout.json"). REQUIRES: ValidateKey(key).ok().
std::string RelativePath(const CacheKey& key);
// ValidateKey, then cache_dir + "/" + RelativePath.
absl::StatusOr<std::string> PathFor(const std::string& cache_dir,
                                    const CacheKey& key);

// One version of one resource, as a file holds it.
struct CacheEntry {
  CacheKey key;
  int64_t revision = 0;
  bool absent = false;
  std::string value;  // raw bytes
  std::string content_type;
  int64_t mtime_ms = 0;    // when the change was committed upstream
  int64_t written_ms = 0;  // when the agent wrote this file
  // The file's permission bits (not part of its content): 0600 for a value
  // decrypted from a secret namespace (docs/security.md, "Encrypted
  // values"), so that only the agent's user reads it.
  int file_mode = 0644;
};

// Checksums (Crc32) and the utf8/base64 choice (IsPlainUtf8) come from
// common/value_encoding.h.

// The file content for `entry` (crc32 computed here). REQUIRES: the key is
// valid and content_type is valid UTF-8 (it arrives as a JSON or proto3
// string, both UTF-8); the value may be any bytes.
std::string EncodeEntry(const CacheEntry& entry);

// Parses and verifies a file's content: DataLoss when it is not valid JSON,
// misses a field, has an unknown format/type/encoding, bad base64, an
// invalid name, or a CRC-32 that does not match the value.
absl::StatusOr<CacheEntry> DecodeEntry(absl::string_view text);

}  // namespace file_cache
}  // namespace kess
