#include "model/names.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kess {
namespace {

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9');
}

bool IsAllowed(char c) { return IsAlnum(c) || c == '.' || c == '_' || c == '-'; }

std::string Printable(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  if (u >= 0x21 && u < 0x7f) return absl::StrFormat("'%c'", c);
  return absl::StrFormat("0x%02x", u);
}

}  // namespace

const char* NameKindToString(NameKind kind) {
  switch (kind) {
    case NameKind::kNamespace:
      return "namespace";
    case NameKind::kKey:
      return "key";
    case NameKind::kService:
      return "service";
    case NameKind::kDatacenter:
      return "datacenter";
    case NameKind::kHost:
      return "host";
  }
  return "name";
}

absl::Status ValidateName(NameKind kind, absl::string_view name) {
  const char* what = NameKindToString(kind);
  if (name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " name is empty"));
  }
  // Quote at most a prefix so that a huge name does not flood logs, with
  // non-printable bytes and quotes masked (the message names the exact byte).
  std::string shown(name.substr(0, 64));
  for (char& c : shown) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') c = '?';
  }
  auto invalid = [&](const std::string& why) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " \"", shown, name.size() > 64 ? "..." : "",
                     "\" is invalid: ", why));
  };
  if (name.size() > kMaxNameLength) {
    return invalid(absl::StrCat("length ", name.size(), " exceeds ",
                                kMaxNameLength));
  }
  for (size_t i = 0; i < name.size(); ++i) {
    if (!IsAllowed(name[i])) {
      return invalid(absl::StrCat("character ", Printable(name[i]),
                                  " at offset ", i,
                                  " is not allowed (allowed: A-Z a-z 0-9 . _ -)"));
    }
  }
  if (!IsAlnum(name[0])) {
    return invalid("must start with a letter or digit");
  }
  if (name.find("..") != absl::string_view::npos) {
    return invalid("must not contain \"..\"");
  }
  return absl::OkStatus();
}

}  // namespace kess
