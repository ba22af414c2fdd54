#include "zk_schema/zk_api.h"

#include "absl/strings/str_cat.h"

namespace kess {
namespace zk {
namespace {

// Framing of one request: length prefix, xid, type, and in a multi the
// per-op header; generous on purpose.
constexpr size_t kRequestOverhead = 64;
constexpr size_t kPerAclOverhead = 16;

const char* OpTypeName(MultiOps::Type type) {
  switch (type) {
    case MultiOps::Type::kCreate:
      return "create";
    case MultiOps::Type::kSet:
      return "set";
    case MultiOps::Type::kDelete:
      return "delete";
    case MultiOps::Type::kCheck:
      return "check";
  }
  return "op";
}

}  // namespace

const char* SessionEventTypeName(SessionEvent::Type type) {
  switch (type) {
    case SessionEvent::kConnectionLost:
      return "connection lost";
    case SessionEvent::kReconnected:
      return "reconnected";
    case SessionEvent::kExpired:
      return "session expired";
    case SessionEvent::kNewSession:
      return "new session";
    case SessionEvent::kAuthFailed:
      return "authentication failed";
  }
  return "unknown";
}

absl::StatusOr<AclList> ZkApi::GetAcl(const std::string& path) {
  return absl::UnimplementedError(
      absl::StrCat("get ACL of ", path, ": not implemented by this client"));
}

absl::Status ZkApi::SetAcl(const std::string& path, const AclList& acl) {
  (void)acl;
  return absl::UnimplementedError(
      absl::StrCat("set ACL of ", path, ": not implemented by this client"));
}

std::vector<absl::StatusOr<GetResult>> ZkApi::GetMany(
    std::vector<GetRequest> requests) {
  std::vector<absl::StatusOr<GetResult>> results;
  results.reserve(requests.size());
  for (GetRequest& request : requests) {
    results.push_back(Get(request.path, std::move(request.watch)));
  }
  return results;
}

MultiOps& MultiOps::Append(MultiOps other) {
  for (Op& op : other.ops_) ops_.push_back(std::move(op));
  return *this;
}

void MultiOps::RemoveOp(size_t index) {
  ops_.erase(ops_.begin() + static_cast<std::ptrdiff_t>(index));
}

MultiOps& MultiOps::Create(std::string path, std::string data, CreateMode mode,
                           AclList acl) {
  ops_.push_back(Op{Type::kCreate, std::move(path), std::move(data),
                    kAnyVersion, mode, std::move(acl)});
  return *this;
}

MultiOps& MultiOps::Set(std::string path, std::string data, int version) {
  ops_.push_back(Op{Type::kSet, std::move(path), std::move(data), version});
  return *this;
}

MultiOps& MultiOps::Delete(std::string path, int version) {
  ops_.push_back(Op{Type::kDelete, std::move(path), "", version});
  return *this;
}

MultiOps& MultiOps::Check(std::string path, int version) {
  ops_.push_back(Op{Type::kCheck, std::move(path), "", version});
  return *this;
}

size_t MultiOps::EstimatedRequestBytes(const AclList& default_acl) const {
  size_t total = kRequestOverhead;
  for (const Op& op : ops_) {
    const AclList& acl = op.acl.empty() ? default_acl : op.acl;
    total += op.type == Type::kCreate
                 ? EstimateCreateBytes(op.path, op.data.size(), acl)
                 : EstimateSetBytes(op.path, op.data.size());
  }
  return total;
}

std::string MultiOps::Describe(size_t index) const {
  if (index >= ops_.size()) return absl::StrCat("op #", index);
  const Op& op = ops_[index];
  std::string text =
      absl::StrCat("op #", index, " (", OpTypeName(op.type), " ", op.path);
  if (op.type != Type::kCreate) {
    if (op.version == kAnyVersion) {
      absl::StrAppend(&text, ", any version");
    } else {
      absl::StrAppend(&text, ", version ", op.version);
    }
  }
  return text + ")";
}

bool IsValidZkPath(absl::string_view path, bool sequential) {
  // The C client's isValidPath, character by character.
  const size_t len = path.size();
  if (len == 0 || path[0] != '/') return false;
  if (len == 1) return true;
  if (path[len - 1] == '/' && !sequential) return false;
  auto at = [&](size_t i) { return i < len ? path[i] : '\0'; };
  char last = '/';
  for (size_t i = 1; i < len; last = path[i], ++i) {
    const char c = path[i];
    if (c == '\0') return false;
    if (c == '/' && last == '/') return false;
    if (c == '.' && last == '.') {
      if (at(i - 2) == '/' &&
          ((i + 1 == len && !sequential) || at(i + 1) == '/')) {
        return false;
      }
    } else if (c == '.') {
      if (at(i - 1) == '/' &&
          ((i + 1 == len && !sequential) || at(i + 1) == '/')) {
        return false;
      }
    } else if (c > 0x00 && c < 0x1f) {
      return false;
    }
  }
  return true;
}

std::optional<size_t> FirstInvalidPath(const MultiOps& ops) {
  for (size_t i = 0; i < ops.size(); ++i) {
    const MultiOps::Op& op = ops.ops()[i];
    const bool sequential =
        op.type == MultiOps::Type::kCreate &&
        (op.mode == CreateMode::kPersistentSequential ||
         op.mode == CreateMode::kEphemeralSequential);
    if (!IsValidZkPath(op.path, sequential)) return i;
  }
  return std::nullopt;
}

size_t EstimateCreateBytes(absl::string_view path, size_t data_size,
                           const AclList& acl) {
  // An empty list means the client default: at most one or two entries.
  size_t total =
      kRequestOverhead + path.size() + data_size + (acl.empty() ? 256 : 0);
  for (const Acl& a : acl) {
    total += kPerAclOverhead + a.scheme.size() + a.id.size();
  }
  return total;
}

size_t EstimateSetBytes(absl::string_view path, size_t data_size) {
  return kRequestOverhead + path.size() + data_size;
}

absl::Status CheckRequestSize(size_t estimated_bytes, absl::string_view what) {
  if (estimated_bytes <= kMaxRequestBytes) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      what, " would be a ZooKeeper request of about ", estimated_bytes,
      " bytes, above kess's limit of ", kMaxRequestBytes,
      " bytes (ZooKeeper's jute.maxbuffer is ", kJuteMaxBuffer,
      " and it answers larger requests by dropping the connection); store "
      "large values with zk_schema/chunked_value.h; nothing was written"));
}

absl::Status CheckCreateSize(absl::string_view path, size_t data_size,
                             const AclList& acl, const AclList& default_acl,
                             absl::string_view context) {
  return CheckRequestSize(
      EstimateCreateBytes(path, data_size, acl.empty() ? default_acl : acl),
      context);
}

absl::Status CheckSetSize(absl::string_view path, size_t data_size,
                          absl::string_view context) {
  return CheckRequestSize(EstimateSetBytes(path, data_size), context);
}

absl::Status CheckMultiSize(const MultiOps& ops, const AclList& default_acl,
                            absl::string_view context) {
  return CheckRequestSize(ops.EstimatedRequestBytes(default_acl), context);
}

}  // namespace zk
}  // namespace kess
