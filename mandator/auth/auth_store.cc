#include "mandator/auth/auth_store.h"

#include <utility>

#include "Poco/JSON/Array.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/json_util.h"
#include "glog/logging.h"
#include "mandator/auth/secrets.h"
#include "model/names.h"

namespace kess {
namespace mandator {
namespace auth {
namespace {

constexpr int kCommitAttempts = 8;
constexpr size_t kMaxTokenNameLength = 64;

std::string NamespacesJson(const std::vector<std::string>& namespaces) {
  std::vector<std::string> quoted;
  for (const std::string& n : namespaces) quoted.push_back(JsonQuote(n));
  return absl::StrCat("[", absl::StrJoin(quoted, ","), "]");
}

std::string UserNodeJson(const UserInfo& u) {
  return absl::StrCat(
      "{\"name\":", JsonQuote(u.name), ",\"role\":", JsonQuote(RoleName(u.role)),
      ",\"namespaces\":", NamespacesJson(u.namespaces),
      ",\"password_hash\":", JsonQuote(u.password_hash),
      ",\"created_ms\":", u.created_ms, ",\"created_by\":",
      JsonQuote(u.created_by), "}");
}

std::string TokenNodeJson(const TokenInfo& t) {
  return absl::StrCat(
      "{\"id\":", JsonQuote(t.id), ",\"name\":", JsonQuote(t.name),
      ",\"role\":", JsonQuote(RoleName(t.role)),
      ",\"namespaces\":", NamespacesJson(t.namespaces),
      ",\"secret_hash\":", JsonQuote(t.secret_hash),
      ",\"created_ms\":", t.created_ms, ",\"created_by\":",
      JsonQuote(t.created_by), "}");
}

// Common fields of both node kinds.
absl::Status ParseCommon(const Poco::JSON::Object::Ptr& o, Role* role,
                         std::vector<std::string>* namespaces,
                         int64_t* created_ms, std::string* created_by) {
  try {
    KESS_ASSIGN_OR_RETURN(*role,
                          ParseRole(o->optValue<std::string>("role", "")));
    Poco::JSON::Array::Ptr ns = o->getArray("namespaces");
    if (ns) {
      for (size_t i = 0; i < ns->size(); ++i) {
        namespaces->push_back(ns->getElement<std::string>(i));
      }
    }
    *created_ms = o->optValue<int64_t>("created_ms", 0);
    *created_by = o->optValue<std::string>("created_by", "");
  } catch (const Poco::Exception& e) {
    return absl::InvalidArgumentError(e.displayText());
  }
  return absl::OkStatus();
}

absl::StatusOr<UserInfo> ParseUser(const std::string& data) {
  KESS_ASSIGN_OR_RETURN(Poco::JSON::Object::Ptr o, ParseJsonObject(data));
  UserInfo u;
  KESS_RETURN_IF_ERROR(
      ParseCommon(o, &u.role, &u.namespaces, &u.created_ms, &u.created_by));
  try {
    u.name = o->optValue<std::string>("name", "");
    u.password_hash = o->optValue<std::string>("password_hash", "");
  } catch (const Poco::Exception& e) {
    return absl::InvalidArgumentError(e.displayText());
  }
  return u;
}

absl::StatusOr<TokenInfo> ParseTokenNode(const std::string& data) {
  KESS_ASSIGN_OR_RETURN(Poco::JSON::Object::Ptr o, ParseJsonObject(data));
  TokenInfo t;
  KESS_RETURN_IF_ERROR(
      ParseCommon(o, &t.role, &t.namespaces, &t.created_ms, &t.created_by));
  try {
    t.id = o->optValue<std::string>("id", "");
    t.name = o->optValue<std::string>("name", "");
    t.secret_hash = o->optValue<std::string>("secret_hash", "");
  } catch (const Poco::Exception& e) {
    return absl::InvalidArgumentError(e.displayText());
  }
  return t;
}

Principal UserPrincipal(const UserInfo& u) {
  Principal p;
  p.kind = PrincipalKind::kUser;
  p.name = u.name;
  p.role = u.role;
  p.namespaces = u.namespaces;
  return p;
}

Principal TokenPrincipal(const TokenInfo& t) {
  Principal p;
  p.kind = PrincipalKind::kToken;
  p.name = "token:" + t.name;
  p.role = t.role;
  p.namespaces = t.namespaces;
  return p;
}

absl::Status CheckRoleScope(Role role,
                            const std::vector<std::string>& namespaces) {
  KESS_RETURN_IF_ERROR(ValidateNamespacePatterns(namespaces));
  if (role == Role::kPublisher && namespaces.empty()) {
    return absl::InvalidArgumentError(
        "a publisher needs at least one namespace pattern");
  }
  if (role != Role::kPublisher && !namespaces.empty()) {
    return absl::InvalidArgumentError(
        "only a publisher is scoped to namespaces");
  }
  return absl::OkStatus();
}

// A hash to compare against when the user does not exist (same cost).
const std::string& DummyPasswordHash() {
  static const std::string* hash =
      new std::string(HashPassword("kess-no-such-user-password"));
  return *hash;
}

}  // namespace

std::string UserToJson(const UserInfo& u) {
  return absl::StrCat("{\"name\":", JsonQuote(u.name),
                      ",\"role\":", JsonQuote(RoleName(u.role)),
                      ",\"namespaces\":", NamespacesJson(u.namespaces),
                      ",\"created_ms\":", u.created_ms,
                      ",\"created_by\":", JsonQuote(u.created_by), "}");
}

std::string TokenToJson(const TokenInfo& t) {
  return absl::StrCat("{\"id\":", JsonQuote(t.id),
                      ",\"name\":", JsonQuote(t.name),
                      ",\"role\":", JsonQuote(RoleName(t.role)),
                      ",\"namespaces\":", NamespacesJson(t.namespaces),
                      ",\"created_ms\":", t.created_ms,
                      ",\"created_by\":", JsonQuote(t.created_by), "}");
}

AuthStore::AuthStore(zk::ZkApi* zk, Options options)
    : zk_(zk), options_(std::move(options)) {
  absl::Status loaded = Refresh();
  if (!loaded.ok()) {
    LOG(WARNING) << "users and tokens not loaded yet: " << loaded;
  }
}

int64_t AuthStore::NowMs() const {
  return options_.clock != nullptr ? options_.clock->NowMs()
                                   : absl::ToUnixMillis(absl::Now());
}

absl::Status AuthStore::Refresh() {
  absl::StatusOr<zk::GetResult> head = zk_->Get(AuthDir());
  int64_t generation = 0;
  if (absl::IsNotFound(head.status())) {
    generation = 0;
  } else if (!head.ok()) {
    return head.status();
  } else if (!head->data.empty() &&
             !absl::SimpleAtoi(head->data, &generation)) {
    return absl::DataLossError(
        absl::StrCat(AuthDir(), " holds no generation number"));
  }
  {
    absl::MutexLock lock(&mu_);
    if (generation == generation_) return absl::OkStatus();
  }
  return Reload(generation);
}

absl::Status AuthStore::Reload(int64_t generation) {
  std::map<std::string, UserInfo> users;
  std::map<std::string, TokenInfo> tokens;
  for (const char* dir : {"users", "tokens"}) {
    const std::string path = absl::StrCat(AuthDir(), "/", dir);
    absl::StatusOr<zk::ChildrenResult> children = zk_->GetChildren(path);
    if (absl::IsNotFound(children.status())) continue;
    if (!children.ok()) return children.status();
    std::vector<zk::GetRequest> requests;
    for (const std::string& child : children->children) {
      zk::GetRequest r;
      r.path = absl::StrCat(path, "/", child);
      requests.push_back(std::move(r));
    }
    std::vector<absl::StatusOr<zk::GetResult>> got =
        zk_->GetMany(std::move(requests));
    for (size_t i = 0; i < got.size(); ++i) {
      if (absl::IsNotFound(got[i].status())) continue;  // removed meanwhile
      if (!got[i].ok()) return got[i].status();
      const std::string& child = children->children[i];
      if (dir[0] == 'u') {
        absl::StatusOr<UserInfo> u = ParseUser(got[i]->data);
        if (!u.ok() || u->name != child) {
          LOG(ERROR) << "ignoring malformed user node " << child;
          continue;
        }
        users[child] = *std::move(u);
      } else {
        absl::StatusOr<TokenInfo> t = ParseTokenNode(got[i]->data);
        if (!t.ok() || t->id != child) {
          LOG(ERROR) << "ignoring malformed token node " << child;
          continue;
        }
        tokens[child] = *std::move(t);
      }
    }
  }
  absl::MutexLock lock(&mu_);
  generation_ = generation;
  users_ = std::move(users);
  tokens_ = std::move(tokens);
  return absl::OkStatus();
}

std::optional<Principal> AuthStore::AuthenticateToken(
    const std::string& bearer) {
  absl::StatusOr<ParsedToken> parsed = ParseToken(bearer);
  if (!parsed.ok()) return std::nullopt;
  absl::MutexLock lock(&mu_);
  auto it = tokens_.find(parsed->id);
  if (it == tokens_.end()) return std::nullopt;
  if (!VerifyTokenSecret(parsed->secret, it->second.secret_hash)) {
    return std::nullopt;
  }
  return TokenPrincipal(it->second);
}

std::optional<Principal> AuthStore::AuthenticatePassword(
    const std::string& user, const std::string& password) {
  if (user.size() > kMaxNameLength || password.size() > kMaxSecretBytes) {
    return std::nullopt;
  }
  std::optional<UserInfo> info;
  {
    absl::MutexLock lock(&mu_);
    auto it = users_.find(user);
    if (it != users_.end()) info = it->second;
  }
  // Hashed outside the lock (it takes tens of milliseconds).
  const bool ok = VerifyPassword(
      password, info.has_value() ? info->password_hash : DummyPasswordHash());
  if (!ok || !info.has_value()) return std::nullopt;
  return UserPrincipal(*info);
}

std::optional<Principal> AuthStore::PrincipalByName(const std::string& name) {
  absl::MutexLock lock(&mu_);
  if (absl::StartsWith(name, "token:")) {
    const std::string token_name = name.substr(6);
    for (const auto& [id, t] : tokens_) {
      if (t.name == token_name) return TokenPrincipal(t);
    }
    return std::nullopt;
  }
  auto it = users_.find(name);
  if (it == users_.end()) return std::nullopt;
  return UserPrincipal(it->second);
}

absl::Status AuthStore::CheckWritable() const {
  if (options_.is_main) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "users and tokens are changed in the main datacenter",
      options_.main_datacenter.empty()
          ? ""
          : absl::StrCat(" (", options_.main_datacenter, ")"),
      "; this datacenter has a replica"));
}

absl::Status AuthStore::EnsureDirs() {
  for (const std::string& path :
       {AuthDir(), AuthDir() + "/users", AuthDir() + "/tokens"}) {
    absl::StatusOr<std::string> created =
        zk_->Create(path, path == AuthDir() ? "0" : "");
    if (!created.ok() && !absl::IsAlreadyExists(created.status())) {
      return created.status();
    }
  }
  return absl::OkStatus();
}

absl::Status AuthStore::Commit(
    const std::function<absl::Status(zk::MultiOps*)>& build) {
  KESS_RETURN_IF_ERROR(EnsureDirs());
  absl::Status last;
  for (int attempt = 0; attempt < kCommitAttempts; ++attempt) {
    KESS_ASSIGN_OR_RETURN(zk::GetResult head, zk_->Get(AuthDir()));
    int64_t generation = 0;
    if (!head.data.empty() && !absl::SimpleAtoi(head.data, &generation)) {
      return absl::DataLossError(
          absl::StrCat(AuthDir(), " holds no generation number"));
    }
    zk::MultiOps ops;
    KESS_RETURN_IF_ERROR(build(&ops));
    ops.Set(AuthDir(), absl::StrCat(generation + 1), head.stat.version);
    absl::StatusOr<std::vector<zk::OpResult>> done = zk_->Multi(ops);
    if (done.ok()) return Reload(generation + 1);
    last = done.status();
    // Only a lost race on the generation is retried.
    if (!absl::IsAborted(last)) return last;
  }
  return absl::AbortedError(absl::StrCat(
      "users and tokens changed concurrently too often; try again: ",
      last.message()));
}

absl::StatusOr<AuthStore::CreatedToken> AuthStore::CreateToken(
    const std::string& name, Role role, std::vector<std::string> namespaces,
    const std::string& by) {
  KESS_RETURN_IF_ERROR(CheckWritable());
  if (name.size() > kMaxTokenNameLength) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a token name has at most ", kMaxTokenNameLength, " characters"));
  }
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kKey, name));
  KESS_RETURN_IF_ERROR(CheckRoleScope(role, namespaces));
  KESS_RETURN_IF_ERROR(Refresh());
  {
    absl::MutexLock lock(&mu_);
    if (tokens_.size() >= kMaxTokens) {
      return absl::ResourceExhaustedError(
          absl::StrCat("at most ", kMaxTokens, " tokens; revoke some first"));
    }
    for (const auto& [id, t] : tokens_) {
      if (t.name == name) {
        return absl::AlreadyExistsError(
            absl::StrCat("a token named \"", name, "\" exists (id ", id, ")"));
      }
    }
  }
  NewToken fresh = MakeToken();
  CreatedToken out;
  out.bearer = fresh.bearer;
  out.info.id = fresh.id;
  out.info.name = name;
  out.info.role = role;
  out.info.namespaces = std::move(namespaces);
  out.info.secret_hash = HashTokenSecret(fresh.secret);
  out.info.created_ms = NowMs();
  out.info.created_by = by;
  KESS_RETURN_IF_ERROR(Commit([&](zk::MultiOps* ops) {
    ops->Create(absl::StrCat(AuthDir(), "/tokens/", fresh.id),
                TokenNodeJson(out.info));
    return absl::OkStatus();
  }));
  return out;
}

absl::Status AuthStore::RevokeToken(const std::string& id) {
  KESS_RETURN_IF_ERROR(CheckWritable());
  if (id.size() != 16 || !ParseToken("kt_" + id + "_" + std::string(64, '0'))
                               .ok()) {
    return absl::InvalidArgumentError("a token id is 16 hex digits");
  }
  absl::Status done = Commit([&](zk::MultiOps* ops) {
    ops->Delete(absl::StrCat(AuthDir(), "/tokens/", id));
    return absl::OkStatus();
  });
  if (absl::IsNotFound(done)) {
    return absl::NotFoundError(absl::StrCat("no token with id ", id));
  }
  return done;
}

absl::Status AuthStore::CreateUser(const std::string& name, Role role,
                                   std::vector<std::string> namespaces,
                                   const std::string& password,
                                   const std::string& by) {
  KESS_RETURN_IF_ERROR(CheckWritable());
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kKey, name));
  if (absl::StartsWith(name, "token") || absl::StartsWith(name, "mandator") ||
      name == "anonymous") {
    return absl::InvalidArgumentError(
        "user names starting with \"token\" or \"mandator\", and "
        "\"anonymous\", are reserved");
  }
  KESS_RETURN_IF_ERROR(CheckRoleScope(role, namespaces));
  KESS_RETURN_IF_ERROR(ValidatePassword(password));
  KESS_RETURN_IF_ERROR(Refresh());
  {
    absl::MutexLock lock(&mu_);
    if (users_.size() >= kMaxUsers) {
      return absl::ResourceExhaustedError(
          absl::StrCat("at most ", kMaxUsers, " users"));
    }
  }
  UserInfo u;
  u.name = name;
  u.role = role;
  u.namespaces = std::move(namespaces);
  u.password_hash = HashPassword(password);
  u.created_ms = NowMs();
  u.created_by = by;
  absl::Status done = Commit([&](zk::MultiOps* ops) {
    ops->Create(absl::StrCat(AuthDir(), "/users/", name), UserNodeJson(u));
    return absl::OkStatus();
  });
  if (absl::IsAlreadyExists(done)) {
    return absl::AlreadyExistsError(
        absl::StrCat("user \"", name, "\" exists"));
  }
  return done;
}

absl::Status AuthStore::DeleteUser(const std::string& name) {
  KESS_RETURN_IF_ERROR(CheckWritable());
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kKey, name));
  absl::Status done = Commit([&](zk::MultiOps* ops) {
    ops->Delete(absl::StrCat(AuthDir(), "/users/", name));
    return absl::OkStatus();
  });
  if (absl::IsNotFound(done)) {
    return absl::NotFoundError(absl::StrCat("no user \"", name, "\""));
  }
  return done;
}

absl::Status AuthStore::SetPassword(const std::string& name,
                                    const std::string& password) {
  KESS_RETURN_IF_ERROR(CheckWritable());
  KESS_RETURN_IF_ERROR(ValidateName(NameKind::kKey, name));
  KESS_RETURN_IF_ERROR(ValidatePassword(password));
  KESS_RETURN_IF_ERROR(Refresh());
  std::optional<UserInfo> u;
  {
    absl::MutexLock lock(&mu_);
    auto it = users_.find(name);
    if (it != users_.end()) u = it->second;
  }
  if (!u.has_value()) {
    return absl::NotFoundError(absl::StrCat("no user \"", name, "\""));
  }
  u->password_hash = HashPassword(password);
  return Commit([&](zk::MultiOps* ops) {
    ops->Set(absl::StrCat(AuthDir(), "/users/", name), UserNodeJson(*u));
    return absl::OkStatus();
  });
}

std::vector<UserInfo> AuthStore::Users() {
  absl::MutexLock lock(&mu_);
  std::vector<UserInfo> out;
  for (const auto& [name, u] : users_) out.push_back(u);
  return out;
}

std::vector<TokenInfo> AuthStore::Tokens() {
  absl::MutexLock lock(&mu_);
  std::vector<TokenInfo> out;
  for (const auto& [id, t] : tokens_) out.push_back(t);
  return out;
}

int64_t AuthStore::generation() {
  absl::MutexLock lock(&mu_);
  return generation_;
}

}  // namespace auth
}  // namespace mandator
}  // namespace kess
