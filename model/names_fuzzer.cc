// libFuzzer target for ValidateName (scripts/fuzz.sh; CI replay:
// :names_fuzz_test). Byte 0 picks the NameKind, the rest is the name.
// Properties: an accepted name is 1..kMaxNameLength bytes of [A-Za-z0-9._-],
// starts with a letter or digit, and contains no '/', "..", NUL — so it is
// safe as a path segment and a ZooKeeper node name; a rejection has a
// message that is printable, bounded in length, and names the kind.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "absl/strings/match.h"
#include "common/fuzz_check.h"
#include "model/names.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const auto kind = static_cast<kess::NameKind>(data[0] % 5);
  const std::string name(reinterpret_cast<const char*>(data) + 1, size - 1);
  const absl::Status status = kess::ValidateName(kind, name);
  if (status.ok()) {
    FUZZ_CHECK(!name.empty() && name.size() <= kess::kMaxNameLength);
    FUZZ_CHECK(name.find('/') == std::string::npos);
    FUZZ_CHECK(name.find('\0') == std::string::npos);
    FUZZ_CHECK(name.find("..") == std::string::npos);
    FUZZ_CHECK(name != "." && name != "..");
    for (char c : name) {
      FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-');
    }
    FUZZ_CHECK(name[0] != '.' && name[0] != '-' && name[0] != '_');
    return 0;
  }
  FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  const absl::string_view message = status.message();
  FUZZ_CHECK(message.size() < 400);  // a huge name must not flood logs
  FUZZ_CHECK(absl::StartsWith(message, kess::NameKindToString(kind)));
  for (char c : message) {
    const auto u = static_cast<unsigned char>(c);
    FUZZ_CHECK(u >= 0x20 && u < 0x7f);
  }
  return 0;
}
