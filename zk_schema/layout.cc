#include "zk_schema/layout.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "model/names.h"
#include "glog/logging.h"

namespace kess {
namespace zk {
namespace {

bool AllDigits(absl::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return !s.empty();
}

// Parses `digits` decimal digits after `prefix` in `name`.
absl::StatusOr<int64_t> ParseNumbered(absl::string_view name,
                                      absl::string_view prefix, size_t digits,
                                      absl::string_view what) {
  absl::string_view rest = name;
  int64_t value = 0;
  if (!absl::ConsumePrefix(&rest, prefix) || rest.size() != digits ||
      !AllDigits(rest) || !absl::SimpleAtoi(rest, &value)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " node name \"", name.substr(0, 64), "\" is not \"",
                     prefix, "\" + ", digits, " digits"));
  }
  return value;
}

}  // namespace

Layout::Layout() : root_(kDefaultRoot) {}

absl::StatusOr<Layout> Layout::Create(absl::string_view root) {
  if (root.size() < 2 || root[0] != '/' || root.back() == '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("layout root \"", root.substr(0, 64),
                     "\" must be an absolute path without a trailing '/'"));
  }
  for (absl::string_view segment : absl::StrSplit(root.substr(1), '/')) {
    KESS_RETURN_IF_ERROR(ValidateName(NameKind::kNamespace, segment));
  }
  return Layout(std::string(root));
}

std::string Layout::RevisionPath() const {
  return absl::StrCat(root_, "/revision");
}

std::string Layout::OverlayPath() const {
  return absl::StrCat(root_, "/overlay");
}

std::string Layout::ChangelogDir() const {
  return absl::StrCat(root_, "/changelog");
}

std::string Layout::ChangelogPath(int64_t revision) const {
  return absl::StrCat(ChangelogDir(), "/", FormatRevision(revision));
}

std::string Layout::ConfigsDir() const {
  return absl::StrCat(root_, "/configs");
}

absl::StatusOr<std::string> Layout::NamespacePath(absl::string_view ns) const {
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kNamespace, ns));
  return absl::StrCat(ConfigsDir(), "/", ns);
}

absl::StatusOr<std::string> Layout::ConfigPath(absl::string_view ns,
                                               absl::string_view key) const {
  KESS_ASSIGN_OR_RETURN(std::string dir, NamespacePath(ns));
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kKey, key));
  return absl::StrCat(dir, "/", key);
}

std::string Layout::HistoryDir() const {
  return absl::StrCat(root_, "/configs_history");
}

absl::StatusOr<std::string> Layout::HistoryNamespaceDir(
    absl::string_view ns) const {
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kNamespace, ns));
  return absl::StrCat(HistoryDir(), "/", ns);
}

absl::StatusOr<std::string> Layout::HistoryKeyDir(absl::string_view ns,
                                                  absl::string_view key) const {
  KESS_ASSIGN_OR_RETURN(std::string dir, HistoryNamespaceDir(ns));
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kKey, key));
  return absl::StrCat(dir, "/", key);
}

absl::StatusOr<std::string> Layout::HistoryPath(absl::string_view ns,
                                                absl::string_view key,
                                                int64_t revision) const {
  KESS_ASSIGN_OR_RETURN(std::string dir, HistoryKeyDir(ns, key));
  return absl::StrCat(dir, "/", FormatRevision(revision));
}

std::string Layout::RoutesDir() const { return absl::StrCat(root_, "/routes"); }

absl::StatusOr<std::string> Layout::RoutePath(absl::string_view service) const {
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kService, service));
  return absl::StrCat(RoutesDir(), "/", service);
}

absl::StatusOr<std::string> Layout::MembersDir(MemberRole role) const {
  KESS_ASSIGN_OR_RETURN(std::string dir, MemberRoleDirName(role));
  return absl::StrCat(root_, "/members/", dir);
}

absl::StatusOr<std::string> Layout::MemberPath(MemberRole role,
                                               absl::string_view id) const {
  KESS_ASSIGN_OR_RETURN(std::string dir, MembersDir(role));
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kHost, id));
  return absl::StrCat(dir, "/", id);
}

std::string Layout::ElectionDir() const {
  return absl::StrCat(root_, "/election/mandators");
}

std::string Layout::ElectionNodePrefix() const {
  return absl::StrCat(ElectionDir(), "/", kElectionNodePrefix);
}

std::string Layout::ChunksDir() const { return absl::StrCat(root_, "/chunks"); }

std::string Layout::ChunkSetPrefix() const {
  return absl::StrCat(ChunksDir(), "/", kChunkSetPrefix);
}

absl::StatusOr<std::string> Layout::ChunkSetPath(
    absl::string_view chunk_set) const {
  KESS_RETURN_IF_ERROR(ValidateChunkSetName(chunk_set));
  return absl::StrCat(ChunksDir(), "/", chunk_set);
}

absl::StatusOr<std::string> Layout::ChunkPath(absl::string_view chunk_set,
                                              uint32_t index) const {
  KESS_ASSIGN_OR_RETURN(std::string dir, ChunkSetPath(chunk_set));
  return absl::StrFormat("%s/%05u", dir, index);
}

std::string Layout::GrayDir() const { return absl::StrCat(root_, "/gray"); }

absl::StatusOr<std::string> Layout::GrayNamespaceDir(
    absl::string_view ns) const {
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kNamespace, ns));
  return absl::StrCat(GrayDir(), "/", ns);
}

absl::StatusOr<std::string> Layout::GrayPath(absl::string_view ns,
                                             absl::string_view key) const {
  KESS_ASSIGN_OR_RETURN(std::string dir, GrayNamespaceDir(ns));
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kKey, key));
  return absl::StrCat(dir, "/", key);
}

std::string Layout::AclsDir() const { return absl::StrCat(root_, "/acls"); }
std::string Layout::NamespaceAclsDir() const {
  return absl::StrCat(AclsDir(), "/namespaces");
}
std::string Layout::ServiceAclsDir() const {
  return absl::StrCat(AclsDir(), "/services");
}

absl::StatusOr<std::string> Layout::NamespaceAclPath(
    absl::string_view ns) const {
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kNamespace, ns));
  return absl::StrCat(NamespaceAclsDir(), "/", ns);
}

absl::StatusOr<std::string> Layout::ServiceAclPath(
    absl::string_view service) const {
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kService, service));
  return absl::StrCat(ServiceAclsDir(), "/", service);
}

std::vector<std::string> Layout::SkeletonPaths() const {
  std::vector<std::string> paths;
  // Parents of a non-default root ("/test" for "/test/kess") come first.
  for (size_t pos = root_.find('/', 1); pos != std::string::npos;
       pos = root_.find('/', pos + 1)) {
    paths.push_back(root_.substr(0, pos));
  }
  paths.push_back(root_);
  paths.push_back(RevisionPath());
  paths.push_back(ChangelogDir());
  paths.push_back(ConfigsDir());
  paths.push_back(HistoryDir());
  paths.push_back(RoutesDir());
  paths.push_back(absl::StrCat(root_, "/members"));
  paths.push_back(*MembersDir(MANDATOR));
  paths.push_back(*MembersDir(DISTRIBUTOR));
  paths.push_back(absl::StrCat(root_, "/election"));
  paths.push_back(ElectionDir());
  paths.push_back(ChunksDir());
  paths.push_back(GrayDir());
  paths.push_back(AclsDir());
  paths.push_back(NamespaceAclsDir());
  paths.push_back(ServiceAclsDir());
  return paths;
}

std::string FormatRevision(int64_t revision) {
  CHECK_GE(revision, 0) << "revisions are never negative";
  return absl::StrFormat("%019d", revision);
}

absl::StatusOr<int64_t> ParseRevision(absl::string_view name) {
  return ParseNumbered(name, "", kRevisionDigits, "revision");
}

absl::StatusOr<int64_t> ParseElectionSequence(absl::string_view child) {
  return ParseNumbered(child, kElectionNodePrefix, 10, "election");
}

absl::Status ValidateChunkSetName(absl::string_view chunk_set) {
  return ParseNumbered(chunk_set, kChunkSetPrefix, 10, "chunk set").status();
}

absl::StatusOr<std::string> MemberRoleDirName(MemberRole role) {
  switch (role) {
    case MANDATOR:
      return std::string("mandators");
    case DISTRIBUTOR:
      return std::string("distributors");
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "member role ", static_cast<int>(role), " has no members directory"));
  }
}

}  // namespace zk
}  // namespace kess
