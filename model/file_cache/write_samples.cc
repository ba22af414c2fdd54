// Writes a few cache files with the real FileCacheWriter into argv[1], for
// python_reader_test.sh: a text config, a binary route table (base64), a
// tombstone, and a config with JSON-special characters.
#include <iostream>
#include <string>

#include "model/file_cache/writer.h"

using kess::file_cache::CacheEntry;
using kess::file_cache::CacheKey;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: write_samples DIR\n";
    return 2;
  }
  auto writer = kess::file_cache::FileCacheWriter::Open({argv[1]});
  if (!writer.ok()) {
    std::cerr << writer.status() << "\n";
    return 1;
  }
  std::string binary;
  for (int i = 0; i < 256; ++i) binary.push_back(static_cast<char>(255 - i));
  const struct {
    CacheKey key;
    int64_t revision;
    bool absent;
    std::string value;
  } samples[] = {
      {CacheKey::Config("shop", "db.timeout"), 42, false, "30s"},
      {CacheKey::Config("shop", "motd"), 43, false,
       "caf\xc3\xa9 \"quoted\" <b>\n\ttab \xf0\x9f\x98\x80"},
      {CacheKey::Route("payments"), 44, false, binary},
      {CacheKey::Config("shop", "gone"), 45, true, ""},
  };
  for (const auto& s : samples) {
    CacheEntry e;
    e.key = s.key;
    e.revision = s.revision;
    e.absent = s.absent;
    e.value = s.value;
    e.content_type = "application/octet-stream";
    e.mtime_ms = 1700000000000;
    auto r = (*writer)->Write(e);
    if (!r.ok()) {
      std::cerr << r.status() << "\n";
      return 1;
    }
  }
  return 0;
}
