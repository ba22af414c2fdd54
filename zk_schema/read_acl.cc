#include "zk_schema/read_acl.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "model/names.h"

namespace kess {
namespace zk {
namespace {

constexpr size_t kMaxEntryLength = kMaxNameLength + 16;
constexpr const char* kKinds[] = {"host", "service", "mandator", "distributor",
                                  "operator"};

bool NameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

std::string Shown(absl::string_view s) {
  return std::string(s.substr(0, 64)) + (s.size() > 64 ? "..." : "");
}

}  // namespace

absl::Status ValidateHostPattern(absl::string_view pattern) {
  if (pattern.empty() || pattern.size() > kMaxNameLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("host pattern \"", Shown(pattern), "\" must be 1..",
                     kMaxNameLength, " characters"));
  }
  size_t stars = 0;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '*') {
      ++stars;
      continue;
    }
    if (c == '?' || NameChar(c)) continue;
    return absl::InvalidArgumentError(absl::StrCat(
        "host pattern \"", Shown(pattern), "\": character at offset ", i,
        " is not allowed (allowed: A-Z a-z 0-9 . _ - and the wildcards * ?)"));
  }
  if (stars > kMaxPatternStars) {
    return absl::InvalidArgumentError(
        absl::StrCat("host pattern \"", Shown(pattern), "\" has more than ",
                     kMaxPatternStars, " '*'"));
  }
  if (pattern.find("..") != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "host pattern \"", Shown(pattern), "\" may not contain \"..\""));
  }
  return absl::OkStatus();
}

absl::Status ValidateIdentity(absl::string_view identity) {
  if (identity.size() > kMaxEntryLength) {
    return absl::InvalidArgumentError(absl::StrCat(
        "identity \"", Shown(identity), "\" is longer than ", kMaxEntryLength));
  }
  const size_t slash = identity.find('/');
  if (slash == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("identity \"", Shown(identity),
                     "\" must be <kind>/<name>, e.g. service/billing"));
  }
  const absl::string_view kind = identity.substr(0, slash);
  const absl::string_view name = identity.substr(slash + 1);
  if (std::find(std::begin(kKinds), std::end(kKinds), kind) ==
      std::end(kKinds)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "identity \"", Shown(identity),
        "\": kind must be host, service, mandator, distributor or operator"));
  }
  absl::Status valid = ValidateName(
      kind == "service" ? NameKind::kService : NameKind::kHost, name);
  if (!valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "identity \"", Shown(identity), "\": ", valid.message()));
  }
  return absl::OkStatus();
}

absl::Status ValidateReadAcl(const ReadAclRecord& record) {
  const size_t entries = record.hosts_size() + record.identities_size();
  if (entries > kMaxReadAclEntries) {
    return absl::InvalidArgumentError(
        absl::StrCat("an ACL has at most ", kMaxReadAclEntries,
                     " entries (hosts and identities), not ", entries));
  }
  for (const std::string& pattern : record.hosts()) {
    KESS_RETURN_IF_ERROR(ValidateHostPattern(pattern));
  }
  for (const std::string& identity : record.identities()) {
    KESS_RETURN_IF_ERROR(ValidateIdentity(identity));
  }
  return absl::OkStatus();
}

bool GlobMatch(absl::string_view pattern, absl::string_view text) {
  // Iterative with one backtrack point (the last '*'): O(|p| * |t|).
  size_t p = 0, t = 0;
  size_t star = absl::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != absl::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

absl::StatusOr<CompiledReadAcl> CompiledReadAcl::Compile(
    const ReadAclRecord& record) {
  KESS_RETURN_IF_ERROR(ValidateReadAcl(record));
  CompiledReadAcl acl;
  for (const std::string& pattern : record.hosts()) {
    const size_t wild = pattern.find_first_of("*?");
    if (wild == std::string::npos) {
      acl.exact_hosts_.insert(pattern);
    } else if (pattern == "*") {
      acl.any_host_ = true;
    } else if (wild == pattern.size() - 1 && pattern.back() == '*') {
      acl.prefixes_.push_back(pattern.substr(0, wild));
    } else {
      acl.globs_.push_back(pattern);
    }
  }
  for (const std::string& identity : record.identities()) {
    acl.identities_.insert(identity);
  }
  return acl;
}

bool CompiledReadAcl::Allows(const Reader& reader) const {
  if (reader.kind.empty() || reader.name.empty()) return false;
  if (reader.kind == "host") {
    if (any_host_ || exact_hosts_.contains(reader.name)) return true;
    for (const std::string& prefix : prefixes_) {
      if (reader.name.size() >= prefix.size() &&
          reader.name.compare(0, prefix.size(), prefix) == 0) {
        return true;
      }
    }
    for (const std::string& glob : globs_) {
      if (GlobMatch(glob, reader.name)) return true;
    }
  }
  if (identities_.empty()) return false;
  return identities_.contains(absl::StrCat(reader.kind, "/", reader.name));
}

}  // namespace zk
}  // namespace kess
