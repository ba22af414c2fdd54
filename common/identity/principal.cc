#include "common/identity/principal.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace kess {
namespace identity {
namespace {

constexpr absl::string_view kScheme = "kess://";
constexpr size_t kMaxNameBytes = 128;

bool ValidWord(absl::string_view word) {
  if (word.empty() || word.size() > kMaxNameBytes || word[0] == '.') {
    return false;
  }
  for (char c : word) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                    c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

const char* KindName(Kind kind) {
  switch (kind) {
    case Kind::kAnonymous:
      return "anonymous";
    case Kind::kHost:
      return "host";
    case Kind::kService:
      return "service";
    case Kind::kMandator:
      return "mandator";
    case Kind::kDistributor:
      return "distributor";
    case Kind::kOperator:
      return "operator";
  }
  return "anonymous";
}

absl::StatusOr<Kind> ParseKind(absl::string_view word) {
  for (Kind kind : {Kind::kHost, Kind::kService, Kind::kMandator,
                    Kind::kDistributor, Kind::kOperator}) {
    if (word == KindName(kind)) return kind;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown principal kind '", word,
                   "' (host, service, mandator, distributor, operator)"));
}

const char* ProofName(Proof proof) {
  switch (proof) {
    case Proof::kNone:
      return "none";
    case Proof::kCertificate:
      return "certificate";
    case Proof::kCredential:
      return "credential";
  }
  return "none";
}

bool KindHasDc(Kind kind) {
  return kind == Kind::kMandator || kind == Kind::kDistributor;
}

absl::Status ValidatePrincipalName(Kind kind, absl::string_view name,
                                   absl::string_view dc) {
  if (kind == Kind::kAnonymous) {
    return absl::InvalidArgumentError("the anonymous principal has no name");
  }
  if (!ValidWord(name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad ", KindName(kind), " name '", name,
        "': 1..128 characters of A-Z a-z 0-9 . _ -, not starting with '.'"));
  }
  if (KindHasDc(kind)) {
    if (!ValidWord(dc)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "a ", KindName(kind), " principal needs a datacenter (got '", dc,
          "')"));
    }
  } else if (!dc.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a ", KindName(kind), " principal has no datacenter (got '", dc,
        "')"));
  }
  return absl::OkStatus();
}

std::string PrincipalUri(Kind kind, absl::string_view name,
                         absl::string_view dc) {
  if (kind == Kind::kAnonymous) return "";
  if (KindHasDc(kind)) {
    return absl::StrCat(kScheme, KindName(kind), "/", dc, "/", name);
  }
  return absl::StrCat(kScheme, KindName(kind), "/", name);
}

absl::StatusOr<Principal> ParsePrincipalUri(absl::string_view uri,
                                            Proof proof) {
  if (!absl::StartsWith(uri, kScheme)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", uri, "' is not a kess:// principal URI"));
  }
  std::vector<absl::string_view> parts =
      absl::StrSplit(uri.substr(kScheme.size()), '/');
  absl::StatusOr<Kind> kind = ParseKind(parts[0]);
  if (!kind.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", uri, "': ", kind.status().message()));
  }
  Principal p;
  p.kind = *kind;
  p.proof = proof;
  if (KindHasDc(*kind)) {
    if (parts.size() != 3) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", uri, "': expected kess://", KindName(*kind), "/<dc>/<id>"));
    }
    p.dc = std::string(parts[1]);
    p.name = std::string(parts[2]);
  } else {
    if (parts.size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", uri, "': expected kess://", KindName(*kind), "/<name>"));
    }
    p.name = std::string(parts[1]);
  }
  absl::Status valid = ValidatePrincipalName(p.kind, p.name, p.dc);
  if (!valid.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", uri, "': ", valid.message()));
  }
  return p;
}

std::string Principal::Uri() const { return PrincipalUri(kind, name, dc); }

std::string Principal::DebugString() const {
  if (anonymous()) return "anonymous";
  return absl::StrCat(KindName(kind), " ", dc, dc.empty() ? "" : "/", name,
                      " (", ProofName(proof), ")");
}

const std::shared_ptr<const Principal>& Anonymous() {
  static const auto* const anonymous =
      new std::shared_ptr<const Principal>(std::make_shared<Principal>());
  return *anonymous;
}

}  // namespace identity
}  // namespace kess
